"""DipEncoderClusterHead: hand-computed loss, gradients, pairwise-threshold labels, end-to-end, bad input."""

import pytest
import pytorch_lightning as pl
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from pyagc.clusters import DipEncoderClusterHead
from pyagc.data import TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModule, DipEncoder

# 1-D embeddings, axis a = [1]: cluster 0 = 1..10 and cluster 1 = 30..36 are equally spaced (collinear ECDF:
# dip 0, no modal triangle); their union is the 17-point sample whose dip is attained at the modal triangle
# of ranks (9, 10, 16), i.e. the values 10, 30, 36: dip = (1 + |A|) / (2 * 17), A = -1 + 7 * 20 / 26.
A_VALUES = [float(v) for v in range(1, 11)]
B_VALUES = [float(v) for v in range(30, 37)]
UNION_DIP = (1 + abs(-1 + 7 * 20 / 26)) / 34


def hand_made_head(**kw) -> tuple[DipEncoderClusterHead, torch.Tensor]:
    head = DipEncoderClusterHead(2, 1, min_cluster_points=4, **kw)
    z = torch.tensor(A_VALUES[::-1] + B_VALUES).reshape(-1, 1)  # cluster 0 reversed: ranks != rows
    head.projection_axes.data.fill_(1.0)
    head.labels = torch.tensor([0] * 10 + [1] * 7)
    head.mark_initialized()
    return head, z


def test_loss_on_hand_made_example():
    head, z = hand_made_head(reconstruction_weight=2.0)
    x, x_hat = torch.zeros(17, 3), torch.full((17, 3), 0.5)
    z = z.clone().requires_grad_(True)
    out = head(z, index=torch.arange(17), x=x, x_hat=x_hat)
    # one pair: 0.5 * (0 + 0) - dip(union); reconstruction 0.25, weight 2
    assert out.components["dip"].item() == pytest.approx(-UNION_DIP, abs=1e-6)
    assert out.components["reconstruction"].item() == pytest.approx(0.25)
    assert out.total.item() == pytest.approx(-UNION_DIP + 2 * 0.25, abs=1e-6)
    out.total.backward()
    # the gradient reaches exactly the three embeddings of the union's modal triangle (rows of 10, 30, 36)
    rows = {0, 10, 16}  # value 10 is row 0 (cluster 0 reversed), 30 is row 10, 36 is row 16
    nonzero = set(torch.nonzero(z.grad[:, 0]).flatten().tolist())
    assert nonzero == rows
    # d(-dip)/dx_30 = -(7/34) / (36 - 10): pulling 30 up makes the gap wider -> larger dip -> lower loss
    assert z.grad[10, 0].item() == pytest.approx(-(7 / 34) / 26, rel=1e-5)
    assert head.projection_axes.grad is not None and head.projection_axes.grad.abs().sum() > 0


def test_automatic_reconstruction_weight_and_dip_weighting():
    head, z = hand_made_head(dip_weighting=True)
    x = torch.full((17, 4), 0.5)  # mean(x^2) = 0.25 -> lambda = 1 / (4 * 0.25) = 1
    out = head(z, index=torch.arange(17), x=x, x_hat=x.clone())
    assert head.reconstruction_weight.item() == pytest.approx(1.0)
    # the pair's dip is weighted by 4 * (1/4 - dip)
    assert out.components["dip"].item() == pytest.approx(-4 * (0.25 - UNION_DIP) * UNION_DIP, abs=1e-6)
    # the calibration is kept (a buffer: it survives checkpoints)
    head(z, index=torch.arange(17), x=2 * x, x_hat=x)
    assert head.reconstruction_weight.item() == pytest.approx(1.0)


def blobs(n=600, k=4, dim=5, seed=0):
    x, y = make_blobs(n_samples=n, centers=k, n_features=dim, cluster_std=1.0, center_box=(-15, 15), random_state=seed)
    return torch.tensor(x, dtype=torch.float32), y


def test_labels_by_projections_separate_blobs_and_gradients_flow():
    z, y = blobs(k=2)
    head = DipEncoderClusterHead(2, 5, seed=0)
    head.initialize(z)
    head.refresh(z)
    assert adjusted_rand_score(y, head.labels.numpy()) == 1.0
    assert adjusted_rand_score(y, head.cluster(z).numpy()) == 1.0
    z4, y4 = blobs(k=4, seed=3)
    head4 = DipEncoderClusterHead(4, 5, seed=0)
    head4.initialize(z4)
    head4.refresh(z4)
    assert head4.projection_axes.shape == (6, 5)
    assert adjusted_rand_score(y4, head4.cluster(z4).numpy()) > 0.95
    # batch loss: pairs are bimodal -> negative dip loss; gradients reach z and every axis with a pair in the batch
    zb = z4[:256].clone().requires_grad_(True)
    out = head4(zb, index=torch.arange(256), x=torch.rand(256, 3), x_hat=torch.rand(256, 3))
    assert out.components["dip"].item() < -0.05
    out.total.backward()
    assert zb.grad.abs().sum() > 0
    assert (head4.projection_axes.grad.abs().sum(1) > 0).all()


