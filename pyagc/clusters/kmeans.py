r"""The k-means cluster head: learnable centres trained on the k-means objective.

The algorithm itself (k-means++ seeding, Lloyd, mini-batch) is :func:`pyagc.functional.kmeans`; its names are
importable from here too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead
from pyagc.functional.kmeans import MINIBATCH_THRESHOLD, KMeansResult, kmeans, pairwise_sq_dists

__all__ = ["KMeansClusterHead", "KMeansResult", "MINIBATCH_THRESHOLD", "kmeans", "pairwise_sq_dists"]


class KMeansClusterHead(BaseClusterHead):
    r"""Learnable k-means centres in the embedding space.

    Loss (the k-means objective of a batch, differentiable in the embeddings and the centres):

    .. math::
        \mathcal{L} = \frac{1}{B} \sum_{i=1}^{B} \min_k \lVert \mathbf{z}_i - \boldsymbol\mu_k \rVert^2 .

    ``cluster(z)`` assigns each embedding to its nearest centre; ``cluster(z, soft=True)``
    returns the Student-t kernel :math:`q_{ik} \propto (1 + \lVert\mathbf z_i-\boldsymbol\mu_k\rVert^2)^{-1}`.
    Centres are initialised by k-means++ with ``n_init`` restarts on the embeddings of the whole
    training set.

    Args:
        n_clusters: number of clusters :math:`K`.
        n_features: dimension :math:`F` of the embeddings.
        n_init: k-means++ restarts at initialisation.
        seed: seed of the initialisation.
    """

    requires_initialization = True

    def __init__(self, n_clusters: int, n_features: int, n_init: int = 10, seed: int = 0) -> None:
        super().__init__(n_clusters)
        self.n_features = self.check_n_features(n_features)
        self.n_init = int(n_init)
        self.seed = int(seed)
        self.centers = nn.Parameter(torch.zeros(self.n_clusters, self.n_features))

    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        self.check_initialization_input(z, self.n_features)
        result = kmeans(z.detach(), self.n_clusters, n_init=self.n_init, seed=self.seed)
        self.centers.data.copy_(result.centers.to(self.centers))
        self.mark_initialized()

    def forward(self, z: Tensor, **context: Any) -> Tensor:
        self.check_embeddings(z, self.n_features)
        with torch.autocast(device_type=z.device.type, enabled=False):  # float32 distances
            return pairwise_sq_dists(z.float(), self.centers.float()).min(1).values.mean()

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        d = pairwise_sq_dists(z, self.centers.to(z))
        if soft:
            q = 1.0 / (1.0 + d)
            return q / q.sum(1, keepdim=True)
        return d.argmin(1)

    def extra_repr(self) -> str:
        return f"n_clusters={self.n_clusters}, n_features={self.n_features}"
