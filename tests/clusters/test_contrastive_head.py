"""Contrastive Clustering head (Li et al. 2021), image/tabular augmentations and the two-view plumbing."""

import math

import pytest
import pytorch_lightning as pl
import torch

from pyagc.augmentations import GaussianNoise, ImageAugmentation, RandomFeatureMasking, TabularAugmentation
from pyagc.augmentations.images import hsv_to_rgb, rgb_to_hsv
from pyagc.clusters import BaseClusterHead, ContrastiveClusterHead
from pyagc.clusters.contrastive import assignment_entropy, cluster_contrastive_loss, merge_columns, nt_xent
from pyagc.data import TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModule
from pyagc.models.clustering_module import validate_pairing

pytestmark = pytest.mark.usefixtures("one_thread")


def hand_nt_xent(a: list[list[float]], b: list[list[float]], tau: float) -> float:
    """NT-Xent written out element by element (the paper's eq. 2-3)."""

    def unit(v):
        n = math.sqrt(sum(t * t for t in v))
        return [t / n if n > 0 else 0.0 for t in v]

    def s(u, v):
        return sum(p * q for p, q in zip(unit(u), unit(v)))

    m, total = len(a), 0.0
    for view, other in ((a, b), (b, a)):
        for i in range(m):
            denom = sum(math.exp(s(view[i], view[j]) / tau) for j in range(m) if j != i)
            denom += sum(math.exp(s(view[i], other[j]) / tau) for j in range(m))
            total += -math.log(math.exp(s(view[i], other[i]) / tau) / denom)
    return total / (2 * m)


# ---------------------------------------------------------------- losses by hand
def test_nt_xent_matches_a_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # identical orthogonal views: every anchor has similarity 1 with its positive, 0 with both negatives
    assert float(nt_xent(a, a.clone(), 0.5)) == pytest.approx(math.log(1 + 2 * math.exp(-2.0)), abs=1e-6)
    a = [[1.0, 2.0], [0.5, -1.0], [-1.0, 0.3]]
    b = [[0.8, 2.5], [1.0, -0.2], [-0.4, 0.9]]
    got = float(nt_xent(torch.tensor(a), torch.tensor(b), 0.5))
    assert got == pytest.approx(hand_nt_xent(a, b, 0.5), abs=1e-5)


def test_cluster_contrastive_loss_contrasts_columns_by_hand():
    # K=2 clusters, N=3 samples: columns (1,1,0) and (0,0,1) are orthogonal and equal across views
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert float(cluster_contrastive_loss(p, p.clone(), 1.0)) == pytest.approx(
        math.log(1 + 2 * math.exp(-1.0)), abs=1e-6
    )
    pa = [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]
    pb = [[0.7, 0.3], [0.4, 0.6], [0.5, 0.5]]
    cols = lambda m: [[row[k] for row in m] for k in range(2)]  # noqa: E731
    got = float(cluster_contrastive_loss(torch.tensor(pa), torch.tensor(pb), 1.0))
    assert got == pytest.approx(hand_nt_xent(cols(pa), cols(pb), 1.0), abs=1e-5)


def test_entropy_of_the_assignment_marginal_by_hand():
    p = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    h = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert float(assignment_entropy(p)) == pytest.approx(h, abs=1e-6)
    assert float(assignment_entropy(torch.tensor([[1.0, 0.0]] * 4))) == pytest.approx(0.0, abs=1e-6)


