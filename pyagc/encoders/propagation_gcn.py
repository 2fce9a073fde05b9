r"""A GCN whose layers propagate over several hops (low-pass graph filtering).

Each layer transforms, then smooths over :math:`K` hops of the symmetrically normalised adjacency
with self-loops :math:`\hat{\mathbf A} = \tilde{\mathbf D}^{-1/2}(\mathbf A + \mathbf I)\tilde{\mathbf D}^{-1/2}`:

.. math:: \mathbf H^{(l+1)} = \sigma\big(\hat{\mathbf A}^{K} (\mathbf H^{(l)} \mathbf W^{(l)} + \mathbf 1 \mathbf b^{(l)\top})\big)

(the bias is propagated with the features). With :math:`K = 1` and zero bias this is Kipf & Welling's
GCN layer (https://arxiv.org/abs/1609.02907); with one layer
and no activation it is SGC (Wu et al. 2019, https://arxiv.org/abs/1902.07153). :math:`\hat{\mathbf A}^K`
is a low-pass filter :math:`(\mathbf I - \tilde{\mathbf L})^K` on the graph signal, which makes
neighbouring nodes' embeddings similar: the smoothing that graph clustering methods such as AGC
(Zhang et al. 2019, https://arxiv.org/abs/1906.01210) and SCGC (Liu et al. 2023,
https://arxiv.org/abs/2205.07865) apply to the features before encoding.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyagc.encoders.base import make_activation
from pyagc.encoders.sparse import (
    SparseAdjacencyCache,
    feature_density,
    gcn_propagate,
    sparse_linear,
    to_sparse_features,
)

__all__ = ["PropagationGCN"]


class PropagationGCN(nn.Module):
    r"""GCN layers with :math:`K`-hop propagation each: ``z = f(x, edge_index)`` (see the module docstring).

    Args:
        in_channels: node feature size.
        hidden_channels: width of the hidden layers.
        out_channels: embedding size.
        num_layers: number of (transform, propagate) layers.
        hops: propagation steps :math:`K \ge 0` per layer (0: an MLP).
        dropout: dropout before each transform.
        activation: activation name (after every layer but the last unless ``act_last``).
        act_last: apply the activation after the last layer too.
        sparse_density: dense features with at most this share of non-zeros (bag-of-words) are
            multiplied in CSR form in the first layer (same result, much faster on CPU).

    The normalised adjacency is built once per ``edge_index`` object (cached; a new graph, e.g. an
    augmented view, is normalised again). Message passing runs in float32, also under autocast.
    """

    is_autoencoder = False
    requires_graph = True

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 256,
        out_channels: int = 64,
        num_layers: int = 1,
        hops: int = 2,
        dropout: float = 0.0,
        activation: str = "relu",
        act_last: bool = False,
        sparse_density: float = 0.1,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        if hops < 0:
            raise ValueError(f"hops must be >= 0, got {hops}.")
        dims = [int(in_channels)] + [int(hidden_channels)] * (num_layers - 1) + [int(out_channels)]
        self.linears = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        for lin in self.linears:  # Glorot weights, zero bias (as torch-geometric's GCNConv)
            nn.init.xavier_uniform_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.hops = int(hops)
        self.act = make_activation(activation)
        self.act_last = bool(act_last)
        self.dropout = nn.Dropout(dropout)
        self.sparse_density = float(sparse_density)
        self.in_channels = dims[0]
        self.latent_dim = dims[-1]
        self._adjacency_cache = SparseAdjacencyCache()

    def adjacency(self, edge_index: Tensor, num_nodes: int) -> Tensor:
        """The normalised adjacency of ``edge_index`` as a CSR matrix (cached for the same, unchanged tensor)."""
        return self._adjacency_cache(edge_index, num_nodes)[0]

    def _first_transform(self, x: Tensor) -> Tensor:
        """``x W^T + b`` of the first layer, with ``x`` in CSR form for sparse features."""
        lin = self.linears[0]
        if x.requires_grad or (self.training and self.dropout.p > 0) or feature_density(x) > self.sparse_density:
            return lin(self.dropout(x))
        return sparse_linear(to_sparse_features(x), lin.weight, lin.bias)

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        if edge_index is None:
            raise ValueError("PropagationGCN needs `edge_index`: use a graph DataModule or pass edge_index=... .")
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"PropagationGCN expects node features (N, {self.in_channels}) but got {tuple(x.shape)}. "
                f"Set encoder.in_channels={x.shape[-1]}."
            )
        adjacency = self._adjacency_cache(edge_index, x.shape[0]) if self.hops > 0 else None
        with torch.autocast(device_type=x.device.type, enabled=False):  # no bf16 sparse CPU kernels
            h = x.float()
            for i, lin in enumerate(self.linears):
                h = self._first_transform(h) if i == 0 else lin(self.dropout(h))
                for _ in range(self.hops):
                    h = gcn_propagate(adjacency, h)
                if i < len(self.linears) - 1 or self.act_last:
                    h = self.act(h)
        return h

    def encode(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        return self.forward(x, edge_index)

    def extra_repr(self) -> str:
        return f"hops={self.hops}, act_last={self.act_last}"
