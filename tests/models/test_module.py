import pytest
import torch

from pyagc.clusters import DECClusterHead
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModule, build_optimizer


def _model(**kw):
    torch.manual_seed(0)
    return ClusteringModule(MLPAutoencoder(8, hidden_dims=[16], latent_dim=2), DECClusterHead(2, 2), **kw)


def test_manual_phase_follows_head_state():
    model = _model(pretrain_epochs=0)
    x = torch.rand(32, 8)
    assert model.phase == "pretrain"  # autoencoder, head not initialised: reconstruction first
    rec = model.compute_loss({"x": x})
    assert set(rec.components) == {"reconstruction"}
    model.initialize_head(x)
    assert model.phase == "joint" and model.cluster_head.target.shape == (32, 2)
    out = model.compute_loss({"x": x[:8], "index": torch.arange(8)})
    assert set(out.components) == {"kl"}


def test_denoising_pretraining_corrupts_only_in_training():
    model = _model(pretrain_noise=0.5)
    x = torch.rand(64, 8)
    clean = _model(pretrain_noise=0.0)
    model.eval()
    clean.eval()
    assert torch.equal(model.compute_loss({"x": x}, "pretrain").total, clean.compute_loss({"x": x}, "pretrain").total)
    model.train()
    noisy = [float(model.compute_loss({"x": x}, "pretrain").total) for _ in range(3)]
    assert len(set(noisy)) == 3  # a new corruption every call
    with pytest.raises(ValueError, match="pretrain_noise"):
        _model(pretrain_noise=1.0)


class _Flip(torch.nn.Module):
    """A deterministic 'augmentation': reverses the feature order."""

    def forward(self, x):
        return x.flip(1)


def test_pretraining_on_augmented_views_reconstructs_the_view():
    model = _model(augmentation=_Flip(), pretrain_augmentation=True)
    x = torch.rand(64, 8)
    model.train()
    flipped = x.flip(1)
    expected = torch.nn.functional.mse_loss(model.encoder.decode(model.encoder.encode(flipped)), flipped)
    assert torch.allclose(model.compute_loss({"x": x}, "pretrain").total, expected)
    # the clean batch everywhere else: evaluation, and joint training (the head's views are its own business)
    model.eval()
    clean = torch.nn.functional.mse_loss(model.encoder.decode(model.encoder.encode(x)), x)
    assert torch.allclose(model.compute_loss({"x": x}, "pretrain").total, clean)
    assert not torch.allclose(clean, expected)
    with pytest.raises(ValueError, match="pretrain_augmentation=True needs an augmentation"):
        _model(pretrain_augmentation=True)


def test_joint_augmentation_computes_the_head_loss_on_the_view():
    model = _model(augmentation=_Flip(), joint_augmentation=True, reconstruction_weight=0.5)
    x, index = torch.rand(32, 8), torch.arange(32)
    model.initialize_head(x)  # the head's targets come from the clean data
    model.train()
    augmented = model.compute_loss({"x": x, "index": index})
    model.eval()  # evaluation sees the batch as given: feed it the view by hand
    by_hand = model.compute_loss({"x": x.flip(1), "index": index})
    clean = model.compute_loss({"x": x, "index": index})
    for name in ("kl", "reconstruction"):
        assert torch.allclose(augmented.components[name], by_hand.components[name])
    assert not torch.allclose(augmented.total, clean.total)
    with pytest.raises(ValueError, match="joint_augmentation=True needs an augmentation"):
        _model(joint_augmentation=True)
    from pyagc.clusters import ContrastiveClusterHead

    with pytest.raises(ValueError, match="joint_augmentation=True has no effect on ContrastiveClusterHead"):
        ClusteringModule(
            MLPAutoencoder(8, hidden_dims=[16], latent_dim=4),
            ContrastiveClusterHead(2, 4),
            augmentation=_Flip(),
            joint_augmentation=True,
        )


def test_reconstruction_weight_adds_a_term_for_heads_without_one():
    model = _model(reconstruction_weight=0.5)
    x = torch.rand(16, 8)
    model.initialize_head(x)
    out = model.compute_loss({"x": x, "index": torch.arange(16)})
    assert set(out.components) == {"kl", "reconstruction"}
    assert torch.isclose(out.total, out.components["kl"] + 0.5 * out.components["reconstruction"])


