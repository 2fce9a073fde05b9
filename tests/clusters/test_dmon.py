import math

import pytest
import pytorch_lightning as pl
import torch
from torch_geometric.data import Data
from torch_geometric.utils import stochastic_blockmodel_graph, to_dense_adj, to_undirected

from pyagc.clusters import DMoNClusterHead, collapse_regularization, spectral_modularity_loss
from pyagc.data import GraphDataModule
from pyagc.metrics import external_metrics, modularity
from pyagc.models import DMoN


def _random_graph(n=30, p=0.15, seed=0):
    g = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, n, generator=g) < p).float().triu(1)
    return to_undirected(a.nonzero().T, num_nodes=n)


def test_spectral_loss_equals_dense_formula():
    edge_index = _random_graph()
    c = torch.softmax(torch.randn(30, 4), 1)
    a = to_dense_adj(edge_index, max_num_nodes=30)[0]
    d = a.sum(1)
    two_m = d.sum()
    b = a - torch.outer(d, d) / two_m
    expected = -torch.trace(c.T @ b @ c) / two_m
    assert torch.allclose(spectral_modularity_loss(c, edge_index), expected, atol=1e-6)


def test_hard_assignments_give_minus_newman_modularity():
    edge_index = _random_graph(seed=1)
    labels = torch.randint(0, 3, (30,), generator=torch.Generator().manual_seed(2))
    c = torch.nn.functional.one_hot(labels, 3).float()
    assert float(-spectral_modularity_loss(c, edge_index)) == pytest.approx(modularity(edge_index, labels), abs=1e-6)


def test_collapse_regularization_extremes():
    balanced = torch.eye(4).repeat(5, 1)
    collapsed = torch.zeros(20, 4)
    collapsed[:, 0] = 1
    assert float(collapse_regularization(balanced)) == pytest.approx(0.0, abs=1e-6)
    assert float(collapse_regularization(collapsed)) == pytest.approx(math.sqrt(4) - 1)


def test_head_gradients_and_errors():
    head = DMoNClusterHead(3, 8)
    z = torch.randn(30, 8, requires_grad=True)
    out = head(z, edge_index=_random_graph())
    assert set(out.components) == {"spectral", "collapse"}
    out.total.backward()
    assert z.grad.abs().sum() > 0 and head.assign.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs the graph / context edge_index"):
        head(z)
    soft = head.cluster(z.detach(), soft=True)
    assert torch.allclose(soft.sum(1), torch.ones(30)) and head.cluster(z.detach()).max() < 3


def test_dmon_recovers_planted_communities():
    torch.manual_seed(0)
    pl.seed_everything(0, verbose=False)
    sizes = [60, 60, 60]
    probs = [[0.2, 0.01, 0.01], [0.01, 0.2, 0.01], [0.01, 0.01, 0.2]]
    edge_index = stochastic_blockmodel_graph(sizes, probs)
    y = torch.repeat_interleave(torch.arange(3), torch.tensor(sizes))
    # weakly informative features: the graph has to do most of the work
    x = torch.cat([torch.nn.functional.one_hot(y, 3).float() * 0.5, torch.randn(180, 29)], 1)
    dm = GraphDataModule(name=None, data=Data(x=x, edge_index=edge_index, y=y))
    model = DMoN(in_features=32, n_clusters=3, epochs=150, optimizer={"name": "adam", "lr": 0.01})
    pl.Trainer(
        max_epochs=150,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    labels = model.infer_full(dm)
    scores = external_metrics(y, labels)
    assert scores["nmi"] > 0.8, scores
    assert modularity(dm.edge_index, labels) > 0.5