def test_entropy_is_subtracted_so_a_collapsed_assignment_costs_more():
    collapsed = torch.tensor([[1.0, 0.0]] * 4)
    balanced = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])

    def cluster_level(p):  # L_clu = L_clu' - H(Y), H(Y) summed over the two views
        return float(cluster_contrastive_loss(p, p, 1.0) - 2 * assignment_entropy(p))

    assert cluster_level(collapsed) > cluster_level(balanced) + 1.0

    torch.manual_seed(0)
    head = ContrastiveClusterHead(2, n_features=3, instance_dim=4, hidden_dim=5)
    z_a, z_b = torch.randn(6, 3), torch.randn(6, 3)
    with torch.no_grad():
        out = head(z_a, views=(z_a, z_b))
    c = out.components
    assert float(out.total) == pytest.approx(float(c["instance"] + c["cluster"] - c["entropy"]), abs=1e-6)
    p_a, p_b = head.cluster(z_a, soft=True), head.cluster(z_b, soft=True)
    assert float(c["entropy"]) == pytest.approx(float(assignment_entropy(p_a) + assignment_entropy(p_b)), abs=1e-6)
    assert float(c["instance"]) == pytest.approx(
        float(nt_xent(head.instance_features(z_a).detach(), head.instance_features(z_b).detach(), 0.5)), abs=1e-6
    )


# ---------------------------------------------------------------- gradients, cluster(), dtypes
def test_gradients_reach_both_projections_and_the_embeddings():
    torch.manual_seed(0)
    head = ContrastiveClusterHead(3, n_features=4, instance_dim=5)
    z_a = torch.randn(8, 4, requires_grad=True)
    z_b = torch.randn(8, 4, requires_grad=True)
    out = head(z_a, views=(z_a, z_b))
    out.total.backward()
    for module in (head.instance_projection, head.cluster_projection):
        for param in module.parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0
    assert z_a.grad.abs().sum() > 0 and z_b.grad.abs().sum() > 0

    # the instance term does not touch the cluster projection, nor the cluster terms the instance projection
    head.zero_grad(set_to_none=True)
    out = head(z_a, views=(z_a, z_b))
    out.components["instance"].backward()
    assert all(p.grad is None for p in head.cluster_projection.parameters())
    head.zero_grad(set_to_none=True)
    out = head(z_a, views=(z_a, z_b))
    (out.components["cluster"] - out.components["entropy"]).backward()
    assert all(p.grad is None for p in head.instance_projection.parameters())


def test_cluster_shapes_rows_and_no_gradient():
    torch.manual_seed(0)
    head = ContrastiveClusterHead(4, n_features=6)
    z = torch.randn(10, 6, requires_grad=True)
    labels, soft = head.cluster(z), head.cluster(z, soft=True)
    assert labels.shape == (10,) and labels.dtype == torch.int64 and 0 <= labels.min() and labels.max() < 4
    assert soft.shape == (10, 4) and soft.dtype == torch.float32 and not soft.requires_grad
    assert torch.allclose(soft.sum(1), torch.ones(10), atol=1e-6)
    assert torch.equal(soft.argmax(1), labels)
    low = head.cluster(z.bfloat16())
    assert low.shape == (10,) and low.dtype == torch.int64


def test_bf16_autocast_and_checkpoint_round_trip():
    torch.manual_seed(0)
    head = ContrastiveClusterHead(3, n_features=4)
    z_a, z_b = torch.randn(8, 4), torch.randn(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(z_a, views=(z_a, z_b))
    assert out.total.dtype == torch.float32 and torch.isfinite(out.total)
    fresh = ContrastiveClusterHead(3, n_features=4)
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.cluster(z_a, soft=True), head.cluster(z_a, soft=True))


