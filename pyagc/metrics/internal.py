r"""Internal clustering metrics on embeddings (no labels needed).

* silhouette (Rousseeuw 1987), in [-1, 1], higher is better; computed on a seeded subsample
  of at most ``sample_size`` points because it is :math:`O(N^2)`.
* Davies-Bouldin (1979), lower is better.
* Calinski-Harabasz (1974), higher is better.

On a *learned* latent space these scores can reward collapse: an encoder that squeezes each
cluster to a point scores a perfect silhouette whether or not the clusters are meaningful.
Report them next to external metrics, never instead of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from pyagc.metrics.external import to_numpy


def internal_metrics(z: Any, labels: Any, sample_size: int = 10000, seed: int = 0) -> dict[str, float]:
    """Silhouette, Davies-Bouldin and Calinski-Harabasz; NaN where fewer than 2 clusters exist."""
    z = to_numpy(z).astype(np.float64).reshape(len(to_numpy(labels)), -1)
    labels = to_numpy(labels).ravel()
    keep = labels >= 0  # noise (-1) is left out
    z, labels = z[keep], labels[keep]
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return {"silhouette": float("nan"), "davies_bouldin": float("nan"), "calinski_harabasz": float("nan")}
    sample = min(sample_size, len(labels))
    return {
        "silhouette": float(skm.silhouette_score(z, labels, sample_size=sample, random_state=seed)),
        "davies_bouldin": float(skm.davies_bouldin_score(z, labels)),
        "calinski_harabasz": float(skm.calinski_harabasz_score(z, labels)),
    }
