"""DMoN (graph clustering) as a scikit-learn estimator."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.metaestimators import available_if

from pyagc.estimators.base import ADAM_1E3, BaseDeepClusterer, _check_int, _has_soft_assignments, model_config


class DMoN(BaseDeepClusterer):
    """DMoN (Tsitsulin et al., JMLR 2023): a one-layer SeLU GCN and soft assignments trained on spectral modularity +
    collapse regularisation (:class:`~pyagc.clusters.DMoNClusterHead`), full batch, Adam(1e-3).

    Clusters the nodes of a graph: ``fit(X, edge_index)`` with ``X`` the node features ``(n_nodes, n_node_features)``
    and ``edge_index`` the edges ``(2, n_edges)`` (made undirected), or a scipy sparse adjacency matrix; or
    ``fit(data)`` with a torch-geometric ``Data``. ``predict`` / ``transform`` / ``predict_proba`` take a graph the
    same way (the training graph, or another graph with the same node features); a node's cluster depends on its
    neighbours, so rows are not independent here.

    Defaults follow the command line, ``configs/model/dmon.yaml`` (1000 epochs, Adam 1e-3),
    ``configs/encoder/gcn_dmon.yaml`` (one GCN layer, 64 channels, SeLU) and ``configs/head/dmon.yaml``; node
    features are not scaled (``scaling="none"``, as ``data=cora``).

    Parameters
    ----------
    n_clusters : int, default 16
    n_features : int, default 64
        Embedding size (the GCN's output, what :meth:`transform` returns).
    num_layers : int, default 1
        GCN layers.
    collapse_regularization : float, default 1.0
    dropout : float, default 0.5
        Dropout on the embeddings before the assignment layer.
    epochs : int, default 1000
    optimizer : dict or None, default None (Adam 1e-3)
    scaling, random_state, accelerator, devices, precision, verbose, checkpoint_dir :
        As every estimator (:class:`~pyagc.estimators.base.BaseDeepClusterer`).
    """

    _takes_graph = True

    def __init__(
        self,
        n_clusters: int = 16,
        *,
        n_features: int = 64,
        num_layers: int = 1,
        collapse_regularization: float = 1.0,
        dropout: float = 0.5,
        epochs: int = 1000,
        optimizer: dict | None = None,
        scaling: Any = "none",
        random_state: Any = None,
        accelerator: str = "auto",
        devices: Any = 1,
        precision: Any = "32-true",
        verbose: bool = False,
        checkpoint_dir: str | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_features = n_features
        self.num_layers = num_layers
        self.collapse_regularization = collapse_regularization
        self.dropout = dropout
        self.epochs = epochs
        self.optimizer = optimizer
        self.scaling = scaling
        self.random_state = random_state
        self.accelerator = accelerator
        self.devices = devices
        self.precision = precision
        self.verbose = verbose
        self.checkpoint_dir = checkpoint_dir

    def _component_configs(self, n_samples: int, batches_per_epoch: int, seed: int) -> dict[str, Any]:
        size = int(self.n_features)
        return {
            "encoder": {
                "_target_": "pyagc.encoders.GCN",
                "in_channels": None,
                "hidden_channels": size,
                "out_channels": size,
                "num_layers": int(self.num_layers),
                "dropout": 0.0,
                "activation": "selu",
                "act_last": True,
                "conv": "gcn",
                "cached": True,
            },
            "head": {
                "_target_": "pyagc.clusters.DMoNClusterHead",
                "n_clusters": int(self.n_clusters),
                "n_features": int(self.n_features),
                "collapse_regularization": float(self.collapse_regularization),
                "dropout": float(self.dropout),
            },
            "model": model_config(0, self.epochs, None, self.optimizer, ADAM_1E3),
        }

    def _check_params(self, n_samples: int) -> None:
        super()._check_params(n_samples)
        _check_int(self.num_layers, "num_layers", 1)

    def fit(self, X: Any, edge_index: Any = None) -> DMoN:
        """Train on the graph (``X`` node features and ``edge_index``, or ``X`` a torch-geometric ``Data``)."""
        return self._fit(X, edge_index)

    def fit_predict(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """``fit(X, edge_index)`` and return ``labels_`` (one cluster per node)."""
        return self.fit(X, edge_index).labels_

    def fit_transform(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """``fit(X, edge_index)`` and return the node embeddings."""
        return self.fit(X, edge_index).transform(X, edge_index)

    def predict(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """Cluster of each node of the graph ``(X, edge_index)``."""
        return self._predict(X, edge_index)

    def transform(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """Embeddings ``(n_nodes, n_features)`` of the graph's nodes."""
        return self._transform(X, edge_index)

    @available_if(_has_soft_assignments)
    def predict_proba(self, X: Any, edge_index: Any = None) -> np.ndarray:
        """Soft assignments ``(n_nodes, n_clusters)`` of the graph's nodes."""
        return self._predict_proba(X, edge_index)
