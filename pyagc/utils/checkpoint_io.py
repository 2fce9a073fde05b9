"""Reading, checking and atomically writing pyagc checkpoints.

A checkpoint written by ``pyagc-train`` is a Lightning checkpoint (a ``torch.save`` zip archive of plain
containers and tensors, loadable with ``weights_only=True``) with the run's component configs under
``pyagc_config``. :func:`load_checkpoint` turns every way a file can fail to be one (missing, a folder, empty,
random bytes, cut short by a crash, a foreign pickle, a Lightning checkpoint of another program, weights without
training state) into a ``FileNotFoundError`` / ``ValueError`` that says what the file is and what to do.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "load_checkpoint",
    "find_resume_checkpoint",
    "check_checkpoint_matches_model",
    "atomic_replace",
    "is_checkpoint_file",
    "TRAINING_STATE_KEYS",
]

# what Lightning needs to resume training (beyond the weights)
TRAINING_STATE_KEYS = ("epoch", "global_step", "loops", "optimizer_states")
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = b"\x80"  # torch.save(..., _use_new_zipfile_serialization=False): a pickle stream


def _what_to_do(key: str) -> str:
    return (
        f"Pass {key}=<run dir>/checkpoints/last.ckpt (the newest state of a pyagc-train run), "
        f"or {key}=auto to resume from the newest checkpoint of the run folder."
    )


def load_checkpoint(
    path: str | os.PathLike,
    map_location: str | torch.device = "cpu",
    *,
    require_training_state: bool = False,
    weights_only: bool = True,
    key: str = "ckpt_path",
) -> dict[str, Any]:
    """Load a checkpoint written by ``pyagc-train`` and return its dict.

    Args:
        path: the ``.ckpt`` file (``~`` is expanded).
        map_location: where tensors are loaded (``"cpu"`` by default; as ``torch.load``).
        require_training_state: also require what resuming training needs (epoch, loop and optimizer states),
            not only the weights (``pyagc-train ckpt_path=...``); ``pyagc-eval`` needs the weights only.
        weights_only: load with ``torch.load(weights_only=True)`` (tensors and plain containers, no arbitrary
            code). pyagc checkpoints always load this way; ``False`` only for a trusted file of an older format.
        key: the config key the path came from, named in the error messages (``ckpt_path``, ``ckpt``).

    Returns:
        The checkpoint dict (``state_dict``, ``pyagc_config``, and Lightning's training state).

    Raises:
        FileNotFoundError: the path does not exist or is a folder.
        ValueError: the file is empty, not a PyTorch checkpoint, truncated or corrupted, not written by
            ``pyagc-train``, or (with ``require_training_state``) holds no training state to resume from.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"{key}={path}: no such file ({p.resolve()}). {_what_to_do(key)}")
    if p.is_dir():
        hint = (
            " (it holds checkpoints/: pass ckpt_path=auto with hydra.run.dir=<that folder>)"
            if (p / "checkpoints").is_dir()
            else ""
        )
        raise FileNotFoundError(f"{key}={path} is a folder, not a checkpoint file{hint}. {_what_to_do(key)}")
    size = p.stat().st_size
    if size == 0:
        raise ValueError(
            f"{key}={path} is an empty file (0 bytes), not a checkpoint: it was probably cut short by "
            f"a crash while being written. {_what_to_do(key)}"
        )
    with open(p, "rb") as f:
        head = f.read(4)
    if head == _ZIP_MAGIC:
        if not zipfile.is_zipfile(p):
            raise ValueError(
                f"{key}={path} is truncated or corrupted ({size} bytes; its zip directory is missing): it was "
                "probably cut short while being written. pyagc-train writes its checkpoints atomically, so "
                f"the run's own checkpoints/last.ckpt or epoch=*.ckpt is intact. {_what_to_do(key)}"
            )
    elif not head.startswith(_LEGACY_MAGIC):
        raise ValueError(
            f"{key}={path} is not a PyTorch checkpoint (a file written by torch.save starts with "
            f"a zip header; this one starts with {head!r}). {_what_to_do(key)}"
        )
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=weights_only)
    except pickle.UnpicklingError as e:
        if weights_only and "weights_only" in str(e).lower().replace(" ", "_"):
            raise ValueError(
                f"{key}={path} holds Python objects other than tensors and plain containers, which pyagc "
                "checkpoints never do: it was not written by pyagc-train (do not load files from untrusted "
                f"sources). {_what_to_do(key)}"
            ) from None
        raise ValueError(
            f"{key}={path} is truncated or corrupted and cannot be read ({type(e).__name__}: {e}). {_what_to_do(key)}"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise ValueError(
            f"{key}={path} is truncated or corrupted and cannot be read "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). {_what_to_do(key)}"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        what = f"a {type(ckpt).__name__}" if not isinstance(ckpt, dict) else f"a dict with keys {sorted(ckpt)[:6]}"
        raise ValueError(
            f"{key}={path} is a PyTorch file but not a training checkpoint (it holds {what}, no "
            f"'state_dict'). {_what_to_do(key)}"
        )
    if "pyagc_config" not in ckpt:
        raise ValueError(
            f"{key}={path} is a Lightning checkpoint, but not one written by pyagc-train (no "
            f"'pyagc_config' inside, so the model it belongs to is unknown). {_what_to_do(key)}"
        )
    if require_training_state:
        missing = [k for k in TRAINING_STATE_KEYS if k not in ckpt]
        if missing:
            raise ValueError(
                f"{key}={path} holds the model's weights but no training state to resume from "
                f"(missing {missing}); evaluate it with pyagc-eval ckpt={path}, or train afresh "
                "without ckpt_path."
            )
    return ckpt


def is_checkpoint_file(path: str | os.PathLike) -> bool:
    """Cheap check (no unpickling) that ``path`` is a complete ``torch.save`` zip archive."""
    p = Path(path)
    try:
        return p.is_file() and p.stat().st_size > 0 and zipfile.is_zipfile(p)
    except OSError:
        return False


def find_resume_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint to resume the run in ``run_dir`` from, or ``None`` when it has none.

    Candidates: ``checkpoints/last.ckpt``, ``checkpoints/epoch=*.ckpt`` and Lightning's SLURM
    ``hpc_ckpt_*.ckpt`` (written on the requeue signal into the run folder), newest first by modification time
    (``last.ckpt`` wins a tie). ``final.ckpt`` (the state after the end-of-training changes of the head) and
    ``pretrained.ckpt`` are not resume points. Incomplete files (a crash during a copy) are skipped.
    """
    run_dir = Path(run_dir).expanduser()
    ckpt_dir = run_dir / "checkpoints"
    candidates = [
        ckpt_dir / "last.ckpt",
        *sorted(ckpt_dir.glob("epoch=*.ckpt")),
        *sorted(run_dir.glob("hpc_ckpt_*.ckpt")),
    ]
    found = []
    for c in candidates:
        if c.is_file() and is_checkpoint_file(c):
            found.append((c.stat().st_mtime_ns, c.name == "last.ckpt", c))
    if not found:
        return None
    return max(found, key=lambda t: (t[0], t[1]))[2]


def check_checkpoint_matches_model(
    checkpoint: dict[str, Any], model: torch.nn.Module, path: str | os.PathLike, key: str = "ckpt_path"
) -> None:
    """Raise a ``ValueError`` naming the difference when ``checkpoint`` cannot be loaded into ``model``
    (other parameter names or shapes: the run was trained with other components or sizes).
    """
    saved = checkpoint.get("state_dict", {})
    params = dict(model.named_parameters())
    current = model.state_dict()
    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    shapes = [
        f"{k}: {tuple(saved[k].shape)} saved, {tuple(p.shape)} now"
        for k, p in params.items()
        if k in saved and hasattr(saved[k], "shape") and tuple(saved[k].shape) != tuple(p.shape)
    ]
    if not (missing or unexpected or shapes):
        return
    conf = checkpoint.get("pyagc_config") or {}
    trained = ", ".join(
        f"{part}={conf[part].get('_target_', '?')}" for part in ("encoder", "head") if isinstance(conf.get(part), dict)
    )
    details = "; ".join(
        filter(
            None,
            [
                f"missing in the checkpoint: {missing[:3]}" if missing else "",
                f"not in this model: {unexpected[:3]}" if unexpected else "",
                f"other shapes: {shapes[:3]}" if shapes else "",
            ],
        )
    )
    raise ValueError(
        f"{key}={path} was trained with another model ({trained or 'unknown components'}): {details}. "
        "Resume with the same experiment and overrides as the run that wrote it, or drop "
        f"{key} to train afresh."
    )


def atomic_replace(write: Callable[[str], None], path: str | os.PathLike, fsync: bool = True) -> Path:
    """Write ``path`` through ``write(tmp_path)`` into a temporary file in the same folder, then rename it over
    ``path`` (``os.replace``): a crash or kill at any moment leaves either the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(str(tmp))
        replace_synced(tmp, path, fsync=fsync)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def replace_synced(src: str | os.PathLike, dst: str | os.PathLike, fsync: bool = True) -> None:
    """``os.replace(src, dst)``, with ``src``'s data flushed to disk first and the folder entry after (``fsync``),
    so the rename never exposes a file whose data is not on disk yet (a machine crash, not only a kill).
    """
    if fsync:
        fd = os.open(src, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    os.replace(src, dst)
    if fsync and hasattr(os, "O_DIRECTORY"):
        try:
            fd = os.open(Path(dst).parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
