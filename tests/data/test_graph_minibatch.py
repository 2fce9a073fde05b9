"""Sparse graph encoders, neighbour sampling and mini-batch graph training."""

import pytest
import pytorch_lightning as pl
import torch
from torch_geometric.datasets import KarateClub
from torch_geometric.sampler import NodeSamplerInput
from torch_geometric.utils import to_undirected

from pyagc.clusters import DMoNClusterHead, KMeansClusterHead
from pyagc.data import GraphDataModule
from pyagc.data.neighbor_sampler import UniformNeighborSampler
from pyagc.encoders import GCN
from pyagc.encoders.sparse import SparseAdjacencyCache, SparseFeatureCache, sparse_linear, to_sparse_features
from pyagc.models import ClusteringModule


def sparse_graph(n=60, f=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, f, generator=g) < 0.05).float() * torch.rand(n, f, generator=g)
    edge_index = to_undirected(torch.randint(0, n, (2, 4 * n), generator=g), num_nodes=n)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]]
    return x, edge_index


def test_sparse_linear_matches_dense_values_and_weight_gradient():
    x, _ = sparse_graph()
    w = torch.randn(8, x.shape[1], requires_grad=True)
    b = torch.randn(8, requires_grad=True)
    out = sparse_linear(to_sparse_features(x), w, b)
    ref = x @ w.detach().t() + b.detach()
    torch.testing.assert_close(out, ref)
    upstream = torch.randn_like(out)
    (gw,) = torch.autograd.grad((out * upstream).sum(), w)
    torch.testing.assert_close(gw, upstream.t() @ x)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_gcn_sparse_paths_equal_the_dense_edge_list_paths(num_layers):
    x, edge_index = sparse_graph()
    torch.manual_seed(0)
    dense = GCN(x.shape[1], 16, 8, num_layers=num_layers, sparse_features=False, sparse_adjacency=False)
    fast = GCN(x.shape[1], 16, 8, num_layers=num_layers)  # auto: sparse features (5 % non-zeros) + CSR adjacency
    fast.load_state_dict(dense.state_dict())  # same parameter names either way
    torch.testing.assert_close(fast(x, edge_index), dense(x, edge_index), atol=1e-5, rtol=1e-5)
    fast(x, edge_index).square().sum().backward()
    dense(x, edge_index).square().sum().backward()
    for (name, p), q in zip(fast.named_parameters(), dense.parameters()):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4, msg=name)
    # dense features (above sparse_density) keep the dense product; sparse_features=True on GAT is refused
    assert GCN(4, 8, 4)._maybe_sparse(torch.ones(5, 4)).layout == torch.strided
    with pytest.raises(ValueError, match="needs conv='gcn'"):
        GCN(4, 8, 4, conv="gat", sparse_features=True)


def test_caches_reuse_the_same_tensor_and_rebuild_after_changes():
    x, edge_index = sparse_graph()
    features, adjacency = SparseFeatureCache(), SparseAdjacencyCache()
    first = features(x)
    assert features(x) is first
    x[0, 0] = 5.0  # in-place write bumps the version: converted again, with the new value
    assert features(x) is not first and features(x).to_dense()[0, 0] == 5.0
    a = adjacency(edge_index, 60)
    assert adjacency(edge_index, 60) is a and adjacency(edge_index.clone(), 60) is not a
    # D^-1/2 (A + I) D^-1/2 with row = target node, and its transpose
    dense = torch.zeros(60, 60)
    dense[edge_index[1], edge_index[0]] = 1.0
    dense += torch.eye(60)
    inv_sqrt = dense.sum(1).rsqrt()
    torch.testing.assert_close(a[0].to_dense(), inv_sqrt[:, None] * dense * inv_sqrt[None, :])
    torch.testing.assert_close(a[1].to_dense(), a[0].to_dense().t())


