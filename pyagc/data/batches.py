"""Any data a model is given, as a stream of batch dicts: what whole-data passes (embedding, initialisation,
batch-norm recalibration, evaluation) iterate over.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

__all__ = ["iter_batches"]


def iter_batches(data: Any) -> Iterator[dict[str, Tensor]]:
    """Iterate over ``data`` (tensor, batch dict, DataLoader, DataModule, PyG ``Data``) as batch dicts."""
    if isinstance(data, Tensor):
        for start in range(0, data.shape[0], 4096):
            chunk = data[start : start + 4096]
            yield {"x": chunk, "index": torch.arange(start, start + chunk.shape[0])}
        return
    if isinstance(data, dict):
        batch = dict(data)
        batch.setdefault("index", torch.arange(batch["x"].shape[0]))
        yield batch
        return
    if hasattr(data, "full_dataloader"):
        if getattr(data, "x", 1) is None:  # a pyagc DataModule not set up yet
            data.setup()
        yield from iter_batches(data.full_dataloader())
        return
    if hasattr(data, "edge_index") and hasattr(data, "x"):  # torch_geometric Data
        yield {"x": data.x, "edge_index": data.edge_index, "index": torch.arange(data.x.shape[0])}
        return
    if isinstance(data, Iterable):
        offset = 0
        for batch in data:
            if isinstance(batch, (list, tuple)):
                batch = {"x": batch[0]}
            if "index" not in batch:
                batch = dict(batch, index=torch.arange(offset, offset + batch["x"].shape[0]))
            offset += batch["x"].shape[0]
            yield batch
        return
    raise TypeError(f"cannot iterate over {type(data).__name__}; pass a tensor, DataLoader or DataModule.")
