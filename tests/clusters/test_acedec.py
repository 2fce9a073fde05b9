"""ACe/DeC head: hand-computed loss and centre update, orthogonal V, gradients, assignments, the learned
split on synthetic data, an end-to-end run on digits, checkpoints, bf16 and bad input."""

import math

import pytest
import pytorch_lightning as pl
import torch
from sklearn.metrics import adjusted_rand_score

from pyagc.clusters import ACeDeCClusterHead, LossOutput
from pyagc.data import TabularDataModule
from pyagc.models import ACeDeC, ClusteringModule


def hand_head() -> ACeDeCClusterHead:
    """d=2, K=2, V = identity, beta^cs = (0.9, 0.2): dimension 0 is the clustered space."""
    head = ACeDeCClusterHead(2, 2, count_momentum=0.5)
    head.set_rotation(torch.eye(2))
    head.set_beta(torch.tensor([0.9, 0.2]))
    head.centers.copy_(torch.tensor([[0.0, 0.0], [4.0, 0.0]]))
    head.shared_center.copy_(torch.tensor([2.0, 1.0]))
    head.mark_initialized()
    return head


Z = torch.tensor([[1.0, 2.0], [3.0, -1.0]])
X = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
X_HAT = torch.tensor([[0.5, 0.0, 0.0], [0.0, 1.0, 1.0]])


def test_loss_on_hand_made_example():
    head = hand_head().eval()
    out = head(Z, x=X, x_hat=X_HAT)
    assert isinstance(out, LossOutput)
    # weights beta^2: clustered (0.81, 0.04), shared (0.01, 0.64)
    # z1=(1,2): to mu1 0.81*1+0.04*4=0.97, to mu2 0.81*9+0.04*4=7.45 -> mu1
    # z2=(3,-1): to mu1 0.81*9+0.04*1=7.33, to mu2 0.81*1+0.04*1=0.85 -> mu2
    cluster_space = (0.97 + 0.85) / 2
    # shared centre (2,1): z1-(2,1)=(-1,1) -> 0.01+0.64=0.65; z2-(2,1)=(1,-2) -> 0.01+0.64*4=2.57
    shared_space = (0.65 + 2.57) / 2
    reconstruction = (0.25 + 1.0) / 2  # per-sample sums of squared errors, batch mean
    assert out.components["cluster_space"].item() == pytest.approx(cluster_space, abs=1e-5)
    assert out.components["shared_space"].item() == pytest.approx(shared_space, abs=1e-5)
    assert out.components["reconstruction"].item() == pytest.approx(reconstruction, abs=1e-6)
    assert out.total.item() == pytest.approx(reconstruction + 0.5 * (cluster_space + shared_space), abs=1e-5)
    # eval mode: centres untouched
    assert torch.equal(head.centers, torch.tensor([[0.0, 0.0], [4.0, 0.0]]))


def test_minibatch_centre_update_by_hand():
    head = hand_head().train()
    head(Z, x=X, x_hat=X_HAT)
    # one point per centre: count average 0.5*1 + 0.5*0 = 0.5 -> step 1/(1+0.5) = 2/3
    expected = torch.tensor([[2 / 3, 4 / 3], [10 / 3, -2 / 3]])  # (1-2/3)*mu + 2/3*z
    assert torch.allclose(head.centers, expected, atol=1e-6)
    assert torch.allclose(head.center_counts, torch.tensor([0.5, 0.5]))
    # shared centre: 0.5*(2,1) + 0.5*mean((1,2),(3,-1)) = (2, 0.75)
    assert torch.allclose(head.shared_center, torch.tensor([2.0, 0.75]))


def test_refit_is_a_lloyd_step_in_the_weighted_clustered_space():
    head = hand_head()
    head.refit_iterations = 1
    # beta-weighted nearest centres: (1,2), (0,5) -> mu1 (dimension 1 barely counts); (3,-1), (5,0) -> mu2
    z = torch.tensor([[1.0, 2.0], [0.0, 5.0], [3.0, -1.0], [5.0, 0.0]])
    head.refresh(z)
    assert torch.allclose(head.centers, torch.tensor([[0.5, 3.5], [4.0, -0.5]]))
    assert torch.allclose(head.shared_center, z.mean(0))
    # a centre that gets no point keeps its place
    head.centers.copy_(torch.tensor([[0.0, 0.0], [100.0, 0.0]]))
    head.refresh(z)
    assert torch.allclose(head.centers[1], torch.tensor([100.0, 0.0]))
    assert torch.allclose(head.centers[0], z.mean(0))
    # the module calls it every refit_interval steps
    assert ACeDeCClusterHead(3, 4, refit_interval=8).refresh_interval == 8
    assert ACeDeCClusterHead(3, 4).refresh_interval is None
    with pytest.raises(ValueError, match="refit_interval"):
        ACeDeCClusterHead(3, 4, refit_interval=0)


