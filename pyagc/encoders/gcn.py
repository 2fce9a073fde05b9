r"""Graph neural network encoders (GCN, and GAT / GraphSAGE layers) from torch-geometric.

Kipf & Welling, *Semi-Supervised Classification with Graph Convolutional Networks*, ICLR 2017,
https://arxiv.org/abs/1609.02907: each layer computes

.. math:: \mathbf H^{(l+1)} = \sigma\big(\hat{\mathbf D}^{-1/2} \hat{\mathbf A} \hat{\mathbf D}^{-1/2} \mathbf H^{(l)} \mathbf W^{(l)}\big).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyagc.encoders.base import make_activation
from pyagc.encoders.sparse import (
    SparseAdjacencyCache,
    SparseFeatureCache,
    SparseInputLinear,
    feature_density,
    gcn_propagate,
)

_CONVS = ("gcn", "gat", "sage")


class GCN(nn.Module):
    r"""A stack of graph convolutions mapping node features to embeddings ``z = f(x, edge_index)``.

    Args:
        in_channels: node feature size.
        hidden_channels: width of the hidden layers.
        out_channels: embedding size (the last layer has no activation unless ``act_last``).
        num_layers: number of graph convolutions.
        dropout: dropout before each convolution.
        activation: activation name.
        conv: ``gcn`` | ``gat`` | ``sage``.
        act_last: apply the activation after the last layer too (DMoN-style SeLU encoders).
        cached: cache the normalised adjacency of GCN layers (full-batch, transductive graphs only:
            the same graph at every step; leave ``False`` for mini-batches of subgraphs).
        sparse_features: compute the first GCN layer's :math:`\mathbf X\mathbf W` with a sparse (CSR)
            feature matrix: ``None`` (default) decides from the data (at most
            ``sparse_density`` non-zeros, e.g. bag-of-words features: Cora 1.3 %), ``True`` / ``False``
            force it. Only for ``conv="gcn"`` and features that need no gradient; the result is the
            same as the dense product (float32), much faster on sparse features.
        sparse_density: the largest share of non-zeros for which ``sparse_features=None`` goes sparse.
        sparse_adjacency: aggregate with the normalised adjacency as a cached CSR matrix (one fused sparse
            product per layer, backward without re-transposing) instead of gathering and scattering per
            edge; the same GCNConv parameters and result, faster on CPU. Only for
            ``conv="gcn"`` with ``normalize=True`` (the default); these layers then run in float32 even under
            autocast (no bf16 sparse CPU kernels).
    """

    is_autoencoder = False
    requires_graph = True

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int = 256,
        out_channels: int = 64,
        num_layers: int = 2,
        dropout: float = 0.0,
        activation: str = "relu",
        conv: str = "gcn",
        act_last: bool = False,
        cached: bool = False,
        sparse_features: bool | None = None,
        sparse_density: float = 0.1,
        sparse_adjacency: bool = True,
    ) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv, GCNConv, SAGEConv

        if conv not in _CONVS:
            raise ValueError(f"unknown graph conv {conv!r}; valid: {list(_CONVS)}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}.")
        layer = {"gcn": GCNConv, "gat": GATConv, "sage": SAGEConv}[conv]
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        extra = {"cached": True} if cached and conv == "gcn" else {}
        self.convs = nn.ModuleList(layer(a, b, **extra) for a, b in zip(dims[:-1], dims[1:]))
        if sparse_features and conv != "gcn":
            raise ValueError(f"sparse_features=True needs conv='gcn', got conv={conv!r}.")
        self.sparse_features = sparse_features if conv == "gcn" else False
        self.sparse_density = float(sparse_density)
        if self.sparse_features is not False:
            first = self.convs[0]
            lin = SparseInputLinear(
                first.lin.in_channels,
                first.lin.out_channels,
                bias=first.lin.bias is not None,
                weight_initializer="glorot",
            )
            lin.load_state_dict(first.lin.state_dict())
            first.lin = lin
        self._sparse_cache = SparseFeatureCache()
        self.sparse_adjacency = bool(sparse_adjacency) and conv == "gcn"
        self._adjacency_cache = SparseAdjacencyCache()
        self._density_checked: tuple[Tensor, bool] | None = None
        self.act = make_activation(activation)
        self.dropout = nn.Dropout(dropout)
        self.act_last = act_last
        self.in_channels = int(in_channels)
        self.latent_dim = int(out_channels)

    def forward(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        if edge_index is None:
            raise ValueError("GCN needs `edge_index`: use a graph DataModule or pass edge_index=... .")
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"GCN expects {self.in_channels} node features but got {x.shape[1]}. "
                f"Set encoder.in_channels={x.shape[1]}."
            )
        h = self._maybe_sparse(x)
        if not (self.sparse_adjacency and edge_index.layout == torch.strided):
            return self._layers(h, edge_index)
        first = self.convs[0]
        adjacency = self._adjacency_cache(edge_index, x.shape[0], first.improved, first.add_self_loops is not False)
        # sparse kernels have no bf16/fp16 CPU path: the (cheap) message passing runs in float32
        with torch.autocast(device_type=x.device.type, enabled=False):
            h = h if h.layout != torch.strided else h.float()
            for i, conv in enumerate(self.convs):  # GCNConv's own parameters, CSR aggregation
                h = gcn_propagate(adjacency, conv.lin(self.dropout(h)))
                if conv.bias is not None:
                    h = h + conv.bias
                if i < len(self.convs) - 1 or self.act_last:
                    h = self.act(h)
            return h

    def _layers(self, h: Tensor, edge_index: Tensor) -> Tensor:
        for i, conv in enumerate(self.convs):
            h = conv(self.dropout(h), edge_index)
            if i < len(self.convs) - 1 or self.act_last:
                h = self.act(h)
        return h

    def _maybe_sparse(self, x: Tensor) -> Tensor:
        """The CSR form of ``x`` for the first layer when that is on and valid, else ``x``."""
        if (
            self.sparse_features is False
            or x.layout != torch.strided
            or x.requires_grad
            or (self.training and self.dropout.p > 0)
        ):
            return x
        if self.sparse_features is None:  # auto: decide once per feature tensor
            if self._density_checked is None or self._density_checked[0] is not x:
                self._density_checked = (x, feature_density(x) <= self.sparse_density)
            if not self._density_checked[1]:
                return x
        return self._sparse_cache(x)

    def encode(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        return self.forward(x, edge_index)
