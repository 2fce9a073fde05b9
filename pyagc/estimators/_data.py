"""In-memory DataModules for the estimators: a feature matrix (rows = samples) or an attributed graph.

Both are the DataModules of :mod:`pyagc.data` fed from arrays instead of named data sets, so an estimator's
batches (shuffling by ``seed`` and epoch, dataset indices, sharding under DDP) are those of the command line.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from pyagc.data.base import ClusteringDataModule


class ArrayDataModule(ClusteringDataModule):
    """A feature matrix ``x`` ``(N, F)`` as a pyagc DataModule (already preprocessed: ``scaling="none"``)."""

    def __init__(self, x: Tensor, batch_size: int = 256, seed: int = 0, **kwargs: Any) -> None:
        super().__init__(batch_size=batch_size, seed=seed, scaling="none", **kwargs)
        self._source = x

    @property
    def name(self) -> str:
        return "array"

    def load(self) -> tuple[Tensor, None]:
        return self._source, None


def graph_datamodule(x: Tensor, edge_index: Tensor, seed: int = 0) -> Any:
    """The whole graph ``(x, edge_index)`` as one full batch (:class:`~pyagc.data.GraphDataModule`)."""
    from torch_geometric.data import Data

    from pyagc.data.graphs import GraphDataModule

    return GraphDataModule(name=None, data=Data(x=x, edge_index=edge_index, num_nodes=x.shape[0]), seed=seed)


def split_graph_input(X: Any, edge_index: Any) -> tuple[Any, Any]:
    """``(features, edge_index)`` from ``X`` (an array, or a torch-geometric ``Data`` carrying both) and
    ``edge_index``.
    """
    if hasattr(X, "x") and hasattr(X, "edge_index") and not isinstance(X, (np.ndarray, Tensor)):
        if edge_index is not None:
            raise ValueError(
                "X is a torch_geometric Data object, which carries its own edge_index: do not also pass edge_index."
            )
        features = X.x
        if features is None:
            raise ValueError("the torch_geometric Data object has no node features (data.x is None).")
        features = features.detach().cpu().numpy() if isinstance(features, Tensor) else features
        return features, X.edge_index
    if isinstance(X, Tensor):
        X = X.detach().cpu().numpy()
    return X, edge_index


def check_edge_index(edge_index: Any, n_nodes: int, owner: str, method: str = "fit") -> Tensor:
    """``edge_index`` as an undirected ``(2, E)`` int64 tensor with node ids in ``0..n_nodes-1``, from an array /
    tensor of shape ``(2, E)`` or a scipy sparse adjacency matrix ``(n_nodes, n_nodes)``; clear errors otherwise.
    """
    from scipy import sparse
    from torch_geometric.utils import to_undirected

    if edge_index is None:
        raise ValueError(
            f"{owner} clusters the nodes of a graph: give its edges, {owner}.{method}(X, edge_index) with "
            "edge_index of shape (2, n_edges), a scipy sparse adjacency matrix, or X as a "
            "torch_geometric.data.Data."
        )
    if sparse.issparse(edge_index):
        if edge_index.shape != (n_nodes, n_nodes):
            raise ValueError(
                f"the adjacency matrix has shape {edge_index.shape} but X has {n_nodes} nodes (rows); "
                f"it must be ({n_nodes}, {n_nodes})."
            )
        coo = edge_index.tocoo()
        ei = torch.as_tensor(np.vstack([coo.row, coo.col]).astype(np.int64))
    else:
        ei = edge_index.detach().cpu() if isinstance(edge_index, Tensor) else torch.as_tensor(np.asarray(edge_index))
        if ei.dim() != 2 or ei.shape[0] != 2:
            raise ValueError(
                f"edge_index must have shape (2, n_edges) (source and target node of each edge), got {tuple(ei.shape)}."
            )
        if ei.is_floating_point() or ei.is_complex() or ei.dtype == torch.bool:
            if ei.is_floating_point() and ei.numel() and bool((ei == ei.round()).all()):
                ei = ei.long()
            else:
                raise ValueError(f"edge_index must hold integer node ids, got dtype {ei.dtype}.")
        ei = ei.long()
    if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n_nodes):
        raise ValueError(
            f"edge_index refers to node {int(ei.max()) if int(ei.max()) >= n_nodes else int(ei.min())} "
            f"but X has {n_nodes} nodes (ids 0..{n_nodes - 1})."
        )
    return to_undirected(ei.contiguous(), num_nodes=n_nodes)
