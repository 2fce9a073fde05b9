r"""Deep Clustering Network (DCN) head.

Yang, Fu, Sidiropoulos & Hong, *Towards K-means-friendly Spaces: Simultaneous Deep Learning and
Clustering*, ICML 2017, https://arxiv.org/abs/1610.04794.

The autoencoder's reconstruction loss plus the k-means objective in the embedding space, with
hard assignments :math:`\mathbf s_i` (one-hot) to centres :math:`\mathbf M = [\mathbf m_1..\mathbf m_K]`:

.. math::
    \mathcal L = \underbrace{\frac{1}{B\,d}\sum_{i=1}^{B} \lVert \mathbf x_i - g(f(\mathbf x_i)) \rVert^2}_{\mathcal L_r}
               + \frac{\lambda}{2}\,\underbrace{\frac{1}{B}\sum_{i=1}^{B}
                 \lVert f(\mathbf x_i) - \mathbf M \mathbf s_i \rVert^2}_{\mathcal L_c},
    \qquad \mathbf s_i = \mathbf e_{k^*},\; k^* = \arg\min_k \lVert f(\mathbf x_i) - \mathbf m_k \rVert^2 .

The centres are **not** trained by gradient descent. As in the paper's Algorithm 1, after the
assignments of a batch are fixed every centre moves toward its samples with a per-cluster step
size :math:`1/c_k`, where :math:`c_k` counts the samples ever assigned to cluster :math:`k`:

.. math::
    c_k \leftarrow c_k + 1, \qquad \mathbf m_k \leftarrow \mathbf m_k - \frac{1}{c_k}\,(\mathbf m_k - f(\mathbf x_i))
    \quad \text{for each } i \text{ with } s_i = k .

Applied sample by sample this is a running mean, so for a whole batch with :math:`n_k` samples in
cluster :math:`k` (sum :math:`\mathbf S_k`) it equals exactly

.. math::
    \mathbf m_k \leftarrow \mathbf m_k + \frac{\mathbf S_k - n_k \mathbf m_k}{c_k + n_k}, \qquad c_k \leftarrow c_k + n_k,

which is what :meth:`DCNClusterHead.forward` computes (vectorised; under DDP the sums and counts of
all processes are added first, so every process keeps the same centres).

Order of updates (the paper's Algorithm 1): the network is updated with the assignments
:math:`\mathbf s_i` **fixed** -- each sample's assignment from its previous visit (the initial k-means
labels before its first), kept per sample in the buffer ``labels`` and looked up by the batch's
``index`` -- then the batch is assigned afresh and the centres move. Here the fresh assignments and the
centre update use the embedding of the same forward pass as the loss (no second encoder pass per step);
the centres move under ``no_grad`` after the loss has been formed. The fixed assignments matter: with
assignments recomputed inside the loss, Adam's first joint steps move the embedding faster than the
count-damped centres follow, samples of small clusters switch to big ones and are pulled in, and whole
clusters die within an epoch (3,000 USPS images, lambda 1: ACC 0.52 with 4 of 10 clusters empty after 15
epochs, vs. 0.63 with all 10 kept; ``benchmarks/dcn_assignments_usps.md``). Without an ``index`` (a manual
loop that passes none) the fresh assignments are used.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.kmeans import kmeans, pairwise_sq_dists
from pyagc.utils.distributed import all_gather_cat, is_distributed


class DCNClusterHead(BaseClusterHead):
    r"""DCN: reconstruction + :math:`\frac{\lambda}{2}` k-means loss with count-based centre updates.

    Needs ``x`` and ``x_hat`` (an autoencoder) in the context, and the batch's dataset ``index`` for the
    fixed per-sample assignments of the loss (:class:`~pyagc.models.ClusteringModule` passes it). The centres
    ``centers`` (K, F), the counts ``counts`` (K,) and the assignments ``labels`` (N,) are buffers: they are
    updated inside :meth:`forward` while the head is in training mode and are saved in checkpoints.

    Args:
        n_clusters: number of clusters :math:`K`.
        n_features: dimension :math:`F` of the embeddings.
        lambda_: weight :math:`\lambda` of the k-means term (the loss uses :math:`\lambda/2`). The
            reconstruction term here is ``F.mse_loss`` (mean over samples *and* features), the
            paper's is summed over features, so the paper's :math:`\lambda` corresponds to
            :math:`\lambda \cdot d` here for :math:`d` input features.
        initial_count: value of every :math:`c_k` after :meth:`initialize` (the authors' code and
            clustpy use 100, so that the first updates move a centre by at most about 1%).
            ``None``: the sizes of the initial k-means clusters.
        n_init: k-means++ restarts of the centre initialisation.
        temperature: ``cluster(z, soft=True)`` returns
            :math:`\mathrm{softmax}_k(-\lVert \mathbf z_i - \mathbf m_k\rVert^2 / T)`.
        seed: seed of the initialisation.
    """

    uses_reconstruction = True
    requires_initialization = True
    _resizable_buffers = ("labels",)

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        lambda_: float = 1.0,
        initial_count: int | None = 100,
        n_init: int = 20,
        temperature: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__(n_clusters)
        n_features = self.check_n_features(n_features)
        if lambda_ < 0:
            raise ValueError(f"lambda_ (weight of the k-means term) must be non-negative, got {lambda_}.")
        if initial_count is not None and int(initial_count) < 1:
            raise ValueError(
                f"initial_count must be >= 1 (or null for the initial cluster sizes), got {initial_count}."
            )
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}.")
        self.n_features = int(n_features)
        self.lambda_ = float(lambda_)
        self.initial_count = None if initial_count is None else int(initial_count)
        self.n_init = int(n_init)
        self.temperature = float(temperature)
        self.seed = int(seed)
        self.register_buffer("centers", torch.zeros(self.n_clusters, self.n_features))
        self.register_buffer("counts", torch.zeros(self.n_clusters, dtype=torch.long))
        # per-sample assignment from the sample's previous visit (dataset index order); set by initialize()
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long))

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """k-means (``n_init`` k-means++ restarts) on the embeddings of the whole training set."""
        self.check_initialization_input(z, self.n_features)
        result = kmeans(z.detach(), self.n_clusters, n_init=self.n_init, seed=self.seed)
        self.centers.copy_(result.centers.to(self.centers))
        self.labels = result.labels.to(self.centers.device)  # z is ordered by dataset index
        if self.initial_count is None:
            sizes = torch.bincount(result.labels.to(self.counts.device), minlength=self.n_clusters)
            self.counts.copy_(sizes.clamp_min(1))
        else:
            self.counts.fill_(self.initial_count)
        self.mark_initialized()

    # ------------------------------------------------------------------ loss
    def assign(self, z: Tensor) -> Tensor:
        r"""Hard assignments :math:`\\arg\\min_k \\lVert \\mathbf z_i - \\mathbf m_k \\rVert^2` (float32 distances)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return pairwise_sq_dists(z.detach().float(), self.centers.float()).argmin(1)

    def kmeans_loss(self, z: Tensor, labels: Tensor) -> Tensor:
        r""":math:`\\frac1B\\sum_i \\lVert \\mathbf z_i - \\mathbf m_{s_i} \\rVert^2` (gradient into ``z`` only)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            assigned = self.centers.float().index_select(0, labels)  # a copy: later centre updates don't touch it
            return (z.float() - assigned).pow(2).sum(1).mean()

    @torch.no_grad()
    def update_centers(self, z: Tensor, labels: Tensor) -> None:
        r"""The paper's per-sample update
        :math:`\mathbf m_k \leftarrow \mathbf m_k - \frac{1}{c_k}(\mathbf m_k - \mathbf z_i)` for every sample of
        the batch, in closed form (sums and counts added over all processes under DDP).
        """
        zf = z.detach().float()
        sums = torch.zeros(self.n_clusters, self.n_features, device=zf.device, dtype=torch.float32)
        sums.index_add_(0, labels, zf)
        n = torch.bincount(labels, minlength=self.n_clusters).to(torch.float32)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            packed = torch.cat([sums, n.unsqueeze(1)], dim=1)
            dist.all_reduce(packed)
            sums, n = packed[:, :-1], packed[:, -1]
        centers = self.centers.float()
        new_counts = self.counts.to(torch.float32) + n
        centers = centers + (sums - n.unsqueeze(1) * centers) / new_counts.clamp_min(1.0).unsqueeze(1)
        self.centers.copy_(centers.to(self.centers.dtype))
        self.counts.add_(n.round().to(self.counts.dtype))

    def forward(
        self,
        z: Tensor,
        x: Tensor | None = None,
        x_hat: Tensor | None = None,
        index: Tensor | None = None,
        **context: Any,
    ) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        if x is None or x_hat is None:
            raise ValueError(
                "DCNClusterHead needs the input `x` and its reconstruction `x_hat` in the context: "
                "use an autoencoder (e.g. MLPAutoencoder) and call head(z, x=x, x_hat=decoder(z))."
            )
        if not self.is_initialized:
            raise RuntimeError(
                "DCNClusterHead has no centres yet: call head.initialize(z_all) with the embeddings of the "
                "whole training set first (ClusteringModule does this before joint training)."
            )
        labels = self.assign(z)
        fixed = self._previous_labels(index)
        kmeans_term = self.kmeans_loss(z, labels if fixed is None else fixed)
        recon = F.mse_loss(x_hat.float(), x.float().reshape(x_hat.shape))
        total = recon + 0.5 * self.lambda_ * kmeans_term
        if self.training:
            self.update_centers(z, labels)
            if fixed is not None:
                self._remember_labels(index, labels)
        return LossOutput(total=total, components={"kmeans": kmeans_term, "reconstruction": recon})

    def _previous_labels(self, index: Tensor | None) -> Tensor | None:
        """The batch's assignments from the samples' previous visits (None without ``index`` or stored labels)."""
        if index is None or self.labels.numel() == 0:
            return None
        index = index.to(self.labels.device)
        if int(index.max()) >= self.labels.numel() or int(index.min()) < 0:
            raise ValueError(
                f"sample index {int(index.max())} is outside the {self.labels.numel()} samples DCN was "
                "initialised on: initialise the head on the embeddings of the whole training set, in index order."
            )
        return self.labels[index].to(self.centers.device)

    @torch.no_grad()
    def _remember_labels(self, index: Tensor, labels: Tensor) -> None:
        """Store the fresh assignments of the batch (of every process's batch under DDP)."""
        index, labels = index.to(self.labels.device), labels.to(self.labels.device)
        if is_distributed():
            index, labels = all_gather_cat(index), all_gather_cat(labels)
        self.labels[index] = labels

    # ------------------------------------------------------------------ assignments
    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        with torch.autocast(device_type=z.device.type, enabled=False):
            d = pairwise_sq_dists(z.float(), self.centers.float().to(z.device))
            if soft:
                return torch.softmax(-d / self.temperature, dim=1)
            return d.argmin(1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, lambda_={self.lambda_}, "
            f"initial_count={self.initial_count}"
        )
