"""One run per folder: the run's lock, its default name, and removing the folder of a run that never trained.

- :class:`RunLock`: ``<run dir>/.pyagc.lock`` holds the owner's pid, host and command. A second run into the same
  folder stops at once with a message naming the owner; a lock left by a dead process on the same host is taken
  over (a process whose pid was reused is recognised by its start time).
- ``${pyagc.run_name:${task_name}}`` (an OmegaConf resolver used by ``configs/hydra/default.yaml``): the name of
  the default run folder: the experiment's ``task_name``, or ``<data>_<head>`` when the command line chose the
  data or the components (``data=file head=dec`` -> ``outputs/file_dec/runs/...``).
- :class:`RunFolderGuard`: a Hydra callback that takes the lock before Hydra writes anything into the folder (so
  a refused run does not overwrite the running one's ``.hydra/``), and for a sweep locks the sweep folder.
- :func:`folder_is_fresh` / :func:`remove_run_folder`: the entry point removes the folder of a run that failed
  before its first epoch when the folder held nothing but what Hydra wrote for this run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("pyagc")

__all__ = [
    "RunLock",
    "RunFolderLockedError",
    "RunFolderGuard",
    "run_name",
    "is_launching_process",
    "folder_is_fresh",
    "remove_run_folder",
    "acquire_run_lock",
    "release_run_lock",
    "LOCK_NAME",
]

LOCK_NAME = ".pyagc.lock"
GROUPS_THAT_NAME_A_RUN = ("data", "head", "encoder", "model")


class RunFolderLockedError(RuntimeError):
    """Another live run holds the run folder."""


def is_launching_process() -> bool:
    """Whether this is the process that owns the run folder: not a DDP worker that Lightning or torchrun started
    (they run the same command with ``LOCAL_RANK`` / ``RANK`` > 0 and share the folder of rank 0).
    """
    for var in ("LOCAL_RANK", "RANK", "SLURM_PROCID"):
        value = os.environ.get(var)
        if value not in (None, "", "0"):
            return False
    return True


def _process_start_time(pid: int) -> str | None:
    """The start time of ``pid`` in clock ticks since boot (Linux ``/proc``), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except OSError:
        return False
    return True


def _slurm_job() -> dict[str, str]:
    """This process's SLURM job (``SLURM_JOB_ID``) and restart count, when it runs in one: a requeued job keeps its
    id and counts up ``SLURM_RESTART_COUNT``, so a lock of the same job with another count is its own, stale one.
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return {}
    return {"slurm_job": job, "slurm_restart": os.environ.get("SLURM_RESTART_COUNT", "0") or "0"}


class RunLock:
    """An exclusive lock of a run folder: ``<folder>/.pyagc.lock`` with the owner's pid, host and command.

    ``acquire()`` creates the file atomically (``O_CREAT | O_EXCL``). If it exists and its owner is alive (or on
    another host, which cannot be checked), :class:`RunFolderLockedError` says who holds it and what to do; a lock
    of a dead process on this host is taken over. ``release()`` removes the file if this process still owns it.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.held = False

    def _info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "proc_start": _process_start_time(os.getpid()),
            "command": " ".join(sys.argv),
            **_slurm_job(),
        }

    def read(self) -> dict[str, Any] | None:
        """The owner's record, or ``None`` when there is no lock (or it cannot be read)."""
        for _ in range(5):  # a lock being written by another process this very moment
            try:
                return json.loads(self.path.read_text())
            except FileNotFoundError:
                return None
            except (OSError, ValueError):
                time.sleep(0.05)
        return {}

    def _is_stale(self, owner: dict[str, Any]) -> bool:
        if not owner:
            return False
        mine = _slurm_job()
        if mine and owner.get("slurm_job") == mine["slurm_job"] and owner.get("slurm_restart") != mine["slurm_restart"]:
            return True  # left by this SLURM job before it was requeued (SLURM runs a job once at a time), any host
        if owner.get("host") != socket.gethostname():
            return False
        pid = int(owner.get("pid", -1))
        if pid == os.getpid():
            return True  # a lock left by this very process (e.g. a run in the same interpreter that crashed)
        if not _pid_alive(pid):
            return True
        start = owner.get("proc_start")
        return start is not None and _process_start_time(pid) not in (None, start)

    def acquire(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.read()
                if owner is None:
                    continue  # released meanwhile
                if self._is_stale(owner):
                    # take it over: only one contender can rename the stale file away
                    with contextlib.suppress(FileNotFoundError):
                        os.replace(self.path, self.path.with_name(f"{LOCK_NAME}.stale{os.getpid()}"))
                        os.unlink(self.path.with_name(f"{LOCK_NAME}.stale{os.getpid()}"))
                        log.info("took over the lock of %s left by the dead process %s", self.folder, owner.get("pid"))
                    continue
                who = (
                    f"pid {owner.get('pid')} on {owner.get('host')}, started {owner.get('started')}"
                    if owner
                    else "a process that is writing it now"
                )
                raise RunFolderLockedError(
                    f"the run folder {self.folder} is in use by another pyagc run ({who}: {owner.get('command', '')!r}). "
                    "Two runs in one folder would overwrite each other's checkpoints and logs. Wait for it to "
                    "finish, or give this run its own folder (leave hydra.run.dir at its default, or set "
                    "hydra.run.dir=<another folder>). If that process is gone (e.g. on another host), delete "
                    f"{self.path}."
                ) from None
            with os.fdopen(fd, "w") as f:
                json.dump(self._info(), f)
            self.held = True
            return self
        raise RunFolderLockedError(
            f"could not take the lock {self.path}: other processes keep creating it. "
            "Give this run its own hydra.run.dir."
        )

    def release(self) -> None:
        if not self.held:
            return
        owner = self.read()
        if owner is not None and int(owner.get("pid", -1)) == os.getpid():
            with contextlib.suppress(OSError):
                self.path.unlink()
        self.held = False


_LOCKS: dict[str, RunLock] = {}


def acquire_run_lock(folder: str | os.PathLike) -> RunLock | None:
    """Lock ``folder`` for this process (idempotent; nothing in DDP worker processes); released at exit."""
    if not is_launching_process():
        return None
    key = str(Path(folder).resolve())
    lock = _LOCKS.get(key)
    if lock is not None and lock.held:
        return lock
    lock = RunLock(key).acquire()
    _LOCKS[key] = lock
    return lock


def release_run_lock(folder: str | os.PathLike) -> None:
    """Release the lock this process holds on ``folder`` (if any)."""
    lock = _LOCKS.pop(str(Path(folder).resolve()), None)
    if lock is not None:
        lock.release()


@atexit.register
def _release_all() -> None:
    for key in list(_LOCKS):
        _LOCKS.pop(key).release()


# ---------------------------------------------------------------------------------------------------- naming
def _safe(name: Any) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in str(name)) or "run"


