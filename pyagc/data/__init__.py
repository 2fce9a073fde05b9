"""DataModules for tabular arrays, images and graphs; batches are dicts ``{x, index, y?, edge_index?}``."""

from pyagc.data.base import ClusteringDataModule, IndexedTensorDataset, identity_collate, scale_features
from pyagc.data.graphs import GRAPH_SETS, GraphDataModule, get_dataset, load_graph
from pyagc.data.images import IMAGE_SETS, ImageDataModule
from pyagc.data.paths import cache_dir, default_data_root
from pyagc.data.tabular import SKLEARN_SETS, SYNTHETIC_SETS, TabularDataModule

__all__ = [
    "ClusteringDataModule", "IndexedTensorDataset", "identity_collate", "scale_features",
    "TabularDataModule", "ImageDataModule", "GraphDataModule", "get_dataset", "load_graph",
    "SKLEARN_SETS", "SYNTHETIC_SETS", "IMAGE_SETS", "GRAPH_SETS", "cache_dir", "default_data_root",
]
