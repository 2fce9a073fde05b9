r"""SOM-TSK: topology-seeded k-means.

k-means (`Lloyd, 1982 <https://doi.org/10.1109/TIT.1982.1056489>`_) minimises the inertia

.. math::
    J(C) = \sum_{i=1}^n \min_{l} \lVert x_i - c_l \rVert^2

from a given seeding and only reaches a local minimum. SOM-TSK runs a *pool* of Lloyd runs
on the **data**, seeded from a trained SOM (the map is a compressed, topology-ordered summary
of the data; `Vesanto & Alhoniemi, 2000 <https://doi.org/10.1109/72.846731>`_), next to plain
k-means++ (`Arthur & Vassilvitskii, 2007 <https://dl.acm.org/doi/10.5555/1283383.1283494>`_):

* **A**: k-means on the neuron weights; each sample inherits its BMU's cluster and the
  clusters' *data* centroids seed Lloyd;
* **A-alt**: max-min (farthest-first) seeding over the neurons that have hits, starting from
  the neuron farthest from the neurons' mean;
* **B-bis** (three runs): greedy coverage-aware density seeding starting from each of the three
  most-hit neurons; each step adds the neuron maximising
  :math:`(\mathrm{hits}_j + \tfrac12)\,\min_{s \in S}\lVert w_j - w_s\rVert^2`;
* **C**: k-means++ with ``n_init`` restarts on the data (:func:`pyagc.functional.kmeans`, so the pool
  always contains the same run as ``kmeans(X, k, n_init=n_init)``: SOM-TSK's pick is never a run that plain
  k-means would beat on both inertia and the Calinski-Harabasz index).

Selection: among the candidates whose inertia is within ``inertia_window`` (5%) of the pool
minimum, the one with the highest Calinski-Harabasz index

.. math::
    CH = \frac{B/(k-1)}{J/(n-k)}, \qquad B = T - J,

is kept. (For a fixed :math:`k` and data, :math:`CH` is a decreasing function of :math:`J`,
so with all clusters non-empty the rule keeps the lowest-inertia candidate; the window only
matters when a candidate lost clusters.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import calinski_harabasz_score

from pyagc.functional.kmeans import kmeans_numpy


def _sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0)


def seeds_weight_kmeans(X: np.ndarray, W: np.ndarray, bmus: np.ndarray, k: int, random_state: int | None) -> np.ndarray:
    """(A) k-means on the neuron weights; the data centroids of the resulting clusters."""
    lab = kmeans_numpy(W, k, random_state, n_init=10).labels
    sample_lab = lab[bmus]
    seeds = np.empty((k, X.shape[1]))
    for c in range(k):
        m = sample_lab == c
        seeds[c] = X[m].mean(0) if m.any() else W[lab == c].mean(0)
    return seeds


def seeds_maxmin(W: np.ndarray, hits: np.ndarray, k: int) -> np.ndarray:
    """(A-alt) farthest-first seeding over the hit neurons (all neurons if fewer than k are hit),
    starting from the neuron farthest from the neurons' mean.
    """
    cand = W[hits > 0] if (hits > 0).sum() >= k else W
    first = int(np.argmax(((cand - cand.mean(0)) ** 2).sum(1)))
    chosen = [first]
    mind = _sq_dists(cand, cand[[first]])[:, 0]
    for _ in range(k - 1):
        nxt = int(np.argmax(mind))
        chosen.append(nxt)
        mind = np.minimum(mind, _sq_dists(cand, cand[[nxt]])[:, 0])
    return cand[chosen]


def seeds_density_coverage(W: np.ndarray, hits: np.ndarray, k: int, start: int) -> np.ndarray:
    r"""(B-bis) greedy coverage-aware density seeding from neuron ``start``: repeatedly add
    :math:`\arg\max_j (\mathrm{hits}_j + 0.5)\min_{s}\lVert w_j - w_s\rVert^2`.
    """
    score_w = hits.astype(np.float64) + 0.5
    chosen = [int(start)]
    mind = _sq_dists(W, W[[start]])[:, 0]
    for _ in range(k - 1):
        nxt = int(np.argmax(score_w * mind))
        chosen.append(nxt)
        mind = np.minimum(mind, _sq_dists(W, W[[nxt]])[:, 0])
    return W[chosen]


def som_tsk(
    X: np.ndarray,
    W: np.ndarray,
    bmus: np.ndarray,
    n_clusters: int | None = None,
    n_init: int = 10,
    inertia_window: float = 0.05,
    random_state: int | None = 0,
    max_iter: int = 300,
    k_selection_sample: int = 2000,
) -> dict[str, Any]:
    r"""Run SOM-TSK on data ``X`` (n, F) given a trained map (prototypes ``W`` (M, F) and the
    BMU of every sample).

    Args:
        X (np.ndarray): the data.
        W (np.ndarray): neuron weights.
        bmus (np.ndarray): BMU index of every row of ``X``.
        n_clusters (int, optional): :math:`k`; if :obj:`None` it is chosen by GMM + BIC on a
            subsample of at most ``k_selection_sample`` points over :math:`2..k_{max}`
            (see :func:`pyagc.som.autosom.select_k_gmm_bic`). (default: :obj:`None`)
        n_init (int, optional): k-means++ restarts of candidate (C). (default: :obj:`10`)
        inertia_window (float, optional): relative inertia window of the selection.
            (default: :obj:`0.05`)
        random_state (int, optional): seed of all k-means runs. (default: :obj:`0`)

    Returns:
        dict: ``sample_labels``, ``labels`` (per neuron: nearest final centroid),
        ``centroids``, ``n_clusters``, ``chosen`` (candidate name), ``candidates`` (name,
        inertia, CH, within window) and ``k_selection`` when k was chosen.
    """
    X = np.asarray(X, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    bmus = np.asarray(bmus)
    out: dict[str, Any] = {}
    if n_clusters is None:
        from .autosom import select_k_gmm_bic

        sel = select_k_gmm_bic(X, len(W), random_state=random_state, max_samples=k_selection_sample)
        out["k_selection"] = sel
        n_clusters = sel["k"]
    k = int(n_clusters)
    if k < 2:
        raise ValueError(f"n_clusters must be >= 2 for TSK; got {k}.")
    if k > len(X):
        raise ValueError(f"n_clusters={k} exceeds the number of samples ({len(X)}).")
    hits = np.bincount(bmus, minlength=len(W))
    k_neur = min(k, len(W))

    seedings: list[tuple] = []
    if k <= len(W):
        seedings.append(("A: k-means on weights", seeds_weight_kmeans(X, W, bmus, k, random_state)))
        seedings.append(("A-alt: max-min", seeds_maxmin(W, hits, k)))
        for s in np.argsort(-hits, kind="stable")[:3]:
            seedings.append((f"B-bis: density from neuron {int(s)}", seeds_density_coverage(W, hits, k_neur, int(s))))
    cands = []
    for name, seeds in seedings:
        if len(np.unique(seeds, axis=0)) < k:
            continue  # degenerate seeding (duplicate neurons)
        km = kmeans_numpy(X, k, random_state, init=seeds, max_iter=max_iter)
        cands.append((name, km))
    km_pp = kmeans_numpy(X, k, random_state, n_init=n_init, max_iter=max_iter)
    cands.append((f"C: k-means++ (n_init={n_init})", km_pp))

    table = []
    for name, km in cands:
        nlab = len(np.unique(km.labels))
        ch = float(calinski_harabasz_score(X, km.labels)) if 1 < nlab < len(X) else -np.inf
        table.append({"name": name, "inertia": float(km.inertia), "calinski_harabasz": ch, "n_nonempty": int(nlab)})
    best_inertia = min(t["inertia"] for t in table)
    for t in table:
        t["in_window"] = bool(t["inertia"] <= best_inertia * (1.0 + inertia_window) + 1e-12)
    pick = max(
        (i for i, t in enumerate(table) if t["in_window"]),
        key=lambda i: (table[i]["calinski_harabasz"], -table[i]["inertia"]),
    )
    name, km = cands[pick]
    centroids = km.centers
    out.update(
        {
            "sample_labels": km.labels.astype(np.int64),
            "labels": _sq_dists(W, centroids).argmin(1).astype(np.int64),
            "centroids": centroids,
            "n_clusters": k,
            "chosen": name,
            "candidates": table,
            "inertia": float(km.inertia),
            "inertia_window": inertia_window,
        }
    )
    return out