def run_name(task_name: Any = "train", *, _root_: Any = None) -> str:
    """The run folder's name: ``task_name`` (the experiment), or ``<data>_<head>`` when the command line chose
    any of the groups data / head / encoder / model (a run composed from groups), unless it set ``task_name``.
    """
    try:
        hydra_node = _root_.hydra if _root_ is not None and "hydra" in _root_ else None
        overrides = list(hydra_node.overrides.task) if hydra_node is not None else []
        choices = hydra_node.runtime.choices if hydra_node is not None else {}
    except Exception:  # outside a Hydra run
        return _safe(task_name)
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides if "=" in o}
    if "task_name" in keys or not keys.intersection(GROUPS_THAT_NAME_A_RUN):
        return _safe(task_name)
    data, head = choices.get("data"), choices.get("head")
    if not data or not head:
        return _safe(task_name)
    return _safe(f"{data}_{head}")


if not OmegaConf.has_resolver("pyagc.run_name"):
    OmegaConf.register_new_resolver("pyagc.run_name", run_name)


# ---------------------------------------------------------------------------------------------------- cleanup
def folder_is_fresh(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds only what Hydra and the lock put there for the run that is starting now
    (``.hydra/``, empty ``*.log`` files, the lock): such a folder is this run's to remove if it fails early.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return False
    for entry in folder.iterdir():
        if entry.name in (".hydra", LOCK_NAME) or entry.name.startswith(f"{LOCK_NAME}.stale"):
            continue
        if entry.suffix == ".log" and entry.is_file() and entry.stat().st_size == 0:
            continue
        return False
    return True


def remove_run_folder(folder: str | os.PathLike, stop_at: str | os.PathLike | None = None) -> None:
    """Remove ``folder`` and then its parents that became empty, up to (not including) ``stop_at``'s parent;
    closes the log files that point into it first.
    """
    folder = Path(folder).resolve()
    root = logging.getLogger()
    for handler in list(root.handlers):
        filename = getattr(handler, "baseFilename", None)
        if filename and Path(filename).resolve().is_relative_to(folder):
            handler.close()
            root.removeHandler(handler)
    shutil.rmtree(folder, ignore_errors=True)
    if stop_at is None:
        return
    stop = Path(stop_at).resolve()
    parent = folder.parent
    while parent.is_relative_to(stop) and parent != stop.parent:
        try:
            parent.rmdir()  # only if empty
        except OSError:
            break
        parent = parent.parent


# ---------------------------------------------------------------------------------------------------- Hydra
try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object  # type: ignore[misc,assignment]


class RunFolderGuard(_HydraCallback):
    """Hydra callback: lock the run folder (``hydra.run.dir``) before Hydra writes into it, and a sweep's folder
    for a ``--multirun``. A refused run writes nothing and exits (code 1) with the lock's message.
    """

    def __init__(self) -> None:
        self._locked: list[Path] = []

    def _lock(self, folder: str) -> None:
        if not is_launching_process():
            return
        path = Path(folder)
        try:
            acquire_run_lock(path)
        except RunFolderLockedError as e:
            # Hydra turns a callback's exceptions into warnings and goes on; SystemExit passes through, before
            # Hydra writes anything into the folder
            raise SystemExit(f"Error: {e}") from None
        except OSError as e:
            raise SystemExit(
                f"Error: cannot create the run folder {path}: {e}. Set hydra.run.dir=<a writable "
                "folder> (or paths.root_dir / PYAGC_ROOT for all runs)."
            ) from None
        self._locked.append(path)

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(config)  # so that ${hydra:...} in hydra.run.dir resolves
        self._lock(str(config.hydra.run.dir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        for folder in self._locked:
            release_run_lock(folder)
        self._locked = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(config)
        self._lock(str(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.on_run_end(config)
