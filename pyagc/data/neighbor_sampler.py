r"""Uniform neighbour sampling for mini-batches of large graphs, in plain torch.

GraphSAGE-style sampling (Hamilton, Ying & Leskovec, *Inductive Representation Learning on Large
Graphs*, NeurIPS 2017, https://arxiv.org/abs/1706.02216): starting from a batch of seed nodes, each
hop draws, for every node of the frontier, at most :math:`k_h` of its incoming edges uniformly
without replacement (all of them when it has fewer, or when :math:`k_h = -1`). The sampled nodes
are relabelled so that the seeds come first, and the sampled edges point from neighbour to node
(message-passing direction), exactly the output convention of torch-geometric's ``NeighborLoader``.

torch-geometric's own ``NeighborSampler`` needs the compiled ``pyg-lib`` or ``torch-sparse``
extensions, which have no wheels for every torch release; :class:`UniformNeighborSampler` implements
the same :class:`~torch_geometric.sampler.BaseSampler` interface with vectorised torch operations, so
:class:`~torch_geometric.loader.NodeLoader` drives it like the built-in one. Cost per batch:
:math:`O(\sum_{v \in \text{frontier}} \deg(v) \log)` (random keys sorted within each node's edges).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.sampler import BaseSampler, NodeSamplerInput, SamplerOutput


class UniformNeighborSampler(BaseSampler):
    r"""Sample at most ``num_neighbors[h]`` incoming edges per node and hop, uniformly without replacement.

    Args:
        edge_index: ``(2, E)`` edges ``source -> target`` of the whole graph.
        num_nodes: number of nodes of the whole graph.
        num_neighbors: neighbours per hop, e.g. ``[10, 10]`` for a two-layer encoder; ``-1`` takes all.
        generator: random generator (default: torch's global one, seeded by ``seed_everything``).
    """

    def __init__(
        self, edge_index: Tensor, num_nodes: int, num_neighbors: Sequence[int], generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if len(num_neighbors) == 0 or any(int(k) == 0 or int(k) < -1 for k in num_neighbors):
            raise ValueError(
                f"num_neighbors must list, per hop, a positive count or -1 (all), got {list(num_neighbors)}."
            )
        edge_index = edge_index.long().cpu()
        if edge_index.numel() and int(edge_index.max()) >= num_nodes:
            raise ValueError(f"edge_index refers to node {int(edge_index.max())} but the graph has {num_nodes} nodes.")
        # incoming edges grouped by target node (CSC): in_ptr[v]..in_ptr[v+1] index into the sorted edges
        order = torch.argsort(edge_index[1], stable=True)
        self.sources = edge_index[0, order]
        self.edge_ids = order
        counts = torch.bincount(edge_index[1], minlength=num_nodes)
        self.in_ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
        torch.cumsum(counts, 0, out=self.in_ptr[1:])
        self.num_nodes = int(num_nodes)
        self.num_neighbors = [int(k) for k in num_neighbors]
        self.generator = generator

    def _sample_edges(self, frontier: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Positions (into the sorted edges) of the sampled in-edges of ``frontier`` and their owner."""
        start = self.in_ptr[frontier]
        deg = self.in_ptr[frontier + 1] - start
        owner = torch.repeat_interleave(torch.arange(frontier.numel()), deg)
        if owner.numel() == 0:
            return owner, owner
        seg_start = torch.cumsum(deg, 0) - deg
        offset = torch.arange(owner.numel()) - seg_start[owner]
        if k >= 0 and bool((deg > k).any()):
            # random keys, sorted within each node's edge list: the first k are a uniform k-subset
            keys = torch.rand(owner.numel(), generator=self.generator, dtype=torch.float64)
            perm = torch.argsort(owner.double() + keys)
            offset = offset[perm]  # owner[perm] == owner: the segments keep their place
            rank = torch.arange(owner.numel()) - seg_start[owner]
            keep = rank < k
            owner, offset = owner[keep], offset[keep]
        return start[owner] + offset, owner

    def sample_from_nodes(self, index: NodeSamplerInput, **kwargs) -> SamplerOutput:
        seeds = index.node.long().cpu()
        if seeds.numel() and (int(seeds.max()) >= self.num_nodes or int(seeds.min()) < 0):
            raise ValueError(f"seed nodes must lie in 0..{self.num_nodes - 1}.")
        local = torch.full((self.num_nodes,), -1, dtype=torch.long)
        local[seeds] = torch.arange(seeds.numel())
        nodes, rows, cols, edges = [seeds], [], [], []
        n_nodes, frontier = [seeds.numel()], seeds
        for k in self.num_neighbors:
            pos, owner = self._sample_edges(frontier, k)
            src = self.sources[pos]
            new = torch.unique(src[local[src] < 0])
            local[new] = torch.arange(sum(n_nodes), sum(n_nodes) + new.numel())
            rows.append(local[src])
            cols.append(local[frontier[owner]])
            edges.append(self.edge_ids[pos])
            nodes.append(new)
            n_nodes.append(new.numel())
            frontier = new
        return SamplerOutput(
            node=torch.cat(nodes),
            row=torch.cat(rows),
            col=torch.cat(cols),
            edge=torch.cat(edges),
            num_sampled_nodes=n_nodes,
            num_sampled_edges=[r.numel() for r in rows],
            metadata=(index.input_id if index.input_id is not None else seeds, None),
        )

    def sample_from_edges(self, index, neg_sampling=None):  # noqa: D102 - link prediction is not needed here
        raise NotImplementedError("UniformNeighborSampler samples around seed nodes only (NodeLoader).")

    @property
    def edge_permutation(self) -> Tensor | None:
        return None
