"""Full-dataset steps that give the same result on 1 process and on N processes."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """Whether more than one process runs under ``torch.distributed``."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate ``t`` from every process along dim 0 (sizes may differ between processes)."""
    if not is_distributed():
        return t
    world = dist.get_world_size()
    n = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(world)]
    dist.all_gather(sizes, n)
    max_n = int(max(s.item() for s in sizes))
    padded = torch.zeros((max_n, *t.shape[1:]), dtype=t.dtype, device=t.device)
    padded[: t.shape[0]] = t
    out = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(out, padded)
    return torch.cat([o[: int(s.item())] for o, s in zip(out, sizes)])


def gather_by_index(values: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """Gather rows from all processes, drop duplicates (DistributedSampler pads) and sort by index.

    Returns ``(values_sorted, unique_index)``; identical on every process.
    """
    values, index = all_gather_cat(values), all_gather_cat(index.to(values.device))
    order = torch.argsort(index, stable=True)
    index, values = index[order], values[order]
    keep = torch.ones_like(index, dtype=torch.bool)
    keep[1:] = index[1:] != index[:-1]
    return values[keep], index[keep]


def broadcast_module_state(module: torch.nn.Module, src: int = 0) -> float:
    """Make every process hold ``src``'s parameters and buffers; return the largest difference seen."""
    if not is_distributed():
        return 0.0
    max_diff = 0.0
    for t in list(module.parameters()) + list(module.buffers()):
        ref = t.detach().clone()
        dist.broadcast(ref, src)
        if t.is_floating_point():
            diff = (ref - t.detach()).abs().max() if t.numel() else torch.zeros((), device=t.device)
        else:
            diff = (ref != t.detach()).any().float()
        diff = diff.reshape(1).float()
        dist.all_reduce(diff, op=dist.ReduceOp.MAX)
        max_diff = max(max_diff, float(diff))
        t.data.copy_(ref)
    return max_diff


def average_tensors_(tensors: list[Tensor]) -> None:
    """In place: every process ends with the mean over processes of each tensor (no-op without DDP)."""
    if not is_distributed():
        return
    world = dist.get_world_size()
    for t in tensors:
        dist.all_reduce(t.data, op=dist.ReduceOp.SUM)
        t.data.div_(world)