def test_bad_input_gives_clear_errors():
    head = ContrastiveClusterHead(2, n_features=3)
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="two augmented views"):
        head(z)
    with pytest.raises(ValueError, match="pair"):
        head(z, views=(z, z, z))
    with pytest.raises(ValueError, match="same shape"):
        head(z, views=(z, z[:3]))
    with pytest.raises(ValueError, match="built for 3-dimensional"):
        head(z, views=(z, torch.randn(4, 5)))
    with pytest.raises(FloatingPointError, match="NaN"):
        head(z, views=(z, torch.full((4, 3), float("nan"))))
    with pytest.raises(ValueError, match="temperatures"):
        ContrastiveClusterHead(2, 3, tau_i=0.0)
    with pytest.raises(ValueError, match="at least 2"):
        ContrastiveClusterHead(1, 3)
    # no augmentation in the module and no views in the batch
    model = ClusteringModule(MLPAutoencoder(6, [8], 3), ContrastiveClusterHead(2, 3), pretrain_epochs=0)
    with pytest.raises(ValueError, match="no augmentation"):
        model({"x": torch.rand(5, 6)})
    model = ClusteringModule(MLPAutoencoder(64, [8], 3), ContrastiveClusterHead(2, 3), pretrain_epochs=0)
    with pytest.raises(ValueError, match="no augmentation"):  # before training, from the DataModule
        validate_pairing(model, TabularDataModule("digits", scaling="minmax", limit=20))
    # image augmentation on flat features fails before training
    model = ClusteringModule(
        MLPAutoencoder(64, [8], 3), ContrastiveClusterHead(2, 3), pretrain_epochs=0, augmentation=ImageAugmentation()
    )
    with pytest.raises(ValueError, match="TabularAugmentation"):
        validate_pairing(model, TabularDataModule("digits", scaling="minmax", limit=20))
    with pytest.raises(ValueError, match="crop_scale"):
        ImageAugmentation(crop_scale=(0.9, 0.2))
    with pytest.raises(ValueError, match="masking probability"):
        TabularAugmentation(mask_p=1.0)


def test_module_passes_the_views_embeddings_to_the_head():
    seen = {}

    class Spy(ContrastiveClusterHead):
        def forward(self, z, views=None, **context):
            seen.update(z=z, views=views, x=context.get("x"))
            return super().forward(z, views=views, **context)

    torch.manual_seed(0)
    encoder = MLPAutoencoder(6, [8], 3)
    model = ClusteringModule(encoder, Spy(2, 3), pretrain_epochs=0, augmentation=TabularAugmentation(0.5, 0.0))
    x = torch.rand(5, 6)
    model({"x": x})
    z1, z2 = seen["views"]
    assert seen["z"] is z1 and torch.equal(seen["x"], x) and not torch.allclose(z1, z2)
    assert not torch.allclose(z1, encoder(x))  # views, not the clean batch
    # a batch that carries its own input views needs no augmentation
    model = ClusteringModule(encoder, Spy(2, 3), pretrain_epochs=0)
    v1, v2 = torch.rand(5, 6), torch.rand(5, 6)
    model({"x": x, "views": (v1, v2)})
    assert torch.allclose(seen["views"][0], encoder(v1)) and torch.allclose(seen["views"][1], encoder(v2))
    assert BaseClusterHead.uses_views is False and ContrastiveClusterHead.uses_views is True


# ---------------------------------------------------------------- augmentations
def test_image_augmentation_keeps_shape_dtype_and_is_seeded_per_image():
    x = torch.rand(1, 1, 28, 28).repeat(6, 1, 1, 1)
    aug = ImageAugmentation(crop_scale=(0.3, 1.0))
    torch.manual_seed(0)
    v1 = aug(x)
    torch.manual_seed(0)
    v2 = aug(x)
    assert v1.shape == x.shape and v1.dtype == x.dtype and torch.equal(v1, v2)
    assert not torch.allclose(v1[0], v1[1])  # every image gets its own crop
    assert not torch.allclose(aug(x), v1)  # and every call new ones
    assert aug(x.double()).dtype == torch.float64
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(ImageAugmentation(generator=g1)(x), ImageAugmentation(generator=g2)(x))


def test_full_crop_is_the_identity_and_flip_mirrors():
    x = torch.rand(8, 1, 16, 16)
    keep = ImageAugmentation(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), jitter_p=0.0)
    assert torch.allclose(keep(x), x, atol=1e-5)
    flip = ImageAugmentation(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), horizontal_flip=True, jitter_p=0.0)
    torch.manual_seed(1)
    out = flip(x)
    flipped = [bool(torch.allclose(o, xi.flip(-1), atol=1e-5)) for o, xi in zip(out, x)]
    same = [bool(torch.allclose(o, xi, atol=1e-5)) for o, xi in zip(out, x)]
    assert all(f or s for f, s in zip(flipped, same)) and any(flipped) and any(same)


