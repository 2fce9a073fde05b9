r"""Autoencoder Centroid-based Deep Cluster (ACe/DeC) head.

Miklautz, Bauer, Mautz, Tschiatschek, Böhm & Plant, *Details (Don't) Matter: Isolating Cluster
Information in Deep Embedded Spaces*, IJCAI 2021, https://www.ijcai.org/proceedings/2021/0403.pdf
(the special case "one clustering + one shared space" of ENRC: Miklautz, Mautz, Altinigneli, Böhm &
Plant, *Deep Embedded Non-Redundant Clustering*, AAAI 2020, https://doi.org/10.1609/aaai.v34i04.5961).

A learnable rotation :math:`V \in \mathbb R^{d\times d}` and per-dimension weights
:math:`\boldsymbol\beta^{cs}, \boldsymbol\beta^{ss} \in (0, 1)^d` with
:math:`\beta^{cs}_j + \beta^{ss}_j = 1` (a two-way softmax, i.e. :math:`\beta^{cs}_j = \sigma(\lambda_j)`)
split the rotated embedding :math:`V^\top\mathbf z` into a **clustered space** with :math:`K` centres
:math:`\boldsymbol\mu_1..\boldsymbol\mu_K` and a **shared space** with a single centre
:math:`\boldsymbol\mu^{ss}`, which explains the variation common to all clusters (details the decoder needs
but the clustering should ignore). The weights replace the 0/1 projections of NrKmeans / SubKmeans by soft
ones. The loss of a batch :math:`\{\mathbf x_i\}_{i=1}^B`, :math:`\mathbf z_i = f(\mathbf x_i)`, is

.. math::
    \mathcal L = \underbrace{\frac1B\sum_i \lVert \mathbf x_i - g(VV^\top\mathbf z_i)\rVert^2}_{\mathcal L_{rec}}
    + \frac12\Big(\underbrace{\frac1B\sum_i \big\lVert \boldsymbol\beta^{cs}\odot
        (V^\top\mathbf z_i - \boldsymbol\mu_{c_i})\big\rVert^2}_{\mathcal L_{cs}}
    + \underbrace{\frac1B\sum_i \big\lVert \boldsymbol\beta^{ss}\odot
        (V^\top\mathbf z_i - \boldsymbol\mu^{ss})\big\rVert^2}_{\mathcal L_{ss}}\Big),
    \qquad c_i = \arg\min_k \big\lVert \boldsymbol\beta^{cs}\odot(V^\top\mathbf z_i - \boldsymbol\mu_k)\big\rVert^2

(reconstruction per sample summed over features, as in the paper; the cluster terms are averaged over
the two spaces as in the authors' implementation). The encoder, :math:`V` and :math:`\boldsymbol\beta`
get gradients; the centres do not: they are updated after each training batch by mini-batch k-means
(Sculley, WWW 2010) in the rotated space,

.. math::
    \bar n_k \leftarrow \rho\, n_k + (1-\rho)\,\bar n_k,\qquad
    \boldsymbol\mu_k \leftarrow \Big(1-\tfrac{1}{1+\bar n_k}\Big)\boldsymbol\mu_k
        + \tfrac{1}{1+\bar n_k}\,\bar{\mathbf z}^{rot}_k, \qquad
    \boldsymbol\mu^{ss} \leftarrow (1-\rho)\,\boldsymbol\mu^{ss} + \rho\,\overline{V^\top\mathbf z}

(:math:`n_k` points of centre :math:`k` in the batch with mean :math:`\bar{\mathbf z}^{rot}_k`; the count is a
moving average, rate :math:`\rho` = ``count_momentum``, so the step size stays about one batch's share
instead of decaying to 0 while the embedding moves; centres without points keep their place, and a centre
left empty for ``reinit_after`` consecutive batches is moved to the batch point worst served by its centre).
With ``refit_interval`` set, every that many steps the centres also take ``refit_iterations`` Lloyd steps
on the whole training set's rotated embeddings (from where they are, in the :math:`\boldsymbol\beta^{cs}`-weighted
metric of the assignments) and :math:`\boldsymbol\mu^{ss}` becomes its mean, so they follow an embedding that
moves faster than the mini-batch updates track.

**Orthogonality of V.** The paper feeds the decoder :math:`VV^\top\mathbf z` and lets that reconstruction
keep :math:`V` close to orthogonal. Here :math:`V` is *exactly* orthogonal by construction,
:math:`V = V_0 \exp(A - A^\top)` (a fixed orthogonal base :math:`V_0` times the matrix exponential of a
learnable skew-symmetric matrix, i.e. the trivialisation behind
``torch.nn.utils.parametrizations.orthogonal``): then :math:`VV^\top = I`, the paper's decoder input
:math:`g(VV^\top\mathbf z)` *is* :math:`g(\mathbf z)`, so the ``x_hat`` that
:class:`~pyagc.models.ClusteringModule` computes from :math:`\mathbf z` is the paper's reconstruction, the
head needs no access to the decoder, and the rotation cannot drift into a scaling that shrinks distances.
:math:`A` is an ordinary parameter (zeros at the start), so the joint optimizer trains it and checkpoints
keep it; :math:`V_0` is a buffer.

**Initialisation** (:meth:`initialize`, the closed-form step of SubKmeans/NrKmeans that the paper builds
on): k-means (``n_init`` restarts) on the embeddings gives labels; :math:`V_0` = eigenvectors of
:math:`S_W - S_D` (within-cluster minus total scatter, ascending eigenvalues, so the directions that
separate the clusters come first); centres = k-means centres rotated, :math:`\boldsymbol\mu^{ss}` = rotated
mean; :math:`\beta^{cs}_j = S_j^2 / (C_j^2 + S_j^2)` with :math:`C_j, S_j` the within-cluster and total sum of
squares of rotated dimension :math:`j` (the authors' code: the two softmax logits start at
:math:`\pm\log(S_j / C_j)`), clamped to :math:`[10^{-3}, 1 - 10^{-3}]` so its gradient does not vanish.

**Assignments** (:meth:`cluster`): nearest centre in the clustered space, the rotated dimensions with
:math:`\beta^{cs}_j > 1/2 + \text{shared\_space\_tolerance}` (dimensions whose weight stays close to the
uniform 1/2 carry no cluster structure and belong to the shared space, as in the authors' code; at least the
dimension with the largest :math:`\beta^{cs}` is kept). ``soft=True`` gives the softmax of the negative
squared distances there. :meth:`split_spaces` returns both projections and :math:`\boldsymbol\beta` for
plotting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.kmeans import kmeans, pairwise_sq_dists
from pyagc.utils.distributed import is_distributed


@dataclass
class ACeDeCSplit:
    r"""The rotated embedding split into ACe/DeC's two spaces (see :meth:`ACeDeCClusterHead.split_spaces`).

    Attributes:
        clustered: ``(N, m)`` rotated embeddings restricted to the clustered-space dimensions.
        shared: ``(N, d - m)`` rotated embeddings restricted to the shared-space dimensions.
        rotated: ``(N, d)`` all rotated embeddings :math:`V^\top \mathbf z`.
        beta_cluster: ``(d,)`` weights :math:`\beta^{cs}` (``1 - beta_cluster`` is :math:`\beta^{ss}`).
        cluster_dims: ``(m,)`` indices of the clustered-space dimensions (rotated coordinates).
        shared_dims: ``(d - m,)`` indices of the shared-space dimensions.
        centers: ``(K, m)`` cluster centres in the clustered space.
    """

    clustered: Tensor
    shared: Tensor
    rotated: Tensor
    beta_cluster: Tensor
    cluster_dims: Tensor
    shared_dims: Tensor
    centers: Tensor


class ACeDeCClusterHead(BaseClusterHead):
    r"""ACe/DeC: a clustered space and a shared space, found by a learned rotation and weights.

    Needs ``x`` and ``x_hat`` in the context (the reconstruction is part of the objective); call
    :meth:`initialize` with the embeddings of the whole training set before training.

    Args:
        n_clusters: number of clusters :math:`K` in the clustered space.
        n_features: dimension :math:`d` of the embeddings.
        reconstruction_weight: weight of :math:`\mathcal L_{rec}` (paper: 1, no trade-off parameter).
        count_momentum: rate :math:`\rho` of the moving-average cluster counts of the mini-batch k-means
            centre update and of the shared centre's update (authors' code: 0.5).
        beta_lr_multiplier: :math:`\beta` is learned this many times faster than the other parameters
            (paper: 10). The paper's :math:`\beta` is a softmax over two logits, each stepped at this
            multiple of the learning rate; under Adam their gradients are equal and opposite, so the logit
            *difference* moves twice as fast. One logit :math:`\lambda` with
            :math:`\beta^{cs} = \sigma(2m\lambda)` (``m`` this multiplier) reproduces that with one joint
            optimizer: exact (up to ``eps``) for Adam/AdamW, whose steps do not depend on the gradient's
            scale; with SGD the speed-up is squared.
        shared_space_tolerance: a rotated dimension belongs to the clustered space when
            :math:`\beta^{cs}_j > 1/2 +` this (authors' code: 0.05).
        reinit_after: a centre that gets no point for more than this many consecutive training batches is
            re-initialised (``0`` disables it).
        refit_interval: training steps between whole-data Lloyd re-fits of the centres (``None``: never,
            the paper's mini-batch updates only). :class:`~pyagc.models.ClusteringModule` calls
            :meth:`refresh` with the whole training set's embeddings at this interval.
        refit_iterations: Lloyd steps per re-fit.
        n_init: k-means restarts of the initialisation.
        seed: seed of the initialisation.
    """

    uses_reconstruction = True
    requires_initialization = True

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        reconstruction_weight: float = 1.0,
        count_momentum: float = 0.5,
        beta_lr_multiplier: float = 10.0,
        shared_space_tolerance: float = 0.05,
        reinit_after: int = 10,
        refit_interval: int | None = None,
        refit_iterations: int = 1,
        n_init: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__(n_clusters)
        n_features = self.check_n_features(n_features)
        if reconstruction_weight < 0:
            raise ValueError(f"reconstruction_weight must be non-negative, got {reconstruction_weight}.")
        if not 0.0 < count_momentum <= 1.0:
            raise ValueError(f"count_momentum must be in (0, 1], got {count_momentum}.")
        if beta_lr_multiplier <= 0:
            raise ValueError(f"beta_lr_multiplier must be positive, got {beta_lr_multiplier}.")
        if not 0.0 <= shared_space_tolerance < 0.5:
            raise ValueError(f"shared_space_tolerance must be in [0, 0.5), got {shared_space_tolerance}.")
        if reinit_after < 0:
            raise ValueError(f"reinit_after must be >= 0 batches (0 disables re-initialisation), got {reinit_after}.")
        if n_init < 1:
            raise ValueError(f"n_init must be at least 1, got {n_init}.")
        if refit_interval is not None and int(refit_interval) < 1:
            raise ValueError(f"refit_interval must be a positive number of steps or None, got {refit_interval}.")
        if int(refit_iterations) < 1:
            raise ValueError(f"refit_iterations must be at least 1, got {refit_iterations}.")
        self.refresh_interval = None if refit_interval is None else int(refit_interval)
        self.refit_iterations = int(refit_iterations)
        d = int(n_features)
        self.n_features = d
        self.reconstruction_weight = float(reconstruction_weight)
        self.count_momentum = float(count_momentum)
        self.beta_lr_multiplier = float(beta_lr_multiplier)
        self.shared_space_tolerance = float(shared_space_tolerance)
        self.reinit_after = int(reinit_after)
        self.n_init = int(n_init)
        self.seed = int(seed)
        # V = rotation_base @ matrix_exp(A - A^T): exactly orthogonal; identity until initialize()
        self.rotation_skew = nn.Parameter(torch.zeros(d, d))
        self.register_buffer("rotation_base", torch.eye(d))
        # beta^cs = sigmoid(2 * beta_lr_multiplier * beta_logits); 1/2 everywhere until initialize()
        self.beta_logits = nn.Parameter(torch.zeros(d))
        self.register_buffer("centers", torch.zeros(self.n_clusters, d))
        self.register_buffer("shared_center", torch.zeros(d))
        self.register_buffer("center_counts", torch.zeros(self.n_clusters))
        self.register_buffer("empty_batches", torch.zeros(self.n_clusters, dtype=torch.long))

    # ------------------------------------------------------------------ parameters as matrices
    @property
    def rotation(self) -> Tensor:
        """The orthogonal rotation :math:`V` ``(d, d)`` (float32, differentiable)."""
        skew = self.rotation_skew.float()
        return self.rotation_base.float() @ torch.linalg.matrix_exp(skew - skew.T)

    @property
    def beta_cluster(self) -> Tensor:
        r""":math:`\beta^{cs}` ``(d,)``; the shared-space weights are ``1 - beta_cluster``."""
        return torch.sigmoid(2.0 * self.beta_lr_multiplier * self.beta_logits.float())

    @torch.no_grad()
    def set_beta(self, beta_cluster: Tensor) -> None:
        r"""Set :math:`\beta^{cs}` (values in (0, 1), clamped to [1e-6, 1 - 1e-6])."""
        beta = torch.as_tensor(beta_cluster, dtype=torch.float32, device=self.beta_logits.device)
        if beta.shape != (self.n_features,):
            raise ValueError(f"beta_cluster must have shape ({self.n_features},), got {tuple(beta.shape)}.")
        if not torch.isfinite(beta).all() or (beta < 0).any() or (beta > 1).any():
            raise ValueError("beta_cluster must hold finite values in [0, 1].")
        beta = beta.clamp(1e-6, 1 - 1e-6)
        self.beta_logits.copy_(torch.logit(beta) / (2.0 * self.beta_lr_multiplier))

    @torch.no_grad()
    def set_rotation(self, rotation: Tensor) -> None:
        """Set :math:`V` to an orthogonal matrix (stored as the base; the learned skew part is reset to 0)."""
        v = torch.as_tensor(rotation, dtype=torch.float32, device=self.rotation_base.device)
        d = self.n_features
        if v.shape != (d, d):
            raise ValueError(f"rotation must have shape ({d}, {d}), got {tuple(v.shape)}.")
        if not torch.allclose(v.T @ v, torch.eye(d, device=v.device), atol=1e-4):
            raise ValueError("rotation must be orthogonal (V^T V = I); orthonormalise it, e.g. with torch.linalg.qr.")
        self.rotation_base.copy_(v)
        self.rotation_skew.zero_()

    def cluster_space_mask(self) -> Tensor:
        """Boolean ``(d,)``: which rotated dimensions form the clustered space (at least one)."""
        beta = self.beta_cluster.detach()
        mask = beta > 0.5 + self.shared_space_tolerance
        if not bool(mask.any()):
            mask = torch.zeros_like(mask)
            mask[beta.argmax()] = True
        return mask

    # ------------------------------------------------------------------ initialisation
    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """k-means, then V, centres and beta in closed form (see the module docstring)."""
        self.check_initialization_input(z, self.n_features)
        dev = self.centers.device
        zd = z.detach().to(dev)
        result = kmeans(zd.float(), self.n_clusters, n_init=self.n_init, seed=self.seed)
        # scatter matrices in float64 (eigh of a difference of large sums)
        x = zd.double()
        labels = result.labels.to(dev)
        counts = torch.bincount(labels, minlength=self.n_clusters).double()
        means = torch.zeros(self.n_clusters, x.shape[1], dtype=x.dtype, device=dev).index_add_(0, labels, x)
        means = means / counts.clamp_min(1).unsqueeze(1)
        within = x - means[labels]
        total = x - x.mean(0, keepdim=True)
        s_w, s_d = within.T @ within, total.T @ total
        _, vecs = torch.linalg.eigh(s_w - s_d)  # ascending: most cluster-separating directions first
        rot = vecs
        self.set_rotation(rot.float())
        within_rot, total_rot = within @ rot, total @ rot
        c_cost, s_cost = within_rot.pow(2).sum(0), total_rot.pow(2).sum(0)
        s2, c2 = s_cost.pow(2), c_cost.pow(2)
        beta = (s2 / (c2 + s2).clamp_min(1e-300)).clamp(1e-3, 1 - 1e-3)
        self.set_beta(beta.float())
        self.centers.copy_((means @ rot).float())
        self.shared_center.copy_((x.mean(0) @ rot).float())
        self.center_counts.zero_()
        self.empty_batches.zero_()
        self.mark_initialized()

    # ------------------------------------------------------------------ loss
    def _check_ready(self) -> None:
        if not self.is_initialized:
            raise RuntimeError(
                "ACeDeCClusterHead is not initialised: call head.initialize(z) with the embeddings of the whole "
                "training set first (ClusteringModule does this before joint training)."
            )

    def forward(self, z: Tensor, x: Tensor | None = None, x_hat: Tensor | None = None, **context: Any) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        if x is None or x_hat is None:
            raise ValueError(
                "ACeDeCClusterHead needs the input `x` and its reconstruction `x_hat` in the context: use an "
                "autoencoder (e.g. MLPAutoencoder) and call head(z, x=x, x_hat=encoder.decode(z))."
            )
        if x.shape[0] != z.shape[0] or x_hat.numel() != x.numel():
            raise ValueError(
                f"x {tuple(x.shape)}, x_hat {tuple(x_hat.shape)} and z {tuple(z.shape)} do not match: x_hat must "
                "be the decoder's reconstruction of the same batch as z."
            )
        self._check_ready()
        with torch.autocast(device_type=z.device.type, enabled=False):  # float32 distances and losses
            zr = z.float() @ self.rotation
            beta_cs = self.beta_cluster
            beta_ss = 1.0 - beta_cs
            centers = self.centers.detach().clone()
            with torch.no_grad():
                labels = pairwise_sq_dists(zr * beta_cs, centers * beta_cs).argmin(1)
            cluster_space = (beta_cs * (zr - centers[labels])).pow(2).sum(1).mean()
            shared_space = (beta_ss * (zr - self.shared_center.detach().clone())).pow(2).sum(1).mean()
            rec = (x_hat.float().reshape(x.shape) - x.float()).pow(2).flatten(1).sum(1).mean()
            total = self.reconstruction_weight * rec + 0.5 * (cluster_space + shared_space)
        if self.training and torch.is_grad_enabled():
            self._update_centers(zr.detach(), labels, beta_cs.detach())
        return LossOutput(
            total=total,
            components={"cluster_space": cluster_space, "shared_space": shared_space, "reconstruction": rec},
        )

    @torch.no_grad()
    def _update_centers(self, zr: Tensor, labels: Tensor, beta_cs: Tensor) -> None:
        """Mini-batch k-means step of the clustered-space centres and the shared centre (all processes agree)."""
        k = self.n_clusters
        counts = torch.bincount(labels, minlength=k).float()
        sums = torch.zeros_like(self.centers).index_add_(0, labels, zr)
        batch_sum = zr.sum(0)
        n = torch.tensor([float(zr.shape[0])], device=zr.device)
        if is_distributed():
            for t in (counts, sums, batch_sum, n):
                dist.all_reduce(t)
        hit = counts > 0
        rho = self.count_momentum
        self.center_counts.copy_(torch.where(hit, rho * counts + (1 - rho) * self.center_counts, self.center_counts))
        step = (1.0 / (1.0 + self.center_counts)).unsqueeze(1)
        batch_means = sums / counts.clamp_min(1).unsqueeze(1)
        self.centers.copy_(torch.where(hit.unsqueeze(1), (1 - step) * self.centers + step * batch_means, self.centers))
        self.shared_center.mul_(1 - rho).add_(rho * batch_sum / n)
        self.empty_batches.copy_(torch.where(hit, torch.zeros_like(self.empty_batches), self.empty_batches + 1))
        if self.reinit_after > 0:
            dead = (self.empty_batches > self.reinit_after).nonzero().flatten()
            if len(dead):
                self._reinit_centers(dead, zr, labels, beta_cs)

    @torch.no_grad()
    def _reinit_centers(self, dead: Tensor, zr: Tensor, labels: Tensor, beta_cs: Tensor) -> None:
        """Move long-empty centres to the batch points farthest from their own centre (rank 0's batch)."""
        cost = (beta_cs * (zr - self.centers[labels])).pow(2).sum(1)
        take = min(len(dead), zr.shape[0])
        new = zr[cost.topk(take).indices]
        if is_distributed():
            dist.broadcast(new, 0)
        self.centers[dead[:take]] = new
        self.center_counts[dead[:take]] = 0.0
        self.empty_batches[dead[:take]] = 0

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Lloyd steps of the centres on the whole training set's embeddings ``z`` (see ``refit_interval``)."""
        self._check_ready()
        self.check_initialization_input(z, self.n_features)
        dev = self.centers.device
        with torch.autocast(device_type=dev.type, enabled=False):
            zr = z.detach().to(dev).float() @ self.rotation.detach()
            beta_cs = self.beta_cluster.detach()
            for _ in range(self.refit_iterations):
                labels = pairwise_sq_dists(zr * beta_cs, self.centers * beta_cs).argmin(1)
                counts = torch.bincount(labels, minlength=self.n_clusters).float()
                sums = torch.zeros_like(self.centers).index_add_(0, labels, zr)
                hit = counts > 0
                self.centers.copy_(torch.where(hit.unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), self.centers))
            self.shared_center.copy_(zr.mean(0))
        self.empty_batches.zero_()

    # ------------------------------------------------------------------ assignments
    @torch.no_grad()
    def split_spaces(self, z: Tensor) -> ACeDeCSplit:
        """Rotate ``z`` and split it into the clustered and the shared space (for plots and analysis)."""
        self.check_embeddings(z, self.n_features)
        with torch.autocast(device_type=z.device.type, enabled=False):
            zr = z.float() @ self.rotation.to(z.device)
        mask = self.cluster_space_mask().to(z.device)
        cdims, sdims = mask.nonzero().flatten(), (~mask).nonzero().flatten()
        return ACeDeCSplit(
            clustered=zr[:, cdims],
            shared=zr[:, sdims],
            rotated=zr,
            beta_cluster=self.beta_cluster.detach().to(z.device),
            cluster_dims=cdims,
            shared_dims=sdims,
            centers=self.centers.to(z.device)[:, cdims],
        )

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        s = self.split_spaces(z)
        d = pairwise_sq_dists(s.clustered, s.centers)
        return torch.softmax(-d, dim=1) if soft else d.argmin(1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, "
            f"reconstruction_weight={self.reconstruction_weight}, beta_lr_multiplier={self.beta_lr_multiplier}"
        )


__all__ = ["ACeDeCClusterHead", "ACeDeCSplit"]
