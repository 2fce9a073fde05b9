r"""Deep Embedded Clustering (DEC) head.

Xie, Girshick & Farhadi, *Unsupervised Deep Embedding for Clustering Analysis*, ICML 2016,
https://arxiv.org/abs/1511.06335.

Soft assignment of embedding :math:`\mathbf z_i` to centre :math:`\boldsymbol\mu_j` (Student-t kernel):

.. math::
    q_{ij} = \frac{(1 + \lVert \mathbf z_i - \boldsymbol\mu_j \rVert^2 / \alpha)^{-\frac{\alpha+1}{2}}}
                  {\sum_{j'} (1 + \lVert \mathbf z_i - \boldsymbol\mu_{j'} \rVert^2 / \alpha)^{-\frac{\alpha+1}{2}}}

Target distribution, computed over the **whole training set** every ``update_interval`` steps:

.. math::
    p_{ij} = \frac{q_{ij}^2 / f_j}{\sum_{j'} q_{ij'}^2 / f_{j'}}, \qquad f_j = \sum_i q_{ij}

Loss: :math:`\mathrm{KL}(P \,\Vert\, Q) = \frac{1}{B}\sum_i \sum_j p_{ij} \log \frac{p_{ij}}{q_{ij}}`
over a batch, with :math:`P` looked up by the samples' dataset indices. With ``update_interval=None``
:math:`P` is instead computed from each batch's own :math:`Q` (frequencies :math:`f_j` over the batch), as
clustpy and the *Breaking the Reclustering Barrier* code (Miklautz et al., ICLR 2025,
https://arxiv.org/abs/2411.02275) do.

**Augmentation invariance** (``augmentation_invariance=True``, the BRB paper's DEC): the head also gets the
embedding :math:`\tilde{\mathbf z}_i` of a random view of every sample (the module's ``augmentation``) and
matches both assignments to the clean target,

.. math::
    \mathcal L = \tfrac12\big(\mathrm{KL}(P \,\Vert\, Q) + \mathrm{KL}(P \,\Vert\, \tilde Q)\big),

where :math:`\tilde Q` are the Student-t assignments of the views and :math:`P` comes from the clean
embeddings only.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.kmeans import kmeans, pairwise_sq_dists


def student_t_assignment(z: Tensor, centers: Tensor, alpha: float = 1.0) -> Tensor:
    """Soft assignments ``q`` (N, K) of DEC's Student-t kernel (always computed in float32:
    the expanded squared distance cancels catastrophically in bfloat16).
    """
    with torch.autocast(device_type=z.device.type, enabled=False):
        return _student_t(z.float(), centers.float(), alpha)


def _student_t(z: Tensor, centers: Tensor, alpha: float) -> Tensor:
    d = pairwise_sq_dists(z, centers)
    q = (1.0 + d / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """DEC's auxiliary target ``p`` (N, K): square ``q``, divide by cluster frequency, renormalise."""
    weight = q.pow(2) / q.sum(0, keepdim=True).clamp_min(1e-12)
    return weight / weight.sum(1, keepdim=True)


def kl_divergence(p: Tensor, q: Tensor) -> Tensor:
    r"""Batch mean of :math:`\\sum_j p_{ij}\\log(p_{ij}/q_{ij})`."""
    return (p * (p.clamp_min(1e-12).log() - q.clamp_min(1e-12).log())).sum(1).mean()


