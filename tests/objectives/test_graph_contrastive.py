"""Graph augmentations, the GRACE contrastive objective and the contrastive clustering pipeline."""

import math

import pytest
import torch
from torch_geometric.utils import to_undirected

from pyagc.augmentations import EdgeDropping, FeatureMasking, drop_edges, mask_features
from pyagc.clusters import KMeansClusterHead
from pyagc.clusters.base import LossOutput
from pyagc.encoders import GCN
from pyagc.metrics import nmi
from pyagc.models import ClusteringModule
from pyagc.objectives import GraphContrastiveObjective, grace_loss

pytestmark = pytest.mark.usefixtures("one_thread")


def random_undirected_graph(n: int = 60, m: int = 400, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    return to_undirected(ei, num_nodes=n)


def edge_set(ei: torch.Tensor) -> set[tuple[int, int]]:
    return set(map(tuple, ei.t().tolist()))


# ---------------------------------------------------------------- augmentations
def test_feature_masking_zeroes_whole_columns_at_the_given_rate():
    x = torch.rand(20, 4000) + 0.5
    out = mask_features(x, 0.3, torch.Generator().manual_seed(0))
    zero_cols = (out == 0).all(0)
    assert ((out == 0).any(0) == zero_cols).all()  # a column is zeroed for every node or for none
    assert abs(zero_cols.float().mean().item() - 0.3) < 0.03
    assert torch.equal(out[:, ~zero_cols], x[:, ~zero_cols])  # kept columns are unchanged (no rescaling)
    assert mask_features(x, 0.0) is x and x.min() >= 0.5  # p=0: identity; input not modified


def test_edge_dropping_keeps_the_graph_symmetric_and_drops_at_the_given_rate():
    ei = random_undirected_graph(200, 4000)
    out = drop_edges(ei, 0.4, torch.Generator().manual_seed(1))
    kept = edge_set(out)
    assert kept <= edge_set(ei)
    assert kept == {(v, u) for u, v in kept}  # (u, v) kept <=> (v, u) kept
    assert abs(out.shape[1] / ei.shape[1] - 0.6) < 0.04
    assert drop_edges(ei, 0.0) is ei


def test_augmentations_are_deterministic_for_a_seed_and_modules_are_identity_in_eval():
    x, ei = torch.rand(10, 50), random_undirected_graph()
    a = drop_edges(ei, 0.5, torch.Generator().manual_seed(3))
    b = drop_edges(ei, 0.5, torch.Generator().manual_seed(3))
    c = drop_edges(ei, 0.5, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(5)
    m1 = mask_features(x, 0.5)
    torch.manual_seed(5)
    assert torch.equal(m1, mask_features(x, 0.5))  # the global RNG is used without a generator
    masking, dropping = FeatureMasking(0.5).eval(), EdgeDropping(0.5).eval()
    assert masking(x) is x and dropping(ei) is ei
    with pytest.raises(ValueError, match="probability"):
        mask_features(x, 1.0)
    with pytest.raises(ValueError, match=r"\(2, E\)"):
        drop_edges(ei.t(), 0.2)


# ---------------------------------------------------------------- the loss
def test_grace_loss_matches_a_hand_computation():
    tau = 0.5
    u = torch.tensor([[2.0, 0.0], [0.0, 3.0]])  # unit directions e1, e2 (norms must not matter)
    v = torch.tensor([[1.0, 0.0], [1.0, 1.0]])  # e1, (e1 + e2)/sqrt(2)
    s = 1 / math.sqrt(2)
    e = lambda t: math.exp(t / tau)  # noqa: E731
    l_u1 = -math.log(e(1) / (e(1) + e(s) + e(0)))  # positive v1; inter v2; intra u2
    l_u2 = -math.log(e(s) / (e(s) + e(0) + e(0)))  # positive v2; inter v1; intra u1
    l_v1 = -math.log(e(1) / (e(1) + e(0) + e(s)))  # positive u1; inter u2; intra v2
    l_v2 = -math.log(e(s) / (e(s) + e(s) + e(s)))  # positive u2; inter u1; intra v1
    expected = (l_u1 + l_u2 + l_v1 + l_v2) / 4
    assert grace_loss(u, v, tau).item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="same shape"):
        grace_loss(u, v[:1], tau)


def test_gradients_reach_the_encoder_and_the_projection_head():
    torch.manual_seed(0)
    x, ei = torch.rand(30, 8), random_undirected_graph(30, 120)
    encoder = GCN(8, 16, 8, num_layers=2)
    objective = GraphContrastiveObjective(8, projection_hidden_dim=16, tau=0.5)
    out = objective(encoder, {"x": x, "edge_index": ei})
    assert isinstance(out, LossOutput) and out.total.dim() == 0 and torch.isfinite(out.total)
    assert set(out.components) == {"contrastive", "positive_similarity"}
    out.total.backward()
    for module in (encoder, objective.projection):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and g.abs().sum() > 0 for g in grads), type(module).__name__
    with pytest.raises(ValueError, match="n_features"):
        GraphContrastiveObjective(4)(encoder, {"x": x, "edge_index": ei})
    with pytest.raises(ValueError, match="cached=False"):
        objective(GCN(8, 16, 8, cached=True), {"x": x, "edge_index": ei})
    with pytest.raises(ValueError, match="augmentation probabilities"):
        GraphContrastiveObjective(8, edge_drop_p=(0.2, 1.5))


