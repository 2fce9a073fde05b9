"""DeepECTClusterHead: losses on a hand-made tree, growing, pruning, tree cuts, checkpoints, end to end."""

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from pyagc.clusters import DeepECTClusterHead
from pyagc.data import TabularDataModule
from pyagc.encoders import MLPAutoencoder
from pyagc.metrics import dendrogram_purity, external_metrics, leaf_purity
from pyagc.models import ClusteringModule, DeepECT

X0 = torch.zeros(4, 3)  # reconstruction context: x == x_hat, reconstruction 0


def hand_tree(**kw) -> DeepECTClusterHead:
    """root 0 -> (leaf 1 at (0,0), inner 2); 2 -> (leaf 3 at (4,1), leaf 4 at (4,-1)), weights 2, 1, 3."""
    h = DeepECTClusterHead(2, 2, max_leaves=4, **kw)
    with torch.no_grad():
        for node, par in ((1, 0), (2, 0), (3, 2), (4, 2)):
            h.parent[node] = par
        h.left[0], h.right[0], h.left[2], h.right[2] = 1, 2, 3, 4
        h.alive[:5] = True
        h.is_leaf[[1, 3, 4]] = True
        h.split_order[0], h.split_order[2] = 0, 1
        h.n_splits.fill_(2)
        h.centers[1] = torch.tensor([0.0, 0.0])
        h.centers[3] = torch.tensor([4.0, 1.0])
        h.centers[4] = torch.tensor([4.0, -1.0])
        h.weights[[1, 2, 3, 4]] = torch.tensor([2.0, 4.0, 1.0, 3.0])
        h._update_inner_centers()
        h.mark_initialized()
    return h


Z = torch.tensor([[1.0, 1.0], [-1.0, 0.0], [3.0, 2.0], [5.0, -2.0]])  # -> leaves 1, 1, 3, 4


def test_inner_centre_is_weighted_mean_of_children():
    h = hand_tree()
    assert torch.allclose(h.centers[2], torch.tensor([4.0, (1 * 1 - 3 * 1) / 4]))  # (4, -0.5)
    assert torch.allclose(h.centers[0], (2 * h.centers[1] + 4 * h.centers[2]) / 6)


def test_losses_by_hand():
    h = hand_tree()
    h.eval()  # no tree update
    z = Z.clone().requires_grad_(True)
    out = h(z, x=X0, x_hat=X0)
    # node-centre: leaf means (0, .5), (3, 2), (5, -2) vs centres (0,0), (4,1), (4,-1); 3 leaves
    l_nc = (0.5 + 2 * math.sqrt(2)) / 3
    # projection: node 1 / node 2 along +-(-4, .5)/sqrt(16.25): |3.5| + |-4| and |5.25| + |-4.75|;
    # nodes 3 / 4 along +-(0, 1): 1 + 1; divided by B * |non-root nodes| = 4 * 4
    l_dc = ((3.5 + 4 + 5.25 + 4.75) / math.sqrt(16.25) + 2) / 16
    assert out.components["node_center"].item() == pytest.approx(l_nc, rel=1e-5)
    assert out.components["projection"].item() == pytest.approx(l_dc, rel=1e-5)
    assert out.components["reconstruction"].item() == 0.0
    assert out.total.item() == pytest.approx(l_nc + l_dc, rel=1e-5)
    out.total.backward()
    # gradient reaches the embeddings (projection loss), the tree has no parameters to train
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert list(h.parameters()) == [] and not h.centers.requires_grad
    # d/dz of |d.(mu - z)| / 16 = -sign(.) d / 16: point 4 lies in nodes 2 and 4
    d2 = torch.tensor([4.0, -0.5]) / math.sqrt(16.25)
    # sign(mu2-z4 . d2) = -1, sign(mu4-z4 . d4) = -1
    expected = -(-d2) / 16 - (-torch.tensor([0.0, -1.0])) / 16  # noqa: B002
    assert torch.allclose(z.grad[3], expected, atol=1e-6)


@pytest.mark.parametrize("reduction, per_sample_error", [("sum", 3.0), ("mean", 1.0)])
def test_weights_scale_the_terms(reduction, per_sample_error):
    h = hand_tree(clustering_weight=0.5, reconstruction_weight=2.0, reconstruction_reduction=reduction)
    h.eval()
    x, x_hat = torch.zeros(4, 3), torch.ones(4, 3)  # squared error 1 in each of the 3 features
    out = h(Z, x=x, x_hat=x_hat)
    c = out.components
    assert c["reconstruction"].item() == pytest.approx(per_sample_error)
    assert out.total.item() == pytest.approx(
        2.0 * per_sample_error + 0.5 * (c["node_center"] + c["projection"]).item(), rel=1e-6
    )