def test_cluster_uses_the_clustered_space():
    head = hand_head()
    labels = head.cluster(Z)
    assert labels.dtype == torch.int64 and labels.tolist() == [0, 1]
    soft = head.cluster(Z, soft=True)
    # clustered space = dimension 0 only: squared distances (1, 9) and (9, 1)
    p = 1 / (1 + math.exp(-8))
    assert soft.dtype == torch.float32 and soft.shape == (2, 2)
    assert torch.allclose(soft, torch.tensor([[p, 1 - p], [1 - p, p]]), atol=1e-6)
    split = head.split_spaces(Z)
    assert split.cluster_dims.tolist() == [0] and split.shared_dims.tolist() == [1]
    assert torch.equal(split.clustered, Z[:, :1]) and torch.equal(split.shared, Z[:, 1:])
    assert torch.allclose(split.beta_cluster, torch.tensor([0.9, 0.2]))


def blobs_with_noise(n_per: int = 100, seed: int = 0, rotate: bool = True):
    """3 clusters in 2 dimensions, 4 dimensions of wider Gaussian noise, optionally rotated."""
    g = torch.Generator().manual_seed(seed)
    means = torch.tensor([[0.0, 0.0], [6.0, 0.0], [3.0, 6.0]])
    y = torch.arange(3).repeat_interleave(n_per)
    signal = means[y] + 0.5 * torch.randn(3 * n_per, 2, generator=g)
    noise = 2.0 * torch.randn(3 * n_per, 4, generator=g)
    z = torch.cat([signal, noise], 1)
    q = torch.linalg.qr(torch.randn(6, 6, generator=g))[0] if rotate else torch.eye(6)
    return z @ q.T, y, q


def test_initialization_finds_the_cluster_subspace():
    z, y, q = blobs_with_noise()
    head = ACeDeCClusterHead(3, 6, n_init=3)
    head.initialize(z)
    split = head.split_spaces(z)
    assert split.cluster_dims.numel() == 2
    # the clustered-space directions V[:, dims] lie in the true signal subspace span(q[:, :2])
    basis = head.rotation.detach()[:, split.cluster_dims]
    inside = (q[:, :2].T @ basis).norm(dim=0)
    assert torch.all(inside > 0.99), inside
    assert adjusted_rand_score(y.numpy(), head.cluster(z).numpy()) > 0.99


def test_beta_learns_which_dimensions_carry_clusters():
    z, y, _ = blobs_with_noise(rotate=False)
    head = ACeDeCClusterHead(3, 6)
    head.initialize(z)
    # forget what the closed-form initialisation knew: uniform beta, identity rotation
    head.set_beta(torch.full((6,), 0.5))
    head.set_rotation(torch.eye(6))
    head.centers.copy_(torch.stack([z[y == k].mean(0) for k in range(3)]) + 0.3)
    head.shared_center.copy_(z.mean(0))
    opt = torch.optim.Adam(head.parameters(), lr=1e-3)
    x = torch.zeros(len(z), 1)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        idx = torch.randperm(len(z), generator=g)[:64]
        loss = head(z[idx], x=x[idx], x_hat=x[idx]).total
        opt.zero_grad()
        loss.backward()
        opt.step()
    beta = head.beta_cluster.detach()
    assert torch.all(beta[:2] > 0.7), beta
    assert torch.all((beta[2:] - 0.5).abs() < 0.1), beta
    assert head.cluster_space_mask().tolist() == [True, True, False, False, False, False]
    assert adjusted_rand_score(y.numpy(), head.cluster(z).numpy()) > 0.99


def test_rotation_stays_orthogonal_and_gradients_flow():
    z, _, _ = blobs_with_noise(n_per=30)
    head = ACeDeCClusterHead(3, 6)
    head.initialize(z)
    assert {n for n, _ in head.named_parameters()} == {"rotation_skew", "beta_logits"}  # centres are buffers
    enc = torch.nn.Linear(6, 6)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=0.05)
    x = torch.randn(len(z), 3)
    for step in range(30):
        zz = enc(z)
        zz.retain_grad()
        out = head(zz, x=x, x_hat=x * 0.9)
        opt.zero_grad()
        out.total.backward()
        if step == 0:
            assert zz.grad is not None and zz.grad.abs().sum() > 0
            assert head.rotation_skew.grad is not None and head.rotation_skew.grad.abs().sum() > 0
            assert head.beta_logits.grad is not None and head.beta_logits.grad.abs().sum() > 0
        opt.step()
    v = head.rotation.detach()
    assert head.rotation_skew.abs().max() > 1e-3  # V did move
    assert torch.allclose(v.T @ v, torch.eye(6), atol=1e-5)


