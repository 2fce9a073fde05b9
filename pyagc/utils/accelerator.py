"""Accelerator helpers."""

from __future__ import annotations

import torch


def remember_missing_cuda() -> bool:
    """On a machine without a CUDA device, make ``torch.cuda.is_available()`` a cached ``False``.

    Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (fork safety), and torch's optimizers ask
    ``torch.cuda.is_available()`` in every ``step()`` (graph-capture health check). With a CUDA build
    of torch on a machine without a GPU, each such call tries to load NVML again (torch caches the
    device count only after CUDA initialises, which never happens here): a visible share of a
    small model's CPU step in profiles. When the (fork-safe, NVML-based) count is
    0, this stores it in torch's own cache, as torch does itself after initialisation. A machine
    with a GPU is left untouched. Returns whether the cache was set.
    """
    if not torch.backends.cuda.is_built() or getattr(torch.cuda, "_cached_device_count", 0) is not None:
        return False
    if torch.cuda.device_count() == 0:
        torch.cuda._cached_device_count = 0
        return True
    return False