def test_adam_steps_move_seen_leaves_by_the_learning_rate_towards_their_batch_mean():
    h = hand_tree(center_lr=0.1, projection_moves_centers=False)
    h.train()
    h(Z, x=X0, x_hat=X0)
    # first Adam step = lr * sign(gradient) per coordinate; the gradient of ||mu - mean|| points away from the mean
    # leaf 1: mean (0, 0.5) -> moves up; leaf 3: mean (3, 2) from (4, 1); leaf 4: mean (5, -2) from (4, -1)
    assert torch.allclose(h.centers[1], torch.tensor([0.0, 0.1]))
    assert torch.allclose(h.centers[3], torch.tensor([3.9, 1.1]))
    assert torch.allclose(h.centers[4], torch.tensor([4.1, -1.1]))
    assert h.center_steps[[1, 3, 4]].tolist() == [1, 1, 1] and h.center_steps[[0, 2]].tolist() == [0, 0]
    assert torch.allclose(h.weights[1:5], torch.tensor([2.0, 3.0, 1.0, 2.0]))  # weights as before
    assert torch.allclose(h.centers[2], (1.0 * h.centers[3] + 2.0 * h.centers[4]) / 3)
    h(Z, x=X0, x_hat=X0)  # a steady gradient keeps the step size
    assert torch.allclose(h.centers[3], torch.tensor([3.8, 1.2]), atol=1e-5)
    # a split gives the new leaves fresh Adam state
    h.grow(torch.tensor([[3.0, 2.0], [3.0, 1.0], [5.0, -2.0], [-1.0, 0.0], [1.0, 1.0], [-1.0, 0.1]]))
    new = (h.alive & h.is_leaf & (h.center_steps == 0)).nonzero().flatten()
    assert len(new) == 2 and float(h.center_exp_avg[new].abs().sum()) == 0.0
    with pytest.raises(ValueError, match="center_update"):
        DeepECTClusterHead(2, 2, center_update="sgd")
    with pytest.raises(ValueError, match="reconstruction_reduction"):
        DeepECTClusterHead(2, 2, reconstruction_reduction="none")


def test_running_mean_update_moves_leaves_weights_and_inner_centres():
    h = hand_tree(center_update="running_mean")
    h.train()
    h(Z, x=X0, x_hat=X0)
    # leaf 1: (w mu + sum z) / (w + n) = (2 * (0,0) + (0,1)) / (2 + 2)
    assert torch.allclose(h.centers[1], torch.tensor([0.0, 0.25]))
    # leaf 3: (1 * (4,1) + (3,2)) / 2 ; leaf 4: (3 * (4,-1) + (5,-2)) / 4
    assert torch.allclose(h.centers[3], torch.tensor([3.5, 1.5]))
    assert torch.allclose(h.centers[4], torch.tensor([4.25, -1.25]))
    # weights: 0.5 w + 0.5 n ; n = 2 (leaf 1), 2 (node 2), 1, 1
    assert torch.allclose(h.weights[1:5], torch.tensor([2.0, 3.0, 1.0, 2.0]))
    assert torch.allclose(h.centers[2], (1.0 * h.centers[3] + 2.0 * h.centers[4]) / 3)
    # eval mode leaves the tree alone
    h.eval()
    before = h.state_dict()
    h(Z, x=X0, x_hat=X0)
    assert all(torch.equal(before[k], v) for k, v in h.state_dict().items())


def test_grow_splits_the_leaf_with_the_largest_within_cluster_loss():
    gen = torch.Generator().manual_seed(0)
    tight = torch.randn(30, 2, generator=gen) * 0.1 + torch.tensor([-10.0, 0.0])
    wide = torch.cat(
        [
            torch.randn(30, 2, generator=gen) * 0.1 + torch.tensor([10.0, 4.0]),
            torch.randn(30, 2, generator=gen) * 0.1 + torch.tensor([10.0, -4.0]),
        ]
    )
    z = torch.cat([tight, wide])
    h = DeepECTClusterHead(2, 2, max_leaves=3, seed=0)
    h.initialize(z)
    assert h.n_leaves == 2
    wide_leaf = int(h.leaf_ids()[h.cluster(wide, n_clusters="leaves").mode().values])
    assert h.grow(z) == wide_leaf
    new = (h.parent == wide_leaf).nonzero().flatten()
    assert len(new) == 2 and bool(h.is_leaf[new].all()) and not bool(h.is_leaf[wide_leaf])
    assert h.split_order[wide_leaf] == 1 and h.n_leaves == 3
    # the two new leaves sit on the two sub-blobs
    assert sorted(round(float(c)) for c in h.centers[new, 1]) == [-4, 4]
    assert h.grow(z) is None  # max_leaves reached


