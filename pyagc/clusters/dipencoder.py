r"""DipEncoder head: enforce multimodality between every pair of clusters with Hartigan's dip.

Leiber, Bauer, Neumayr, Plant & Böhm, *The DipEncoder: Enforcing Multimodality in Autoencoders*,
KDD 2022, https://doi.org/10.1145/3534678.3539407.

Every pair of clusters :math:`(m, n)`, :math:`m < n`, has a learnable projection axis
:math:`\mathbf a_{mn} \in \mathbb R^F`, initialised with the difference of the two k-means centres
:math:`\boldsymbol\mu_m - \boldsymbol\mu_n`. With :math:`C_m` the batch samples currently labelled
:math:`m` and :math:`\mathrm{dip}(S)` the dip statistic (:mod:`pyagc.functional.dip`) of the projected
values :math:`\{\mathbf a_{mn}^\top \mathbf z_i : i \in S\}`, the clustering loss of a batch is

.. math::
    \mathcal L_{\mathrm{dip}} = \frac{1}{\binom K2} \sum_{m<n}
        \Bigl[\tfrac12\bigl(\mathrm{dip}(C_m) + \mathrm{dip}(C_n)\bigr) - \mathrm{dip}(C_m \cup C_n)\Bigr],

i.e. each cluster is made unimodal and each pair bimodal on its axis. A pair enters only when both
clusters have at least ``min_cluster_points`` samples in the batch; when one cluster is more than
``max_cluster_size_diff_factor`` times larger than the other, a random subset of that size is used for
:math:`\mathrm{dip}(C_m \cup C_n)`. The dip's gradient flows through its modal triangle
:math:`(i_1, i_2, i_3)` (ranks in the sorted projection):

.. math::
    \mathrm{dip} = \frac{1 + |A|}{2|S|}, \quad
    A = (i_1 - i_2) + (i_3 - i_1)\frac{\mathbf a^\top(\mathbf z_{(i_2)} - \mathbf z_{(i_1)})}
                                     {\mathbf a^\top(\mathbf z_{(i_3)} - \mathbf z_{(i_1)})},

so it reaches the three embeddings and the axis. The total loss adds the autoencoder's reconstruction,

.. math::
    \mathcal L = \beta\,\mathcal L_{\mathrm{dip}} + \lambda\,\tfrac1d\lVert\mathbf x - \hat{\mathbf x}\rVert^2,
    \qquad \lambda = \frac{1}{4 L_0},

with :math:`L_0` the reconstruction loss of an untrained autoencoder on the first batch (the paper's
calibration: the reconstruction term then starts at the scale of the largest possible dip, 1/4). An
untrained autoencoder's output is close to 0, so :math:`L_0` is taken as :math:`\lVert\mathbf x\rVert^2/d`
of the first joint batch (``reconstruction_weight=None``) unless a weight is given.

Labels (``refresh``, every ``update_interval`` steps, the paper: once per epoch): for each pair, each of
the two clusters' projections gets its modal interval (dip of the cluster mirrored at its ends,
:func:`~pyagc.functional.dip.mirrored_modal_interval`); the threshold halfway between the left cluster's
upper and the right cluster's lower modal bound votes for one of the two clusters; every sample takes
the cluster with most votes over all :math:`\binom K2` axes. ``cluster(z)`` votes with the stored
thresholds; ``cluster(z, soft=True)`` returns the vote shares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.dip import _dip_sorted_list, dip_from_triangle, mirrored_modal_interval
from pyagc.functional.kmeans import kmeans


class DipEncoderClusterHead(BaseClusterHead):
    r"""DipEncoder: pairwise dip-based multimodality on learnable projection axes + reconstruction.

    Needs ``x`` and ``x_hat`` in the context (an autoencoder) and ``index`` during training so the labels
    of the full-dataset refresh are used (without ``index`` a batch is labelled by :meth:`cluster`).

    Args:
        n_clusters: number of clusters :math:`K`.
        n_features: dimension :math:`F` of the embeddings.
        clustering_weight: weight :math:`\beta` of the dip loss (paper: 1).
        reconstruction_weight: weight :math:`\lambda` of the reconstruction loss; ``None``:
            :math:`1/(4L_0)` from the first joint batch (see the module docstring).
        update_interval: joint-training steps between label refreshes over the whole training set (the
            paper relabels once per epoch: use the number of batches per epoch).
        max_cluster_size_diff_factor: at most this many times more samples of the larger cluster enter
            the pair's dip (authors' default 3).
        min_cluster_points: a pair enters the batch loss only if both clusters have this many samples
            in the batch (authors' default 10).
        dip_weighting: scale each dip by its detached value, :math:`4\,\mathrm{dip}` for single clusters and
            :math:`4(\frac14 - \mathrm{dip})` for pairs (a variant of the authors' later implementation;
            off by default, as in the paper).
        n_init: k-means restarts for the initial clusters and axes.
        seed: seed of the initialisation and of the subsampling of imbalanced pairs.
    """

    uses_reconstruction = True
    requires_initialization = True
    _resizable_buffers = ("labels",)

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        clustering_weight: float = 1.0,
        reconstruction_weight: float | None = None,
        update_interval: int = 8,
        max_cluster_size_diff_factor: float = 3.0,
        min_cluster_points: int = 10,
        dip_weighting: bool = False,
        n_init: int = 10,
        seed: int = 0,
    ) -> None:
        super().__init__(n_clusters)
        n_features = self.check_n_features(n_features)
        if clustering_weight < 0:
            raise ValueError(f"clustering_weight must be non-negative, got {clustering_weight}.")
        if reconstruction_weight is not None and reconstruction_weight < 0:
            raise ValueError(
                f"reconstruction_weight must be non-negative or None (automatic), got {reconstruction_weight}."
            )
        if update_interval < 1:
            raise ValueError(f"update_interval must be >= 1 step, got {update_interval}.")
        if max_cluster_size_diff_factor < 1:
            raise ValueError(f"max_cluster_size_diff_factor must be >= 1, got {max_cluster_size_diff_factor}.")
        if min_cluster_points < 4:
            raise ValueError(
                f"min_cluster_points must be >= 4 (the dip of fewer samples is 0), got {min_cluster_points}."
            )
        self.n_features = int(n_features)
        self.clustering_weight = float(clustering_weight)
        self.refresh_interval = int(update_interval)
        self.max_cluster_size_diff_factor = float(max_cluster_size_diff_factor)
        self.min_cluster_points = int(min_cluster_points)
        self.dip_weighting = bool(dip_weighting)
        self.n_init = int(n_init)
        self.seed = int(seed)
        pairs = torch.combinations(torch.arange(self.n_clusters), r=2)  # (P, 2), m < n, row-major
        self.n_pairs = int(pairs.shape[0])
        self.register_buffer("pairs", pairs)
        self.projection_axes = nn.Parameter(torch.zeros(self.n_pairs, self.n_features))
        # thresholds[p]: samples with a_p^T z < thresholds[p] vote for sides[p, 0], the others for sides[p, 1]
        self.register_buffer("thresholds", torch.zeros(self.n_pairs))
        self.register_buffer("sides", pairs.clone())
        self.register_buffer("labels", torch.zeros(0, dtype=torch.long))
        fixed = -1.0 if reconstruction_weight is None else float(reconstruction_weight)
        self.register_buffer("reconstruction_weight", torch.tensor(fixed))  # < 0: not calibrated yet
        self._rng = np.random.default_rng(self.seed)
        self.last_label_change: float | None = None

    @property
    def update_interval(self) -> int:
        return int(self.refresh_interval or 0)

    # ------------------------------------------------------------------ projections and labels
    def project(self, z: Tensor) -> Tensor:
        """Projections ``(N, P)`` of ``z`` on every pair's axis (float32, outside autocast)."""
        with torch.autocast(device_type=z.device.type, enabled=False):
            return z.float() @ self.projection_axes.float().T

    def _votes(self, proj: Tensor) -> Tensor:
        sides = self.sides.to(proj.device)
        below = (proj < self.thresholds.to(proj)).float()  # (N, P)
        left = F.one_hot(sides[:, 0], self.n_clusters).float()  # (P, K)
        right = F.one_hot(sides[:, 1], self.n_clusters).float()
        return below @ left + (1.0 - below) @ right

    @torch.no_grad()
    def _fit_thresholds(self, proj: Tensor, labels: Tensor) -> None:
        """Thresholds between the clusters' modal intervals on every axis, from ``labels``."""
        p_np = proj.detach().cpu().double().numpy()
        lab = labels.cpu().numpy()
        members = [np.flatnonzero(lab == c) for c in range(self.n_clusters)]
        thresholds = np.zeros(self.n_pairs)
        sides = np.zeros((self.n_pairs, 2), dtype=np.int64)
        for p, (m, n) in enumerate(self.pairs.tolist()):
            bounds = []
            for c in (m, n):
                vals = np.sort(p_np[members[c], p])
                if vals.size == 0:
                    bounds.append(None)
                elif vals.size < 4:
                    mid = float(vals.mean())
                    bounds.append((mid, mid))
                else:
                    lo, hi = mirrored_modal_interval(vals)
                    bounds.append((float(vals[lo]), float(vals[hi])))
            bm, bn = bounds
            if bm is None or bn is None:  # an empty cluster never wins this pair's vote
                thresholds[p] = -np.inf
                sides[p] = (m, n) if bm is None else (n, m)
                continue
            if bm[0] > bn[1]:
                m_right = True
            elif bn[0] > bm[1]:
                m_right = False
            else:  # overlapping modal intervals: orient by their centres
                m_right = bm[0] + bm[1] > bn[0] + bn[1]
            (lft, b_l), (rgt, b_r) = ((n, bn), (m, bm)) if m_right else ((m, bm), (n, bn))
            thresholds[p] = 0.5 * (b_l[1] + b_r[0])
            sides[p] = (lft, rgt)
        self.thresholds.copy_(torch.from_numpy(thresholds).to(self.thresholds))
        self.sides.copy_(torch.from_numpy(sides).to(self.sides))

    # ------------------------------------------------------------------ full-dataset steps
    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        r"""k-means on all embeddings: initial labels and axes :math:`\\mu_m - \\mu_n`."""
        self.check_initialization_input(z, self.n_features)
        result = kmeans(z.detach().float(), self.n_clusters, n_init=self.n_init, seed=self.seed)
        c = result.centers.float()
        pairs = self.pairs.to(c.device)
        self.projection_axes.data.copy_((c[pairs[:, 0]] - c[pairs[:, 1]]).to(self.projection_axes))
        self.labels = result.labels.to(self.thresholds.device, torch.long)
        self._fit_thresholds(self.project(z), self.labels)
        self.mark_initialized()

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Relabel every training sample (``z`` ordered by dataset index) by the paper's pairwise vote."""
        self.check_embeddings(z, self.n_features)
        proj = self.project(z)
        if self.labels.numel() != z.shape[0]:  # e.g. initialised on other data: start from the current vote
            self.labels = self._votes(proj).argmax(1).to(self.thresholds.device)
        self._fit_thresholds(proj, self.labels)
        new = self._votes(proj).argmax(1).to(self.labels.device)
        self.last_label_change = float((new != self.labels).float().mean())
        self.labels = new

    # ------------------------------------------------------------------ loss
    def _batch_labels(self, z: Tensor, index: Tensor | None) -> Tensor:
        if index is not None and self.labels.numel() > 0:
            if int(index.max()) >= self.labels.numel():
                raise IndexError(
                    f"sample index {int(index.max())} is outside the {self.labels.numel()} labels of the "
                    "training set; call refresh() with the embeddings of the whole training set."
                )
            return self.labels[index.to(self.labels.device)].cpu()
        return self._votes(self.project(z.detach())).argmax(1).cpu()

    def dip_loss(self, z: Tensor, labels: Tensor) -> Tensor:
        r""":math:`\mathcal L_{\mathrm{dip}}` of a batch with the given labels (differentiable in ``z`` and the axes)."""
        proj = self.project(z)  # (B, P)
        p_np = proj.detach().cpu().double().numpy()
        lab = labels.cpu().numpy()
        members = [np.flatnonzero(lab == c) for c in range(self.n_clusters)]
        rows: list[np.ndarray] = []
        cols: list[int] = []
        ranks: list[tuple[int, int, int]] = []
        sizes: list[int] = []
        coefs: list[float] = []
        kinds: list[bool] = []  # True: a pair's union
        constant = 0.0  # dips without a modal triangle (minimal dip) carry no gradient
        f = self.max_cluster_size_diff_factor
        for p, (m, n) in enumerate(self.pairs.tolist()):
            a, b = members[m], members[n]
            if a.size < self.min_cluster_points or b.size < self.min_cluster_points:
                continue
            if a.size > f * b.size:
                union = np.concatenate([self._rng.permutation(a)[: int(f * b.size)], b])
            elif b.size > f * a.size:
                union = np.concatenate([a, self._rng.permutation(b)[: int(f * a.size)]])
            else:
                union = np.concatenate([a, b])
            for idx, coef, is_union in ((a, 0.5, False), (b, 0.5, False), (union, -1.0, True)):
                vals = p_np[idx, p]
                order = np.argsort(vals, kind="stable")
                res = _dip_sorted_list(vals[order].tolist())
                if res.modal_triangle[0] < 0:
                    w = (4.0 * (0.25 - res.dip) if is_union else 4.0 * res.dip) if self.dip_weighting else 1.0
                    constant += coef * w * res.dip
                    continue
                rows.append(idx[order[list(res.modal_triangle)]])
                cols.append(p)
                ranks.append(res.modal_triangle)
                sizes.append(idx.size)
                coefs.append(coef)
                kinds.append(is_union)
        total = proj.new_tensor(constant)
        if rows:
            dev = proj.device
            r = torch.as_tensor(np.stack(rows), device=dev)
            c = torch.as_tensor(cols, device=dev)
            x1, x2, x3 = proj[r[:, 0], c], proj[r[:, 1], c], proj[r[:, 2], c]
            dips = dip_from_triangle(x1, x2, x3, torch.as_tensor(ranks, device=dev), torch.as_tensor(sizes, device=dev))
            coef = torch.as_tensor(coefs, device=dev, dtype=dips.dtype)
            if self.dip_weighting:
                is_union = torch.as_tensor(kinds, device=dev)
                d = dips.detach()
                coef = coef * torch.where(is_union, 4.0 * (0.25 - d), 4.0 * d)
            total = total + (coef * dips).sum()
        return total / self.n_pairs

    def forward(
        self,
        z: Tensor,
        index: Tensor | None = None,
        x: Tensor | None = None,
        x_hat: Tensor | None = None,
        **context: Any,
    ) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        if x is None or x_hat is None:
            raise ValueError(
                "DipEncoderClusterHead needs the input `x` and its reconstruction `x_hat` in the context: use an "
                "autoencoder (e.g. MLPAutoencoder) and call head(z, x=x, x_hat=decoder(z))."
            )
        if not self.is_initialized:
            raise RuntimeError(
                "DipEncoderClusterHead is not initialised: call head.initialize(z_all) (k-means on the embeddings "
                "of the training set) before training; ClusteringModule does this automatically."
            )
        dip = self.dip_loss(z, self._batch_labels(z, index))
        recon = F.mse_loss(x_hat.reshape(x.shape).float(), x.float())
        if float(self.reconstruction_weight) < 0:  # calibrate lambda = 1 / (4 L0) once (paper)
            l0 = float(x.detach().float().pow(2).mean())
            self.reconstruction_weight.fill_(1.0 / (4.0 * l0) if l0 > 0 else 1.0)
        lam = float(self.reconstruction_weight)
        total = self.clustering_weight * dip + lam * recon
        return LossOutput(total=total, components={"dip": dip, "reconstruction": recon})

    # ------------------------------------------------------------------ assignments
    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        votes = self._votes(self.project(z))
        return votes / self.n_pairs if soft else votes.argmax(1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, n_pairs={self.n_pairs}, "
            f"update_interval={self.update_interval}, clustering_weight={self.clustering_weight}"
        )