def test_build_optimizer_uses_fused_kernels_and_names_valid_ones():
    params = [torch.nn.Parameter(torch.zeros(3))]
    opt = build_optimizer(params, {"name": "adam", "lr": 0.1})
    assert opt.defaults["fused"] is True and opt.defaults["lr"] == 0.1
    assert build_optimizer(params, {"name": "sgd", "lr": 0.1, "fused": False}).defaults["fused"] is False
    with pytest.raises(ValueError, match="valid: \\['adam', 'adamw', 'sgd'\\]"):
        build_optimizer(params, {"name": "lbfgs"})


def test_pretraining_needs_an_autoencoder():
    from pyagc.encoders import GCN

    with pytest.raises(ValueError, match="needs an autoencoder"):
        ClusteringModule(GCN(4, 8, 2), DECClusterHead(2, 2), pretrain_epochs=3)


def test_head_is_initialised_when_training_ends_without_a_joint_phase():
    import pytorch_lightning as pl

    from pyagc.clusters import KMeansClusterHead
    from pyagc.data import TabularDataModule

    pl.seed_everything(0)
    dm = TabularDataModule("iris", scaling="standard", batch_size=50)
    model = ClusteringModule(
        MLPAutoencoder(4, hidden_dims=(16,), latent_dim=2), KMeansClusterHead(3, 2), pretrain_epochs=2, epochs=0
    )
    pl.Trainer(
        max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    ).fit(model, datamodule=dm)
    assert model.cluster_head.is_initialized and int(model.joint_steps) == 0
    labels = model.infer_full(dm)
    assert set(labels.tolist()) == {0, 1, 2}  # k-means on the pretrained embeddings, not all-zero centres


def test_lr_schedule_decays_the_joint_learning_rate_per_joint_epoch():
    import pytorch_lightning as pl

    from pyagc.clusters import KMeansClusterHead
    from pyagc.data import TabularDataModule

    pl.seed_everything(0)
    dm = TabularDataModule("iris", scaling="standard", batch_size=50)
    model = ClusteringModule(
        MLPAutoencoder(4, hidden_dims=(16,), latent_dim=2),
        KMeansClusterHead(3, 2),
        pretrain_epochs=2,
        epochs=4,
        optimizer={"name": "adam", "lr": 0.1},
        lr_schedule={"name": "step", "step_size": 2, "gamma": 0.5},
    )
    pl.Trainer(
        max_epochs=6, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    ).fit(model, datamodule=dm)
    pre, joint = model.optimizers()
    assert pre.param_groups[0]["lr"] == 0.001  # pretraining untouched
    assert joint.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**2)  # 4 joint epochs, halved every 2
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        ClusteringModule(MLPAutoencoder(4), KMeansClusterHead(3, 10), lr_schedule={"name": "poly"})


def test_epoch_losses_are_logged_once_per_epoch_or_strided_for_one_step_epochs(tmp_path):
    import csv

    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger
    from torch_geometric.datasets import KarateClub

    from pyagc.clusters import DMoNClusterHead
    from pyagc.data import GraphDataModule
    from pyagc.encoders import GCN

    pl.seed_everything(0)
    dm = GraphDataModule(name=None, data=KarateClub()[0])  # full batch: one step per epoch
    model = ClusteringModule(GCN(34, 16, 8, num_layers=1), DMoNClusterHead(4, 8), epochs=25)
    logger = CSVLogger(tmp_path, name="run")
    pl.Trainer(
        max_epochs=25,
        logger=logger,
        log_every_n_steps=10,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    rows = list(csv.DictReader(open(logger.log_dir + "/metrics.csv")))
    epochs = sorted({int(r["epoch"]) for r in rows if r.get("joint/loss_epoch")})
    assert epochs == [9, 19, 24]  # every ceil(10 / 1) epochs and the phase's last epoch
    last = next(r for r in rows if r.get("joint/loss_epoch") and int(r["epoch"]) == 24)
    total = float(last["joint/loss_epoch"])
    parts = float(last["joint/spectral"]) + float(last["joint/collapse"])  # collapse weight 1.0
    assert abs(total - parts) < 1e-5
    assert any(r.get("joint/loss_step") for r in rows)


def test_final_reclustering_refits_the_head_to_the_trained_embedding():
    import pytorch_lightning as pl

    from pyagc.clusters import DMoNClusterHead
    from pyagc.data import TabularDataModule

    def fit(final: bool) -> tuple[ClusteringModule, TabularDataModule]:
        pl.seed_everything(0)
        dm = TabularDataModule("iris", scaling="standard", batch_size=50)
        model = ClusteringModule(
            MLPAutoencoder(4, hidden_dims=(16,), latent_dim=2),
            DECClusterHead(3, 2, seed=0),
            pretrain_epochs=2,
            epochs=3,
            optimizer={"name": "adam", "lr": 0.05},
            final_reclustering=final,
        )
        pl.Trainer(
            max_epochs=5,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        ).fit(model, datamodule=dm)
        return model, dm

    for final in (False, True):
        model, dm = fit(final)
        fresh = DECClusterHead(3, 2, seed=0)
        fresh.initialize(model.embed(dm))  # k-means on the embedding where training ended
        refitted = torch.allclose(fresh.centers, model.cluster_head.centers, atol=1e-5)
        assert refitted == final  # DEC's own centres moved away from k-means; reclustering puts them back
        assert (model.phase_times["recluster"] > 0) == final
        assert int(model.joint_steps) == 9
    with pytest.raises(ValueError, match="final_reclustering"):
        ClusteringModule(MLPAutoencoder(4, latent_dim=2), DMoNClusterHead(3, 2), final_reclustering=True)


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_gradient_clip_bounds_the_step_with_fused_optimizers(precision, one_thread):
    import pytorch_lightning as pl

    from pyagc.data import TabularDataModule

    torch.manual_seed(0)
    dm = TabularDataModule("digits", scaling="none", batch_size=64)  # raw pixels 0..16: large gradients
    enc = MLPAutoencoder(64, hidden_dims=(16,), latent_dim=2)
    # plain SGD with lr 1: the parameter change of one step is the (clipped) gradient itself
    model = ClusteringModule(
        enc,
        DECClusterHead(2, 2),
        pretrain_epochs=1,
        epochs=0,
        gradient_clip=1e-3,
        pretrain_optimizer={"name": "sgd", "lr": 1.0},
    )
    before = torch.cat([p.detach().flatten().clone() for p in enc.parameters()])
    pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        precision=precision,
        limit_train_batches=1,
    ).fit(model, datamodule=dm)
    step = torch.cat([p.detach().flatten() for p in enc.parameters()]) - before
    assert 0 < float(step.norm()) <= 1e-3 * 1.01


