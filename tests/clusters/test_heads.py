import math

import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from pyagc.clusters import (
    BaseClusterHead,
    DECClusterHead,
    IDECClusterHead,
    KMeansClusterHead,
    LossOutput,
    kmeans,
    student_t_assignment,
    target_distribution,
)


def test_kmeans_matches_sklearn_inertia_on_blobs():
    x, y = make_blobs(n_samples=600, centers=6, n_features=4, cluster_std=1.5, random_state=3)
    ours = kmeans(torch.tensor(x), 6, n_init=10, seed=0)
    ref = KMeans(6, n_init=10, random_state=0).fit(x)
    assert ours.inertia <= ref.inertia_ * 1.001
    assert ours.labels.dtype == torch.int64 and set(ours.labels.tolist()) == set(range(6))


def test_kmeans_is_reproducible_and_rejects_bad_input():
    x = torch.randn(100, 3)
    a, b = kmeans(x, 4, seed=7), kmeans(x, 4, seed=7)
    assert torch.equal(a.labels, b.labels)
    with pytest.raises(ValueError, match="between 2 and the number of samples"):
        kmeans(x, 101)
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        kmeans(x, 3)


def test_student_t_and_target_known_values():
    z = torch.tensor([[0.0, 0.0]])
    centers = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    q = student_t_assignment(z, centers, alpha=1.0)
    # kernels 1 and 1/2 -> q = [2/3, 1/3]
    assert torch.allclose(q, torch.tensor([[2 / 3, 1 / 3]]))
    q2 = torch.tensor([[0.5, 0.5], [0.9, 0.1]])
    p = target_distribution(q2)
    f = q2.sum(0)
    w = q2**2 / f
    assert torch.allclose(p, w / w.sum(1, keepdim=True))
    assert torch.allclose(p.sum(1), torch.ones(2))
    # sharpening: the confident row gets more confident
    assert p[1, 0] > q2[1, 0]


def test_dec_loss_gradients_flow_and_target_is_full_dataset():
    torch.manual_seed(0)
    head = DECClusterHead(3, 2, update_interval=5)
    z_all = torch.cat([torch.randn(20, 2) + torch.tensor(c, dtype=torch.float32) for c in ([0, 0], [6, 0], [0, 6])])
    head.initialize(z_all)
    assert head.is_initialized
    head.refresh(z_all)
    assert head.target.shape == (60, 3)
    z = z_all[:8].clone().requires_grad_(True)
    out = head(z, index=torch.arange(8))
    assert isinstance(out, LossOutput) and out.total.dim() == 0 and out.total > 0
    out.total.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert head.centers.grad is not None and head.centers.grad.abs().sum() > 0
    # the target of a sample comes from the full-dataset refresh, not from the batch
    expected = target_distribution(student_t_assignment(z_all, head.centers.detach()))[:8]
    assert torch.allclose(head.target[:8], expected)
    labels = head.cluster(z_all)
    assert labels.dtype == torch.int64 and len(torch.unique(labels)) == 3
    soft = head.cluster(z_all, soft=True)
    assert torch.allclose(soft.sum(1), torch.ones(60))


def test_dec_stops_when_labels_stop_changing():
    head = DECClusterHead(2, 2, tol=0.01)
    z = torch.cat([torch.randn(30, 2), torch.randn(30, 2) + 8])
    head.initialize(z)
    head.refresh(z)
    assert not bool(head.converged)
    head.refresh(z)  # nothing changed
    assert bool(head.converged) and head.last_label_change == 0.0


def test_idec_adds_weighted_reconstruction():
    head = IDECClusterHead(2, 2, gamma=0.5)
    z = torch.randn(10, 2)
    head.initialize(z)
    x, x_hat = torch.zeros(10, 4), torch.ones(10, 4)
    out = head(z, x=x, x_hat=x_hat)
    assert math.isclose(float(out.components["reconstruction"]), 1.0)
    assert torch.isclose(out.total, out.components["reconstruction"] + 0.5 * out.components["kl"])
    with pytest.raises(ValueError, match="x_hat"):
        head(z)


def test_head_validation_errors():
    with pytest.raises(ValueError, match="at least 2"):
        DECClusterHead(1, 10)
    head = KMeansClusterHead(3, 4)
    with pytest.raises(ValueError, match="4-dimensional"):
        head.initialize(torch.randn(10, 5))
    with pytest.raises(ValueError, match="larger than the number of samples"):
        head.initialize(torch.randn(2, 4))
    with pytest.raises(FloatingPointError, match="NaN"):
        head.cluster(torch.full((3, 4), float("nan")))


def test_dec_target_survives_checkpoint_with_new_size():
    head = DECClusterHead(2, 2)
    z = torch.randn(50, 2)
    head.initialize(z)
    head.refresh(z)
    fresh = DECClusterHead(2, 2)
    fresh.load_state_dict(head.state_dict())
    assert torch.equal(fresh.target, head.target) and fresh.is_initialized


class NearestCentreHead(BaseClusterHead):
    """A user head: learnable centres, squared distance to the nearest one."""

    def __init__(self, n_clusters: int, n_features: int):
        super().__init__(n_clusters)
        self.centers = torch.nn.Parameter(torch.randn(n_clusters, n_features))

    def forward(self, z, **context):
        return torch.cdist(z, self.centers).min(1).values.pow(2).mean()

    @torch.no_grad()
    def cluster(self, z, soft=False):
        d = torch.cdist(z, self.centers)
        return torch.softmax(-d, 1) if soft else d.argmin(1)


def test_user_head_in_manual_loop():
    from pyagc.encoders import MLPAutoencoder
    from pyagc.models import ClusteringModule

    x, y = make_blobs(n_samples=200, centers=3, n_features=6, random_state=0)
    x = torch.tensor(x, dtype=torch.float32)
    model = ClusteringModule(MLPAutoencoder(6, hidden_dims=[32], latent_dim=2), NearestCentreHead(3, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(30):
        loss = model({"x": x})
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < first
    labels = model.infer_full(x)
    assert labels.shape == (200,) and labels.dtype == torch.int64


def _head_classes():
    import pyagc.clusters as clusters

    return sorted(
        (
            c
            for c in vars(clusters).values()
            if isinstance(c, type) and issubclass(c, BaseClusterHead) and c is not BaseClusterHead
        ),
        key=lambda c: c.__name__,
    )


@pytest.mark.parametrize("head_cls", _head_classes(), ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [None, 0, -3, 2.5, "10"])
def test_every_head_rejects_a_bad_n_features_with_one_message(head_cls, bad):
    # one shared check (BaseClusterHead.check_n_features): `n_features: null` left unfilled outside the CLI,
    # a zero, a fraction or a string all fail at construction, before any training, with the same advice
    with pytest.raises(ValueError, match="n_features must be a positive integer.*latent size"):
        head_cls(3, bad)
    assert BaseClusterHead.check_n_features(8.0) == 8