def test_colour_jitter_on_rgb_and_intensity_jitter_on_single_channel():
    torch.manual_seed(0)
    rgb = torch.rand(5, 3, 12, 12)
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-5)
    full = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))
    gray = ImageAugmentation(**full, jitter_p=0.0, grayscale_p=1.0)(rgb)
    assert torch.allclose(gray[:, 0], gray[:, 1]) and torch.allclose(gray[:, 1], gray[:, 2])
    jit = ImageAugmentation(**full, jitter_p=1.0, grayscale_p=0.0)(rgb)
    assert jit.shape == rgb.shape and 0.0 <= float(jit.min()) and float(jit.max()) <= 1.0
    assert not torch.allclose(jit, rgb, atol=1e-3)
    # single-channel images: brightness / contrast jitter only (saturation, hue, grayscale are no-ops)
    mono = torch.rand(4, 1, 12, 12)
    assert torch.allclose(ImageAugmentation(**full, jitter_p=0.0, grayscale_p=1.0)(mono), mono, atol=1e-5)
    assert torch.allclose(
        ImageAugmentation(**full, brightness=0.0, contrast=0.0, jitter_p=1.0, grayscale_p=1.0)(mono), mono, atol=1e-5
    )
    torch.manual_seed(0)
    bright = ImageAugmentation(**full, brightness=0.5, contrast=0.0, jitter_p=1.0)(mono)
    ratio = bright / mono  # one brightness factor per image, clamped at 1
    unclamped = bright < 1.0
    for i in range(4):
        f = ratio[i][unclamped[i]]
        assert float(f.std()) < 1e-4 and 0.5 - 1e-4 <= float(f.mean()) <= 1.5 + 1e-4
    assert not torch.allclose(bright, mono, atol=1e-3)
    standardised = (mono - mono.mean()) / mono.std()  # the jitter would clip these: refused, not mangled
    with pytest.raises(ValueError, match=r"\[0, 1\].*data.scaling"):
        ImageAugmentation(**full)(standardised)
    assert torch.allclose(
        ImageAugmentation(**full, jitter_p=0.0, grayscale_p=0.0)(standardised), standardised, atol=1e-5
    )
    contrast = ImageAugmentation(**full, brightness=0.0, contrast=0.5, jitter_p=1.0)(mono)
    assert torch.allclose(contrast.mean(dim=(1, 2, 3)), mono.mean(dim=(1, 2, 3)), atol=0.05)
    assert float(contrast.min()) >= 0.0 and float(contrast.max()) <= 1.0


def test_tabular_augmentations_rates_shapes_and_seeds():
    x = torch.ones(200, 50)
    torch.manual_seed(0)
    masked = RandomFeatureMasking(0.3)(x)
    assert abs(float((masked == 0).float().mean()) - 0.3) < 0.02 and masked.shape == x.shape
    noisy = GaussianNoise(0.2)(torch.zeros(200, 50))
    assert abs(float(noisy.std()) - 0.2) < 0.01 and noisy.dtype == torch.float32
    aug = TabularAugmentation(0.1, 0.2)
    torch.manual_seed(5)
    a = aug(x)
    torch.manual_seed(5)
    assert torch.equal(a, aug(x)) and not torch.equal(a, aug(x))
    assert aug(x.double()).dtype == torch.float64
    with pytest.raises(ValueError, match=r"\(N, F\)"):
        aug(torch.ones(5))


# ---------------------------------------------------------------- end to end
def test_end_to_end_on_digits_with_tabular_views(tmp_path):
    pl.seed_everything(0, workers=False)
    dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=0)
    head = ContrastiveClusterHead(10, n_features=32, instance_dim=32)
    model = ClusteringModule(
        MLPAutoencoder(64, [128], 32),
        head,
        pretrain_epochs=0,
        epochs=2,
        optimizer={"name": "adam", "lr": 3e-4},
        augmentation=TabularAugmentation(0.1, 0.2),
    )
    pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    labels = model.infer_full(dm)
    assert labels.shape == (1797,) and labels.dtype == torch.int64 and labels.max() < 10
    assert int(model.joint_steps) == 2 * math.ceil(1797 / 256)
    soft = model.infer_full(dm, soft=True)
    assert torch.allclose(soft.sum(1), torch.ones(1797), atol=1e-5)
    assert len(labels.unique()) >= 2  # the entropy term keeps the assignments from collapsing