# ---------------------------------------------------------------- end to end
def planted_partition(n_per: int = 40, k: int = 3, seed: int = 0):
    """k communities (dense inside, sparse across) with weak, noisy community features."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(k).repeat_interleave(n_per)
    same = y[:, None] == y[None, :]
    prob = torch.where(same, torch.tensor(0.15), torch.tensor(0.01))
    adj = torch.rand(len(y), len(y), generator=g) < prob
    adj = torch.triu(adj, 1)
    ei = to_undirected(adj.nonzero().t(), num_nodes=len(y))
    x = (torch.rand(len(y), 30, generator=g) < 0.1).float()
    x[torch.arange(len(y)), y * 10 + torch.randint(0, 10, (len(y),), generator=g)] = 1.0
    return x, ei, y


def test_contrastive_pretraining_then_kmeans_clusters_a_planted_partition():
    import pytorch_lightning as pl
    from torch_geometric.data import Data

    from pyagc.data import GraphDataModule

    x, ei, y = planted_partition()
    pl.seed_everything(0, verbose=False)
    dm = GraphDataModule(name=None, data=Data(x=x, edge_index=ei, y=y))
    encoder = GCN(30, 32, 16, num_layers=2, act_last=True)
    model = ClusteringModule(
        encoder,
        KMeansClusterHead(3, 16, seed=0),
        pretrain_epochs=60,
        epochs=0,
        pretrain_optimizer={"name": "adam", "lr": 0.01},
        pretrain_objective=GraphContrastiveObjective(16, 32, tau=0.5),
    )
    chance = nmi(y, torch.randint(0, 3, y.shape, generator=torch.Generator().manual_seed(0)))
    trainer = pl.Trainer(
        max_epochs=60,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, datamodule=dm)
    model.initialize_head(dm)  # epochs=0: cluster the pretrained embeddings with k-means
    labels = model.infer_full(dm)
    score = nmi(y, labels)
    assert score > 0.6 and score > chance + 0.5, (score, chance)


# ---------------------------------------------------------------- the low-pass encoder
def test_propagation_gcn_with_one_hop_is_a_gcn_layer_and_sparse_features_change_nothing():
    from torch_geometric.nn import GCNConv

    from pyagc.encoders import PropagationGCN

    torch.manual_seed(0)
    x = (torch.rand(40, 50) < 0.05).float()  # bag-of-words-like: the CSR path is taken
    ei = random_undirected_graph(40, 150)
    enc = PropagationGCN(50, 16, 8, num_layers=1, hops=1)
    conv = GCNConv(50, 8)
    conv.lin.weight.data.copy_(enc.linears[0].weight.data)
    conv.bias.data.copy_(enc.linears[0].bias.data)
    assert torch.allclose(enc(x, ei), conv(x, ei), atol=1e-5)
    enc.sparse_density = 0.0  # force the dense product
    dense = enc(x, ei)
    enc.sparse_density = 1.0
    assert torch.allclose(enc(x, ei), dense, atol=1e-5)
    two_hops = PropagationGCN(50, 16, 8, num_layers=1, hops=2)
    two_hops.load_state_dict(enc.state_dict())
    torch.nn.init.normal_(two_hops.linears[0].bias)  # the bias is propagated with the features
    a_hat = enc.adjacency(ei, 40).to_dense()
    assert torch.allclose(two_hops(x, ei), a_hat @ a_hat @ two_hops.linears[0](x), atol=1e-5)
    with pytest.raises(ValueError, match="50"):
        enc(x[:, :10], ei)
