r"""Post-hoc clustering of SOM neurons with k-means, Gaussian mixtures or HDBSCAN.

The two-level approach of `Vesanto & Alhoniemi (2000), "Clustering of the self-organizing map"
<https://doi.org/10.1109/72.846731>`_: the :math:`M` prototypes are clustered instead of the
:math:`n` samples, and every sample inherits the cluster of its best matching unit.

Feature spaces (one row per neuron):

* ``weights``:   the prototypes :math:`w_j \in \mathbb R^F`;
* ``positions``: the grid positions :math:`p_j \in \mathbb R^2`;
* ``combined``:  :math:`[\,w_j / s_w,\; p_j / s_p\,]` where :math:`s_w^2` and :math:`s_p^2`
  are the *total* variances of the two blocks, so each block contributes a total variance of
  exactly 1 and neither dominates.

Choice of :math:`k` when ``n_clusters`` is not given, over :math:`k = 2..k_{max}` with
:math:`k_{max} = \min(M - 1, \lceil\sqrt{M}\,\rceil)` (:func:`default_k_max`):

* ``kmeans``: the :math:`k` with the highest silhouette
  (`Rousseeuw, 1987 <https://doi.org/10.1016/0377-0427(87)90125-7>`_);
* ``gmm``: the :math:`k` with the lowest BIC :math:`= -2\log\hat L + p\log n`
  (`Schwarz, 1978 <https://doi.org/10.1214/aos/1176344136>`_) of a GMM fitted to a subsample
  of at most 2000 **data points** (BIC needs a sample of the mixture; the prototypes are not
  one: they spread over a 2-D sheet and their BIC keeps decreasing with :math:`k`). Given
  :math:`k`, the mixture itself is fitted to the neurons that have hits (zero-hit
  "interpolating" neurons lie in the gaps between clusters) and predicts every neuron;
* ``hdbscan`` finds :math:`k` itself (`Campello et al., 2013
  <https://doi.org/10.1007/978-3-642-37456-2_14>`_); neurons it marks as noise get ``-1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.mixture import GaussianMixture

from pyagc.functional.kmeans import kmeans_numpy

from ._validation import check_option


def default_k_max(n_items: int) -> int:
    r""":math:`k_{max} = \min(n - 1, \max(2, \lceil\sqrt{n}\,\rceil))` for ``n`` clustered items."""
    return int(max(2, min(n_items - 1, math.ceil(math.sqrt(n_items)))))


def build_feature_space(weights: np.ndarray, positions: np.ndarray, feature_space: str) -> np.ndarray:
    """Neuron features for ``feature_space`` in ``{"weights", "positions", "combined"}``."""
    feature_space = check_option(feature_space, ("weights", "positions", "combined"), "feature_space")
    if feature_space == "weights":
        return np.asarray(weights, dtype=np.float64)
    if feature_space == "positions":
        return np.asarray(positions, dtype=np.float64)
    w = weights - weights.mean(0)
    p = positions - positions.mean(0)
    sw = math.sqrt(max(float((w**2).sum(1).mean()), 1e-12))
    sp = math.sqrt(max(float((p**2).sum(1).mean()), 1e-12))
    return np.hstack([w / sw, p / sp])


def clustering_metrics(
    X: np.ndarray, labels: np.ndarray, random_state: int | None = 0, max_silhouette: int = 5000
) -> dict[str, float]:
    """Silhouette (on at most ``max_silhouette`` samples), Davies-Bouldin and Calinski-Harabasz
    of ``labels`` on ``X``; noise (``-1``) is excluded; NaN when fewer than 2 clusters.
    """
    mask = labels >= 0
    Xm, lm = X[mask], labels[mask]
    k = len(np.unique(lm))
    out = {"silhouette": float("nan"), "davies_bouldin": float("nan"), "calinski_harabasz": float("nan")}
    if k < 2 or k >= len(lm):
        return out
    out["silhouette"] = float(
        silhouette_score(Xm, lm, sample_size=min(max_silhouette, len(lm)), random_state=random_state)
    )
    out["davies_bouldin"] = float(davies_bouldin_score(Xm, lm))
    out["calinski_harabasz"] = float(calinski_harabasz_score(Xm, lm))
    return out


def _k_range(n_items: int, k_max: int | None) -> range:
    k_max = default_k_max(n_items) if k_max is None else int(min(k_max, n_items - 1))
    if k_max < 2:
        raise ValueError(f"Cannot choose k with only {n_items} items to cluster; need at least 3.")
    return range(2, k_max + 1)


def select_k_silhouette(
    features: np.ndarray,
    k_values: Iterable[int] | None = None,
    random_state: int | None = 0,
    sample_weight: np.ndarray | None = None,
) -> dict[str, Any]:
    """k-means for each k; returns the k with the highest silhouette and all scores."""
    ks = list(_k_range(len(features), None) if k_values is None else k_values)
    scores, inertias = [], []
    for k in ks:
        km = kmeans_numpy(features, k, random_state, sample_weight=sample_weight, n_init=10)
        scores.append(float(silhouette_score(features, km.labels)) if len(np.unique(km.labels)) > 1 else -1.0)
        inertias.append(float(km.inertia))
    best = ks[int(np.argmax(scores))]
    return {"criterion": "silhouette (max)", "k_values": ks, "scores": scores, "inertia": inertias, "k": int(best)}


def select_k_bic(
    features: np.ndarray, k_values: Iterable[int] | None = None, random_state: int | None = 0
) -> dict[str, Any]:
    """Gaussian mixture (full covariance, small ridge) for each k; returns the k of lowest BIC."""
    ks = list(_k_range(len(features), None) if k_values is None else k_values)
    bics = []
    for k in ks:
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, n_init=2, random_state=random_state).fit(
            features
        )
        bics.append(float(gm.bic(features)))
    best = ks[int(np.argmin(bics))]
    return {"criterion": "BIC (min)", "k_values": ks, "scores": bics, "k": int(best)}


def _inertia(features: np.ndarray, k: int, random_state: int | None) -> float:
    """k-means inertia (k = 1: the total sum of squares)."""
    if k == 1:
        return float(((features - features.mean(0)) ** 2).sum())
    return kmeans_numpy(features, k, random_state, n_init=4).inertia


def elbow_analysis(
    features: np.ndarray, k_values: Iterable[int] | None = None, random_state: int | None = 0
) -> dict[str, Any]:
    """k-means inertia for each k and the elbow ("knee") by the maximum-distance-to-chord rule
    (Kneedle, `Satopaa et al., 2011 <https://doi.org/10.1109/ICDCSW.2011.20>`_).
    """
    ks = list(range(1, default_k_max(len(features)) + 1) if k_values is None else k_values)
    inertia = np.array([_inertia(features, k, random_state) for k in ks])
    knee = ks[0]
    if len(ks) >= 3:
        kn = (np.array(ks) - ks[0]) / max(ks[-1] - ks[0], 1)
        span = inertia[0] - inertia[-1]
        yn = (inertia - inertia[-1]) / span if span > 0 else np.zeros_like(inertia)
        # decreasing convex curve: the knee maximises the gap below the chord from (0,1) to (1,0)
        gap = (1 - kn) - yn
        knee = ks[int(np.argmax(gap))]
    return {"k_values": ks, "inertia": inertia.tolist(), "knee": int(knee)}


def cluster_neurons(
    method: str,
    weights: np.ndarray,
    positions: np.ndarray,
    feature_space: str = "weights",
    n_clusters: int | None = None,
    random_state: int | None = 0,
    k_max: int | None = None,
    data: np.ndarray | None = None,
    hits: np.ndarray | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Cluster the neurons with ``method`` in ``{"kmeans", "gmm", "hdbscan"}``.

    Extra keyword arguments go to :func:`pyagc.functional.kmeans` (``n_init``, ``max_iter``, ``tol``, ``init``, ...),
    :class:`sklearn.mixture.GaussianMixture` or :class:`hdbscan.HDBSCAN`
    (default ``min_cluster_size = max(5, M // 50)``).

    HDBSCAN finds k itself: ``n_clusters`` is ignored with a warning.

    Returns:
        dict with ``labels`` (per neuron, ``-1`` = noise), ``n_clusters``, ``feature_space``,
        ``centers`` (mean neuron feature per cluster), ``inertia`` (k-means) and
        ``k_selection`` (criterion, candidate k, scores) when k was chosen.
    """
    method = check_option(method, ("kmeans", "gmm", "hdbscan"), "method")
    F = build_feature_space(weights, positions, feature_space)
    m = len(F)
    out: dict[str, Any] = {"feature_space": feature_space}
    if method == "hdbscan":
        import hdbscan

        if n_clusters is not None:
            import warnings

            warnings.warn(
                f"HDBSCAN finds the number of clusters itself; n_clusters={n_clusters!r} is ignored "
                "(use min_cluster_size to influence it).",
                stacklevel=2,
            )
        params = {"min_cluster_size": max(5, m // 50)}
        params.update(kwargs)
        labels = hdbscan.HDBSCAN(**params).fit_predict(F)
        out["hdbscan_params"] = params
        if (labels < 0).all():
            raise RuntimeError(
                f"HDBSCAN marked all {m} neurons as noise; lower min_cluster_size (now {params['min_cluster_size']}) or use a larger map."
            )
        # relabel to 0..k-1
        uniq = np.unique(labels[labels >= 0])
        remap = {u: i for i, u in enumerate(uniq)}
        labels = np.array([remap.get(v, -1) for v in labels], dtype=np.int64)
        out["labels"] = labels
        out["n_clusters"] = int(len(uniq))
        out["centers"] = _centers(F, labels)
        return out
    if n_clusters is None:
        ks = _k_range(m, k_max)
        if method == "kmeans":
            sel = select_k_silhouette(F, ks, random_state)
        elif data is not None:
            from .autosom import select_k_gmm_bic

            sel = select_k_gmm_bic(data, m, random_state=random_state, k_max=ks[-1])
        else:
            sel = select_k_bic(F, ks, random_state)
        out["k_selection"] = sel
        n_clusters = sel["k"]
    if method == "kmeans":
        params = {"n_init": 10, "random_state": random_state}
        params.update(kwargs)
        km = kmeans_numpy(F, n_clusters, **params)
        labels = km.labels
        out["inertia"] = float(km.inertia)
    else:
        params = {"covariance_type": "full", "reg_covar": 1e-6, "n_init": 2, "random_state": random_state}
        params.update(kwargs)
        fit_on = F[hits > 0] if hits is not None and (hits > 0).sum() > n_clusters else F
        labels = GaussianMixture(n_clusters, **params).fit(fit_on).predict(F)
    uniq = np.unique(labels)
    labels = np.searchsorted(uniq, labels).astype(np.int64)
    out["labels"] = labels
    out["n_clusters"] = int(len(uniq))
    out["centers"] = _centers(F, labels)
    return out


def _centers(features: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean feature vector of every cluster ``0..k-1`` (noise ``-1`` excluded), shape ``(k, d)``."""
    k = int(labels.max()) + 1 if (labels >= 0).any() else 0
    return np.stack([features[labels == c].mean(0) for c in range(k)]) if k else np.zeros((0, features.shape[1]))
