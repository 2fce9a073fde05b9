r"""Graph clustering metrics, computed sparsely from ``edge_index``.

* Modularity (Newman 2006), for an undirected graph with :math:`m` edges:
  :math:`Q = \sum_c \big[\frac{L_c}{m} - (\frac{d_c}{2m})^2\big]`, with :math:`L_c` the edges
  inside cluster :math:`c` and :math:`d_c` the summed degree of its nodes.
* Conductance of cluster :math:`c`: :math:`\phi(c) = \frac{\mathrm{cut}(c)}{\min(\mathrm{vol}(c), 2m - \mathrm{vol}(c))}`;
  we report the mean over non-empty clusters (the unweighted average of the per-cluster values).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pyagc.metrics.external import to_numpy


def _undirected_edges(edge_index: Any) -> tuple[np.ndarray, np.ndarray]:
    ei = to_numpy(edge_index).astype(np.int64)
    if ei.ndim != 2 or ei.shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E), got {ei.shape}.")
    src, dst = ei
    a, b = np.minimum(src, dst), np.maximum(src, dst)
    keep = a != b  # self-loops do not count
    pairs = np.unique(np.stack([a[keep], b[keep]], 1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _cluster_degrees(edge_index: Any, labels: Any):
    """Shared preparation: labels, undirected edges ``(u, v)``, edge count, K, per-cluster degree sum."""
    labels = to_numpy(labels).astype(np.int64).ravel()
    u, v = _undirected_edges(edge_index)
    k = int(labels.max()) + 1
    deg = np.bincount(np.concatenate([u, v]), minlength=len(labels)).astype(np.float64)
    return labels, u, v, len(u), k, np.bincount(labels, weights=deg, minlength=k)


def modularity(edge_index: Any, labels: Any) -> float:
    """Newman's modularity :math:`Q` of the clustering ``labels`` (N,) of the undirected graph ``edge_index``."""
    labels, u, v, m, k, d_c = _cluster_degrees(edge_index, labels)
    if m == 0:
        return 0.0
    same = labels[u] == labels[v]
    l_c = np.bincount(labels[u][same], minlength=k).astype(np.float64)
    return float((l_c / m - (d_c / (2 * m)) ** 2).sum())


def conductance(edge_index: Any, labels: Any) -> float:
    r"""Mean conductance :math:`\\phi(c)` over the non-empty clusters of ``labels`` (lower is better)."""
    labels, u, v, m, k, vol = _cluster_degrees(edge_index, labels)
    if m == 0:
        return 0.0
    cross = labels[u] != labels[v]
    cut = np.bincount(labels[u][cross], minlength=k) + np.bincount(labels[v][cross], minlength=k)
    present = np.bincount(labels, minlength=k) > 0
    denom = np.minimum(vol, 2 * m - vol)
    phi = np.where(denom > 0, cut / np.maximum(denom, 1e-12), 0.0)
    return float(phi[present].mean())


def graph_metrics(edge_index: Any, labels: Any) -> dict[str, float]:
    """Modularity and conductance in one dict."""
    return {"modularity": modularity(edge_index, labels), "conductance": conductance(edge_index, labels)}
