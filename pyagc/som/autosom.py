r"""AutoSOM: automatic choice between SOM-TSK and DenSOM.

1. :math:`k` by Gaussian mixture + BIC (`Schwarz, 1978 <https://doi.org/10.1214/aos/1176344136>`_)
   over :math:`k = 2..k_{max}` on a random subsample :math:`S` of at most 2000 points,
   :math:`k_{max} = \min(M-1, \lceil\sqrt M\,\rceil)` (:math:`M` neurons);
   :math:`\hat k = \arg\min_k\, -2\log\hat L_k + p_k \log|S|`.
2. Two candidate partitions: SOM-TSK with :math:`\hat k` (:mod:`pyagc.som.tsk`) and DenSOM
   (:mod:`pyagc.som.densom`, which finds its own :math:`k`).
3. The route with the higher silhouette
   :math:`s = \frac1{|S|}\sum_{i\in S}\frac{b_i - a_i}{\max(a_i, b_i)}`
   (`Rousseeuw, 1987 <https://doi.org/10.1016/0377-0427(87)90125-7>`_) on the subsample wins.
   For a fair comparison DenSOM's noise points are scored after assigning each to the cluster
   of its nearest core neuron (its reported labels keep them as noise). DenSOM with fewer than
   two clusters cannot be scored and loses.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

from .densom import densom
from .neuron_clustering import default_k_max
from .tsk import som_tsk


def select_k_gmm_bic(
    X: np.ndarray,
    n_neurons: int,
    random_state: int | None = 0,
    max_samples: int = 2000,
    k_max: int | None = None,
    patience: int = 4,
) -> dict[str, Any]:
    """K of lowest GMM BIC (full covariance) over 2..k_max on a subsample of ``max_samples``.

    k is scanned upwards and the scan stops once the BIC has not improved for ``patience``
    consecutive values of k (the returned ``k_values`` say how far it went).
    """
    rng = np.random.default_rng(random_state)
    S = X if len(X) <= max_samples else X[rng.choice(len(X), max_samples, replace=False)]
    k_max = default_k_max(n_neurons) if k_max is None else int(k_max)
    k_max = max(2, min(k_max, len(S) - 1))
    ks = list(range(2, k_max + 1))
    bics: list = []
    for k in ks:
        gm = GaussianMixture(k, covariance_type="full", reg_covar=1e-6, n_init=1, random_state=random_state).fit(S)
        bics.append(float(gm.bic(S)))
        if len(bics) - 1 - int(np.argmin(bics)) >= patience:
            break
    ks = ks[: len(bics)]
    return {
        "criterion": "GMM BIC (min)",
        "k_values": ks,
        "scores": bics,
        "k": int(ks[int(np.argmin(bics))]),
        "n_subsample": int(len(S)),
    }


def autosom(
    X: np.ndarray,
    W: np.ndarray,
    bmus: np.ndarray,
    x: int,
    y: int,
    topology: str,
    n_clusters: int | None = None,
    random_state: int | None = 0,
    max_samples: int = 2000,
    densom_sigma: float | None = None,
    tsk_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run AutoSOM (see the module docstring); ``n_clusters`` skips step 1. ``densom_sigma`` is
    DenSOM's smoothing width (:obj:`None`: its default, :func:`~pyagc.som.densom.default_sigma`).

    Returns:
        dict: the winning route's result plus ``route`` (``"tsk"`` or ``"densom"``),
        ``reason``, ``route_scores`` (silhouette of both routes) and ``k_selection``.
    """
    X = np.asarray(X, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    sub = np.arange(len(X)) if len(X) <= max_samples else np.sort(rng.choice(len(X), max_samples, replace=False))
    if n_clusters is None:
        sel = select_k_gmm_bic(X, len(W), random_state=random_state, max_samples=max_samples)
        k = sel["k"]
    else:
        sel = {"criterion": "given", "k": int(n_clusters)}
        k = int(n_clusters)
    tsk = som_tsk(X, W, bmus, k, random_state=random_state, **(tsk_kwargs or {}))
    hits = np.bincount(bmus, minlength=len(W))
    den = densom(hits, x, y, topology, sigma=densom_sigma)
    den["sample_labels"] = den["labels"][bmus]

    S = X[sub]
    s_tsk = (
        float(silhouette_score(S, tsk["sample_labels"][sub])) if len(np.unique(tsk["sample_labels"][sub])) > 1 else -1.0
    )
    s_den = float("nan")
    if den["n_clusters"] >= 2:
        core_idx = np.where(den["labels"] >= 0)[0]
        # noise neurons -> label of the nearest core neuron (in weight space)
        d2 = ((W[:, None, :] - W[None, core_idx, :]) ** 2).sum(-1)
        neuron_full = den["labels"][core_idx][d2.argmin(1)]
        lab = neuron_full[bmus[sub]]
        s_den = float(silhouette_score(S, lab)) if len(np.unique(lab)) > 1 else -1.0
    if den["n_clusters"] >= 2 and s_den > s_tsk:
        res, route = den, "densom"
        reason = (
            f"DenSOM (k={den['n_clusters']}) silhouette {s_den:.3f} > TSK (k={k}) silhouette {s_tsk:.3f} "
            f"on {len(sub)} samples (DenSOM noise assigned to nearest core neuron for scoring)"
        )
    else:
        res, route = tsk, "tsk"
        if den["n_clusters"] < 2:
            reason = (
                f"DenSOM found {den['n_clusters']} cluster(s), cannot compete; TSK with k={k} (silhouette {s_tsk:.3f})"
            )
        else:
            reason = (
                f"TSK (k={k}) silhouette {s_tsk:.3f} >= DenSOM (k={den['n_clusters']}) silhouette {s_den:.3f} "
                f"on {len(sub)} samples"
            )
    out = dict(res)
    out.update(
        {
            "route": route,
            "reason": reason,
            "route_scores": {"tsk": s_tsk, "densom": s_den},
            "k_selection": sel,
            "feature_space": "data" if route == "tsk" else "grid density",
            "n_clusters": int(res["n_clusters"]),
        }
    )
    if route == "densom":
        out["centroids"] = None
    return out
