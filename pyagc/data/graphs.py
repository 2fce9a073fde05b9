"""Attributed graphs: Planetoid (Cora, CiteSeer, PubMed) from a local root, KarateClub, any
torch-geometric ``Data``. Graphs are made undirected; features optionally row-normalised.

Full-batch loading (default): one batch holds the whole graph ``{x, edge_index, index, y}``.
Mini-batch loading (``num_neighbors=[...]``): torch-geometric's :class:`~torch_geometric.loader.NodeLoader`
with neighbour sampling yields sampled subgraphs ``{x, edge_index, index, y, num_seed_nodes}`` whose
first ``num_seed_nodes`` nodes are the batch's seeds (see :mod:`pyagc.data.neighbor_sampler`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from pyagc.data.base import ClusteringDataModule, check_finite, identity_collate
from pyagc.data.neighbor_sampler import UniformNeighborSampler
from pyagc.data.paths import copy_to_cache, missing_file_error, resolve_root
from pyagc.data.preprocessing import GraphPreprocessor, Preprocessor

PLANETOID = ("Cora", "CiteSeer", "PubMed")
GRAPH_SETS = PLANETOID + ("KarateClub",)


def _canonical(name: str) -> str:
    for valid in GRAPH_SETS:
        if valid.lower() == name.lower():
            return valid
    raise ValueError(f"unknown graph data set {name!r}; valid: {list(GRAPH_SETS)} (or pass a torch_geometric Data)")


def load_graph(name: str, root: str | Path | None = None):
    """Load a named graph as a torch-geometric ``Data`` (undirected, no download)."""
    from torch_geometric.utils import to_undirected

    name = _canonical(name)
    if name == "KarateClub":
        from torch_geometric.datasets import KarateClub

        data = KarateClub()[0]
    else:
        from torch_geometric.datasets import Planetoid

        base = resolve_root(root, "planetoid")
        raw = base / name / "raw"
        if not raw.is_dir():
            raise missing_file_error(raw, f"Planetoid {name} raw files (ind.{name.lower()}.x, .tx, .allx, .y, ...)")
        local = copy_to_cache(base / name, f"planetoid/{name}")
        data = Planetoid(str(local.parent), name)[0]
    data.edge_index = to_undirected(data.edge_index, num_nodes=data.num_nodes)
    return data


def get_dataset(name: str, root: str | Path | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Return ``(x, edge_index, y)`` of a named graph."""
    data = load_graph(name, root)
    return data.x.float(), data.edge_index, data.y.long()


class _WholeGraph(Dataset):
    def __init__(self, batch: dict[str, Tensor]) -> None:
        self.batch = batch

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        return self.batch


def subgraph_batch(data: Any) -> dict[str, Tensor]:
    """A sampled subgraph (``Data`` from ``NodeLoader``) as a pyagc batch dict; seeds come first."""
    batch = {
        "x": data.x,
        "edge_index": data.edge_index,
        "index": data.n_id,
        "num_seed_nodes": torch.tensor(int(data.batch_size)),
    }
    if getattr(data, "y", None) is not None:
        batch["y"] = data.y
    return batch