def test_bf16_autocast_and_checkpoint_round_trip():
    z, _, _ = blobs_with_noise(n_per=20)
    head = ACeDeCClusterHead(3, 6)
    head.initialize(z)
    x = torch.rand(len(z), 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(z.bfloat16(), x=x, x_hat=(x + 0.1).bfloat16())
    assert out.total.dtype == torch.float32 and torch.isfinite(out.total)
    head.rotation_skew.data.normal_(0, 0.1)
    fresh = ACeDeCClusterHead(3, 6)
    fresh.load_state_dict(head.state_dict())
    assert fresh.is_initialized
    assert torch.equal(fresh.cluster(z), head.cluster(z))
    assert torch.allclose(fresh.rotation, head.rotation)
    head.eval(), fresh.eval()
    assert torch.allclose(fresh(z, x=x, x_hat=x).total, head(z, x=x, x_hat=x).total)


def test_end_to_end_on_digits(tmp_path):
    pl.seed_everything(0, verbose=False)
    dm = TabularDataModule("digits", scaling="minmax", batch_size=100, limit=400, seed=0)
    dm.setup()
    kw = dict(in_features=dm.n_features, n_clusters=dm.n_classes, hidden_dims=(64, 64), n_features=10)
    model = ACeDeC(**kw, pretrain_epochs=15, epochs=2, optimizer={"name": "adam", "lr": 1e-3}, n_init=2)
    trainer = pl.Trainer(
        max_epochs=17,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    assert int(model.joint_steps) == 2 * 4
    labels = model.infer_full(dm)
    assert labels.shape == (400,) and labels.dtype == torch.int64
    assert adjusted_rand_score(dm.y.numpy(), labels.numpy()) > 0.25  # chance level is 0
    soft = model.infer_full(dm, soft=True)
    assert soft.shape == (400, 10) and torch.allclose(soft.sum(1), torch.ones(400))
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    restored = ACeDeC(**kw)
    restored.load_state_dict(torch.load(tmp_path / "m.ckpt", weights_only=False)["state_dict"])
    assert torch.equal(restored.infer_full(dm), labels)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="n_clusters"):
        ACeDeCClusterHead(1, 4)
    with pytest.raises(ValueError, match="n_features"):
        ACeDeCClusterHead(3, 0)
    with pytest.raises(ValueError, match="count_momentum"):
        ACeDeCClusterHead(3, 4, count_momentum=0.0)
    with pytest.raises(ValueError, match="shared_space_tolerance"):
        ACeDeCClusterHead(3, 4, shared_space_tolerance=0.6)
    head = ACeDeCClusterHead(3, 2)
    x = torch.zeros(4, 3)
    with pytest.warns(UserWarning, match="used before initialize"):  # initialises itself from the first z
        out = head(torch.randn(4, 2), x=x, x_hat=x)
    assert torch.isfinite(out.total) and head.is_initialized
    head = ACeDeCClusterHead(3, 2)
    with pytest.raises(ValueError, match="more data"):
        head.initialize(torch.randn(2, 2))
    head.initialize(torch.randn(20, 2))
    with pytest.raises(ValueError, match="x_hat"):
        head(torch.randn(4, 2))
    with pytest.raises(ValueError, match="do not match"):
        head(torch.randn(4, 2), x=x, x_hat=torch.zeros(5, 3))
    with pytest.raises(ValueError, match="2-dimensional embeddings"):
        head(torch.randn(4, 3), x=x, x_hat=x)
    with pytest.raises(FloatingPointError, match="NaN"):
        head(torch.tensor([[float("nan"), 0.0]] * 4), x=x, x_hat=x)
    with pytest.raises(ValueError, match="orthogonal"):
        head.set_rotation(torch.tensor([[1.0, 1.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="shape"):
        head.set_beta(torch.tensor([0.5, 0.5, 0.5]))
    with pytest.raises(ValueError, match=r"takes x_hat \(reconstructions\)"):
        ClusteringModule(torch.nn.Linear(3, 2), ACeDeCClusterHead(3, 2))


def test_beta_starts_and_moves_as_the_authors_two_logit_softmax():
    z, _, _ = blobs_with_noise()
    head = ACeDeCClusterHead(3, 6, n_init=3)
    head.initialize(z)
    # by hand: within-cluster (C) and total (S) sums of squares of every rotated dimension, beta = S^2/(S^2+C^2)
    labels = head.cluster(z)  # the k-means partition here (ARI > 0.99 above)
    zr = z.double() @ head.rotation.detach().double()
    means = torch.stack([zr[labels == k].mean(0) for k in range(3)])
    c = (zr - means[labels]).pow(2).sum(0)
    s = (zr - zr.mean(0)).pow(2).sum(0)
    expected = (s**2 / (s**2 + c**2)).clamp(1e-3, 1 - 1e-3)
    assert torch.allclose(head.beta_cluster.double(), expected, atol=1e-4)
    # one Adam step of lr moves logit(beta) by 2 * multiplier * lr (the authors' two logits, each at 10x lr)
    before = torch.logit(head.beta_cluster.detach().double())
    opt = torch.optim.Adam([head.beta_logits], lr=1e-3)
    head.beta_cluster.sum().backward()
    opt.step()
    moved = torch.logit(head.beta_cluster.detach().double()) - before
    assert torch.allclose(moved, torch.full_like(moved, -2 * 10.0 * 1e-3), rtol=1e-2)  # descending sum(beta)
