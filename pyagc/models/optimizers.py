"""Optimizers and learning-rate schedules of :class:`~pyagc.models.ClusteringModule`, from plain specs.

``{"name": "adam", "lr": 1e-3, ...}`` builds an optimizer (:func:`build_optimizer`); ``{"name": "step",
"step_size": 10, "gamma": 0.9}`` or ``{"name": "cosine"}`` a schedule of the joint optimizer
(:func:`build_lr_schedule`). The Hydra configs (``configs/model/*.yaml``) give these specs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

__all__ = ["OPTIMIZERS", "LR_SCHEDULES", "build_optimizer", "check_lr_schedule", "build_lr_schedule"]

OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}


def build_optimizer(params: Iterable[nn.Parameter], spec: dict[str, Any] | None) -> torch.optim.Optimizer:
    """Build an optimizer from ``{"name": "adam" | "adamw" | "sgd", **kwargs}``.

    Adam, AdamW and SGD use PyTorch's fused kernels unless ``fused: false`` is given: the same
    update rule in one pass over the parameters, which on CPU is several times faster than the
    per-op ``foreach`` path for large MLPs (DEC's 2000-wide layers).
    """
    spec = dict(spec or {"name": "adam", "lr": 1e-3})
    name = str(spec.pop("name", "adam")).lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; valid: {sorted(OPTIMIZERS)}")
    spec.setdefault("fused", True)
    return OPTIMIZERS[name](params, **spec)


#: learning-rate schedules of the joint optimizer, stepped once per joint epoch
LR_SCHEDULES = ("step", "cosine")


def check_lr_schedule(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """The schedule spec, checked (``None`` or empty: a constant learning rate)."""
    if not spec:
        return None
    spec = dict(spec)
    if spec.get("name", "step") not in LR_SCHEDULES:
        raise ValueError(f"unknown lr_schedule name {spec.get('name')!r}; valid: {list(LR_SCHEDULES)}")
    return spec


def build_lr_schedule(
    optimizer: torch.optim.Optimizer, spec: dict[str, Any], epochs: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """``step``: times ``gamma`` every ``step_size`` epochs (VaDE's schedule); ``cosine``: cosine decay to 0 over
    ``epochs``.
    """
    spec = dict(spec)
    if spec.pop("name", "step") == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(int(epochs), 1))
    return torch.optim.lr_scheduler.StepLR(
        optimizer, step_size=int(spec.get("step_size", 10)), gamma=float(spec.get("gamma", 0.9))
    )
