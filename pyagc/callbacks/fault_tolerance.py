"""Checkpoints that survive kills, and a clean stop on SIGTERM / SIGINT.

:class:`RunCheckpoint` writes ``checkpoints/last.ckpt`` at an epoch's end once ``min_interval_s`` seconds (default
30) have passed since the last write (``every_n_epochs`` further thins the epochs), at the last epoch, after
pretraining (``pretrained.ckpt``, with the head already initialised on the pretrained embeddings) and, when
training is stopped by a signal, after the step in progress. Every file is written to a temporary name and renamed
over the old one (``os.replace``), so a kill (even SIGKILL) at any moment leaves the previous checkpoint intact.
Checkpoints also hold the random number generators' states, and a run resumed from a checkpoint written in the
middle of an epoch skips the batches that epoch had already trained on: the resumed run ends with exactly the
assignments of an uninterrupted run with the same seed.

:class:`GracefulStop` turns SIGTERM (schedulers, ``kill``) and SIGINT (Ctrl-C) into a clean stop: training finishes
the current step, :class:`RunCheckpoint` writes ``last.ckpt``, and :class:`RunInterrupted` (a ``SystemExit`` with
code ``128 + signal``) ends the process, so a scheduler records a failure and not a success. A second Ctrl-C stops at
once. Lightning's own SIGTERM handling (and with ``SLURMEnvironment(auto_requeue=True)`` its SIGUSR1 requeue
handler) stays in place: Lightning composes its handlers with this one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import signal
import sys
import time
import warnings
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, Checkpoint
from pytorch_lightning.utilities.exceptions import SIGTERMException

from pyagc.utils.checkpoint_io import replace_synced

log = logging.getLogger("pyagc")

__all__ = [
    "RunCheckpoint",
    "GracefulStop",
    "RunInterrupted",
    "INTERRUPT",
    "SignalSync",
    "save_checkpoint_atomic",
    "capture_rng_state",
    "restore_rng_state",
]


# ---------------------------------------------------------------------------------------------------- RNG state
def capture_rng_state() -> dict[str, Any]:
    """The states of torch's, NumPy's and Python's global generators, as tensors and plain lists (a checkpoint
    holding them still loads with ``torch.load(weights_only=True)``).
    """
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators saved by :func:`capture_rng_state`."""
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "numpy" in state:
        s = state["numpy"]
        keys = s["keys"].numpy() if isinstance(s["keys"], torch.Tensor) else np.asarray(s["keys"])
        np.random.set_state(
            ("MT19937", keys.astype(np.uint32), int(s["pos"]), int(s["has_gauss"]), float(s["cached_gaussian"]))
        )
    if "python" in state:
        version, internal, gauss = state["python"]
        random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        with contextlib.suppress(RuntimeError):
            torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda"]])


