r"""Contrastive Clustering (CC) head.

Li, Hu, Liu, Peng, Zhou & Peng, *Contrastive Clustering*, AAAI 2021,
https://arxiv.org/abs/2009.09687.

Two augmented views :math:`\mathbf x^a, \mathbf x^b` of a batch of :math:`N` samples are embedded
by the shared encoder, :math:`\mathbf h^k = f(\mathbf x^k)`. Two projections act on the embeddings:

* the **instance projection** :math:`g_I` (a two-layer MLP) gives :math:`\mathbf z^k_i = g_I(\mathbf h^k_i)`;
  the instance-level loss is NT-Xent over the :math:`2N` projected samples, the other view of a sample
  being its positive and the remaining :math:`2N - 2` samples its negatives
  (:math:`s` is cosine similarity, :math:`\tau_I` the instance temperature, paper 0.5):

  .. math::
      \ell^a_i = -\log \frac{\exp(s(\mathbf z^a_i, \mathbf z^b_i)/\tau_I)}
          {\sum_{j=1}^{N} \big[\exp(s(\mathbf z^a_i, \mathbf z^a_j)/\tau_I)\,[j \ne i]
                            + \exp(s(\mathbf z^a_i, \mathbf z^b_j)/\tau_I)\big]},
      \qquad
      \mathcal L_{ins} = \frac{1}{2N} \sum_{i=1}^{N} (\ell^a_i + \ell^b_i);

* the **cluster projection** :math:`g_C` (a two-layer MLP followed by a softmax over :math:`K`)
  gives the assignment matrices :math:`\mathbf Y^k \in \mathbb R^{N \times K}`. Their **columns**
  :math:`\hat{\mathbf y}^k_j` (one per cluster) are contrasted the same way with temperature
  :math:`\tau_C` (paper 1.0), giving :math:`\mathcal L_{clu}'=\frac{1}{2K}\sum_j(\hat\ell^a_j+\hat\ell^b_j)`,
  and the entropy of the cluster-assignment marginals prevents the trivial solution
  (all samples in one cluster):

  .. math::
      P(\hat{\mathbf y}^k_j) = \frac{\sum_{t} Y^k_{tj}}{\lVert \mathbf Y^k \rVert_1}, \qquad
      H(\mathbf Y) = -\sum_{j=1}^{K} \big[P(\hat{\mathbf y}^a_j)\log P(\hat{\mathbf y}^a_j)
                                    + P(\hat{\mathbf y}^b_j)\log P(\hat{\mathbf y}^b_j)\big],
      \qquad
      \mathcal L_{clu} = \mathcal L_{clu}' - H(\mathbf Y).

The training loss is :math:`\mathcal L = \mathcal L_{ins} + \mathcal L_{clu}` (the paper's eq. 9; the
entropy is subtracted, so the loss can be negative: its minimum over the entropy is
:math:`-2\log K`). A sample's cluster is :math:`\arg\max_j Y_{ij}` of its (un-augmented) embedding.

The head receives the two views' embeddings as ``views=(h_a, h_b)`` in its context;
:class:`~pyagc.models.ClusteringModule` builds them with its ``augmentation``.

**Over-clustering and merging** (``overclusters=K'``, pyagc's addition, off by default). The entropy term and the
cluster-level contrast favour :math:`K` clusters of similar size; on imbalanced data a large class can be split in
two while a small one gets no column of its own (USPS: the zeros, 16.7 % of the images, split; the fives, 7.7 %,
merged into other digits). With :math:`K' > K` columns the cluster projection has room for both; after training,
:meth:`finalize` merges the columns greedily over the whole (clean) training set: with :math:`A_i` the samples whose
largest assignment is column :math:`i`, the confusion of :math:`i` with :math:`j` is the mean probability they give
to :math:`j`, and repeatedly the most confused pair

.. math::
    (i, j) = \arg\max_{i < j} \; C_{ij} + C_{ji}, \qquad C_{ij} = \frac{1}{|A_i|} \sum_{x \in A_i} Y_{xj},

(two halves of one class keep giving each other probability; distinct classes do not) is replaced by the sum of
its columns (the probability of the union) until :math:`K` columns remain.
Over-clustering as an auxiliary objective is from IIC
(Ji, Henriques & Vedaldi, ICCV 2019, https://arxiv.org/abs/1807.06653); the merge is pyagc's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pyagc.clusters.base import BaseClusterHead, LossOutput

__all__ = ["ContrastiveClusterHead", "nt_xent", "cluster_contrastive_loss", "assignment_entropy", "merge_columns"]


def nt_xent(a: Tensor, b: Tensor, temperature: float) -> Tensor:
    r"""NT-Xent of two aligned sets of vectors ``a, b (M, D)``: row ``i`` of ``a`` and row ``i`` of ``b``
    are positives, every other row of either set a negative; the mean of the :math:`2M` terms.

    Computed in float32 (outside autocast).
    """
    if a.shape != b.shape or a.dim() != 2:
        raise ValueError(
            f"nt_xent expects two (M, D) tensors of the same shape, got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    if temperature <= 0:
        raise ValueError(f"the temperature must be positive, got {temperature}.")
    with torch.autocast(device_type=a.device.type, enabled=False):
        m = a.shape[0]
        u = F.normalize(torch.cat([a, b]).float(), dim=1)
        logits = u @ u.t() / temperature
        self_mask = torch.eye(2 * m, dtype=torch.bool, device=a.device)
        logits = logits.masked_fill(self_mask, float("-inf"))
        positives = torch.cat([torch.arange(m, 2 * m), torch.arange(0, m)]).to(a.device)
        return F.cross_entropy(logits, positives)


def cluster_contrastive_loss(p_a: Tensor, p_b: Tensor, temperature: float) -> Tensor:
    r"""The cluster-level contrastive loss :math:`\mathcal L_{clu}'`: NT-Xent over the **columns** of the
    two views' assignment matrices ``p_a, p_b (N, K)`` (cluster :math:`j` of view a and of view b are
    positives).
    """
    return nt_xent(p_a.t(), p_b.t(), temperature)


def assignment_entropy(p: Tensor) -> Tensor:
    r"""Entropy :math:`-\sum_j P_j \log P_j` of the cluster-assignment marginal
    :math:`P_j = \sum_t p_{tj} / \lVert \mathbf p \rVert_1` of an assignment matrix ``p (N, K)`` (float32).
    """
    with torch.autocast(device_type=p.device.type, enabled=False):
        p = p.float()
        marginal = p.sum(0) / p.sum()
        return -(marginal * marginal.clamp_min(1e-12).log()).sum()


@torch.no_grad()
def merge_columns(p: Tensor, n_clusters: int) -> Tensor:
    r"""Map the :math:`K'` columns of soft assignments ``p (N, K')`` to ``n_clusters`` groups by greedy merging.

    With :math:`A_i` the samples whose largest entry is in column :math:`i`, the *confusion* of :math:`i` with
    :math:`j` is the mean probability its samples give to :math:`j`,
    :math:`C_{ij} = \frac{1}{|A_i|} \sum_{x \in A_i} p_{xj}`; the pair with the largest :math:`C_{ij} + C_{ji}` is
    merged (its columns summed: the probability of the union) and the confusions recomputed, until ``n_clusters``
    groups remain. A column that is no sample's largest (a dead column) is merged first, into the group whose
    samples give it the most probability.

    Returns ``(K',)`` int64 group indices in ``0..n_clusters-1``, numbered in order of each group's first column.
    """
    if p.dim() != 2:
        raise ValueError(f"p must be (N, K') soft assignments, got shape {tuple(p.shape)}.")
    n_columns = p.shape[1]
    if not 1 <= int(n_clusters) <= n_columns:
        raise ValueError(f"cannot merge {n_columns} columns into {n_clusters} clusters.")
    merged = p.double().clone()  # (N, G): one column per current group
    groups = [[j] for j in range(n_columns)]
    while len(groups) > int(n_clusters):
        winner = merged.argmax(1)
        members = F.one_hot(winner, len(groups)).double()  # (N, G)
        counts = members.sum(0)
        confusion = (members.T @ merged) / counts.clamp_min(1).unsqueeze(1)  # C[i, j]: mean p_j over A_i
        dead = (counts == 0).nonzero().flatten()
        if len(dead):
            i = int(dead[0])
            j = int(confusion[:, i].masked_fill(counts == 0, -1.0).argmax())
        else:
            score = confusion + confusion.T
            score.fill_diagonal_(-float("inf"))
            i, j = divmod(int(score.argmax()), score.shape[1])
        i, j = min(i, j), max(i, j)
        merged[:, i] += merged[:, j]
        groups[i] += groups.pop(j)
        merged = torch.cat([merged[:, :j], merged[:, j + 1 :]], dim=1)
    mapping = torch.empty(n_columns, dtype=torch.long)
    for g, cols in enumerate(sorted(groups, key=min)):
        mapping[cols] = g
    return mapping


def _projection(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))


class ContrastiveClusterHead(BaseClusterHead):
    r"""Contrastive Clustering: instance-level NT-Xent + cluster-level contrast - assignment entropy.

    Needs the two augmented views' embeddings in the context (``views=(h_a, h_b)``, each ``(N, F)``);
    :class:`~pyagc.models.ClusteringModule` makes them when given an ``augmentation``
    (e.g. :class:`~pyagc.augmentations.ImageAugmentation`). Returns a :class:`LossOutput` with the
    terms ``instance``, ``cluster`` (:math:`\mathcal L_{clu}'`) and ``entropy`` (:math:`H(\mathbf Y)`);
    ``total = instance + cluster - entropy_weight * entropy``.

    Args:
        n_clusters: number of clusters :math:`K`.
        n_features: dimension :math:`F` of the encoder's embeddings (paper: the ResNet's 512 features).
        instance_dim: output size of the instance projection (paper: 128).
        hidden_dim: hidden width of both projections (``None``: ``n_features``, as the paper).
        tau_i: instance-level temperature :math:`\tau_I` (paper: 0.5).
        tau_c: cluster-level temperature :math:`\tau_C` (paper: 1.0).
        entropy_weight: weight of :math:`H(\mathbf Y)` (paper: 1).
        overclusters: train the cluster projection with this many columns :math:`K' > K` and merge them down to
            ``n_clusters`` after training (:meth:`finalize`, see the module docstring); ``None`` (the paper):
            :math:`K` columns. Before :meth:`finalize` has run, :meth:`cluster` merges by the columns of the
            embeddings it is given.
    """

    uses_views = True

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        instance_dim: int = 128,
        hidden_dim: int | None = None,
        tau_i: float = 0.5,
        tau_c: float = 1.0,
        entropy_weight: float = 1.0,
        overclusters: int | None = None,
    ) -> None:
        super().__init__(n_clusters)
        if overclusters is not None and (
            isinstance(overclusters, bool) or int(overclusters) != overclusters or int(overclusters) <= self.n_clusters
        ):
            raise ValueError(
                f"overclusters must be a number of columns larger than n_clusters={self.n_clusters} "
                f"(e.g. {self.n_clusters + 1}) or None, got {overclusters!r}."
            )
        n_features = self.check_n_features(n_features)
        if int(instance_dim) < 1:
            raise ValueError(f"instance_dim must be a positive integer, got {instance_dim}.")
        if hidden_dim is not None and int(hidden_dim) < 1:
            raise ValueError(f"hidden_dim must be a positive integer or None, got {hidden_dim}.")
        if tau_i <= 0 or tau_c <= 0:
            raise ValueError(f"the temperatures tau_i and tau_c must be positive, got {tau_i} and {tau_c}.")
        if entropy_weight < 0:
            raise ValueError(f"entropy_weight must be >= 0, got {entropy_weight}.")
        self.n_features = int(n_features)
        self.instance_dim = int(instance_dim)
        self.hidden_dim = int(hidden_dim) if hidden_dim is not None else self.n_features
        self.tau_i = float(tau_i)
        self.tau_c = float(tau_c)
        self.entropy_weight = float(entropy_weight)
        self.overclusters = None if overclusters is None else int(overclusters)
        self.n_columns = self.overclusters or self.n_clusters
        self.requires_finalization = self.overclusters is not None
        self.instance_projection = _projection(self.n_features, self.hidden_dim, self.instance_dim)
        self.cluster_projection = _projection(self.n_features, self.hidden_dim, self.n_columns)
        if self.overclusters is not None:
            # column -> cluster once merged; buffers, so checkpoints keep the merge (only with over-clustering:
            # checkpoints of the paper's head are unchanged)
            self.register_buffer("column_to_cluster", torch.arange(self.n_columns) % self.n_clusters)
            self.register_buffer("_merged", torch.tensor(False))

    # ------------------------------------------------------------------ projections
    def _as_param_dtype(self, z: Tensor) -> Tensor:
        return z.to(self.cluster_projection[0].weight.dtype)

    def cluster_probabilities(self, z: Tensor) -> Tensor:
        """Soft assignments ``Y (N, K')`` of the cluster projection (softmax over its columns, float32; with
        ``overclusters`` before the merge, see :meth:`cluster` for the ``K`` clusters).
        """
        logits = self.cluster_projection(self._as_param_dtype(z))
        return torch.softmax(logits.float(), dim=1)

    def instance_features(self, z: Tensor) -> Tensor:
        """The instance projection ``g_I(z) (N, instance_dim)`` (not normalised)."""
        return self.instance_projection(self._as_param_dtype(z))

    # ------------------------------------------------------------------ contract
    def _check_views(self, views: Any) -> tuple[Tensor, Tensor]:
        if views is None:
            raise ValueError(
                "ContrastiveClusterHead needs the embeddings of two augmented views: call it as "
                "head(z, views=(z_a, z_b)). In ClusteringModule, give an augmentation "
                "(e.g. augmentation=pyagc.augmentations.ImageAugmentation() or TabularAugmentation()) "
                "or batches that carry 'views'."
            )
        if not isinstance(views, (tuple, list)) or len(views) != 2:
            raise ValueError(
                f"views must be a pair (z_a, z_b) of view embeddings, got {type(views).__name__}"
                f"{'' if not isinstance(views, (tuple, list)) else f' of length {len(views)}'}."
            )
        z_a, z_b = views
        self.check_embeddings(z_a, self.n_features)
        self.check_embeddings(z_b, self.n_features)
        if z_a.shape != z_b.shape:
            raise ValueError(
                f"the two views' embeddings must have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}."
            )
        if z_a.shape[0] < 2:
            raise ValueError(f"contrastive losses need at least 2 samples per batch, got {z_a.shape[0]}.")
        return z_a, z_b

    def forward(self, z: Tensor, views: tuple[Tensor, Tensor] | None = None, **context: Any) -> LossOutput:
        """The CC loss of a batch; ``z`` (the first view's or the clean embeddings) is only checked."""
        self.check_embeddings(z, self.n_features)
        z_a, z_b = self._check_views(views)
        instance = nt_xent(self.instance_features(z_a), self.instance_features(z_b), self.tau_i)
        p_a, p_b = self.cluster_probabilities(z_a), self.cluster_probabilities(z_b)
        cluster = cluster_contrastive_loss(p_a, p_b, self.tau_c)
        entropy = assignment_entropy(p_a) + assignment_entropy(p_b)
        total = instance + cluster - self.entropy_weight * entropy
        return LossOutput(total=total, components={"instance": instance, "cluster": cluster, "entropy": entropy})

    @torch.no_grad()
    def finalize(self, z: Tensor, **context: Any) -> None:
        """With ``overclusters``: merge the :math:`K'` columns into ``n_clusters`` by their confusion over the
        embeddings ``z`` of the whole training set (:func:`merge_columns`).
        """
        if self.overclusters is None:
            return
        self.check_embeddings(z, self.n_features)
        self.column_to_cluster.copy_(merge_columns(self.cluster_probabilities(z), self.n_clusters))
        self._merged.fill_(True)

    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False) -> Tensor:
        self.check_embeddings(z, self.n_features)
        p = self.cluster_probabilities(z)
        if self.overclusters is not None:
            mapping = self.column_to_cluster if bool(self._merged) else merge_columns(p, self.n_clusters)
            p = torch.zeros(p.shape[0], self.n_clusters, dtype=p.dtype, device=p.device).index_add_(
                1, mapping.to(p.device), p
            )
        return p if soft else p.argmax(1)

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, instance_dim={self.instance_dim}, "
            f"hidden_dim={self.hidden_dim}, tau_i={self.tau_i}, tau_c={self.tau_c}"
            + (f", overclusters={self.overclusters}" if self.overclusters is not None else "")
        )