def test_merge_columns_joins_the_two_halves_of_a_split_cluster():
    # three clusters, the first split over columns 0 and 3: samples of cluster 0 hesitate between the two halves,
    # every other column is confident; the merge must join exactly columns 0 and 3
    torch.manual_seed(0)
    rows = []
    for _ in range(30):
        a = float(torch.rand(()) * 0.6 + 0.2)
        rows.append([a, 0.0, 0.0, 1 - a])  # a zero, torn between its two halves
    rows += [[0.02, 0.96, 0.02, 0.0]] * 20 + [[0.0, 0.03, 0.97, 0.0]] * 20
    p = torch.tensor(rows)
    mapping = merge_columns(p, 3)
    assert mapping.tolist() == [0, 1, 2, 0]
    assert merge_columns(p, 4).tolist() == [0, 1, 2, 3]  # nothing to merge
    assert merge_columns(p, 1).tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="cannot merge 4 columns into 5"):
        merge_columns(p, 5)
    # a large confident class (column 1) that also takes a little mass everywhere is not what gets merged:
    # the confusion is per cluster member, not per column mass
    diffuse = torch.tensor(rows) * 0.9 + torch.tensor([0.0, 0.1, 0.0, 0.0])
    assert merge_columns(diffuse, 3).tolist() == [0, 1, 2, 0]
    # a dead column (no sample's largest) goes first, into the group whose samples give it the most probability
    dead = torch.cat([p, torch.zeros(len(p), 1)], dim=1)
    dead[40:, 4] = 0.01  # half of column 1's samples and all of column 2's give it a little: column 2 gives most
    assert merge_columns(dead, 4).tolist() == [0, 1, 2, 3, 2]
    assert merge_columns(dead, 3).tolist() == [0, 1, 2, 0, 2]


def test_overclustered_head_merges_after_training_and_keeps_the_merge_in_checkpoints(tmp_path):
    with pytest.raises(ValueError, match="overclusters must be a number of columns larger than n_clusters=10"):
        ContrastiveClusterHead(10, n_features=8, overclusters=10)
    pl.seed_everything(0, workers=False)
    dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=0)
    head = ContrastiveClusterHead(10, n_features=32, instance_dim=32, overclusters=12)
    assert head.requires_finalization and head.cluster_projection[-1].out_features == 12
    model = ClusteringModule(
        MLPAutoencoder(64, [128], 32),
        head,
        pretrain_epochs=0,
        epochs=2,
        optimizer={"name": "adam", "lr": 3e-4},
        augmentation=TabularAugmentation(0.1, 0.2),
    )
    pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    # finalize ran on the whole training set at the end of training: 12 columns onto exactly 10 clusters
    assert bool(head._merged) and sorted(head.column_to_cluster.unique().tolist()) == list(range(10))
    z = model.embed(dm)
    expected = merge_columns(head.cluster_probabilities(z), 10)
    assert torch.equal(head.column_to_cluster, expected)
    soft = model.infer_full(dm, soft=True)
    assert soft.shape == (1797, 10) and torch.allclose(soft.sum(1), torch.ones(1797), atol=1e-5)
    assert torch.equal(soft.argmax(1), model.infer_full(dm))
    # a merged column's probability is the sum of its columns
    raw = head.cluster_probabilities(z)
    assert torch.allclose(soft, torch.zeros(1797, 10).index_add_(1, head.column_to_cluster, raw), atol=1e-6)
    fresh = ContrastiveClusterHead(10, n_features=32, instance_dim=32, overclusters=12)
    fresh.load_state_dict(head.state_dict())
    assert bool(fresh._merged) and torch.equal(fresh.cluster(z), head.cluster(z))