def blobs(n_per: int = 40, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    means = torch.tensor([[0.0, 0, 0, 0], [6, 0, 0, 0], [0, 6, 0, 0], [0, 0, 6, 0], [0, 0, 0, 6], [6, 6, 6, 6]])
    return torch.cat([m + 0.3 * torch.randn(n_per, 4, generator=gen) for m in means])


def test_a_split_happens_every_split_interval_steps_in_the_module():
    pl.seed_everything(0, verbose=False)
    dm = TabularDataModule("blobs", n_samples=240, n_features=4, centers=6, batch_size=60, seed=0)  # 4 steps/epoch
    head = DeepECTClusterHead(2, 3, max_leaves=10, split_interval=3, prune_threshold=0.0, n_init=2)
    model = ClusteringModule(MLPAutoencoder(4, hidden_dims=[16], latent_dim=3), head, pretrain_epochs=0, epochs=2)
    pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, datamodule=dm)
    assert int(model.joint_steps) == 8
    # root split at initialisation, one refresh right after it, then one before steps 4 and 7
    assert int(head.n_splits) == 1 + 1 + 2 and head.n_leaves == 5


def test_dead_leaf_is_pruned_and_its_sibling_takes_the_parents_place():
    h = hand_tree(prune_threshold=0.1)
    h.train()
    far_from_leaf3 = torch.tensor([[0.0, 0.0], [0.5, 0.0], [4.0, -1.0], [4.5, -2.0]])  # leaves 1, 1, 4, 4
    for _step in range(3):  # weight of leaf 3: 1 -> .5 -> .25 -> .125
        h(far_from_leaf3, x=X0, x_hat=X0)
        assert bool(h.alive[3])
    h(far_from_leaf3, x=X0, x_hat=X0)  # .0625 < .1: pruned
    assert not bool(h.alive[3]) and not bool(h.alive[2])
    assert h.parent[4] == 0 and h.right[0] == 4 and h.n_leaves == 2
    assert h.leaf_ids().tolist() == [1, 4] and h.inner_ids().tolist() == [0]
    # the tree never drops below two leaves
    for _ in range(6):
        h(torch.tensor([[0.0, 0.0]]).repeat(4, 1), x=X0, x_hat=X0)
    assert h.n_leaves == 2


def test_cluster_at_k_undoes_the_latest_splits():
    h = hand_tree()
    assert h.cluster(Z, n_clusters="leaves").tolist() == [0, 0, 1, 2]  # leaves 1, 3, 4 in slot order
    assert h.cluster(Z).tolist() == h.cluster(Z, n_clusters=h.n_clusters).tolist()  # default: cut at the head's k
    assert h.cluster(Z, n_clusters=3).tolist() == [0, 0, 1, 2]
    assert h.cluster(Z, n_clusters=2).tolist() == [0, 0, 1, 1]  # leaf 3 and 4 merge back into node 2
    assert h.cluster(Z, n_clusters=1).tolist() == [0, 0, 0, 0]
    soft = h.cluster(Z, soft=True, n_clusters=2)
    assert soft.shape == (4, 2) and soft.dtype == torch.float32
    assert torch.allclose(soft.sum(1), torch.ones(4)) and torch.equal(soft.argmax(1), h.cluster(Z, n_clusters=2))
    assert h.cluster(Z).dtype == torch.int64
    with pytest.raises(ValueError, match="3 leaves"):
        h.cluster(Z, n_clusters=4)
    with pytest.raises(ValueError, match="3 leaves"):
        h.cluster(Z, n_clusters=0)


def test_tree_export_feeds_the_hierarchical_metrics():
    h = hand_tree()
    tree = h.tree()
    nodes = h.assign_nodes(Z)
    assert tree["parent"].tolist() == [-1, 0, 0, 2, 2] and nodes.tolist() == [1, 1, 3, 4]
    y = np.array([0, 0, 1, 1])
    assert dendrogram_purity(y, nodes, tree["parent"]) == 1.0 and leaf_purity(y, nodes) == 1.0


