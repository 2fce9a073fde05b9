"""Where data lives: local roots, the writable cache, and clear errors for missing files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def cache_dir() -> Path:
    """Writable cache (``$PYAGC_CACHE`` or ``~/.cache/pyagc``)."""
    path = Path(os.environ.get("PYAGC_CACHE", Path.home() / ".cache" / "pyagc")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared_fallback_disabled() -> bool:
    """Whether ``PYAGC_NO_SHARED`` (``1``, ``true``, ``yes``) turns off the ``../shared/data`` / ``./shared/data``
    fallback, as in a fresh clone with no shared folder beside it (CI runs the test suite this way too).
    """
    return os.environ.get("PYAGC_NO_SHARED", "").strip().lower() in ("1", "true", "yes", "on")


def default_data_root() -> Path:
    """``$PYAGC_DATA`` if set, else ``../shared/data`` or ``./shared/data`` when present (unless
    ``PYAGC_NO_SHARED=1``), else the cache.
    """
    env = os.environ.get("PYAGC_DATA")
    if env:
        return Path(env).expanduser()
    if shared_fallback_disabled():
        return cache_dir() / "data"
    for candidate in (Path.cwd().parent / "shared" / "data", Path.cwd() / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    return cache_dir() / "data"


def resolve_root(root: str | os.PathLike | None, subdir: str) -> Path:
    """``root`` when given, else ``subdir`` of the default data folder."""
    return Path(root).expanduser() if root is not None else default_data_root() / subdir


def missing_file_error(path: Path, what: str) -> FileNotFoundError:
    """The error for a data file that is not where it should be, saying where to put it."""
    return FileNotFoundError(
        f"{what} not found: {path} does not exist. Put the files there (or set `root=` / the "
        f"PYAGC_DATA environment variable to the folder that holds them); pyagc never downloads "
        f"data at run time."
    )


def copy_to_cache(src: Path, name: str) -> Path:
    """Copy a read-only data folder into the writable cache once (libraries write beside raw files)."""
    dst = cache_dir() / "copies" / name
    marker = dst / ".complete"
    if not marker.exists():
        if dst.exists():
            shutil.rmtree(dst)
        tmp = dst.with_name(dst.name + f".tmp{os.getpid()}")
        if tmp.exists():
            shutil.rmtree(tmp)
        shutil.copytree(src, tmp)
        try:
            tmp.rename(dst)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
        marker.touch()
    return dst
