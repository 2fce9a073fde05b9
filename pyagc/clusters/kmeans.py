r"""k-means in PyTorch (k-means++ seeding, ``n_init`` restarts) and the k-means cluster head.

Lloyd's algorithm minimises the within-cluster sum of squares

.. math::
    \min_{\boldsymbol\mu_1..\boldsymbol\mu_K} \sum_{i=1}^{N} \min_k \lVert \mathbf{z}_i - \boldsymbol\mu_k \rVert^2,

seeded with greedy k-means++ (Arthur & Vassilvitskii, SODA 2007,
https://theory.stanford.edu/~sergei/papers/kMeansPP-soda.pdf): each new centre is the best of
``2 + log K`` candidates drawn with probability proportional to the squared distance to the
nearest centre chosen so far. Everything runs on the device of the input (GPU if it lives there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead


@dataclass
class KMeansResult:
    centers: Tensor  # (K, F)
    labels: Tensor  # (N,) int64
    inertia: float
    n_iter: int


def pairwise_sq_dists(x: Tensor, c: Tensor) -> Tensor:
    """Squared Euclidean distances ``(N, K)`` between rows of ``x`` and ``c`` (clamped at 0)."""
    d = (x * x).sum(1, keepdim=True) - 2.0 * x @ c.T + (c * c).sum(1).unsqueeze(0)
    return d.clamp_min_(0.0)


def _kmeans_plusplus(x: Tensor, k: int, generator: torch.Generator) -> Tensor:
    n = x.shape[0]
    n_local_trials = 2 + int(math.log(k))
    first = torch.randint(n, (1,), generator=generator, device="cpu").item()
    centers = [x[first]]
    closest = pairwise_sq_dists(x, x[first : first + 1]).squeeze(1)
    for _ in range(1, k):
        total = closest.sum()
        if total <= 0:  # all points coincide with chosen centres
            idx = torch.randint(n, (n_local_trials,), generator=generator, device="cpu").to(x.device)
        else:
            probs = (closest / total).cpu()
            idx = torch.multinomial(probs, n_local_trials, replacement=True, generator=generator).to(x.device)
        cand_d = pairwise_sq_dists(x, x[idx])  # (N, T)
        new_closest = torch.minimum(closest.unsqueeze(1), cand_d)  # (N, T)
        best = int(new_closest.sum(0).argmin())
        closest = new_closest[:, best]
        centers.append(x[idx[best]])
    return torch.stack(centers)


def _lloyd(x: Tensor, centers: Tensor, max_iter: int, tol: float) -> tuple[Tensor, Tensor, float, int]:
    tol_abs = tol * float(x.var(0).mean()) if x.shape[0] > 1 else 0.0
    k = centers.shape[0]
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        d = pairwise_sq_dists(x, centers)
        labels = d.argmin(1)
        counts = torch.bincount(labels, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centers).index_add_(0, labels, x)
        new_centers = torch.where(counts.unsqueeze(1) > 0, sums / counts.clamp_min(1).unsqueeze(1), centers)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):  # re-seed empty clusters at the points farthest from their centre
            far = d.gather(1, labels.unsqueeze(1)).squeeze(1).topk(len(empty)).indices
            new_centers[empty] = x[far]
        shift = ((new_centers - centers) ** 2).sum()
        centers = new_centers
        if shift <= tol_abs:
            break
    d = pairwise_sq_dists(x, centers)
    min_d, labels = d.min(1)
    return centers, labels, float(min_d.sum()), n_iter


@torch.no_grad()
def kmeans(
    x: Tensor,
    n_clusters: int,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int = 0,
    init: Tensor | None = None,
) -> KMeansResult:
    r"""Cluster the rows of ``x`` with k-means; return the run with the lowest inertia.

    Args:
        x: data ``(N, F)``, any float dtype and device.
        n_clusters: number of clusters :math:`K`, ``2 <= K <= N``.
        n_init: number of k-means++ restarts (ignored when ``init`` is given).
        max_iter: Lloyd iterations per restart.
        tol: relative tolerance on the centre shift (scaled by the mean feature variance).
        seed: seed of the k-means++ draws (results are reproducible for a seed).
        init: optional initial centres ``(K, F)``.
    """
    if x.dim() != 2:
        raise ValueError(f"kmeans expects a 2-D tensor (N, F), got shape {tuple(x.shape)}.")
    n = x.shape[0]
    if not 2 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be between 2 and the number of samples ({n}), got {n_clusters}.")
    if not torch.isfinite(x).all():
        raise ValueError("kmeans received NaN or inf values; clean or impute the data first.")
    work = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    best: KMeansResult | None = None
    starts = [init.to(work)] if init is not None else [None] * max(1, int(n_init))
    for start in starts:
        c0 = start if start is not None else _kmeans_plusplus(work, n_clusters, gen)
        centers, labels, inertia, n_iter = _lloyd(work, c0.clone(), max_iter, tol)
        if best is None or inertia < best.inertia:
            best = KMeansResult(centers.to(x.dtype), labels, inertia, n_iter)
    assert best is not None
    return best


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
