r"""Graph neural network encoders (GCN, and GAT / GraphSAGE layers) from torch-geometric.

Kipf & Welling, *Semi-Supervised Classification with Graph Convolutional Networks*, ICLR 2017,
https://arxiv.org/abs/1609.02907: each layer computes

.. math:: \mathbf H^{(l+1)} = \sigma\big(\hat{\mathbf D}^{-1/2} \hat{\mathbf A} \hat{\mathbf D}^{-1/2} \mathbf H^{(l)} \mathbf W^{(l)}\big).
"""

from __future__ import annotations

from torch import Tensor, nn

from pyagc.encoders.base import make_activation

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
        h = x
        for i, conv in enumerate(self.convs):
            h = conv(self.dropout(h), edge_index)
            if i < len(self.convs) - 1 or self.act_last:
                h = self.act(h)
        return h

    def encode(self, x: Tensor, edge_index: Tensor | None = None) -> Tensor:
        return self.forward(x, edge_index)