# ---------------------------------------------------------------------------------------------------- writing
def save_checkpoint_atomic(trainer: pl.Trainer, path: str | os.PathLike, fsync: bool = True) -> Path:
    """``trainer.save_checkpoint(path)`` through a temporary file that rank 0 renames over ``path`` when it is
    complete; every process takes part (Lightning gathers the state) and waits for the rename.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    trainer.save_checkpoint(str(tmp), weights_only=False)  # rank 0 writes; a barrier inside
    if trainer.is_global_zero:
        replace_synced(tmp, path, fsync=fsync)
    trainer.strategy.barrier("pyagc.save_checkpoint_atomic")
    return path


def _link_or_copy(src: Path, dst: Path, fsync: bool) -> None:
    """Make ``dst`` hold ``src``'s bytes (a hard link, else a copy), replacing ``dst`` atomically."""
    import shutil

    tmp = dst.with_name(f".{dst.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    try:
        os.link(src, tmp)
        os.replace(tmp, dst)
    except OSError:
        shutil.copyfile(src, tmp)
        replace_synced(tmp, dst, fsync=fsync)


# ---------------------------------------------------------------------------------------------------- callback
class RunCheckpoint(Checkpoint):
    r"""Atomic checkpoints at epoch ends (at most every ``min_interval_s``), at the phase boundary, at the end and on a
    stop signal; resumes exactly.

    Files in ``dirpath`` (default ``<trainer.default_root_dir>/checkpoints``):

    - ``last.ckpt``: the newest state, the point to resume from (``pyagc-train ckpt_path=auto`` finds it):
      rewritten at the end of an epoch when at least ``min_interval_s`` seconds have passed since the last write
      (and the epoch is a multiple of ``every_n_epochs``), and always at the last epoch, after pretraining, when
      training stops early (e.g. the head's stopping rule), and after the step in progress when a SIGTERM /
      SIGINT stops training. A kill therefore loses at most about ``min_interval_s`` seconds of training.
    - ``pretrained.ckpt``: the end of pretraining, with the head initialised on the pretrained embeddings
      (``phase_checkpoints``; kept). The head's initialisation, which the module would run at the start of the
      first joint epoch, runs here at the end of the last pretraining epoch instead, with the same result.
    - ``epoch=NNNN.ckpt``: the ``keep`` newest epoch checkpoints besides ``last.ckpt`` (hard links, so the newest
      costs no extra space); 0 keeps none.

    Every file is written under a temporary name and renamed over the old one when complete (``os.replace``, with
    ``fsync``), so a kill at any moment leaves the previous checkpoint whole. Only rank 0 writes; the other
    processes wait. Checkpoints carry the random generators' states (restored when training resumes), and a resume
    from the middle of an epoch skips the batches that epoch had already trained on, so a resumed run ends with
    the assignments of an uninterrupted one.

    Args:
        dirpath: folder of the checkpoints (``None``: ``<default_root_dir>/checkpoints``).
        every_n_epochs: consider writing ``last.ckpt`` every this many epochs (1: every epoch). The last epoch, the
            end of pretraining, an early stop and a stop signal are always written.
        min_interval_s: write ``last.ckpt`` at an epoch's end only when at least this many seconds have passed since
            the last write (or since training started); 0 writes at every ``every_n_epochs``-th epoch. A full
            checkpoint of DEC's d-500-500-2000-10 autoencoder with its optimizer states takes ~70 ms, so writing
            one after each of the hundreds of short epochs of a small data set (digits: 8 steps an epoch) would
            cost more than a quarter of the run. Under DDP rank 0's clock decides for every process.
        keep: how many epoch checkpoints ``epoch=NNNN.ckpt`` to keep besides ``last.ckpt`` (0: none).
        phase_checkpoints: keep ``pretrained.ckpt`` at the end of pretraining.
        fsync: flush each file to disk before renaming it (also safe against a machine crash, not only a kill).
    """

    def __init__(
        self,
        dirpath: str | os.PathLike | None = None,
        every_n_epochs: int = 1,
        keep: int = 0,
        phase_checkpoints: bool = True,
        fsync: bool = True,
        min_interval_s: float = 30.0,
    ) -> None:
        super().__init__()
        if isinstance(every_n_epochs, bool) or int(every_n_epochs) != every_n_epochs or int(every_n_epochs) < 1:
            raise ValueError(
                f"callbacks.model_checkpoint.every_n_epochs must be an integer >= 1, got {every_n_epochs!r}."
            )
        if isinstance(keep, bool) or int(keep) != keep or int(keep) < 0:
            raise ValueError(
                f"callbacks.model_checkpoint.keep must be an integer >= 0 (epoch checkpoints kept besides "
                f"last.ckpt), got {keep!r}."
            )
        if (
            isinstance(min_interval_s, bool)
            or not isinstance(min_interval_s, (int, float))
            or not 0 <= float(min_interval_s) < float("inf")
        ):
            raise ValueError(
                f"callbacks.model_checkpoint.min_interval_s must be a number of seconds >= 0 (0: at every "
                f"epoch's end), got {min_interval_s!r}."
            )
        self.dirpath = None if dirpath is None else str(dirpath)
        self.every_n_epochs = int(every_n_epochs)
        self.min_interval_s = float(min_interval_s)
        self._last_save_time = time.monotonic()
        self.keep = int(keep)
        self.phase_checkpoints = bool(phase_checkpoints)
        self.fsync = bool(fsync)
        self.last_model_path = ""
        self.best_model_path = ""  # Lightning's ModelCheckpoint interface (there is no "best" in clustering)
        self.phase_paths: dict[str, str] = {}
        self.interrupted_path: str | None = None  # last.ckpt written on a stop signal
        self._saved_step = -1
        self._saved_epoch_files: list[str] = []
        self._rng_to_restore: dict[str, Any] | None = None
        self._resumed_mid_epoch = False

    @property
    def state_key(self) -> str:
        return "RunCheckpoint"

    # ---------------------------------------------------------------- Lightning hooks
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        dirpath = self.dirpath or str(Path(trainer.default_root_dir) / "checkpoints")
        self.dirpath = trainer.strategy.broadcast(dirpath)
        if trainer.is_global_zero:
            folder = Path(self.dirpath)
            folder.mkdir(parents=True, exist_ok=True)
            for stale in folder.glob(".*.tmp*"):  # left by a kill during a write
                with contextlib.suppress(OSError):
                    stale.unlink()

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._last_save_time = time.monotonic()  # the interval counts from the start of training
        if self._rng_to_restore is not None:
            restore_rng_state(self._rng_to_restore)
            self._rng_to_restore = None
        self._skip_trained_batches(trainer, pl_module)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.fast_dev_run or trainer.sanity_checking:
            return
        epoch = int(trainer.current_epoch)  # the epoch that just ended
        pretrain_epochs = int(getattr(pl_module, "pretrain_epochs", 0) or 0)
        pretrain_end = pretrain_epochs > 0 and epoch == pretrain_epochs - 1
        last_epoch = trainer.max_epochs is not None and 0 <= trainer.max_epochs <= epoch + 1
        if pretrain_end and not last_epoch and not trainer.should_stop:
            self._initialize_head(pl_module)
        if (
            pretrain_end
            or last_epoch
            or trainer.should_stop
            or INTERRUPT.signum is not None
            or ((epoch + 1) % self.every_n_epochs == 0 and self._interval_elapsed(trainer))
        ):
            self._save(trainer, epoch, phase="pretrained" if pretrain_end and self.phase_checkpoints else None)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # called before the module's own on_train_end: last.ckpt stays the point to resume from
        if not trainer.fast_dev_run and trainer.global_step != self._saved_step:
            self._save(trainer, int(trainer.current_epoch) - 1)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # only a stop signal: every process stops at the same step (Lightning broadcasts it), so all take part in
        # the save; after any other error the last epoch's checkpoint is the state to go back to
        if not isinstance(exception, SIGTERMException) or trainer.fast_dev_run:
            return
        if trainer.global_step != self._saved_step:
            self._save(trainer, int(trainer.current_epoch), mid_epoch=True)
        self.interrupted_path = self.last_model_path

    def state_dict(self) -> dict[str, Any]:
        return {
            "last_model_path": self.last_model_path,
            "phase_paths": dict(self.phase_paths),
            "saved_epoch_files": list(self._saved_epoch_files),
            "rng": capture_rng_state(),
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.phase_paths = dict(state_dict.get("phase_paths", {}))
        self._saved_epoch_files = list(state_dict.get("saved_epoch_files", []))
        self._rng_to_restore = state_dict.get("rng")

    # ---------------------------------------------------------------- internals
    def _interval_elapsed(self, trainer: pl.Trainer) -> bool:
        """Whether ``min_interval_s`` has passed since the last write, by rank 0's clock (every process agrees)."""
        if self.min_interval_s <= 0:
            return True
        due = time.monotonic() - self._last_save_time >= self.min_interval_s
        return bool(trainer.strategy.broadcast(due)) if trainer.world_size > 1 else due

    @staticmethod
    def _initialize_head(pl_module: pl.LightningModule) -> None:
        head = getattr(pl_module, "cluster_head", None)
        if (
            head is not None
            and getattr(head, "requires_initialization", False)
            and not head.is_initialized
            and callable(getattr(pl_module, "initialize_head", None))
        ):
            pl_module.initialize_head()

    def _save(self, trainer: pl.Trainer, epoch: int, phase: str | None = None, mid_epoch: bool = False) -> None:
        folder = Path(self.dirpath or Path(trainer.default_root_dir) / "checkpoints")
        last = save_checkpoint_atomic(trainer, folder / "last.ckpt", fsync=self.fsync)
        self._last_save_time = time.monotonic()
        self.last_model_path = str(last)
        self._saved_step = int(trainer.global_step)
        if trainer.is_global_zero:
            if phase is not None:
                target = folder / f"{phase}.ckpt"
                _link_or_copy(last, target, self.fsync)
                self.phase_paths[phase] = str(target)
            if self.keep > 0 and not mid_epoch and epoch >= 0:
                target = folder / f"epoch={epoch:04d}.ckpt"
                _link_or_copy(last, target, self.fsync)
                if str(target) not in self._saved_epoch_files:
                    self._saved_epoch_files.append(str(target))
                while len(self._saved_epoch_files) > self.keep:
                    with contextlib.suppress(OSError):
                        Path(self._saved_epoch_files.pop(0)).unlink()
        trainer.strategy.barrier("pyagc.RunCheckpoint")

    def _skip_trained_batches(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """After a resume from the middle of an epoch, advance the epoch's data iterator past the batches the
        interrupted run had trained on (Lightning would feed the epoch's first batches again).
        """
        fit_loop = trainer.fit_loop
        if not getattr(fit_loop, "restarted_mid_epoch", False):
            return
        try:
            done = int(fit_loop.epoch_loop.batch_progress.current.completed)
            fetcher = fit_loop._data_fetcher
            combined = fit_loop._combined_loader
            from lightning_fabric.utilities.data import _set_sampler_epoch

            for dl in combined.flattened:  # the epoch's order (the loop sets it again, to the same value)
                _set_sampler_epoch(dl, fit_loop.epoch_progress.current.processed)
            for _ in range(done):
                next(fetcher.iterator)
        except Exception as e:  # Lightning internals changed: fall back to Lightning's own behaviour
            warnings.warn(
                f"RunCheckpoint: could not skip the batches already trained in the interrupted epoch "
                f"({type(e).__name__}: {e}); that epoch restarts from its first batch.",
                stacklevel=2,
            )
            return
        warnings.filterwarnings("ignore", ".*resuming from a checkpoint that ended before the epoch ended.*")
        if hasattr(pl_module, "_epoch_start"):  # the epoch's timer (its on_train_epoch_start does not run again)
            pl_module._epoch_start = time.perf_counter()
        self._resumed_mid_epoch = True
        log.info("resumed in the middle of epoch %d after %d trained batches", trainer.current_epoch, done)


# ---------------------------------------------------------------------------------------------------- signals
class RunInterrupted(SystemExit):
    """Training was stopped by a signal; the exit code is ``128 + signum`` (143 for SIGTERM, 130 for SIGINT).

    Attributes:
        signum: the signal number.
        checkpoint: the checkpoint written on the way out (``None`` if none was).
        during_training: whether the signal arrived while Lightning was training.
    """

    def __init__(self, signum: int, checkpoint: str | None = None, during_training: bool = False) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)
        self.checkpoint = checkpoint
        self.during_training = during_training

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"

    def __str__(self) -> str:
        return f"stopped by {self.signal_name} (exit code {self.code})"


def _flag_stop(trainer: pl.Trainer) -> bool:
    """Ask Lightning to stop after the current step, as its own SIGTERM handler does."""
    connector = getattr(trainer, "_signal_connector", None)
    if connector is None or not hasattr(connector, "received_sigterm"):
        return False
    connector.received_sigterm = True
    return True


class GracefulStop:
    """SIGTERM / SIGINT handling of a ``pyagc-train`` process (installed by the entry point, main thread only).

    While a trainer is attached and training, the first signal asks Lightning to stop after the current step
    (the checkpoint callback then writes ``last.ckpt`` and :class:`RunInterrupted` ends the run); a second SIGINT
    stops at once. Outside training (building the data, evaluating), a signal raises :class:`RunInterrupted`
    immediately. The previous handlers are restored by :meth:`uninstall`.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.trainer: pl.Trainer | None = None
        self._previous: dict[int, Any] = {}

    @property
    def installed(self) -> bool:
        return bool(self._previous)

    def install(self) -> GracefulStop:
        import threading

        if threading.current_thread() is not threading.main_thread() or self.installed:
            return self
        self.signum = None
        for sig in self.SIGNALS:
            self._previous[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}
        self.trainer = None

    def attach(self, trainer: pl.Trainer | None) -> None:
        self.trainer = trainer

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        if first:
            self.signum = int(signum)
        trainer = self.trainer
        if trainer is not None and getattr(trainer, "training", False):
            if not first and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now, without a checkpoint
            if first:
                if trainer.is_global_zero:
                    print(
                        f"\n[pyagc] {signal.Signals(signum).name} received: finishing the current step, then "
                        "writing a checkpoint (Ctrl-C again to stop at once)",
                        file=sys.stderr,
                        flush=True,
                    )
                launcher = getattr(trainer.strategy, "launcher", None)
                if launcher is not None and hasattr(launcher, "kill"):
                    with contextlib.suppress(Exception):  # the worker processes this one started
                        launcher.kill(signum)
            # one process: Lightning stops after the current step. Several: SignalSync agrees on the step first
            if trainer.world_size > 1 or _flag_stop(trainer):
                return
        if first or signum == signal.SIGINT:
            raise RunInterrupted(signum, during_training=False)


INTERRUPT = GracefulStop()
"""The process's :class:`GracefulStop` (``pyagc-train`` installs it; ``run()`` attaches its trainer)."""


class SignalSync(Callback):
    """Makes every process stop at the same step on a signal (``run()`` adds it to every trainer).

    Lightning's own SIGTERM handler sets a per-process flag that its loops check after each step; under DDP the
    signal reaches the processes at different moments, so one can leave while another waits in the next gradient
    all-reduce (a hang or a "connection closed by peer" crash). While training, this callback routes SIGTERM to
    :data:`INTERRUPT` (which records it and forwards it to the worker processes) and, after every step, combines
    the processes' "signal seen" bits with an all-reduce: all of them stop after the same step, then
    :class:`RunCheckpoint` writes the checkpoint together. Lightning's handlers for other signals (SIGUSR1, the
    SLURM requeue of ``SLURMEnvironment(auto_requeue=True)``) are left as they are. Does nothing when
    :data:`INTERRUPT` is not installed (``run()`` called from Python, not ``pyagc-train``).
    """

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        import threading

        if not INTERRUPT.installed or threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, INTERRUPT._handle)  # Lightning's is restored by its teardown
        if trainer.world_size == 1 and INTERRUPT.signum is not None:
            _flag_stop(trainer)  # a signal during the set-up: stop after the first step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not INTERRUPT.installed or trainer.world_size <= 1:
            return
        seen = torch.tensor(
            [0 if INTERRUPT.signum is None else int(INTERRUPT.signum)], device=trainer.strategy.root_device
        )
        torch.distributed.all_reduce(seen, op=torch.distributed.ReduceOp.MAX)
        signum = int(seen.item())
        connector = getattr(trainer, "_signal_connector", None)
        if connector is not None:
            connector.received_sigterm = signum > 0
        if signum > 0 and INTERRUPT.signum is None:
            INTERRUPT.signum = signum
