r"""Self-organising maps and post-hoc SOM clustering.

* :class:`SOM`: the map (torch ``nn.Module``; vectorised mini-batch training);
* post-hoc clustering through :meth:`SOM.cluster`: ``kmeans`` / ``gmm`` / ``hdbscan`` on the
  neurons, ``tsk`` (:func:`som_tsk`), ``densom`` (:func:`densom`), ``autosom`` (:func:`autosom`);
* :class:`SOMVisualizer` (TorchSOM's names): ``plot_elbow_analysis``,
  ``plot_silhouette_analysis``, ``plot_cluster_quality_comparison``, ``plot_cluster_map``,
  ``plot_distance_map`` (U-matrix), ``plot_hit_map``, ``plot_component_planes``,
  ``plot_training_errors``, target maps, ``plot_all``; every method returns its figure.

Code written for TorchSOM runs after changing ``from torchsom import`` to
``from pyagc.som import`` (see ``tests/seed_pages/torchsom_clustering``).
"""

from .autosom import autosom, select_k_gmm_bic
from .densom import default_sigma, densom, otsu_threshold, watershed_maxima
from .grid import grid_neighbors, grid_positions, smooth_on_grid, suggest_grid_size
from .neighborhood import DECAY_FUNCTIONS, DISTANCE_FUNCTIONS, NEIGHBORHOOD_FUNCTIONS, neighborhood
from .neuron_clustering import (
    build_feature_space,
    cluster_neurons,
    clustering_metrics,
    default_k_max,
    elbow_analysis,
    select_k_bic,
    select_k_silhouette,
)
from .som import CLUSTER_METHODS, FEATURE_SPACES, INITIALIZATION_MODES, MAP_TYPES, SOM
from .tsk import som_tsk
from .visualizer import SOMFigure, SOMVisualizer, VisualizationConfig

__all__ = [
    "SOM",
    "SOMVisualizer",
    "VisualizationConfig",
    "SOMFigure",
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
    "MAP_TYPES",
]