def test_checkpoint_round_trip_keeps_the_tree():
    x = blobs()
    h = DeepECTClusterHead(3, 4, max_leaves=8, split_interval=5, n_init=2, seed=1)
    h.initialize(x)
    for _ in range(3):
        h.refresh(x)
    h.train()
    for i in range(4):
        h(x[i * 60 : (i + 1) * 60], x=X0, x_hat=X0)
    fresh = DeepECTClusterHead(3, 4, max_leaves=8, split_interval=5, n_init=2, seed=1)
    fresh.load_state_dict(h.state_dict())
    assert fresh.is_initialized and fresh.n_leaves == h.n_leaves == 5
    assert torch.equal(fresh.cluster(x), h.cluster(x))
    assert torch.equal(fresh.cluster(x, n_clusters=3), h.cluster(x, n_clusters=3))
    for key, value in h.tree().items():
        assert torch.equal(fresh.tree()[key], value), key
    # both keep growing identically
    assert fresh.grow(x) == h.grow(x)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="max_leaves=5 is smaller than n_clusters=10"):
        DeepECTClusterHead(10, 4, max_leaves=5)
    with pytest.raises(ValueError, match="split_interval"):
        DeepECTClusterHead(2, 4, split_interval=0)
    with pytest.raises(ValueError, match="prune_threshold"):
        DeepECTClusterHead(2, 4, prune_threshold=-1)
    h = DeepECTClusterHead(2, 2, max_leaves=4)
    with pytest.warns(UserWarning, match="used before initialize"):  # initialises itself from the first z
        labels = h.cluster(Z)
    assert h.is_initialized and labels.shape == (Z.shape[0],)
    assert torch.isfinite(h(Z, x=X0, x_hat=X0).total)
    h = DeepECTClusterHead(2, 2, max_leaves=4)
    with pytest.raises(ValueError, match="n_clusters=2 is larger than the number of samples"):
        h.initialize(Z[:1])
    h.initialize(Z)
    with pytest.raises(ValueError, match="x_hat"):
        h(Z)
    with pytest.raises(FloatingPointError, match="NaN"):
        h(torch.full((4, 2), float("nan")), x=X0, x_hat=X0)
    with pytest.raises(ValueError, match="2-dimensional embeddings but got 3"):
        h.cluster(torch.zeros(4, 3))


def test_bf16_autocast_losses_are_float32():
    h = hand_tree()
    h.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = h(Z.to(torch.bfloat16), x=X0, x_hat=X0)
    assert out.total.dtype == torch.float32
    assert out.components["projection"].item() == pytest.approx(
        h(Z, x=X0, x_hat=X0).components["projection"].item(), rel=1e-2
    )


def test_end_to_end_on_digits():
    pl.seed_everything(0, verbose=False)
    dm = TabularDataModule("digits", scaling="minmax", batch_size=256, seed=0)
    model = DeepECT(
        in_features=64,
        n_clusters=10,
        hidden_dims=(128, 128),
        n_features=10,
        pretrain_epochs=12,
        epochs=6,
        max_leaves=12,
        split_interval=4,
        seed=0,
    )
    trainer = pl.Trainer(
        max_epochs=18,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    head = model.cluster_head
    assert int(model.joint_steps) == 6 * 8 and head.n_leaves >= 10
    z, y = model.embed(dm, with_labels=True)
    flat = head.cluster(z, n_clusters=10)
    assert flat.max() == 9
    acc = external_metrics(y.numpy(), flat.numpy())["acc"]
    assert acc > 0.5, acc  # chance is ~0.1
    nodes = head.assign_nodes(z)
    assert dendrogram_purity(y, nodes, head.tree()["parent"]) > 0.4


def test_projection_gradient_on_the_leaf_centres_matches_autograd():
    h = hand_tree()
    z = Z.clone()
    _, _, member, _ = h.tree_losses(z)
    got = h._projection_center_grad(z, member)
    # L_DC with the split directions' numerators differentiable (norms and the offsets' centres constant)
    centres = h.centers.clone().requires_grad_(True)
    total = torch.zeros(())
    for _parent, (lft, rgt) in ((0, (1, 2)), (2, (3, 4))):
        norm = (h.centers[lft] - h.centers[rgt]).norm()
        for child, sign in ((lft, 1.0), (rgt, -1.0)):
            d = sign * (centres[lft] - centres[rgt]) / norm
            rows = member[:, child]
            total = total + (d.unsqueeze(0) * (h.centers[child] - z[rows])).sum(1).abs().sum()
    (total / (z.shape[0] * 4)).backward()
    expected = centres.grad.clone()
    expected[[0, 2]] = 0.0  # inner centres are not learned
    assert torch.allclose(got, expected, atol=1e-6)
    assert got[[1, 3, 4]].abs().sum() > 0