def test_cluster_shapes_soft_rows_and_manual_use_without_index():
    z, _ = blobs(k=3)
    head = DipEncoderClusterHead(3, 5, seed=1)
    head.initialize(z)
    hard, soft = head.cluster(z), head.cluster(z, soft=True)
    assert hard.shape == (600,) and hard.dtype == torch.int64 and hard.min() >= 0 and hard.max() < 3
    assert soft.shape == (600, 3) and torch.allclose(soft.sum(1), torch.ones(600))
    assert torch.equal(soft.argmax(1), hard)
    # without `index` the batch is labelled by the stored thresholds; bf16 autocast keeps the loss in float32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(z[:200].bfloat16(), x=torch.rand(200, 2), x_hat=torch.rand(200, 2))
    assert out.total.dtype == torch.float32 and torch.isfinite(out.total)


def test_checkpoint_round_trip():
    z, _ = blobs(k=3)
    head = DipEncoderClusterHead(3, 5, seed=0)
    head.initialize(z)
    head.refresh(z)
    fresh = DipEncoderClusterHead(3, 5, seed=0)
    fresh.load_state_dict(head.state_dict())
    assert fresh.is_initialized and fresh.labels.shape == (600,)
    assert torch.equal(fresh.cluster(z), head.cluster(z))


def test_end_to_end_on_digits(tmp_path):
    pl.seed_everything(0, verbose=False)
    dm = TabularDataModule("digits", scaling="minmax", batch_size=128, limit=500, seed=0)
    dm.setup()
    model = DipEncoder(
        dm.n_features,
        n_clusters=10,
        hidden_dims=(64,),
        n_features=5,
        pretrain_epochs=3,
        epochs=3,
        update_interval=4,
        n_init=2,
        seed=0,
    )
    trainer = pl.Trainer(
        max_epochs=6,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    head = model.cluster_head
    assert head.is_initialized and head.labels.shape == (500,) and head.last_label_change is not None
    labels = model.infer_full(dm)
    assert labels.shape == (500,) and labels.dtype == torch.int64 and len(torch.unique(labels)) >= 5
    from sklearn.metrics import normalized_mutual_info_score

    assert normalized_mutual_info_score(dm.y.numpy(), labels.numpy()) > 0.3  # 3 + 3 short epochs: a smoke test
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    again = DipEncoder(dm.n_features, n_clusters=10, hidden_dims=(64,), n_features=5, pretrain_epochs=3, epochs=3)
    again.load_state_dict(torch.load(path, weights_only=False)["state_dict"])
    assert torch.equal(again.infer_full(dm), labels)


def test_bad_input():
    head, z = hand_made_head()
    with pytest.raises(ValueError, match="needs the input `x`"):
        head(z)
    with pytest.raises(ValueError, match="built for 1-dimensional"):
        head(torch.zeros(17, 3), x=torch.zeros(17, 2), x_hat=torch.zeros(17, 2))
    with pytest.raises(FloatingPointError, match="NaN"):
        head(torch.full((17, 1), float("nan")), x=torch.zeros(17, 2), x_hat=torch.zeros(17, 2))
    with pytest.raises(IndexError, match="outside the 17 labels"):
        head(z, index=torch.arange(17) + 5, x=torch.zeros(17, 2), x_hat=torch.zeros(17, 2))
    fresh = DipEncoderClusterHead(2, 1)
    with pytest.warns(UserWarning, match="used before initialize"):  # initialises itself from the first z
        assert torch.isfinite(fresh(z, x=torch.zeros(17, 2), x_hat=torch.zeros(17, 2)).total)
    fresh = DipEncoderClusterHead(2, 1)
    with pytest.raises(ValueError, match="larger than the number of samples"):
        DipEncoderClusterHead(5, 1).initialize(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="at least 2"):
        DipEncoderClusterHead(1, 4)
    with pytest.raises(ValueError, match="min_cluster_points"):
        DipEncoderClusterHead(3, 4, min_cluster_points=2)
    with pytest.raises(ValueError, match="update_interval"):
        DipEncoderClusterHead(3, 4, update_interval=0)
    with pytest.raises(ValueError, match=r"takes x_hat \(reconstructions\)"):
        ClusteringModule(torch.nn.Linear(4, 2), DipEncoderClusterHead(2, 2))
    enc = MLPAutoencoder(4, hidden_dims=[8], latent_dim=2)
    assert ClusteringModule(enc, DipEncoderClusterHead(2, 2)).cluster_head.n_pairs == 1
