"""The machine and software a benchmark ran on, for every record of ``pyagc-bench`` (without importing torch).

CPU model and the instructions that decide CPU training speed (``amx_bf16`` and ``avx512_bf16``: bfloat16
autocast pays; ``avx2`` only: it is much slower than float32, ``benchmarks/cpu_precision.md``), the cores this
process may use, the GPUs ``nvidia-smi`` lists, and the versions: Python, torch (from the installed package's
metadata), pyagc, and the git revision of the source tree when it is one.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "CPU_FLAGS",
    "available_cores",
    "cpu_info",
    "git_revision",
    "gpu_names",
    "machine_info",
    "package_version",
    "source_root",
]

# the CPU instructions a record names (present or not)
CPU_FLAGS = ("amx_bf16", "avx512_bf16", "avx512f", "avx2")


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask, else ``os.cpu_count()``)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> dict[str, Any]:
    """``{"model": ..., "flags": {"amx_bf16": bool, ...}}`` from ``/proc/cpuinfo`` (Linux); elsewhere the model
    from :func:`platform.processor` and no flags.
    """
    model, flags = "", set()
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    if not model:
        model = platform.processor() or platform.machine()
    return {"model": model, "flags": {f: f in flags for f in CPU_FLAGS} if flags else {}}


def gpu_names() -> list[str]:
    """The GPUs ``nvidia-smi`` lists (empty without one, or without ``nvidia-smi``)."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def package_version(name: str) -> str | None:
    """The installed version of ``name`` (its metadata: nothing is imported), or ``None``."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def source_root() -> Path:
    """The folder that holds the ``pyagc`` package (the repository for an editable install)."""
    return Path(__file__).resolve().parents[2]


def git_revision(root: str | Path | None = None) -> dict[str, Any] | None:
    """``{"commit": sha, "dirty": bool}`` of the git tree at ``root`` (default: :func:`source_root`); ``dirty``:
    tracked files differ from the commit. ``None`` outside a git tree or without git.
    """
    exe = shutil.which("git")
    root = Path(root) if root is not None else source_root()
    if exe is None or not (root / ".git").exists():
        return None
    try:
        sha = subprocess.run([exe, "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=20)
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            [exe, "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(dirty.stdout.strip()) if dirty.returncode == 0 else None}


@functools.lru_cache(maxsize=1)
def machine_info() -> dict[str, Any]:
    """Everything a record says about where it ran (computed once per process)."""
    import pyagc

    cpu = cpu_info()
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_model": cpu["model"],
        "cpu_flags": cpu["flags"],
        "cores": available_cores(),
        "gpus": gpu_names(),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "torch": package_version("torch"),
        "pyagc": package_version("pyagc") or getattr(pyagc, "__version__", None),
        "git": git_revision(),
    }