def test_neighbor_sampler_draws_real_edges_without_replacement_and_relabels_seeds_first():
    x, edge_index = sparse_graph(n=80)
    sampler = UniformNeighborSampler(edge_index, 80, [3, 2], generator=torch.Generator().manual_seed(0))
    seeds = torch.tensor([5, 17, 42])
    out = sampler.sample_from_nodes(NodeSamplerInput(input_id=None, node=seeds))
    assert torch.equal(out.node[:3], seeds) and out.node.unique().numel() == out.node.numel()
    src, dst = out.node[out.row], out.node[out.col]
    edges = set(map(tuple, edge_index.t().tolist()))
    assert all((s, d) in edges for s, d in zip(src.tolist(), dst.tolist()))  # real edges, neighbour -> node
    assert torch.equal(edge_index[:, out.edge], torch.stack([src, dst]))  # edge ids point at them
    assert len(set(zip(src.tolist(), dst.tolist()))) == src.numel()  # no duplicates
    first_hop = out.col < 3
    counts = torch.bincount(out.col[first_hop], minlength=3)
    degrees = torch.bincount(edge_index[1], minlength=80)[seeds]
    assert torch.equal(counts, degrees.clamp(max=3))
    # -1 takes every in-edge of every seed
    full = UniformNeighborSampler(edge_index, 80, [-1]).sample_from_nodes(NodeSamplerInput(None, seeds))
    assert full.row.numel() == int(degrees.sum())
    with pytest.raises(ValueError, match="num_neighbors"):
        UniformNeighborSampler(edge_index, 80, [0])


def test_neighbor_sampling_is_uniform():
    # a star: node 0 has 10 in-neighbours; drawing 2 of them many times hits each ~ 1/5 of the draws
    edge_index = torch.stack([torch.arange(1, 11), torch.zeros(10, dtype=torch.long)])
    sampler = UniformNeighborSampler(edge_index, 11, [2], generator=torch.Generator().manual_seed(1))
    hits = torch.zeros(11)
    for _ in range(2000):
        out = sampler.sample_from_nodes(NodeSamplerInput(None, torch.tensor([0])))
        hits += torch.bincount(out.node[out.row], minlength=11)
    share = hits[1:] / hits.sum()
    assert torch.allclose(share, torch.full((10,), 0.1), atol=0.02)


def karate_minibatch(**kwargs):
    data = KarateClub()[0]
    return GraphDataModule(name=None, data=data, num_neighbors=[5], batch_size=8, eval_batch_size=16, **kwargs)


def test_minibatch_datamodule_batches_and_full_pass_cover_every_node_once():
    dm = karate_minibatch()
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    seeds = int(batch["num_seed_nodes"])
    assert seeds == 8 and batch["x"].shape[0] == batch["index"].shape[0] >= seeds
    assert torch.equal(batch["y"], dm.y[batch["index"]])
    seen = torch.cat([b["index"][: int(b["num_seed_nodes"])] for b in dm.full_dataloader()])
    assert torch.equal(seen.sort().values, torch.arange(34))
    # the whole-graph pass samples from a fixed seed: two passes give the same subgraphs
    a = [b["edge_index"] for b in dm.full_dataloader()]
    b = [b["edge_index"] for b in dm.full_dataloader()]
    assert all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("head", ["dmon", "kmeans"])
def test_minibatch_training_runs_and_assigns_every_node(head):
    pl.seed_everything(0)
    dm = karate_minibatch()
    dm.setup()
    encoder = GCN(dm.n_features, 16, 8, num_layers=1, activation="selu", act_last=True)
    cluster_head = DMoNClusterHead(4, 8, dropout=0.0) if head == "dmon" else KMeansClusterHead(4, 8)
    model = ClusteringModule(encoder, cluster_head, epochs=3)
    pl.Trainer(
        max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    ).fit(model, datamodule=dm)
    assert int(model.joint_steps) == 3 * 5  # ceil(34 / 8) batches per epoch
    labels = model.infer_full(dm)
    assert labels.shape == (34,) and labels.min() >= 0 and labels.max() < 4


def test_minibatch_refuses_a_cached_encoder():
    dm = karate_minibatch()
    model = ClusteringModule(GCN(34, 16, 8, num_layers=1, cached=True), DMoNClusterHead(4, 8), epochs=1)
    trainer = pl.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    with pytest.raises(ValueError, match="cached=false"):
        trainer.fit(model, datamodule=dm)
