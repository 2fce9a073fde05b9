r"""Self-organising maps and post-hoc SOM clustering.

* :class:`SOM`: the map (torch ``nn.Module``; vectorised mini-batch training);
* post-hoc clustering through :meth:`SOM.cluster`: ``kmeans`` / ``gmm`` / ``hdbscan`` on the
  neurons, ``tsk`` (:func:`som_tsk`), ``densom`` (:func:`densom`), ``autosom`` (:func:`autosom`);
* :class:`SOMVisualizer`: elbow, silhouette, comparison, cluster map, U-matrix, hit map,
  component planes, training errors.
"""

from .autosom import autosom, select_k_gmm_bic
from .cluster_kmeans_gmm_hdbscan import (
    build_feature_space,
    cluster_neurons,
    clustering_metrics,
    default_k_max,
    elbow_analysis,
    select_k_bic,
    select_k_silhouette,
)
from .densom import default_sigma, densom, otsu_threshold, watershed_maxima
from .grid import grid_neighbors, grid_positions, smooth_on_grid, suggest_grid_size
from .neighborhood import DECAY_FUNCTIONS, DISTANCE_FUNCTIONS, NEIGHBORHOOD_FUNCTIONS, neighborhood
from .som import CLUSTER_METHODS, FEATURE_SPACES, INITIALIZATION_MODES, SOM
from .tsk import som_tsk
from .visualizer import SOMVisualizer

__all__ = [
    "SOM",
    "SOMVisualizer",
    "som_tsk",
    "default_sigma",
    "densom",
    "autosom",
    "select_k_gmm_bic",
    "cluster_neurons",
    "clustering_metrics",
    "build_feature_space",
    "default_k_max",
    "elbow_analysis",
    "select_k_bic",
    "select_k_silhouette",
    "otsu_threshold",
    "watershed_maxima",
    "grid_positions",
    "grid_neighbors",
    "smooth_on_grid",
    "suggest_grid_size",
    "neighborhood",
    "NEIGHBORHOOD_FUNCTIONS",
    "DECAY_FUNCTIONS",
    "DISTANCE_FUNCTIONS",
    "INITIALIZATION_MODES",
    "CLUSTER_METHODS",
    "FEATURE_SPACES",
]
