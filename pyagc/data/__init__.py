"""DataModules for tabular arrays, images and graphs; batches are dicts ``{x, index, y?, edge_index?}``.

Each DataModule fits its preprocessing (:mod:`pyagc.data.preprocessing`) on the training data once and saves it
with the model; :mod:`pyagc.data.tables` reads table files whole or in chunks.
"""

from pyagc.data.base import ClusteringDataModule, IndexedTensorDataset, identity_collate, scale_features
from pyagc.data.graphs import GRAPH_SETS, GraphDataModule, get_dataset, load_graph
from pyagc.data.images import IMAGE_SETS, ImageDataModule
from pyagc.data.paths import cache_dir, default_data_root
from pyagc.data.preprocessing import (
    DataMismatchError,
    GraphPreprocessor,
    ImagePreprocessor,
    Preprocessor,
    TablePreprocessor,
    preprocessor_from_checkpoint,
    preprocessor_from_state,
)
from pyagc.data.tables import TableFile, TableFormatError
from pyagc.data.tabular import SKLEARN_SETS, SYNTHETIC_SETS, TabularDataModule

__all__ = [
    "ClusteringDataModule",
    "IndexedTensorDataset",
    "identity_collate",
    "scale_features",
    "TabularDataModule",
    "ImageDataModule",
    "GraphDataModule",
    "get_dataset",
    "load_graph",
    "SKLEARN_SETS",
    "SYNTHETIC_SETS",
    "IMAGE_SETS",
    "GRAPH_SETS",
    "cache_dir",
    "default_data_root",
    "Preprocessor",
    "TablePreprocessor",
    "ImagePreprocessor",
    "GraphPreprocessor",
    "DataMismatchError",
    "preprocessor_from_state",
    "preprocessor_from_checkpoint",
    "TableFile",
    "TableFormatError",
]
