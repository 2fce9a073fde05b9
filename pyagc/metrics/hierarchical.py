r"""Metrics of cluster trees (hierarchical clusterings) against ground-truth classes.

A tree is given by ``parent`` (``parent[v]`` is the parent of node ``v``, ``-1`` at the single root)
and each sample's node ``assignment`` (usually a leaf; a sample may also sit at an inner node).
The subtree of :math:`v` holds the samples assigned to :math:`v` or to any descendant.

* **Dendrogram purity** (Heller & Ghahramani, ICML 2005; as defined by Kobren et al., *A Hierarchical
  Algorithm for Extreme Clustering*, KDD 2017, https://doi.org/10.1145/3097983.3098079): over all
  unordered pairs of distinct samples of the same class, the average purity of their lowest common
  ancestor,

  .. math::
      \mathrm{DP} = \frac{1}{|\mathcal P^\star|} \sum_{(i,j) \in \mathcal P^\star}
          \frac{|\{k \in \mathrm{lvs}(\mathrm{lca}(i,j)) : y_k = y_i\}|}{|\mathrm{lvs}(\mathrm{lca}(i,j))|},

  where two samples in the same leaf have that leaf as their lowest common ancestor. Computed
  **exactly** (no sampling) in :math:`O(M C)` for :math:`M` nodes and :math:`C` classes: the number of
  same-class pairs whose lowest common ancestor is :math:`v` is
  :math:`\binom{n_{vc}}{2} - \sum_{u \in \mathrm{ch}(v)} \binom{n_{uc}}{2}`.
* **Leaf purity**: the sample-weighted average over leaves of the majority class's share,
  :math:`\mathrm{LP} = \frac1N \sum_{\text{leaves } l} \max_c n_{lc}` (DeepECT paper's LP).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyagc.metrics.external import to_numpy


def _check_tree(y_true: Any, assignment: Any, parent: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    y = to_numpy(y_true).ravel()
    a = to_numpy(assignment).ravel().astype(np.int64)
    par = to_numpy(parent).ravel().astype(np.int64)
    if y.shape[0] != a.shape[0]:
        raise ValueError(f"y_true and assignment differ in length: {y.shape[0]} vs {a.shape[0]}.")
    if y.shape[0] == 0:
        raise ValueError("no samples to score.")
    m = par.shape[0]
    if m == 0 or ((par < -1) | (par >= m)).any():
        raise ValueError(f"parent must hold node ids in [-1, {m - 1}] (-1 marks the root), got {par.tolist()[:20]}.")
    if int((par == -1).sum()) != 1:
        raise ValueError(f"the tree must have exactly one root (parent == -1), found {int((par == -1).sum())}.")
    if (a < 0).any() or (a >= m).any():
        raise ValueError(f"assignment must hold node ids in [0, {m - 1}], got values in [{a.min()}, {a.max()}].")
    # depth of every node; a cycle never reaches the root
    depth = np.full(m, -1, dtype=np.int64)
    depth[par == -1] = 0
    for _ in range(m):
        todo = depth < 0
        if not todo.any():
            break
        ready = todo & (depth[np.maximum(par, 0)] >= 0) & (par >= 0)
        if not ready.any():
            break
        depth[ready] = depth[par[ready]] + 1
    if (depth < 0).any():
        raise ValueError("parent does not describe a tree: some nodes do not lead to the root (a cycle?).")
    _, y_idx = np.unique(y, return_inverse=True)
    return y_idx, a, par, depth


def _subtree_class_counts(y_idx: np.ndarray, a: np.ndarray, par: np.ndarray, depth: np.ndarray) -> np.ndarray:
    n_classes = int(y_idx.max()) + 1
    counts = np.zeros((par.shape[0], n_classes), dtype=np.int64)
    np.add.at(counts, (a, y_idx), 1)
    for v in np.argsort(-depth, kind="stable"):  # children before parents
        if par[v] >= 0:
            counts[par[v]] += counts[v]
    return counts


def dendrogram_purity(y_true: Any, assignment: Any, parent: Any) -> float:
    """Exact dendrogram purity (Kobren et al. 2017) of a tree; see the module docstring.

    Args:
        y_true: class of every sample ``(N,)``.
        assignment: node id of every sample ``(N,)`` (its leaf).
        parent: ``(M,)`` parent node id of every node, ``-1`` at the root.

    Returns 1.0 when no class has two samples (no pairs to score).
    """
    y_idx, a, par, depth = _check_tree(y_true, assignment, parent)
    counts = _subtree_class_counts(y_idx, a, par, depth)
    pairs = counts * (counts - 1) // 2  # same-class pairs inside each subtree
    child_pairs = np.zeros_like(pairs)
    np.add.at(child_pairs, par[par >= 0], pairs[par >= 0])
    lca_pairs = pairs - child_pairs  # pairs whose lowest common ancestor is v
    size = counts.sum(1, keepdims=True)
    purity = counts / np.maximum(size, 1)
    total = pairs[par == -1].sum()
    if total == 0:
        return 1.0
    return float((lca_pairs * purity).sum() / total)


def leaf_purity(y_true: Any, assignment: Any) -> float:
    """Sample-weighted mean over clusters (leaves) of the majority class's share: ``sum_l max_c n_lc / N``."""
    y = to_numpy(y_true).ravel()
    a = to_numpy(assignment).ravel()
    if y.shape[0] != a.shape[0]:
        raise ValueError(f"y_true and assignment differ in length: {y.shape[0]} vs {a.shape[0]}.")
    if y.shape[0] == 0:
        raise ValueError("no samples to score.")
    _, y_idx = np.unique(y, return_inverse=True)
    _, a_idx = np.unique(a, return_inverse=True)
    table = np.zeros((a_idx.max() + 1, y_idx.max() + 1), dtype=np.int64)
    np.add.at(table, (a_idx, y_idx), 1)
    return float(table.max(1).sum() / y.shape[0])