def test_bce_reconstruction_loss_is_the_bernoulli_likelihood_and_checks_ranges():
    enc = MLPAutoencoder(6, hidden_dims=(8,), latent_dim=2, output_activation="sigmoid")
    model = ClusteringModule(enc, DECClusterHead(2, 2), reconstruction_loss="bce")
    x = torch.tensor([[0.0, 1.0, 0.5, 0.2, 0.9, 1.0]])
    x_hat = torch.tensor([[0.1, 0.8, 0.5, 0.3, 0.6, 0.99]])
    expected = -(x * x_hat.log() + (1 - x) * (1 - x_hat).log()).mean()
    assert torch.allclose(model.reconstruction_loss(x, x_hat), expected, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # computed in float32 even under autocast
        assert model.reconstruction_loss(x, x_hat.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="inputs in \\[0, 1\\]"):
        model.reconstruction_loss(x * 3, x_hat)
    with pytest.raises(ValueError, match="sigmoid"):
        model.reconstruction_loss(x, x_hat * 2)
    with pytest.raises(ValueError, match="reconstruction_loss"):
        ClusteringModule(enc, DECClusterHead(2, 2), reconstruction_loss="l1")
    loss = model.compute_loss({"x": torch.rand(4, 6)}, "pretrain").total  # the pretraining loss uses it
    assert torch.isfinite(loss) and loss > 0


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_bf16_instructions_warns(monkeypatch, native):
    """A real fit in bf16-mixed on the CPU warns exactly when the CPU lacks bfloat16 instructions."""
    import warnings

    import pytorch_lightning as pl

    import pyagc.utils.accelerator as accelerator
    from pyagc.data import TabularDataModule

    monkeypatch.setattr(accelerator, "cpu_has_native_bf16", lambda: native)
    torch.manual_seed(0)
    model = ClusteringModule(
        MLPAutoencoder(4, hidden_dims=[16], latent_dim=2), DECClusterHead(3, 2), pretrain_epochs=1, epochs=1
    )
    dm = TabularDataModule("iris", scaling="standard", batch_size=50)
    trainer = pl.Trainer(
        accelerator="cpu",
        precision="bf16-mixed",
        fast_dev_run=True,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(model, datamodule=dm)
    slow = [w for w in caught if "without bfloat16 instructions" in str(w.message)]
    assert len(slow) == (0 if native else 1)
    if not native:
        assert "trainer.precision=32-true" in str(slow[0].message)
    assert accelerator.slow_cpu_precision_message("cpu", "32-true") is None
    assert accelerator.slow_cpu_precision_message("cuda", "bf16-mixed") is None