class DECClusterHead(BaseClusterHead):
    r"""DEC: KL(P || Q) between a sharpened target and Student-t soft assignments.

    Args:
        n_clusters: number of clusters :math:`K`.
        n_features: dimension of the embeddings.
        alpha: degrees of freedom of the Student-t kernel (paper: 1).
        update_interval: joint-training steps between refreshes of :math:`P` over the whole
            training set (paper: 140 on MNIST with batch size 256); ``None``: every batch's target
            from its own assignments (no full-data pass).
        tol: stop when fewer than this share of samples change cluster between two
            refreshes (paper: 0.001). ``0`` disables the stopping rule (so does ``update_interval=None``).
        augmentation_invariance: also fit the assignments of an augmented view of every sample to the
            clean target (needs ``ClusteringModule(augmentation=...)``, e.g.
            :class:`~pyagc.augmentations.RandomAffine`); see the module docstring.
        n_init: k-means restarts for the centre initialisation (paper: 20).
        seed: seed of the initialisation.
    """

    requires_initialization = True
    _resizable_buffers = ("target", "last_labels")

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        alpha: float = 1.0,
        update_interval: int | None = 140,
        tol: float = 0.001,
        n_init: int = 20,
        seed: int = 0,
        augmentation_invariance: bool = False,
    ) -> None:
        super().__init__(n_clusters)
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}.")
        if update_interval is not None and int(update_interval) < 1:
            raise ValueError(
                f"update_interval must be >= 1 step (or None for per-batch targets), got {update_interval}."
            )
        self.n_features = self.check_n_features(n_features)
        self.alpha = float(alpha)
        self.refresh_interval = None if update_interval is None else int(update_interval)
        self.augmentation_invariance = bool(augmentation_invariance)
        # the module then embeds (clean batch, one augmented view) and passes them as ``views``
        self.views_include_clean = self.augmentation_invariance
        self.tol = float(tol)
        self.n_init = int(n_init)
        self.seed = int(seed)
        self.centers = nn.Parameter(torch.zeros(self.n_clusters, self.n_features))
        self.register_buffer("target", torch.zeros(0, self.n_clusters))
        self.register_buffer("last_labels", torch.zeros(0, dtype=torch.long))
        self.register_buffer("converged", torch.tensor(False))
        self.last_label_change: float | None = None

    @property
    def update_interval(self) -> int:
        return int(self.refresh_interval or 0)

    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        self.check_initialization_input(z, self.n_features)
        result = kmeans(z.detach(), self.n_clusters, n_init=self.n_init, seed=self.seed)
        self.centers.data.copy_(result.centers.to(self.centers))
        self.mark_initialized()

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Recompute :math:`P` for every training sample; ``z`` is ordered by dataset index."""
        q = student_t_assignment(z.to(self.centers), self.centers, self.alpha)
        self.target = target_distribution(q)
        labels = q.argmax(1)
        if self.last_labels.numel() == labels.numel():
            change = float((labels != self.last_labels).float().mean())
            self.last_label_change = change
            if self.tol > 0 and change < self.tol:
                self.converged.fill_(True)
        self.last_labels = labels

    def soft_assign(self, z: Tensor) -> Tensor:
        return student_t_assignment(z, self.centers, self.alpha)

    def _target_for(self, q: Tensor, index: Tensor | None) -> Tensor:
        if index is not None and self.target.shape[0] > 0:
            if int(index.max()) >= self.target.shape[0]:
                raise IndexError(
                    f"sample index {int(index.max())} is outside the target distribution of "
                    f"{self.target.shape[0]} samples; call refresh() with the whole training set."
                )
            return self.target[index.to(self.target.device)]
        # Manual use without a full-dataset refresh: the batch's own target.
        return target_distribution(q.detach())

    def clustering_loss(self, z: Tensor, index: Tensor | None, view: Tensor | None = None) -> Tensor:
        """KL(P || Q) of the batch; with ``view`` (embeddings of augmented copies) the mean of it and
        KL(P || Q_view), P from the clean ``z``.
        """
        q = self.soft_assign(z)
        p = self._target_for(q, index)
        kl = kl_divergence(p, q)
        if view is None:
            return kl
        return 0.5 * (kl + kl_divergence(p, self.soft_assign(view)))

    def _view_of(self, z: Tensor, views: Any) -> Tensor | None:
        if not self.augmentation_invariance:
            return None
        if views is None or len(views) != 2:
            raise ValueError(
                f"{type(self).__name__}(augmentation_invariance=True) needs views=(z_clean, z_view) in the context: "
                "train it with ClusteringModule(augmentation=...) (e.g. pyagc.augmentations.RandomAffine), which "
                "embeds the clean batch and one augmented view."
            )
        view = views[1]
        self.check_embeddings(view, self.n_features)
        if view.shape[0] != z.shape[0]:
            raise ValueError(f"the view embeddings have {view.shape[0]} rows, the batch {z.shape[0]}.")
        return view

    @property
    def context_names(self) -> frozenset[str]:
        """``views`` only with ``augmentation_invariance`` (otherwise no views are drawn for this head)."""
        names = super().context_names
        return names if self.augmentation_invariance else names - {"views"}

    def forward(
        self, z: Tensor, index: Tensor | None = None, views: tuple[Tensor, Tensor] | None = None
    ) -> Tensor | LossOutput:
        self.check_embeddings(z, self.n_features)
        kl = self.clustering_loss(z, index, self._view_of(z, views))
        return LossOutput(total=kl, components={"kl": kl})

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        q = student_t_assignment(z, self.centers.to(z), self.alpha)
        return q if soft else q.argmax(1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, alpha={self.alpha}, "
            f"update_interval={self.refresh_interval}"
            + (", augmentation_invariance=True" if self.augmentation_invariance else "")
        )
