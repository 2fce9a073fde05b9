"""SOMClusterHead (DESOM): loss formula, gradients, temperature schedule, map clustering, errors, digits."""

import math

import numpy as np
import pytest
import torch

from pyagc.clusters import BaseClusterHead, LossOutput, SOMClusterHead


def make_head(**kw):
    args = dict(n_clusters=3, n_features=2, map_size=(4, 3), T_max=2.0, T_min=0.1, decay_steps=10, seed=0)
    args.update(kw)
    return SOMClusterHead(**args)


def blobs(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.tensor([[-4.0, 0.0], [4.0, 0.0], [0.0, 5.0]])
    y = torch.arange(n) % 3
    return centers[y] + 0.5 * torch.randn(n, 2, generator=g), y


def test_loss_equals_desom_formula_on_hand_made_input():
    head = SOMClusterHead(2, 2, map_size=(2, 1), gamma=0.5, T_max=1.0, T_min=0.1, decay_steps=4)
    assert isinstance(head, BaseClusterHead) and head.uses_reconstruction and head.requires_initialization
    with torch.no_grad():
        head.som.weights.copy_(torch.tensor([[0.0, 0.0], [2.0, 0.0]]))
    head.mark_initialized()  # the map is set by hand: no initialisation from the first embeddings
    z = torch.tensor([[0.5, 0.0], [1.5, 1.0], [3.0, 0.0]])
    x = torch.tensor([[1.0, 2.0], [0.0, 0.0], [1.0, 1.0]])
    x_hat = torch.tensor([[1.0, 1.0], [0.0, 2.0], [1.0, 1.0]])
    out = head(z, x=x, x_hat=x_hat)
    assert isinstance(out, LossOutput) and set(out.components) == {"reconstruction", "som"}
    # grid: neurons at (0,0) and (1,0); T = 1 at step 0: h(self) = 1, h(other) = exp(-1/2)
    e = math.exp(-0.5)
    # z0: d = (0.25, 2.25), BMU 0; z1: d = (3.25, 1.25), BMU 1; z2: d = (9, 1), BMU 1
    som = ((0.25 + e * 2.25) + (1.25 + e * 3.25) + (1.0 + e * 9.0)) / 3
    rec = (1.0 + 4.0) / 6
    assert out.components["som"].item() == pytest.approx(som, rel=1e-6)
    assert out.components["reconstruction"].item() == pytest.approx(rec, rel=1e-6)
    assert out.total.item() == pytest.approx(rec + 0.5 * som, rel=1e-6)
    assert head.som_loss(z, temperature=1.0).item() == pytest.approx(som, rel=1e-6)


def test_gradient_reaches_embeddings_and_prototypes():
    head = make_head()
    z, _ = blobs(30)
    head.initialize(z)
    z = z.clone().requires_grad_(True)
    x = torch.randn(30, 5)
    x_hat = (x + 0.1).requires_grad_(True)
    head(z, x=x, x_hat=x_hat).total.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert head.som.weights.grad is not None and head.som.weights.grad.abs().sum() > 0
    assert x_hat.grad is not None and x_hat.grad.abs().sum() > 0
    assert any(p is head.som.weights for p in head.parameters())


def test_temperature_decays_and_survives_state_dict_round_trip():
    head = make_head(T_max=2.0, T_min=0.1, decay_steps=10)
    z, _ = blobs(30)
    head.initialize(z)
    x = torch.zeros(30, 1)
    assert head.temperature == pytest.approx(2.0)
    for _ in range(4):
        head(z, x=x, x_hat=x)
    assert int(head.steps) == 4
    assert head.temperature == pytest.approx(2.0 * (0.1 / 2.0) ** 0.4)
    head.eval()
    head(z, x=x, x_hat=x)  # evaluation calls do not advance the schedule
    assert int(head.steps) == 4
    head.train()

    restored = make_head(T_max=2.0, T_min=0.1, decay_steps=10)
    restored.load_state_dict(head.state_dict())
    assert int(restored.steps) == 4 and restored.temperature == pytest.approx(head.temperature)
    assert restored.is_initialized and torch.equal(restored.som.weights, head.som.weights)
    assert torch.equal(restored.hits, head.hits)
    # the same next loss, and the map clustering reproduces
    assert restored(z, x=x, x_hat=x).total.item() == pytest.approx(head(z, x=x, x_hat=x).total.item())
    assert torch.equal(restored.cluster(z), head.cluster(z))
    for _ in range(20):
        head(z, x=x, x_hat=x)
    assert head.temperature == pytest.approx(0.1)  # constant after decay_steps
    assert [round(head.temperature_at(t), 6) for t in (0, 10, 99)] == [2.0, 0.1, 0.1]


def test_cluster_labels_soft_assignments_and_cache():
    head = make_head(map_size=(5, 4))
    z, y = blobs(150)
    head.initialize(z)
    assert float(head.hits.sum()) == 150
    labels = head.cluster(z)
    assert labels.dtype == torch.int64 and labels.shape == (150,)
    assert labels.min() >= 0 and labels.max() <= 2 and len(labels.unique()) == 3
    from pyagc.metrics import external_metrics

    assert external_metrics(y.numpy(), labels.numpy())["acc"] > 0.95
    # each sample takes its BMU's map cluster
    assert torch.equal(labels, head.neuron_labels[head.som.bmus(z, return_tensor=True)])
    soft = head.cluster(z, soft=True)
    assert soft.shape == (150, 3) and torch.allclose(soft.sum(1), torch.ones(150), atol=1e-5)
    assert (soft >= 0).all() and torch.equal(soft.argmax(1), labels)
    # cached until the prototypes change
    cached = head._map_cache
    head.cluster(z[:10])
    assert head._map_cache is cached
    with torch.no_grad():
        head.som.weights.mul_(-1.0)
    head.cluster(z)
    assert head._map_cache is not cached


@pytest.mark.parametrize("method", ["gmm", "tsk"])
def test_other_map_clusterings(method):
    head = make_head(map_size=(5, 4), map_clustering=method)
    z, _ = blobs(90)
    head.initialize(z)
    labels = head.cluster(z)
    assert labels.min() >= 0 and labels.max() <= 2


def test_bad_input_fails_with_clear_errors():
    with pytest.raises(ValueError, match="larger than the map"):
        SOMClusterHead(20, 2, map_size=(3, 3))
    with pytest.raises(ValueError, match="at least 2"):
        SOMClusterHead(1, 2)
    with pytest.raises(ValueError, match="T_min"):
        SOMClusterHead(3, 2, T_max=0.1, T_min=1.0)
    with pytest.raises(ValueError, match="valid: kmeans, gmm, tsk"):
        SOMClusterHead(3, 2, map_clustering="spectral")
    with pytest.raises(ValueError, match="valid: fit, pca"):
        SOMClusterHead(3, 2, init="zeros")
    with pytest.raises(ValueError, match="map_size"):
        SOMClusterHead(3, 2, map_size=5)
    head = make_head()
    z, _ = blobs(30)
    with pytest.warns(UserWarning, match="used before initialize"):  # initialises itself from the first z
        assert head.cluster(z).shape == (30,)
    head = make_head()
    with pytest.raises(ValueError, match="larger than the number of samples"):
        head.initialize(z[:2])
    with pytest.raises(ValueError, match="built for 2-dimensional"):
        head.initialize(torch.randn(30, 3))
    head.initialize(z)
    with pytest.raises(ValueError, match="`x_hat`"):
        head(z)
    bad = z.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN"):
        head(bad, x=z, x_hat=z)
    with pytest.raises(ValueError, match=r"shape \(N, F\)"):
        head.cluster(z[0])


def test_desom_on_digits_beats_chance_clearly():
    import pytorch_lightning as pl

    from pyagc.data import TabularDataModule
    from pyagc.encoders import MLPAutoencoder
    from pyagc.metrics import external_metrics
    from pyagc.models import ClusteringModule

    torch.set_num_threads(1)
    pl.seed_everything(0, verbose=False)
    dm = TabularDataModule("digits", scaling="standard", batch_size=256, seed=0)
    dm.setup()
    steps = math.ceil(dm.n_samples / 256) * 20
    head = SOMClusterHead(10, 10, map_size=(10, 10), decay_steps=steps, seed=0)
    model = ClusteringModule(
        MLPAutoencoder(dm.n_features, hidden_dims=[256, 256], latent_dim=10), head, pretrain_epochs=30, epochs=20
    )
    pl.Trainer(
        max_epochs=50,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    assert int(head.steps) == steps and head.temperature == pytest.approx(head.T_min)
    pred = model.infer_full(dm).numpy()
    m = external_metrics(dm.y.numpy(), pred)
    assert m["acc"] > 0.5 and m["nmi"] > 0.45, m  # chance: ACC ~0.1
    assert set(np.unique(pred)) <= set(range(10))
