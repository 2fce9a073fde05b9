"""Clustering metrics as plain functions (torch or NumPy in, float out)."""

from pyagc.metrics.external import (
    ari,
    clustering_accuracy,
    external_metrics,
    hungarian_mapping,
    matched_f1,
    nmi,
)
from pyagc.metrics.graph import conductance, graph_metrics, modularity
from pyagc.metrics.hierarchical import dendrogram_purity, leaf_purity
from pyagc.metrics.internal import input_space_metrics, internal_metrics

__all__ = [
    "clustering_accuracy",
    "nmi",
    "ari",
    "matched_f1",
    "hungarian_mapping",
    "external_metrics",
    "internal_metrics",
    "input_space_metrics",
    "modularity",
    "conductance",
    "graph_metrics",
    "dendrogram_purity",
    "leaf_purity",
]
