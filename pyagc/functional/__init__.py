"""Head-free algorithms that heads and the SOM build on: k-means and Hartigan's dip test."""

from pyagc.functional.dip import (
    DipResult,
    dip_from_triangle,
    dip_pvalue,
    dip_statistic,
    dip_test,
    mirrored_modal_interval,
)
from pyagc.functional.kmeans import (
    MINIBATCH_THRESHOLD,
    KMeansResult,
    default_local_trials,
    kmeans,
    kmeans_numpy,
    pairwise_sq_dists,
)

__all__ = [
    "DipResult",
    "KMeansResult",
    "MINIBATCH_THRESHOLD",
    "default_local_trials",
    "dip_from_triangle",
    "dip_pvalue",
    "dip_statistic",
    "dip_test",
    "kmeans",
    "kmeans_numpy",
    "mirrored_modal_interval",
    "pairwise_sq_dists",
]
