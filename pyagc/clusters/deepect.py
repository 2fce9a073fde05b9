r"""Deep Embedded Cluster Tree (DeepECT) head.

Mautz, Plant & Böhm, *Deep Embedded Cluster Tree*, ICDM 2019, and *DeepECT: The Deep Embedded
Cluster Tree*, Data Science and Engineering 5:419-432, 2020, https://doi.org/10.1007/s41019-020-00134-0.

A binary cluster tree lives in the embedding space and grows during training. Every node
:math:`j` has a centre :math:`\boldsymbol\mu_j` and a weight :math:`w_j`. A point :math:`\mathbf z_i`
is assigned to its nearest *leaf* centre and thereby to every ancestor of that leaf; :math:`C_j`
is the set of batch points assigned to node :math:`j` (to its subtree), :math:`\mathcal N` the
leaves, :math:`\mathcal S` the non-root nodes and :math:`\bar{\mathbf z}_j` the mean of
:math:`C_j`. :math:`\operatorname{sg}` is the stop-gradient.

Node-centre loss (moves the leaf centres towards their assigned data, not the data):

.. math::
    \mathcal L_{NC} = \frac{1}{|\mathcal N|} \sum_{j \in \mathcal N,\, C_j \neq \emptyset}
        \bigl\lVert \boldsymbol\mu_j - \operatorname{sg}[\bar{\mathbf z}_j] \bigr\rVert_2

Projection (data-compression) loss: every point is pulled towards the centre of each node on its
path, along the direction between that node and its sibling :math:`s(j)`:

.. math::
    \mathcal L_{DC} = \frac{1}{B\,|\mathcal S|} \sum_{j \in \mathcal S} \sum_{i \in C_j}
        \Bigl| \operatorname{sg}\bigl[\mathbf d_j\bigr]^{\top}
        \bigl(\operatorname{sg}[\boldsymbol\mu_j] - \mathbf z_i\bigr) \Bigr|,
    \qquad \mathbf d_j = \frac{\boldsymbol\mu_j - \boldsymbol\mu_{s(j)}}
                             {\lVert \boldsymbol\mu_j - \boldsymbol\mu_{s(j)} \rVert_2}

Training loss (the head adds the autoencoder's reconstruction itself):

.. math::
    \mathcal L = \lambda_r \mathcal L_{rec} + \lambda_c (\mathcal L_{NC} + \mathcal L_{DC}),
    \qquad \mathcal L_{rec} = \frac{1}{B}\sum_i \lVert \mathbf x_i - \hat{\mathbf x}_i \rVert^2

(``reconstruction_reduction="sum"``, the paper's squared error summed over the :math:`d` features, so
:math:`\lambda_r = \lambda_c = 1` is the paper's plain sum; ``"mean"`` divides :math:`\mathcal L_{rec}` by
:math:`d`, and then :math:`\lambda_c = 1/d` is the same objective).

Tree updates after every training batch (under ``no_grad``):

* leaf centres (``center_update="adam"``, the paper): the centres are learned by the gradient of
  :math:`\lambda_c\mathcal L_{NC}`, :math:`\mathbf g_j = \lambda_c(\boldsymbol\mu_j - \bar{\mathbf z}_j)
  / (|\mathcal N|\,\lVert\boldsymbol\mu_j - \bar{\mathbf z}_j\rVert)` for the leaves seen in the batch, plus
  (``projection_moves_centers``) the gradient of :math:`\lambda_c\mathcal L_{DC}` through the split directions
  :math:`\mathbf d_j` of the leaves' parents, whose numerator :math:`\boldsymbol\mu_j - \boldsymbol\mu_{s(j)}` is
  not a constant in clustpy's implementation (digits ACC 0.758 -> 0.789, USPS level; 3 seeds), with Adam steps
  of rate ``center_lr`` (the paper trains every parameter with Adam, lr :math:`10^{-4}`). Adam
  turns that unit-length gradient into steps of about ``center_lr`` per coordinate, so a leaf drifts
  slowly from its 2-means position and the encoder packs the data onto it. The Adam moments live in
  buffers (a new leaf starts with fresh ones), so the joint optimizer, built once, never has to learn about
  new nodes. ``center_update="running_mean"`` (pyagc before 2026-11-23) moves each seen leaf to
  :math:`(w_j\boldsymbol\mu_j + |C_j|\,\bar{\mathbf z}_j) / (w_j + |C_j|)` instead, about halfway to a noisy
  batch mean every step;
* weights: :math:`w_j \leftarrow \tfrac12 w_j + \tfrac12 |C_j|` for every non-root node;
* inner centres: :math:`\boldsymbol\mu_p = (w_l\boldsymbol\mu_l + w_r\boldsymbol\mu_r)/(w_l + w_r)`,
  recomputed bottom-up from the children;
* pruning: a node whose weight falls below ``prune_threshold`` is removed with its subtree and its
  sibling takes the parent's place (the parent is merged away). The tree never drops below two leaves.

Growing: every ``split_interval`` joint steps (:meth:`refresh`, with the embeddings of the whole
training set) the leaf with the largest within-cluster loss
:math:`\sum_{i \in C_j}\lVert \mathbf z_i - \boldsymbol\mu_j\rVert^2` (over all training points) is split by
2-means into two new leaves, until ``max_leaves`` leaves exist. :meth:`initialize` splits the root.

All tree state lives in buffers pre-allocated for ``2 * max_leaves - 1`` nodes (centre, parent,
children, weight, alive/leaf flags, split order), so checkpoints and resumed runs keep the tree.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from pyagc.clusters.base import BaseClusterHead, LossOutput
from pyagc.functional.kmeans import kmeans, pairwise_sq_dists


class DeepECTClusterHead(BaseClusterHead):
    r"""DeepECT: a binary cluster tree grown in the embedding space (see the module docstring).

    ``cluster(z)`` assigns each embedding to its nearest leaf (labels ``0..L-1``, leaves ordered by
    node slot); ``cluster(z, n_clusters=k)`` cuts the tree into ``k`` clusters by undoing the most
    recent splits (the flat clustering used to score the tree at the true ``k``). DeepECT's assignment
    is hard, so ``soft=True`` returns the one-hot matrix of the hard labels (rows sum to 1).

    The tree is updated only in training mode (``head.train()``); ``head.eval()`` forwards are
    side-effect free. Under DDP every process updates the tree from its own batches and DDP broadcasts
    the buffers of rank 0 before each forward, so rank 0's tree is kept; splits run on the gathered
    training set with a fixed seed and are identical on every process.

    Args:
        n_clusters: number of flat clusters :math:`k` the tree is scored at (``cluster(z, n_clusters=...)``);
            must not exceed ``max_leaves``.
        n_features: dimension of the embeddings.
        max_leaves: the tree stops growing at this many leaves (clustpy's default: 20).
        split_interval: joint-training steps between two splits (:meth:`refresh` on all embeddings);
            the default 500 is about 2 epochs of MNIST at batch 256 (clustpy grows every 2 epochs);
            ``configs/head/deepect.yaml`` uses 16 (2 epochs of digits).
        prune_threshold: nodes whose weight (moving average of the batch count) falls below this are
            pruned (clustpy: 0.1).
        clustering_weight: :math:`\lambda_c`, weight of :math:`\mathcal L_{NC} + \mathcal L_{DC}` (1: the paper's plain
            sum with the summed reconstruction; with ``reconstruction_reduction="mean"`` use :math:`1/d`).
        reconstruction_weight: :math:`\lambda_r`, weight of the reconstruction.
        reconstruction_reduction: ``"sum"`` (squared error summed over the features, mean over the batch:
            the paper and clustpy) or ``"mean"`` (per-element mean).
        center_update: ``"adam"`` (leaf centres learned by Adam steps on :math:`\lambda_c\mathcal L_{NC}`,
            the paper) or ``"running_mean"`` (count-weighted running mean of the batch means).
        center_lr: Adam learning rate of the leaf centres (paper: 1e-4, the rate of the whole model).
        projection_moves_centers: with ``center_update="adam"``, the leaf centres also follow the gradient of
            :math:`\lambda_c\mathcal L_{DC}` through the split directions :math:`\mathbf d_j` (only their norm is
            a constant, as in clustpy); ``False``: only :math:`\mathcal L_{NC}` moves them.
        n_init: 2-means restarts per split.
        seed: seed of the 2-means splits.
    """

    uses_reconstruction = True
    requires_initialization = True

    def __init__(
        self,
        n_clusters: int,
        n_features: int,
        max_leaves: int = 20,
        split_interval: int = 500,
        prune_threshold: float = 0.1,
        clustering_weight: float = 1.0,
        reconstruction_weight: float = 1.0,
        reconstruction_reduction: str = "sum",
        center_update: str = "adam",
        center_lr: float = 1e-4,
        projection_moves_centers: bool = True,
        n_init: int = 20,
        seed: int = 0,
    ) -> None:
        super().__init__(n_clusters)
        n_features = self.check_n_features(n_features)
        if int(max_leaves) < 2:
            raise ValueError(f"max_leaves must be at least 2 (the root is split at initialisation), got {max_leaves}.")
        if int(max_leaves) < self.n_clusters:
            raise ValueError(
                f"max_leaves={max_leaves} is smaller than n_clusters={self.n_clusters}: the tree could never be "
                "cut into n_clusters flat clusters. Raise max_leaves or lower n_clusters."
            )
        if int(split_interval) < 1:
            raise ValueError(f"split_interval must be >= 1 step, got {split_interval}.")
        if prune_threshold < 0:
            raise ValueError(f"prune_threshold must be >= 0, got {prune_threshold}.")
        if clustering_weight < 0 or reconstruction_weight < 0:
            raise ValueError(
                f"loss weights must be non-negative, got clustering_weight={clustering_weight}, "
                f"reconstruction_weight={reconstruction_weight}."
            )
        if int(n_init) < 1:
            raise ValueError(f"n_init must be >= 1, got {n_init}.")
        if reconstruction_reduction not in ("sum", "mean"):
            raise ValueError(f"reconstruction_reduction must be 'sum' or 'mean', got {reconstruction_reduction!r}.")
        if center_update not in ("adam", "running_mean"):
            raise ValueError(f"center_update must be 'adam' or 'running_mean', got {center_update!r}.")
        if not float(center_lr) > 0:
            raise ValueError(f"center_lr must be positive, got {center_lr}.")
        self.n_features = int(n_features)
        self.max_leaves = int(max_leaves)
        self.refresh_interval = int(split_interval)
        self.prune_threshold = float(prune_threshold)
        self.clustering_weight = float(clustering_weight)
        self.reconstruction_weight = float(reconstruction_weight)
        self.reconstruction_reduction = reconstruction_reduction
        self.center_update = center_update
        self.projection_moves_centers = bool(projection_moves_centers)
        self.center_lr = float(center_lr)
        self.n_init = int(n_init)
        self.seed = int(seed)
        m = 2 * self.max_leaves - 1
        self.register_buffer("centers", torch.zeros(m, self.n_features))
        self.register_buffer("weights", torch.zeros(m))
        self.register_buffer("parent", torch.full((m,), -1, dtype=torch.long))
        self.register_buffer("left", torch.full((m,), -1, dtype=torch.long))
        self.register_buffer("right", torch.full((m,), -1, dtype=torch.long))
        self.register_buffer("alive", torch.zeros(m, dtype=torch.bool))
        self.register_buffer("is_leaf", torch.zeros(m, dtype=torch.bool))
        # order in which inner nodes were split (-1: never); cutting the tree undoes the latest splits
        self.register_buffer("split_order", torch.full((m,), -1, dtype=torch.long))
        self.register_buffer("n_splits", torch.tensor(0, dtype=torch.long))
        self.register_buffer("root", torch.tensor(0, dtype=torch.long))
        # Adam state of the leaf centres (center_update="adam"): moments and step count per node slot
        self.register_buffer("center_exp_avg", torch.zeros(m, self.n_features))
        self.register_buffer("center_exp_avg_sq", torch.zeros(m, self.n_features))
        self.register_buffer("center_steps", torch.zeros(m, dtype=torch.long))

    # ------------------------------------------------------------------ tree bookkeeping
    @property
    def split_interval(self) -> int:
        return int(self.refresh_interval or 0)

    @property
    def max_nodes(self) -> int:
        return 2 * self.max_leaves - 1

    @property
    def n_leaves(self) -> int:
        return int((self.alive & self.is_leaf).sum())

    def leaf_ids(self) -> Tensor:
        """Slots of the current leaves, ascending (leaf ``i`` of :meth:`cluster` is ``leaf_ids()[i]``)."""
        return (self.alive & self.is_leaf).nonzero().flatten()

    def inner_ids(self) -> Tensor:
        """Slots of the current inner nodes, in the order they were split (oldest first)."""
        ids = (self.alive & ~self.is_leaf).nonzero().flatten()
        return ids[self.split_order[ids].argsort()]

    def ancestors(self) -> Tensor:
        """``(M, M)`` bool: ``A[n, a]`` is True when ``a`` is ``n`` or an ancestor of ``n`` (alive ``n``)."""
        m = self.max_nodes
        dev = self.parent.device
        anc = torch.zeros(m, m, dtype=torch.bool, device=dev)
        rows = self.alive.nonzero().flatten()
        cur = rows
        while cur.numel():
            anc[rows, cur] = True
            nxt = self.parent[cur]
            keep = nxt >= 0
            rows, cur = rows[keep], nxt[keep]
        return anc

    def _free_slots(self, k: int) -> Tensor:
        free = (~self.alive).nonzero().flatten()
        if free.numel() < k:  # pragma: no cover - guarded by max_leaves
            raise RuntimeError("the DeepECT tree has no free node slots left.")
        return free[:k]

    def _require_initialized(self, what: str) -> None:
        if not self.is_initialized or self.n_leaves < 2:
            raise RuntimeError(
                f"DeepECTClusterHead.{what}() needs the tree: call initialize(z) with the embeddings of the "
                "training set first (ClusteringModule does this before joint training)."
            )

    @torch.no_grad()
    def _split(self, node: int, z_node: Tensor) -> tuple[int, int]:
        """Split leaf ``node`` by 2-means on its points ``z_node``; return the two new leaf slots."""
        res = kmeans(z_node, 2, n_init=self.n_init, seed=self.seed + int(self.n_splits))
        left, right = (int(s) for s in self._free_slots(2))
        for slot, center in ((left, res.centers[0]), (right, res.centers[1])):
            self.centers[slot] = center.to(self.centers)
            self.parent[slot] = node
            self.left[slot] = -1
            self.right[slot] = -1
            self.weights[slot] = 1.0
            self.alive[slot] = True
            self.is_leaf[slot] = True
            self.split_order[slot] = -1
            self.center_exp_avg[slot] = 0.0
            self.center_exp_avg_sq[slot] = 0.0
            self.center_steps[slot] = 0
        self.left[node], self.right[node] = left, right
        self.is_leaf[node] = False
        self.split_order[node] = self.n_splits
        self.n_splits += 1
        return left, right

    # ------------------------------------------------------------------ contract
    @torch.no_grad()
    def initialize(self, z: Tensor, **context: Any) -> None:
        """Reset the tree to a root (the mean of ``z``) split by 2-means into two leaves."""
        self.check_initialization_input(z, self.n_features)
        if z.shape[0] < 2:
            raise ValueError("DeepECT needs at least 2 samples to split the root.")
        z = z.detach().float().to(self.centers.device)
        self.alive.zero_()
        self.is_leaf.zero_()
        self.parent.fill_(-1)
        self.left.fill_(-1)
        self.right.fill_(-1)
        self.split_order.fill_(-1)
        self.weights.zero_()
        self.centers.zero_()
        self.center_exp_avg.zero_()
        self.center_exp_avg_sq.zero_()
        self.center_steps.zero_()
        self.n_splits.zero_()
        self.root.fill_(0)
        self.alive[0] = True
        self.is_leaf[0] = True
        self.centers[0] = z.mean(0)
        self.weights[0] = 1.0
        self._split(0, z)
        self.mark_initialized()

    @torch.no_grad()
    def refresh(self, z: Tensor, **context: Any) -> None:
        """Grow the tree: split the leaf with the largest within-cluster loss over all embeddings ``z``."""
        self._require_initialized("refresh")
        self.check_embeddings(z, self.n_features)
        self.grow(z)

    @torch.no_grad()
    def grow(self, z: Tensor) -> int | None:
        r"""Split the leaf with the largest :math:`\\sum_{i\\in C_j}\\lVert z_i-\\mu_j\\rVert^2` over ``z`` by
        2-means; return its slot, or ``None`` when the tree has ``max_leaves`` leaves or no leaf has 2 points.
        """
        if self.n_leaves >= self.max_leaves:
            return None
        z = z.detach().float().to(self.centers.device)
        leaves = self.leaf_ids()
        d = pairwise_sq_dists(z, self.centers[leaves])
        min_d, assign = d.min(1)
        sse = torch.zeros(len(leaves), device=z.device).index_add_(0, assign, min_d)
        counts = torch.bincount(assign, minlength=len(leaves))
        sse[counts < 2] = -1.0
        best = int(sse.argmax())
        if sse[best] < 0:
            return None
        node = int(leaves[best])
        self._split(node, z[assign == best])
        return node

    def _assign(self, z32: Tensor) -> tuple[Tensor, Tensor]:
        """Nearest-leaf slot of every row of ``z32`` and the leaf slots."""
        leaves = self.leaf_ids()
        d = pairwise_sq_dists(z32.detach(), self.centers[leaves])
        return leaves[d.argmin(1)], leaves

    def tree_losses(self, z: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(L_NC, L_DC, membership (B, M) bool, counts (M,))`` of a batch (float32, no tree update)."""
        z32 = z.float()
        centers = self.centers.clone()  # a snapshot: the tree update below must not touch the graph
        node_of, leaves = self._assign(z32)
        member = self.ancestors()[node_of]  # (B, M): point i lies in the subtree of node j
        counts = member.sum(0).to(z32.dtype)
        # node-centre loss over the leaves seen in the batch (value only: its gradient is on the centres)
        onehot = member[:, leaves].to(z32.dtype)
        n_leaf = counts[leaves]
        seen = n_leaf > 0
        means = (onehot.T @ z32.detach())[seen] / n_leaf[seen].unsqueeze(1)
        l_nc = (centers[leaves][seen] - means).norm(dim=1).sum() / len(leaves)
        # projection loss over the non-root nodes, direction to the sibling, centres constant
        nonroot = (self.alive & (self.parent >= 0)).nonzero().flatten()
        par = self.parent[nonroot]
        sibling = torch.where(self.left[par] == nonroot, self.right[par], self.left[par])
        diff = centers[nonroot] - centers[sibling]
        dirs = diff / diff.norm(dim=1, keepdim=True).clamp_min(1e-12)
        proj = (centers[nonroot] * dirs).sum(1).unsqueeze(0) - z32 @ dirs.T  # (B, S)
        l_dc = (proj.abs() * member[:, nonroot].to(z32.dtype)).sum() / (z32.shape[0] * max(len(nonroot), 1))
        return l_nc, l_dc, member, counts

    def forward(self, z: Tensor, x: Tensor | None = None, x_hat: Tensor | None = None, **context: Any) -> LossOutput:
        self.check_embeddings(z, self.n_features)
        self._require_initialized("forward")
        if x is None or x_hat is None:
            raise ValueError(
                "DeepECTClusterHead needs the input `x` and its reconstruction `x_hat` in the context: "
                "use an autoencoder (e.g. MLPAutoencoder) and call head(z, x=x, x_hat=decoder(z))."
            )
        with torch.autocast(device_type=z.device.type, enabled=False):
            l_nc, l_dc, member, counts = self.tree_losses(z)
            recon = F.mse_loss(x_hat.float().reshape(x.shape), x.float())
            if self.reconstruction_reduction == "sum":
                recon = recon * (x[0].numel() if x.dim() > 1 else 1)
            total = self.reconstruction_weight * recon + self.clustering_weight * (l_nc + l_dc)
        if self.training:
            self.update_tree(z.detach().float(), member, counts)
        return LossOutput(
            total=total,
            components={"node_center": l_nc.detach(), "projection": l_dc.detach(), "reconstruction": recon.detach()},
        )

    @torch.no_grad()
    def update_tree(self, z: Tensor, member: Tensor, counts: Tensor) -> list[int]:
        """Move leaf centres, update weights and inner centres, prune dead nodes; return the pruned slots."""
        leaves = self.leaf_ids()
        n = counts[leaves]
        seen = n > 0
        sums = member[:, leaves].to(z.dtype).T @ z
        if self.center_update == "adam":
            grad = torch.zeros_like(self.centers)
            diff = self.centers[leaves[seen]] - sums[seen] / n[seen].unsqueeze(1)
            grad[leaves[seen]] = diff / (len(leaves) * diff.norm(dim=1, keepdim=True).clamp_min(1e-12))
            if self.projection_moves_centers:
                grad += self._projection_center_grad(z, member)
            self._adam_step(leaves, self.clustering_weight * grad[leaves])
        else:
            w = self.weights[leaves]
            new = (w.unsqueeze(1) * self.centers[leaves] + sums) / (w + n).clamp_min(1e-12).unsqueeze(1)
            self.centers[leaves[seen]] = new[seen]
        nonroot = self.alive & (self.parent >= 0)
        self.weights[nonroot] = 0.5 * self.weights[nonroot] + 0.5 * counts[nonroot]
        pruned = self._prune()
        self._update_inner_centers()
        return pruned

    @torch.no_grad()
    def _projection_center_grad(self, z: Tensor, member: Tensor) -> Tensor:
        r"""Gradient of :math:`\mathcal L_{DC}` on the leaf centres through the split directions
        :math:`(\boldsymbol\mu_l - \boldsymbol\mu_r) / \operatorname{sg}\lVert\boldsymbol\mu_l - \boldsymbol\mu_r\rVert`
        (inner centres are functions of the leaves but get none, as in clustpy).
        """
        grad = torch.zeros_like(self.centers)
        inner = (self.alive & ~self.is_leaf).nonzero().flatten()
        n_nonroot = int((self.alive & (self.parent >= 0)).sum())
        for p in inner.tolist():
            lft, rgt = int(self.left[p]), int(self.right[p])
            norm = (self.centers[lft] - self.centers[rgt]).norm().clamp_min(1e-12)
            u = (self.centers[lft] - self.centers[rgt]) / norm
            g = torch.zeros_like(u)
            for child in (lft, rgt):
                rows = member[:, child]
                if bool(rows.any()):
                    offset = self.centers[child] - z[rows]  # (n, D)
                    g += (torch.sign(offset @ u).unsqueeze(1) * offset).sum(0)
            g = g / (norm * z.shape[0] * max(n_nonroot, 1))
            grad[lft] += g
            grad[rgt] -= g
        grad[~(self.alive & self.is_leaf)] = 0.0
        return grad

    def _adam_step(
        self, slots: Tensor, grad: Tensor, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        r"""One Adam step of the centres ``slots`` with gradient ``grad``; rows with a zero gradient keep
        their state and position (no gradient, no step).
        """
        keep = grad.abs().sum(1) > 0
        slots, grad = slots[keep], grad[keep]
        if not slots.numel():
            return
        b1, b2 = betas
        steps = self.center_steps[slots] + 1
        m = b1 * self.center_exp_avg[slots] + (1 - b1) * grad
        v = b2 * self.center_exp_avg_sq[slots] + (1 - b2) * grad.pow(2)
        m_hat = m / (1 - b1 ** steps.to(m.dtype)).unsqueeze(1)
        v_hat = v / (1 - b2 ** steps.to(v.dtype)).unsqueeze(1)
        self.centers[slots] -= self.center_lr * m_hat / (v_hat.sqrt() + eps)
        self.center_exp_avg[slots] = m
        self.center_exp_avg_sq[slots] = v
        self.center_steps[slots] = steps

    @torch.no_grad()
    def _update_inner_centers(self) -> None:
        """Inner centres as weighted means of their children, level by level from the deepest."""
        inner = self.alive & ~self.is_leaf
        if not bool(inner.any()):
            return
        depth = self.ancestors().sum(1) - 1
        for level in range(int(depth[inner].max()), -1, -1):
            nodes = (inner & (depth == level)).nonzero().flatten()
            if not nodes.numel():
                continue
            lft, rgt = self.left[nodes], self.right[nodes]
            wl, wr = self.weights[lft].unsqueeze(1), self.weights[rgt].unsqueeze(1)
            total = wl + wr
            weighted = (wl * self.centers[lft] + wr * self.centers[rgt]) / total.clamp_min(1e-12)
            self.centers[nodes] = torch.where(total > 0, weighted, 0.5 * (self.centers[lft] + self.centers[rgt]))

    @torch.no_grad()
    def _prune(self) -> list[int]:
        pruned: list[int] = []
        while True:
            cand = (self.alive & (self.parent >= 0) & (self.weights < self.prune_threshold)).nonzero().flatten()
            if not cand.numel():
                return pruned
            anc = self.ancestors()
            leaf_mask = self.alive & self.is_leaf
            n_leaves = int(leaf_mask.sum())
            done = False
            for node in cand[self.weights[cand].argsort()].tolist():
                subtree = anc[:, node] & self.alive
                if n_leaves - int((subtree & leaf_mask).sum()) < 2:
                    continue  # keep at least two leaves
                self.prune_node(node, subtree)
                pruned.append(node)
                done = True
                break
            if not done:
                return pruned

    @torch.no_grad()
    def prune_node(self, node: int, subtree: Tensor | None = None) -> None:
        """Remove ``node`` (and its subtree); its sibling takes the place of their parent."""
        par = int(self.parent[node])
        if par < 0 or not bool(self.alive[node]):
            raise ValueError(f"node {node} is the root or not in the tree; it cannot be pruned.")
        if subtree is None:
            subtree = self.ancestors()[:, node] & self.alive
        sib = int(self.right[par]) if int(self.left[par]) == node else int(self.left[par])
        grand = int(self.parent[par])
        self.parent[sib] = grand
        if grand < 0:
            self.root.fill_(sib)
            self.weights[sib] = self.weights[par]
        elif int(self.left[grand]) == par:
            self.left[grand] = sib
        else:
            self.right[grand] = sib
        dead = subtree.clone()
        dead[par] = True
        self.alive[dead] = False
        self.is_leaf[dead] = False
        self.parent[dead] = -1
        self.left[dead] = -1
        self.right[dead] = -1
        self.split_order[dead] = -1
        self.weights[dead] = 0.0

    # ------------------------------------------------------------------ assignments
    @torch.no_grad()
    def cluster(self, z: Tensor, soft: bool = False, n_clusters: int | str | None = None) -> Tensor:
        """Labels ``(N,)`` of the tree cut at ``n_clusters`` clusters (default: the head's ``n_clusters``,
        or every leaf while the tree has fewer), or of every leaf with ``n_clusters="leaves"``;
        ``soft=True`` gives their one-hot matrix ``(N, K)`` (DeepECT's assignment is hard).

        The default keeps the head contract (labels in ``0..n_clusters-1``), so evaluation, the CLI and
        ``infer_full`` score the flat clustering at the requested number of clusters.
        """
        self.check_embeddings(z, self.n_features)
        self._require_initialized("cluster")
        node_of, leaves = self._assign(z.float().to(self.centers.device))
        if n_clusters == "leaves":
            groups = leaves
        else:
            k = self.n_clusters if n_clusters is None else int(n_clusters)
            groups = self.cut(min(k, self.n_leaves) if n_clusters is None else k)
        anc = self.ancestors()
        labels = anc[node_of][:, groups].to(torch.int64).argmax(1)
        labels = labels.to(z.device)
        if soft:  # (N, K) at the default cut, also while the tree has fewer than K leaves (zero columns)
            return F.one_hot(labels, self.n_clusters if n_clusters is None else len(groups)).to(torch.float32)
        return labels

    def cut(self, n_clusters: int) -> Tensor:
        """Slots of the ``n_clusters`` nodes that partition the data when the latest splits are undone."""
        n_leaves = self.n_leaves
        if not 1 <= n_clusters <= n_leaves:
            raise ValueError(
                f"cannot cut the tree into {n_clusters} clusters: it has {n_leaves} leaves. Use 1 <= n_clusters "
                f"<= {n_leaves} (train longer or raise max_leaves for more)."
            )
        kept = self.inner_ids()[: n_clusters - 1]
        if n_clusters == 1:
            return self.root.reshape(1).clone()
        in_kept = torch.zeros_like(self.alive)
        in_kept[kept] = True
        frontier = self.alive & ~in_kept & (self.parent >= 0)
        frontier &= in_kept[self.parent.clamp_min(0)]
        return frontier.nonzero().flatten()

    # ------------------------------------------------------------------ export
    @torch.no_grad()
    def tree(self) -> dict[str, Tensor]:
        """The current tree with compact node ids ``0..M'-1``: ``parent`` (-1 at the root), ``slot``
        (buffer slot of each node), ``is_leaf``, ``centers``, ``weights``, ``split_order``.
        """
        slots = self.alive.nonzero().flatten()
        index = torch.full_like(self.parent, -1)
        index[slots] = torch.arange(len(slots), device=slots.device)
        par = self.parent[slots]
        parent = torch.where(par >= 0, index[par.clamp_min(0)], par)
        return {
            "parent": parent.cpu(),
            "slot": slots.cpu(),
            "is_leaf": self.is_leaf[slots].cpu(),
            "centers": self.centers[slots].cpu(),
            "weights": self.weights[slots].cpu(),
            "split_order": self.split_order[slots].cpu(),
        }

    @torch.no_grad()
    def assign_nodes(self, z: Tensor) -> Tensor:
        """Compact node id (as in :meth:`tree`) of the leaf each embedding is assigned to."""
        self.check_embeddings(z, self.n_features)
        self._require_initialized("assign_nodes")
        node_of, _ = self._assign(z.float().to(self.centers.device))
        index = torch.full_like(self.parent, -1)
        slots = self.alive.nonzero().flatten()
        index[slots] = torch.arange(len(slots), device=slots.device)
        return index[node_of].cpu()

    def extra_repr(self) -> str:
        return (
            f"n_clusters={self.n_clusters}, n_features={self.n_features}, max_leaves={self.max_leaves}, "
            f"split_interval={self.split_interval}, prune_threshold={self.prune_threshold}, "
            f"center_update={self.center_update!r}, reconstruction_reduction={self.reconstruction_reduction!r}"
        )
