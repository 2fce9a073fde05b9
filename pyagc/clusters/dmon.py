r"""Deep Modularity Networks (DMoN) head.

Tsitsulin, Palowitch, Perozzi & Müller, *Graph Clustering with Graph Neural Networks*, JMLR 24
(2023), https://jmlr.org/papers/v24/20-998.html.

Soft assignments :math:`\mathbf C = \operatorname{softmax}(\mathbf Z \mathbf W + \mathbf b) \in [0,1]^{N\times K}`
of the node embeddings are trained with the spectral modularity loss plus the collapse regulariser

.. math::
    \mathcal L = \underbrace{-\frac{1}{2m}\operatorname{Tr}\!\Big(\mathbf C^\top \mathbf A \mathbf C
        - \frac{\mathbf C^\top \mathbf d\, \mathbf d^\top \mathbf C}{2m}\Big)}_{\text{spectral}}
      + \lambda \underbrace{\Big(\frac{\sqrt K}{N}\Big\lVert \sum_i \mathbf C_{i\cdot} \Big\rVert_F - 1\Big)}_{\text{collapse}}

where :math:`\mathbf A` is the adjacency matrix, :math:`\mathbf d` the degrees and :math:`2m` their sum.
Everything is computed sparsely from ``edge_index`` (:math:`\operatorname{Tr}(\mathbf C^\top\mathbf A\mathbf C)
= \sum_{(i,j)\in E} \langle \mathbf C_i, \mathbf C_j\rangle`), never as an :math:`N\times N` matrix, and
exactly for the graph passed in: under mini-batching the degrees and edge count are the subgraph's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput


def spectral_modularity_loss(assignments: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
    r"""DMoN's spectral loss :math:`-\frac{1}{2m}\operatorname{Tr}(\mathbf C^\top \mathbf B \mathbf C)`, sparse.

    ``edge_index`` lists each undirected edge in both directions (as torch-geometric stores it).
    """
    n = assignments.shape[0]
    src, dst = edge_index
    w = (
        torch.ones(src.shape[0], device=assignments.device, dtype=assignments.dtype)
        if edge_weight is None
        else edge_weight.to(assignments)
    )
    degrees = torch.zeros(n, device=assignments.device, dtype=assignments.dtype).index_add_(0, src, w)
    two_m = degrees.sum().clamp_min(1e-12)
    within = (w.unsqueeze(1) * assignments[src] * assignments[dst]).sum()  # Tr(C^T A C)
    pooled_degrees = assignments.T @ degrees  # C^T d  (K,)
    null_model = (pooled_degrees * pooled_degrees).sum() / two_m
    return -(within - null_model) / two_m


def collapse_regularization(assignments: Tensor) -> Tensor:
    r""":math:`\frac{\sqrt K}{N}\lVert \sum_i \mathbf C_{i\cdot}\rVert_F - 1`: 0 for equal cluster sizes,
    :math:`\sqrt K - 1` when every node is in one cluster.
    """
    n, k = assignments.shape
    return assignments.sum(0).norm() / n * k**0.5 - 1.0


class DMoNClusterHead(BaseClusterHead):
    r"""DMoN: a linear layer + softmax gives soft assignments trained with modularity + collapse.

    Args:
        n_clusters: number of clusters :math:`K`.
        n_features: size of the node embeddings from the graph encoder.
        collapse_regularization: weight :math:`\lambda` of the collapse term (paper: 1.0).
        dropout: dropout on the embeddings before the assignment layer (paper: 0.5).
    """

    def __init__(
        self, n_clusters: int, n_features: int, collapse_regularization: float = 1.0, dropout: float = 0.5
    ) -> None:
        super().__init__(n_clusters)
        if collapse_regularization < 0:
            raise ValueError(f"collapse_regularization must be >= 0, got {collapse_regularization}.")
        self.n_features = self.check_n_features(n_features)
        self.collapse_weight = float(collapse_regularization)
        self.assign = nn.Linear(self.n_features, self.n_clusters)
        nn.init.orthogonal_(self.assign.weight)
        nn.init.zeros_(self.assign.bias)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.dropout = float(dropout)

    def _dropout(self, z: Tensor) -> Tensor:
        # inverted dropout from a uniform draw: the same distribution as nn.Dropout, faster on CPU
        # (torch's bernoulli_ kernel draws element by element)
        if not self.training or self.dropout == 0.0:
            return z
        return z * (torch.rand_like(z) >= self.dropout) * (1.0 / (1.0 - self.dropout))

    def assignments(self, z: Tensor) -> Tensor:
        with torch.autocast(device_type=z.device.type, enabled=False):
            return torch.softmax(self.assign(self._dropout(z.float())), dim=1)

    def forward(self, z: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        if edge_index is None:
            raise ValueError(
                "DMoNClusterHead needs the graph: call head(z, edge_index=edge_index) "
                "(a graph DataModule passes it automatically)."
            )
        c = self.assignments(z)
        spectral = spectral_modularity_loss(c, edge_index, edge_weight)
        collapse = collapse_regularization(c)
        return LossOutput(spectral + self.collapse_weight * collapse, {"spectral": spectral, "collapse": collapse})

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        was_training = self.training
        self.eval()
        c = self.assignments(z)
        self.train(was_training)
        return c if soft else c.argmax(1)

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}, n_features={self.n_features}, collapse={self.collapse_weight}"
