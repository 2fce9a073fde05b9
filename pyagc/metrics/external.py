r"""External clustering metrics: compare predicted clusters with ground-truth labels.

* ACC -- clustering accuracy under the best one-to-one matching of clusters to classes
  (Hungarian algorithm, Kuhn 1955): :math:`\max_{m} \frac1N \sum_i \mathbb 1[y_i = m(c_i)]`.
* NMI -- normalised mutual information (arithmetic normalisation, as scikit-learn).
* ARI -- adjusted Rand index (Hubert & Arabie 1985).
* F1 -- macro F1 of the classes after the same Hungarian matching as ACC.

All functions take NumPy arrays or torch tensors and return a Python float.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm


def to_numpy(a: Any) -> np.ndarray:
    """``a`` (tensor, list or array) as a NumPy array on the CPU."""
    if hasattr(a, "detach"):
        a = a.detach().cpu().numpy()
    return np.asarray(a)


def _check_labels(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = to_numpy(y_true).ravel(), to_numpy(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape[0]} vs {y_pred.shape[0]}.")
    if y_true.size == 0:
        raise ValueError("cannot score an empty clustering.")
    return y_true.astype(np.int64), y_pred.astype(np.int64)


def _contingency(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return table, classes, clusters


def hungarian_mapping(y_true: Any, y_pred: Any) -> dict[int, int]:
    """The cluster -> class matching that maximises the number of agreeing samples."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    table, classes, clusters = _contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(-table)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols)}


def clustering_accuracy(y_true: Any, y_pred: Any) -> float:
    """ACC with the Hungarian matching of clusters to classes."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    table, _, _ = _contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / y_true.size)


def matched_f1(y_true: Any, y_pred: Any) -> float:
    """Macro F1 over the classes after Hungarian matching (unmatched clusters count as errors)."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    mapping = hungarian_mapping(y_true, y_pred)
    unmatched = int(y_true.min()) - 1
    mapped = np.array([mapping.get(int(c), unmatched) for c in y_pred])
    return float(skm.f1_score(y_true, mapped, labels=np.unique(y_true), average="macro", zero_division=0))


def nmi(y_true: Any, y_pred: Any) -> float:
    """Normalised mutual information (scikit-learn's, arithmetic normalisation) between labels and clusters."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(skm.normalized_mutual_info_score(y_true, y_pred))


def ari(y_true: Any, y_pred: Any) -> float:
    """Adjusted Rand index (scikit-learn's) between labels and clusters."""
    y_true, y_pred = _check_labels(y_true, y_pred)
    return float(skm.adjusted_rand_score(y_true, y_pred))


def external_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """ACC, NMI, ARI and F1 in one dict."""
    return {
        "acc": clustering_accuracy(y_true, y_pred),
        "nmi": nmi(y_true, y_pred),
        "ari": ari(y_true, y_pred),
        "f1": matched_f1(y_true, y_pred),
    }
