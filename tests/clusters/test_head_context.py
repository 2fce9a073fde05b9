"""The head contract: context by signature, bare ``super().__init__()``, LossOutput as a number, first-use
initialisation, and the plain ``ClusteringModel`` base."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pyagc.clusters import BaseClusterHead, DECClusterHead, DMoNClusterHead, IDECClusterHead, LossOutput
from pyagc.encoders import MLPAutoencoder
from pyagc.models import ClusteringModel, ClusteringModule


class Recorder(BaseClusterHead):
    """Records what its forward received; the signature is set per subclass."""

    def __init__(self, n_clusters: int = 2, n_features: int = 3) -> None:
        super().__init__()
        self.n_clusters = n_clusters
        self.n_features = n_features
        self.w = nn.Parameter(torch.zeros(n_clusters, n_features))
        self.seen: dict = {}

    @torch.no_grad()
    def cluster(self, z, soft=False):
        d = torch.cdist(z, self.w)
        return torch.softmax(-d, 1) if soft else d.argmin(1)


class OnlyZ(Recorder):
    def forward(self, z):
        self.seen = {}
        return (z - self.w[0]).pow(2).mean()


class WithReconstruction(Recorder):
    def forward(self, z, x, x_hat, index=None):
        self.seen = {"x": x, "x_hat": x_hat, "index": index}
        return (x - x_hat).pow(2).mean() + (z - self.w[0]).pow(2).mean()


class TakesAll(Recorder):
    def forward(self, z, **context):
        self.seen = dict(context)
        return (z - self.w[0]).pow(2).mean()


def test_flags_follow_the_signature_on_class_and_instance():
    assert not OnlyZ.uses_reconstruction and not OnlyZ.requires_graph
    assert WithReconstruction.uses_reconstruction and WithReconstruction().uses_reconstruction
    assert DMoNClusterHead.requires_graph and IDECClusterHead.uses_reconstruction
    assert WithReconstruction().required_context == {"x", "x_hat"}
    assert TakesAll().receives_all_context and not OnlyZ().receives_all_context
    dec = DECClusterHead(3, 2)
    assert not dec.uses_views and DECClusterHead(3, 2, augmentation_invariance=True).uses_views
    with pytest.raises(AttributeError, match="follows from forward"):
        dec.uses_views = True


def test_a_flag_that_contradicts_the_signature_is_refused_at_class_creation():
    with pytest.raises(TypeError, match="required `edge_index` parameter"):

        class Wrong(Recorder):  # noqa: F841 - the class statement is the test
            requires_graph = True

            def forward(self, z):
                return z.sum()

    class Agrees(Recorder):  # an old-style flag that agrees with the signature is accepted
        uses_reconstruction = True

        def forward(self, z, x_hat=None):
            return z.sum()

    assert Agrees.uses_reconstruction


def test_each_head_receives_exactly_the_context_it_names():
    torch.manual_seed(0)
    x = torch.rand(6, 5)
    for head, expected in (
        (OnlyZ(), set()),
        (WithReconstruction(), {"x", "x_hat", "index"}),
        (TakesAll(), {"x", "x_hat", "index"}),
    ):
        model = ClusteringModule(MLPAutoencoder(5, (4,), 3), head, pretrain_epochs=0, reconstruction_weight=0.5)
        loss = model({"x": x, "index": torch.arange(6)})
        assert torch.isfinite(loss) and set(head.seen) == expected, type(head).__name__
    assert torch.equal(WithReconstruction().select_context({"x": x, "x_hat": x, "edge_index": None})["x"], x)


def test_required_context_missing_is_a_clear_error():
    with pytest.raises(ValueError, match=r"needs the graph / context edge_index .*head\(z, edge_index=edge_index\)"):
        DMoNClusterHead(3, 4)(torch.randn(5, 4))
    with pytest.raises(ValueError, match="forward needs x, x_hat"):
        WithReconstruction().select_context({"index": torch.arange(3)})

    class Strange(Recorder):
        def forward(self, z, temperature):
            return z.sum()

    with pytest.raises(ValueError, match="requires temperature, which no pyagc pipeline gives"):
        ClusteringModule(MLPAutoencoder(5, (4,), 3), Strange(), pretrain_epochs=0)
    with pytest.raises(ValueError, match="takes x_hat .* has no decoder"):
        ClusteringModule(nn.Linear(5, 3), WithReconstruction(), pretrain_epochs=0)


def test_n_clusters_may_be_set_after_a_bare_init_and_is_checked():
    head = OnlyZ.__new__(OnlyZ)
    BaseClusterHead.__init__(head)
    head.w = nn.Parameter(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="n_clusters was never set"):
        head(torch.randn(4, 3))
    with pytest.raises(ValueError, match="at least 2"):
        head.n_clusters = 1
    with pytest.raises(ValueError, match="at least 2"):
        head.n_clusters = 2.5
    head.n_clusters = 2
    assert head.n_clusters == 2 and torch.isfinite(head(torch.randn(4, 3)))


def test_loss_output_behaves_like_its_total():
    out = LossOutput(torch.tensor(1.23456, requires_grad=True), {"a": torch.tensor(1.0)})
    assert f"{out:.3f}" == "1.235" and float(out) == pytest.approx(1.23456) and out.item() == pytest.approx(1.23456)
    assert float(out + 1) == pytest.approx(2.23456) and float(2 * out) == pytest.approx(2.46912)
    out.backward()
    assert out.total.grad == 1.0


def test_a_centroid_head_used_before_initialize_initialises_itself_once():
    torch.manual_seed(0)
    z = torch.cat([torch.randn(30, 4) + 6 * torch.eye(4)[i] for i in range(3)])
    head = DECClusterHead(n_clusters=3, n_features=4)
    with pytest.warns(UserWarning, match="used before initialize"):
        loss = head(z)
    assert head.is_initialized and float(loss) > 1e-4
    labels = head.cluster(z)
    assert len(torch.unique(labels)) == 3
    centres = head.centers.detach().clone()
    head(z + 100)  # no second initialisation
    assert torch.equal(centres, head.centers.detach())


def test_clustering_model_is_the_plain_base_and_clustering_module_is_one():
    torch.manual_seed(0)
    x = torch.rand(20, 5)
    model = ClusteringModel(MLPAutoencoder(5, (4,), 3), OnlyZ(2, 3))
    loss = model(x)
    loss.backward()
    assert loss.dim() == 0 and model.cluster_head.w.grad is not None
    labels = model.infer_full(x)
    assert labels.shape == (20,) and labels.dtype == torch.int64
    assert isinstance(ClusteringModule(MLPAutoencoder(5, (4,), 3), OnlyZ(2, 3), pretrain_epochs=0), ClusteringModel)
