"""Keep freed tensor memory in the process on Linux (glibc): training steps stop paying page faults.

PyTorch's CPU allocator asks ``malloc`` for every tensor. glibc serves blocks above ``M_MMAP_THRESHOLD`` (128 KiB
at start, adapted upwards only as far as the largest block freed so far) with a fresh ``mmap`` and returns them
with ``munmap``, and trims the heap's top above ``M_TRIM_THRESHOLD``: every step of a training loop whose
activations, weight casts and gradients are a few MiB each then maps new pages and faults on each of them. For the
MLP autoencoder of DEC (784-500-500-2000-10, batch 256, one thread) this is a third of a bf16 autocast step on a
2-core AMD EPYC (``scripts/bench_cpu_precision.py``, ``benchmarks/cpu_precision.md``). Raising both thresholds
(what PyTorch's CPU performance guide achieves with jemalloc / tcmalloc) makes the heap keep and reuse that memory.
The numbers computed do not change; the process's resident memory no longer shrinks after a peak.

:func:`tune_cpu_allocator` is called when training starts on the CPU (:class:`~pyagc.models.ClusteringModule`'s
``on_fit_start``); ``PYAGC_MALLOC_TUNING=0`` turns it off. It does nothing where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["tune_cpu_allocator", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: blocks up to this size come from the heap, not from mmap (glibc's ceiling for this setting: 32 MiB on 64-bit)
MMAP_THRESHOLD = 32 * 1024 * 1024
#: free memory at the heap's top kept before it is given back to the system
TRIM_THRESHOLD = 1024 * 1024 * 1024

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_tuned: bool | None = None


def tune_cpu_allocator(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Raise glibc's mmap and trim thresholds for this process (once); returns whether they are set.

    Args:
        mmap_threshold: allocations up to this many bytes are served from the heap (at most 32 MiB).
        trim_threshold: bytes of free memory at the top of the heap kept for reuse.

    Returns ``False`` (and changes nothing) off Linux, with a C library other than glibc, or when the environment
    sets ``PYAGC_MALLOC_TUNING=0``.
    """
    global _tuned
    if _tuned is not None:
        return _tuned
    _tuned = False
    if os.environ.get("PYAGC_MALLOC_TUNING", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
        libc.gnu_get_libc_version  # glibc only (musl has no such symbol and ignores these options)  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, int(min(mmap_threshold, MMAP_THRESHOLD))) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1 and ok
    _tuned = ok
    return ok