class GraphDataModule(ClusteringDataModule):
    """An attributed graph, as one full batch or as mini-batches of sampled subgraphs.

    Args:
        name: ``Cora``, ``CiteSeer``, ``PubMed`` (files under ``root``, default
            ``<data root>/planetoid``) or ``KarateClub``; or pass ``data`` (a torch-geometric ``Data``).
        normalize_features: divide each node's features by their sum (row-normalise).
        num_neighbors: ``None`` (default): full batch, the whole graph in every step. A list, e.g.
            ``[10, 10]`` (one entry per encoder layer, ``-1`` = all neighbours): mini-batches of
            ``batch_size`` seed nodes with their sampled neighbourhoods (GraphSAGE-style); the whole-graph
            passes (head initialisation, evaluation) use ``eval_batch_size`` seeds per batch and the same
            sampling from a fixed seed, so they are reproducible. Use an encoder without cached
            normalisation (``encoder.cached=false``) in this mode.
        **kwargs: ``batch_size``, ``eval_batch_size``, ``seed``, ``num_workers``, ...: as
            :class:`~pyagc.data.ClusteringDataModule`.
    """

    is_graph = True
    data_kind = "graph"

    def __init__(
        self,
        name: str | None = "Cora",
        root: str | None = None,
        data: Any = None,
        normalize_features: bool = False,
        num_neighbors: list[int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.dataset_name = name
        self.root = root
        self.data = data
        self.normalize_features = normalize_features
        self.num_neighbors = None if num_neighbors is None else [int(k) for k in num_neighbors]
        if self.num_neighbors is not None and (
            not self.num_neighbors or any(k == 0 or k < -1 for k in self.num_neighbors)
        ):
            raise ValueError(f"num_neighbors must list a positive count or -1 per hop, got {num_neighbors}.")

    @property
    def is_mini_batch(self) -> bool:
        return self.num_neighbors is not None

    @property
    def name(self) -> str:
        return self.dataset_name or "graph"

    def make_preprocessor(self) -> Preprocessor:
        return GraphPreprocessor(self.scaling, normalize_features=self.normalize_features)

    def load(self) -> tuple[Tensor, Tensor | None]:
        """The raw node features (row normalisation and scaling are the preprocessing's) and labels; sets
        ``edge_index`` (undirected).
        """
        from torch_geometric.utils import to_undirected

        data = self.data if self.data is not None else load_graph(self.dataset_name, self.root)
        x = data.x.float()
        n = x.shape[0]
        edge_index = to_undirected(data.edge_index, num_nodes=n)
        if edge_index.numel() and int(edge_index.max()) >= n:
            raise ValueError(f"edge_index refers to node {int(edge_index.max())} but the graph has {n} nodes.")
        self.edge_index = edge_index
        y = getattr(data, "y", None)
        return x, None if y is None else y.long()

    def setup(self, stage: str | None = None) -> None:
        if self.x is not None:
            return
        if self.limit is not None:
            raise ValueError("`limit` is not supported for graphs (it would cut edges); use the whole graph.")
        super().setup(stage)
        check_finite(self.x, f"graph {self.name}")

    def whole_batch(self) -> dict[str, Tensor]:
        self._require_setup()
        batch = {"x": self.x, "edge_index": self.edge_index, "index": torch.arange(self.x.shape[0])}
        if self.y is not None:
            batch["y"] = self.y
        return batch

    def _graph_data(self):
        from torch_geometric.data import Data

        data = Data(x=self.x, edge_index=self.edge_index, num_nodes=self.x.shape[0])
        if self.y is not None:
            data.y = self.y
        return data

    def _node_loader(self, batch_size: int, shuffle: bool, generator: torch.Generator | None) -> DataLoader:
        from torch.utils.data import DistributedSampler
        from torch_geometric.loader import NodeLoader

        sampler = UniformNeighborSampler(self.edge_index, self.x.shape[0], self.num_neighbors, generator=generator)
        world, rank = self._world()
        extra: dict[str, Any] = {"shuffle": shuffle}
        if world > 1:  # each process gets its share of the seed nodes
            extra = {
                "sampler": DistributedSampler(
                    range(self.x.shape[0]), num_replicas=world, rank=rank, shuffle=shuffle, seed=self.seed
                )
            }
        return NodeLoader(
            self._graph_data(),
            node_sampler=sampler,
            batch_size=batch_size,
            transform=subgraph_batch,
            num_workers=self.num_workers,
            **extra,
        )

    def train_dataloader(self) -> DataLoader:
        self._require_setup()
        if self.is_mini_batch:
            return self._node_loader(self.batch_size, shuffle=True, generator=None)
        return DataLoader(_WholeGraph(self.whole_batch()), batch_size=None, collate_fn=identity_collate)

    def full_dataloader(self) -> DataLoader:
        self._require_setup()
        if self.is_mini_batch:  # fixed sampling seed: whole-graph passes are reproducible
            return self._node_loader(
                self.eval_batch_size, shuffle=False, generator=torch.Generator().manual_seed(self.seed)
            )
        return self.train_dataloader()

    def predict_batches(self, batch_size: int | None = None):
        """The whole-graph passes of :meth:`full_dataloader` (one full batch, or sampled subgraphs whose first
        ``num_seed_nodes`` nodes are the batch's own); graphs are held in memory.
        """
        self._require_setup()
        yield from self.full_dataloader()
