"""Accelerator helpers."""

from __future__ import annotations

from typing import Any

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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bfloat16 matrix instructions (AVX-512 BF16 or AMX) that oneDNN uses.

    Without them, ``bf16-mixed`` autocast on the CPU runs emulated kernels: 11.6x slower per training
    step than float32 on an AVX2-only AMD EPYC (MLP autoencoder 256-500-500-2000-10, batch 256;
    ``scripts/bench_cpu_precision.py``, ``benchmarks/cpu_precision.md``).
    """
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def slow_cpu_precision_message(device_type: str, precision: str) -> str | None:
    """A warning for a reduced-precision setting that makes training on this CPU slower, else ``None``."""
    if device_type != "cpu" or "bf16" not in str(precision) or cpu_has_native_bf16():
        return None
    return (
        f"trainer precision {precision!r} on a CPU without bfloat16 instructions (AVX-512 BF16 / AMX; this "
        f"one reports {torch.backends.cpu.get_cpu_capability()}): autocast runs emulated bfloat16 kernels, "
        "several times slower than float32. Use trainer.precision=32-true on this machine."
    )


def check_accelerator(accelerator: Any, devices: Any = 1, key: str = "trainer") -> None:
    """Raise a ``ValueError`` saying what to do when the trainer asks for an accelerator this machine lacks.

    Lightning's own messages ("No supported gpu backend found!") name neither the config nor the fix; this runs
    before anything is built or written. ``accelerator``/``devices`` are the trainer's (``trainer.accelerator``,
    ``trainer.devices``); ``key`` is the config group named in the message.
    """
    acc = str(accelerator or "auto").lower()
    if acc in ("gpu", "cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            built = (
                "a CPU-only build of torch"
                if not torch.backends.cuda.is_built()
                else "torch finds no CUDA GPU (torch.cuda.is_available() is False)"
            )
            raise ValueError(
                f"{key}.accelerator={acc} needs a CUDA GPU, but {built}. Train on the CPU with {key}=cpu (one process) "
                f"or {key}=ddp_cpu (two processes), or {key}.accelerator=auto to use a GPU only when there is one."
            )
        wanted = _device_count(devices)
        if wanted is not None and wanted > count:
            raise ValueError(
                f"{key}.devices={devices} asks for {wanted} GPUs but this machine has {count}; set "
                f"{key}.devices={count} (or -1 for all of them)."
            )
    elif acc == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ValueError(
                f"{key}.accelerator=mps needs Apple's Metal backend, which this machine lacks; use {key}=cpu."
            )
    elif acc not in ("cpu", "auto", "tpu", "hpu"):
        raise ValueError(
            f"{key}.accelerator={accelerator!r} is not an accelerator; valid: cpu, gpu, cuda, mps, auto "
            f"(or pick a trainer config: {key}=cpu, gpu, ddp, ddp_cpu)."
        )


def _device_count(devices: Any) -> int | None:
    """The number of devices a Lightning ``devices`` value asks for (``None``: all / automatic)."""
    if devices in (None, "auto", -1, "-1"):
        return None
    if isinstance(devices, int):
        return devices
    if isinstance(devices, str):
        parts = [p for p in devices.split(",") if p.strip()]
        if len(parts) > 1 or devices.strip().endswith(","):
            return len(parts)
        try:
            return int(devices)
        except ValueError:
            return None
    try:
        return len(list(devices))
    except TypeError:
        return None
