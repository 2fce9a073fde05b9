r"""The plain ``nn.Module`` base of a clustering model: an encoder and a cluster head, trained in your own loop.

This is the ``ClusteringModel`` of the public PyAGC tutorial "Creating Custom Cluster Heads": a subclass
sets ``self.encoder`` and ``self.cluster_head`` and may write its own ``forward(data)`` (the training loss)
and ``infer_full(data)`` (the cluster labels)::

    class MyClusteringModel(ClusteringModel):
        def __init__(self, encoder, cluster_head):
            super().__init__()
            self.encoder = encoder
            self.cluster_head = cluster_head

        def forward(self, data):
            z = self.encoder(data.x, data.edge_index)
            return self.cluster_head(z, data.edge_index)

        def infer_full(self, data):
            z = self.encoder(data.x, data.edge_index)
            return self.cluster_head.cluster(z, soft=False)

Without overrides, ``ClusteringModel(encoder, head)`` already does this for any encoder and any head:
``forward`` embeds the data and calls the head with the context its ``forward`` names
(:meth:`~pyagc.clusters.BaseClusterHead.forward_with_context`), ``infer_full`` returns ``head.cluster(z)``.

:class:`~pyagc.models.ClusteringModule` is the Lightning subclass that trains one by phases (pretraining,
the head's initialisation, joint training) with a ``Trainer``; it is a ``ClusteringModel`` too.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, as_loss_output


def encoder_takes_graph(encoder: nn.Module) -> bool:
    """Whether ``encoder`` is called as ``encoder(x, edge_index)`` (graph encoders) rather than ``encoder(x)``."""
    flag = getattr(encoder, "requires_graph", None)
    if flag is not None:
        return bool(flag)
    try:
        params = [
            p
            for p in inspect.signature(encoder.forward).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    return len(params) >= 2 and params[1].default is inspect.Parameter.empty


def batch_as_dict(data: Any) -> dict[str, Any]:
    """``data`` (a tensor ``x``, a dict with ``x``, or a torch-geometric ``Data``) as a batch dict with ``x`` and,
    for graphs, ``edge_index`` / ``edge_weight``. No ``index`` is made up: a head's per-sample state (DEC's target
    distribution) is looked up only by real dataset indices.
    """
    if isinstance(data, Tensor):
        batch: dict[str, Any] = {"x": data}
    elif isinstance(data, dict):
        batch = dict(data)
    elif hasattr(data, "x"):
        batch = {"x": data.x}
        for key in ("edge_index", "edge_weight"):
            if getattr(data, key, None) is not None:
                batch[key] = getattr(data, key)
    else:
        raise TypeError(
            f"cannot read a batch from {type(data).__name__}: pass a tensor x, a dict with 'x', or a "
            "torch_geometric.data.Data."
        )
    if "x" not in batch:
        raise KeyError("the batch has no 'x' (the input features).")
    return batch


class ClusteringModel(nn.Module):
    """An ``encoder`` and a ``cluster_head`` (any :class:`~pyagc.clusters.BaseClusterHead`) in one module.

    Args:
        encoder: maps ``x`` (and ``edge_index`` for graph encoders) to embeddings ``z (N, F)``. Optional here:
            a subclass may set ``self.encoder`` itself after ``super().__init__()``.
        cluster_head: the head. Optional likewise.
    """

    encoder: nn.Module
    cluster_head: BaseClusterHead

    def __init__(self, encoder: nn.Module | None = None, cluster_head: BaseClusterHead | None = None) -> None:
        super().__init__()
        if encoder is not None:
            self.encoder = encoder
        if cluster_head is not None:
            self.cluster_head = cluster_head

    def embed_batch(self, batch: dict[str, Any]) -> Tensor:
        """Embeddings ``z`` of one batch dict (``x``, and ``edge_index`` for graph encoders)."""
        if encoder_takes_graph(self.encoder):
            if batch.get("edge_index") is None:
                raise ValueError(f"{type(self.encoder).__name__} needs a graph: the batch has no `edge_index`.")
            return self.encoder(batch["x"], batch["edge_index"])
        return self.encoder(batch["x"])

    def forward(self, data: Any) -> Tensor:
        """The head's loss on ``data`` (a tensor, a batch dict or a torch-geometric ``Data``), a scalar tensor."""
        batch = batch_as_dict(data)
        z = self.embed_batch(batch)
        context = {k: batch.get(k) for k in ("index", "x", "edge_index", "edge_weight")}
        return as_loss_output(self.cluster_head.forward_with_context(z, context)).total

    @torch.no_grad()
    def infer_full(self, data: Any, soft: bool = False) -> Tensor:
        """Cluster labels ``(N,)`` (or probabilities ``(N, K)`` with ``soft``) of every sample of ``data``."""
        was_training = self.training
        self.eval()
        try:
            z = self.embed_batch(batch_as_dict(data))
        finally:
            self.train(was_training)
        return self.cluster_head.cluster(z, soft=soft)
