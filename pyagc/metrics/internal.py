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


def input_space_metrics(x: Any, labels: Any, sample_size: int = 5000, seed: int = 0) -> dict[str, float]:
    """The internal scores of ``labels`` on the *input* features ``x`` (``input_silhouette``,
    ``input_davies_bouldin``, ``input_calinski_harabasz``), on a seeded sample of at most ``sample_size`` rows.

    Unlike the scores on a learned embedding, these compare partitions in one fixed space: the same for every run
    on the data whatever its encoder or embedding size, and not improved by an encoder that collapses the clusters
    (the default objective of a sweep). They favour clusters that are compact in the input space. The sample's
    rows depend only on ``seed`` and the number of rows, so runs on the same data are scored on the same rows.
    ``{}`` when there are no input features to score (``x`` is ``None`` or of another length).
    """
    if x is None:
        return {}
    labels = to_numpy(labels).ravel()
    n = len(labels)
    if len(x) != n or n < 2:
        return {}
    idx = np.sort(np.random.default_rng(seed).choice(n, size=min(n, int(sample_size)), replace=False))
    if hasattr(x, "detach"):  # index before converting: only the sample is copied
        import torch

        xs = x.detach()[torch.as_tensor(idx, device=x.device)].cpu().numpy()
    else:
        xs = np.asarray(x)[idx]
    scores = internal_metrics(xs.reshape(len(idx), -1), labels[idx], sample_size=len(idx), seed=seed)
    return {f"input_{k}": v for k, v in scores.items()}
