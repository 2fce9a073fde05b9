"""Peak memory of the running process (and of the GPU), as recorded in ``metrics.json``."""

from __future__ import annotations

import resource

import torch

__all__ = ["peak_memory_mb"]


def peak_memory_mb() -> dict[str, float]:
    """Peak resident memory of this process (and of the GPU when one was used), in MiB."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out
