"""scikit-learn-style estimators (pyagc.estimators): scikit-learn's own estimator checks, then fit / predict / clone /
pickle / Pipeline on small data sets, determinism, row independence, validation, quiet fits, CLI defaults."""

from __future__ import annotations

import inspect
import pickle
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch import nn

from pyagc.clusters import BaseClusterHead, DECClusterHead, KMeansClusterHead, kmeans
from pyagc.estimators import (
    DCN,
    DEC,
    DESOM,
    IDEC,
    ACeDeC,
    ContrastiveClustering,
    DeepClustering,
    DeepECT,
    DipEncoder,
    DMoN,
    VaDE,
)

CONFIGS = Path(__file__).resolve().parents[2] / "configs"

# tiny networks and one or two epochs: every fit takes a fraction of a second
TINY = dict(hidden_dims=(8,), n_features=2, pretrain_epochs=1, epochs=1, batch_size=16, random_state=0)


class SimpleClusterHead(BaseClusterHead):
    """README's "Writing a head" (the PyAGC tutorial's head), word for word; module level, so estimators using it
    pickle."""

    def __init__(self, n_clusters, n_features):
        super().__init__()  # or super().__init__(n_clusters)
        self.n_clusters = n_clusters  # checked: an int >= 2
        self.n_features = n_features  # the embedding size; pyagc checks the encoder against it
        self.cluster_centers = nn.Parameter(torch.empty(n_clusters, n_features))
        nn.init.xavier_uniform_(self.cluster_centers)

    def forward(self, z):  # the loss: a scalar tensor
        dist = torch.cdist(z, self.cluster_centers)
        return dist.min(dim=-1).values.mean()

    @torch.no_grad()
    def cluster(self, z, soft=False):  # (N,) int64 labels, or (N, K) rows summing to 1
        dist = torch.cdist(z, self.cluster_centers)
        return torch.softmax(-dist, dim=-1) if soft else dist.argmin(dim=-1)


class NearestCentre(BaseClusterHead):
    """README's "Python, scikit-learn style" head, word for word: a user's head with a k-means start."""

    requires_initialization = True  # initialize() runs once, after pretraining

    def __init__(self, n_clusters, n_features):
        super().__init__(n_clusters)
        self.centers = nn.Parameter(torch.zeros(n_clusters, n_features))

    @torch.no_grad()
    def initialize(self, z):  # z: the embeddings of all training rows
        self.centers.copy_(kmeans(z, self.n_clusters).centers)

    def forward(self, z):  # the loss: squared distance to the nearest centre
        return torch.cdist(z, self.centers).min(1).values.pow(2).mean()

    @torch.no_grad()
    def cluster(self, z, soft=False):
        d = torch.cdist(z, self.centers)
        return torch.softmax(-d, 1) if soft else d.argmin(1)


def tiny_estimators(n_clusters: int = 3) -> list:
    """One tiny instance of every estimator for feature matrices (DMoN takes graphs: tested below)."""
    return [
        DEC(n_clusters, **TINY),
        IDEC(n_clusters, **TINY),
        DCN(n_clusters, **TINY),
        VaDE(n_clusters, n_init=1, **TINY),
        DipEncoder(n_clusters, **TINY),
        ACeDeC(n_clusters, n_init=2, **TINY),
        DeepECT(n_clusters, max_leaves=4, n_init=2, **TINY),
        # Contrastive Clustering learns its clusters from scratch (no pretraining): a few more epochs, a higher
        # rate, so that scikit-learn's check_clustering (ARI > 0.4 on three blobs) can pass
        ContrastiveClustering(
            n_clusters,
            hidden_dims=(32,),
            n_features=8,
            instance_dim=8,
            epochs=10,
            batch_size=16,
            optimizer={"name": "adam", "lr": 0.01},
            random_state=0,
        ),
        DESOM(n_clusters, map_size=(3, 3), init_epochs=2, **TINY),
        DeepClustering(n_clusters=n_clusters, **TINY),
        DeepClustering(head=NearestCentre, n_clusters=n_clusters, **TINY),
    ]


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Tiny networks: one intra-op thread (conftest's one_thread) is faster than two on a busy machine."""
    yield


# -------------------------------------------------------------------------------------------- scikit-learn checks
#: The checks that cannot apply to a deep clusterer. Each sets ``n_clusters = 1`` before fitting (one cluster),
#: which every pyagc head rejects with a clear ValueError ("n_clusters must be an integer of at least 2"): one
#: cluster has nothing to learn (DEC's target, DCN's k-means loss and the others are constant). What these checks
#: test is tested below with n_clusters=2: test_rows_are_independent (check_methods_subset_invariance),
#: test_predict_on_1d_input_asks_to_reshape (check_fit2d_predict1d), test_one_feature (check_fit2d_1feature),
#: test_fit_sets_only_private_or_fitted_attributes (check_dont_overwrite_parameters).
N_CLUSTERS_1 = "sets n_clusters=1; pyagc rejects fewer than 2 clusters (tested with n_clusters=2 in this file)"
EXPECTED_FAILED = {
    "check_dont_overwrite_parameters": N_CLUSTERS_1,
    "check_fit2d_predict1d": N_CLUSTERS_1,
    "check_methods_subset_invariance": N_CLUSTERS_1,
    "check_fit2d_1feature": N_CLUSTERS_1,
}

_NEW_API = "expected_failed_checks" in inspect.signature(parametrize_with_checks).parameters


def _check_name(check) -> str:
    return getattr(check, "func", check).__name__


_CHECKS_KW = {"expected_failed_checks": lambda est: EXPECTED_FAILED} if _NEW_API else {}
#: the estimators checked in every run (DEC, and the generic estimator with pyagc's k-means head and a user's head);
#: the others (about 3 s each) with -m slow
CHECKED_ALWAYS = [e for e in tiny_estimators() if isinstance(e, (DEC, DeepClustering))]
CHECKED_SLOW = [e for e in tiny_estimators() if not isinstance(e, (DEC, DeepClustering))]


def _run_check(estimator, check):
    if not _NEW_API and _check_name(check) in EXPECTED_FAILED:  # scikit-learn < 1.6
        pytest.xfail(EXPECTED_FAILED[_check_name(check)])
    check(estimator)


@parametrize_with_checks(CHECKED_ALWAYS, **_CHECKS_KW)
def test_sklearn_estimator_checks(estimator, check):
    _run_check(estimator, check)


@pytest.mark.slow
@parametrize_with_checks(CHECKED_SLOW, **_CHECKS_KW)
def test_sklearn_estimator_checks_other_methods(estimator, check):
    _run_check(estimator, check)


# -------------------------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def _ids(estimators):
    return [f"{type(e).__name__}{'-' + e.head.__name__ if getattr(e, 'head', None) else ''}" for e in estimators]


ESTIMATORS = tiny_estimators()


# -------------------------------------------------------------------------------------------- every estimator
@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_fit_predict_clone_pickle_pipeline(estimator, iris, tmp_path):
    X, _ = iris
    est = clone(estimator)
    labels = est.fit_predict(X)
    assert labels.dtype == np.int64 and labels.shape == (150,)
    assert labels.min() >= 0 and labels.max() < 3
    assert est.n_features_in_ == 4
    np.testing.assert_array_equal(est.predict(X), est.labels_)  # predict on the training rows = labels_
    np.testing.assert_array_equal(labels, est.labels_)
    emb = est.transform(X)
    assert emb.shape == (150, est.module_.encoder.latent_dim) and emb.dtype == np.float64
    assert est.transform(X.astype(np.float32)).dtype == np.float32

    # the same random_state gives the same labels and embeddings
    again = clone(estimator).fit(X)
    np.testing.assert_array_equal(again.labels_, labels)
    np.testing.assert_allclose(again.transform(X), emb)

    # clone: same parameters, not fitted
    fresh = clone(est)
    assert fresh.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    assert not hasattr(fresh, "labels_") and not hasattr(fresh, "module_")

    # pickle and joblib: the same predictions after loading
    X_new = X[::7] + 0.05
    expected = est.predict(X_new)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X_new), expected)
    np.testing.assert_allclose(restored.transform(X_new), est.transform(X_new))
    joblib.dump(est, tmp_path / "est.joblib")
    loaded = joblib.load(tmp_path / "est.joblib")
    np.testing.assert_array_equal(loaded.predict(X_new), expected)
    if hasattr(est, "predict_proba"):
        np.testing.assert_allclose(loaded.predict_proba(X_new), est.predict_proba(X_new))

    # inside a Pipeline (the pipeline's scaler in front, none of the estimator's own)
    scaler = {"standard": StandardScaler(), "minmax": MinMaxScaler()}[estimator.scaling]
    pipe = Pipeline([("scale", scaler), ("cluster", clone(estimator).set_params(scaling=None))])
    pipe_labels = pipe.fit_predict(X)
    np.testing.assert_array_equal(pipe.predict(X), pipe_labels)
    np.testing.assert_array_equal(pipe.predict(X), pipe.named_steps["cluster"].labels_)
    # the estimator's own scaling is that same scikit-learn scaler, fitted on the training rows
    np.testing.assert_array_equal(pipe_labels, labels)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(pipe)).predict(X_new), pipe.predict(X_new))


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=_ids(ESTIMATORS))
def test_rows_are_independent(estimator, iris):
    """A row's cluster, embedding and soft assignment do not depend on the other rows given with it (what
    scikit-learn's check_methods_subset_invariance tests, with n_clusters=2)."""
    X, _ = iris
    est = clone(estimator).set_params(n_clusters=2).fit(X)
    rows = X[[0, 60, 120, 5]]
    alone = np.concatenate([est.predict(r[None]) for r in rows])
    np.testing.assert_array_equal(alone, est.labels_[[0, 60, 120, 5]])
    np.testing.assert_array_equal(est.predict(rows[::-1]), alone[::-1])
    np.testing.assert_allclose(
        np.concatenate([est.transform(r[None]) for r in rows]), est.transform(rows), rtol=1e-5, atol=1e-6
    )
    if hasattr(est, "predict_proba"):
        proba = est.predict_proba(X)
        assert proba.shape == (150, 2)
        np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-5)
        np.testing.assert_allclose(est.predict_proba(rows[:1]), proba[:1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("estimator", ESTIMATORS[:2], ids=_ids(ESTIMATORS[:2]))
def test_one_feature(estimator):
    """Fitting on a single feature works (check_fit2d_1feature, with n_clusters=2)."""
    X = np.concatenate([np.random.RandomState(0).normal(0, 0.1, 10), np.random.RandomState(1).normal(3, 0.1, 10)])
    est = clone(estimator).set_params(n_clusters=2).fit(X[:, None])
    assert est.n_features_in_ == 1 and len(np.unique(est.labels_)) <= 2


def test_predict_on_1d_input_asks_to_reshape(iris):
    est = DEC(2, **TINY).fit(iris[0])
    for method in ("predict", "transform", "predict_proba"):
        with pytest.raises(ValueError, match="Reshape your data"):
            getattr(est, method)(iris[0][0])


def test_fit_sets_only_private_or_fitted_attributes(iris):
    est = DEC(2, **TINY)
    before = dict(est.__dict__)
    est.fit(iris[0])
    public = [k for k in est.__dict__ if not (k.startswith("_") or k.endswith("_"))]
    assert all(est.__dict__[k] is before[k] for k in public)
    assert set(public) == set(before)


def test_cluster_centers_and_soft_assignments(iris):
    X = iris[0]
    for est in (
        DEC(3, **TINY),
        IDEC(3, **TINY),
        DCN(3, **TINY),
        VaDE(3, n_init=1, **TINY),
        DeepECT(3, max_leaves=4, **TINY),
        DeepClustering(n_clusters=3, **TINY),
    ):
        est.fit(X)
        assert est.cluster_centers_.shape == (3, 2), type(est).__name__
    for est in (ACeDeC(3, **TINY), DESOM(3, map_size=(3, 3), **TINY), DipEncoder(3, **TINY)):
        assert not hasattr(est.fit(X), "cluster_centers_")
    # DEC: the centres are where the head's Student-t kernel peaks: nearest centre = label
    dec = DEC(3, **TINY).fit(X)
    z = dec.transform(X)
    nearest = ((z[:, None, :] - dec.cluster_centers_[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(nearest, dec.labels_)
    assert not hasattr(DeepECT(3, **TINY), "predict_proba")  # a hard tree assignment


# -------------------------------------------------------------------------------------------- preprocessing
def test_scaling_is_fitted_once_on_the_training_rows(iris):
    X = iris[0]
    est = DEC(3, **TINY).fit(X)
    np.testing.assert_allclose(est.scaler_.mean_, X.mean(0))
    first = est.predict(X[:1])
    # new rows far from the data do not move the scaler: row 0's cluster stays the same
    shifted = np.vstack([X[:1], X[1:] * 100 + 50])
    assert est.predict(shifted)[0] == first[0]
    np.testing.assert_allclose(est.scaler_.mean_, X.mean(0))


@pytest.mark.parametrize("scaling", ["standard", "minmax", "global_z", "none", None, RobustScaler()])
def test_scaling_options(scaling, iris):
    X = iris[0]
    est = DEC(3, scaling=scaling, **TINY).fit(X)
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    if isinstance(scaling, RobustScaler):
        assert est.scaler_ is not scaling and not hasattr(scaling, "center_")  # the given one is cloned
    if scaling in ("none", None):
        assert est.scaler_ is None


def test_unknown_scaling_is_a_clear_error(iris):
    with pytest.raises(ValueError, match="unknown scaling 'zscore'.*standard, minmax, global_z"):
        DEC(3, scaling="zscore", **TINY).fit(iris[0])


def test_vade_bce_needs_values_in_unit_interval(iris):
    with pytest.raises(ValueError, match="needs training values in \\[0, 1\\].*scaling='minmax'"):
        VaDE(3, scaling="standard", **TINY).fit(iris[0])
    VaDE(3, scaling="standard", reconstruction="mse", n_init=1, **TINY).fit(iris[0])


# -------------------------------------------------------------------------------------------- validation
def test_validation_errors(iris):
    X = iris[0]
    for k in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="n_clusters must be an integer of at least 2"):
            DEC(k, **TINY).fit(X)
    with pytest.raises(ValueError, match=r"n_clusters=5 is larger than the number of samples \(4\)"):
        DEC(5, **TINY).fit(X[:4])
    est = DEC(3, **TINY).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but DEC is expecting 4 features"):
        est.predict(X[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        DEC(3, **TINY).fit(np.where(X > 7, np.nan, X))
    with pytest.raises(NotFittedError):
        DEC(3, **TINY).predict(X)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0"):
        DEC(3, **{**TINY, "epochs": -1}).fit(X)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        DEC(3, **{**TINY, "batch_size": 0}).fit(X)
    with pytest.raises(ValueError, match="hidden_dims"):
        DEC(3, **{**TINY, "hidden_dims": (8, 0)}).fit(X)


def test_generic_head_arguments(iris):
    X = iris[0]
    with pytest.raises(ValueError, match="n_clusters=4 but the head was built for 3 clusters"):
        DeepClustering(head=KMeansClusterHead(3, 2), n_clusters=4, **TINY).fit(X)
    with pytest.raises(TypeError, match="head must be a pyagc.clusters.BaseClusterHead"):
        DeepClustering(head="dec", **TINY).fit(X)
    with pytest.raises(ValueError, match="head_params are arguments for a head given as a class"):
        DeepClustering(head=KMeansClusterHead(3, 2), head_params={"n_init": 2}, **TINY).fit(X)
    # an instance: its n_clusters is used, the given object is not trained
    head = SimpleClusterHead(3, 2)
    before = head.cluster_centers.detach().clone()
    est = DeepClustering(head=head, **TINY).fit(X)
    assert est.module_.cluster_head.n_clusters == 3 and torch.equal(head.cluster_centers, before)
    assert not torch.equal(est.module_.cluster_head.cluster_centers, before)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.labels_)
    np.testing.assert_allclose(
        est.cluster_centers_, est.module_.cluster_head.cluster_centers.detach().numpy(), rtol=1e-6
    )
    # a class with extra arguments; an encoder built by a callable from the number of input features
    est = DeepClustering(
        encoder=_small_encoder,
        head=DECClusterHead,
        head_params={"alpha": 2.0},
        n_clusters=3,
        **{k: v for k, v in TINY.items() if k not in ("hidden_dims", "n_features")},
    ).fit(X)
    assert est.module_.cluster_head.alpha == 2.0 and est.module_.cluster_head.n_features == 3
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(X), est.labels_)


def _small_encoder(n_in):
    from pyagc.encoders import MLPAutoencoder

    return MLPAutoencoder(n_in, hidden_dims=[6], latent_dim=3)


def test_encoder_without_decoder_skips_pretraining(iris):
    enc = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    est = DeepClustering(encoder=enc, n_clusters=3, epochs=2, random_state=0).fit(iris[0])
    assert est.module_.pretrain_epochs == 0 and est.module_.cluster_head.n_features == 2
    assert not torch.equal(est.module_.encoder[0].weight, enc[0].weight)  # the given module was copied, not trained


# -------------------------------------------------------------------------------------------- side effects
def test_quiet_writes_nothing_and_keeps_global_random_state(iris, tmp_path, monkeypatch, capfd):
    DEC(3, **TINY).fit(iris[0])  # imports done (their compile-time warnings are not the fit's)
    capfd.readouterr()
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(123)
    np.random.seed(123)
    expected_torch, expected_np = torch.rand(3), np.random.rand(3)
    torch.manual_seed(123)
    np.random.seed(123)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = DEC(3, **TINY).fit(iris[0])
        est.predict(iris[0])
    out, err = capfd.readouterr()
    assert out == "" and err == "", (out, err)
    assert [str(w.message) for w in caught if "pyagc" in w.filename or "lightning" in w.filename] == []
    assert list(tmp_path.iterdir()) == []  # no lightning_logs/, no checkpoints
    assert torch.equal(torch.rand(3), expected_torch) and np.allclose(np.random.rand(3), expected_np)
    assert not hasattr(est, "trainer_") and est.module_._trainer is None


class _CtrlC(NearestCentre):
    def forward(self, z):
        raise KeyboardInterrupt


def test_ctrl_c_raises_keyboard_interrupt_and_keeps_the_handler(iris):
    import signal

    before = signal.getsignal(signal.SIGINT)
    est = DeepClustering(head=_CtrlC, n_clusters=3, **TINY)
    with pytest.raises(KeyboardInterrupt):
        est.fit(iris[0])
    assert signal.getsignal(signal.SIGINT) is before  # Lightning leaves Ctrl-C ignored after an interrupt
    assert not hasattr(est, "labels_")


def test_verbose_shows_progress(iris, capfd):
    DEC(3, **{**TINY, "verbose": True}).fit(iris[0])
    assert "epoch" in capfd.readouterr().err


def test_checkpoint_dir_writes_a_checkpoint_pyagc_eval_reads(iris, tmp_path):
    from pyagc.cli.build import model_from_checkpoint

    X = iris[0]
    est = ACeDeC(3, checkpoint_dir=str(tmp_path / "ckpt"), n_init=2, **TINY).fit(X)
    files = sorted(p.name for p in (tmp_path / "ckpt").iterdir())
    assert "last.ckpt" in files and "final.ckpt" in files  # ACe/DeC re-clusters after its last epoch
    model = model_from_checkpoint(tmp_path / "ckpt" / "final.ckpt")
    x = torch.as_tensor(est.scaler_.transform(X), dtype=torch.float32)
    np.testing.assert_array_equal(model.infer_full(x).numpy(), est.labels_)


# -------------------------------------------------------------------------------------------- CLI defaults
def _model_config(name: str) -> dict:
    cfg = OmegaConf.merge(
        OmegaConf.load(CONFIGS / "model" / "default.yaml"), OmegaConf.load(CONFIGS / "model" / f"{name}.yaml")
    )
    cfg.pop("defaults", None)
    return OmegaConf.to_container(cfg)


@pytest.mark.parametrize(
    "cls, head, model, derived",
    [
        (DEC, "dec", "dec", ()),
        (IDEC, "idec", "idec", ()),
        (DCN, "dcn", "dcn", ()),
        (VaDE, "vade", "vade", ()),
        (DipEncoder, "dipencoder", "dipencoder", ("update_interval",)),
        (ACeDeC, "acedec", "acedec", ()),
        (DeepECT, "deepect", "deepect", ("split_interval",)),
        (ContrastiveClustering, "contrastive", "contrastive", ()),
        (DESOM, "som", "som", ("decay_steps",)),
        (DMoN, "dmon", "dmon", ()),
    ],
)
def test_defaults_follow_the_cli_configs(cls, head, model, derived):
    """An estimator with its defaults builds what pyagc-train composes from configs/head and configs/model (the
    keys in ``derived`` are computed from the data, as the configs' comments ask)."""
    parts = cls()._component_configs(n_samples=1797, batches_per_epoch=8, seed=0)
    head_cfg = OmegaConf.to_container(OmegaConf.load(CONFIGS / "head" / f"{head}.yaml"))
    for key, value in head_cfg.items():
        if key in ("n_clusters", "seed", "n_features", "_target_") or key in derived:
            continue
        assert key in parts["head"], f"{cls.__name__} does not set head.{key}"
        assert parts["head"][key] == value, (key, parts["head"][key], value)
    assert parts["head"]["_target_"] == head_cfg["_target_"]
    model_cfg = _model_config(model)
    model_cfg.pop("augmentation", None)
    for key, value in model_cfg.items():
        assert parts["model"][key] == value, (key, parts["model"][key], value)
    if cls is ContrastiveClustering:
        aug = OmegaConf.to_container(OmegaConf.load(CONFIGS / "model" / "augmentation" / "tabular.yaml"))
        assert parts["model"]["augmentation"] == aug
    # the derived keys: one epoch of digits at batch 256 is 8 steps, as the configs say
    derived_values = {"update_interval": 8, "split_interval": 16, "decay_steps": 50 * 8}
    for key in derived:
        assert parts["head"][key] == derived_values[key]


# -------------------------------------------------------------------------------------------- graphs (DMoN)
@pytest.fixture(scope="module")
def sbm():
    from torch_geometric.utils import stochastic_blockmodel_graph

    torch.manual_seed(0)
    p = [[0.3, 0.02, 0.02], [0.02, 0.3, 0.02], [0.02, 0.02, 0.3]]
    edge_index = stochastic_blockmodel_graph([20, 20, 20], p).numpy()
    X = np.random.RandomState(0).normal(size=(60, 5)) + np.repeat(np.eye(3, 5) * 2, 20, axis=0)
    return X, edge_index, np.repeat([0, 1, 2], 20)


def test_dmon_on_a_block_model(sbm, tmp_path):
    from scipy import sparse
    from sklearn.metrics import adjusted_rand_score

    X, edge_index, y = sbm
    est = DMoN(3, n_features=16, epochs=100, random_state=0)
    labels = est.fit_predict(X, edge_index)
    assert adjusted_rand_score(y, labels) > 0.8
    np.testing.assert_array_equal(est.predict(X, edge_index), labels)
    np.testing.assert_array_equal(clone(est).fit(X, edge_index).labels_, labels)  # same random_state, same labels
    adjacency = sparse.coo_matrix((np.ones(edge_index.shape[1]), tuple(edge_index)), shape=(60, 60))
    np.testing.assert_array_equal(est.predict(X, adjacency), labels)
    assert est.transform(X, edge_index).shape == (60, 16)
    np.testing.assert_allclose(est.predict_proba(X, edge_index).sum(1), 1.0, rtol=1e-5)
    restored = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(restored.predict(X, edge_index), labels)
    joblib.dump(est, tmp_path / "dmon.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "dmon.joblib").predict(X, edge_index), labels)
    with pytest.raises(ValueError, match=r"DMoN.predict\(X, edge_index\)"):
        est.predict(X)
    with pytest.raises(ValueError, match="refers to node 60 but X has 60 nodes"):
        est.predict(X, np.array([[0, 60], [1, 2]]))
    with pytest.raises(ValueError, match="edge_index must have shape \\(2, n_edges\\)"):
        DMoN(3, epochs=1).fit(X, edge_index.T)
    # a Pipeline: the graph goes to the clusterer, the features through the scaler
    pipe = make_pipeline(StandardScaler(), DMoN(3, n_features=16, epochs=100, random_state=0))
    pipe_labels = pipe.fit(X, edge_index).predict(X, edge_index=edge_index)
    np.testing.assert_array_equal(pipe_labels, pipe[-1].labels_)


def test_dmon_on_karate_club_data_object():
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0]
    est = DMoN(2, n_features=16, epochs=30, random_state=0)
    labels = est.fit_predict(data)
    assert labels.shape == (34,) and est.n_features_in_ == 34
    np.testing.assert_array_equal(est.predict(data), labels)
    with pytest.raises(ValueError, match="carries its own edge_index"):
        est.predict(data, data.edge_index)


def test_generic_estimator_on_a_graph(sbm):
    from pyagc.clusters import DMoNClusterHead
    from pyagc.encoders import GCN

    X, edge_index, _ = sbm
    est = DeepClustering(
        encoder=GCN(5, 16, 8, num_layers=1), head=DMoNClusterHead, n_clusters=3, epochs=20, random_state=0
    ).fit(X, edge_index=edge_index)
    np.testing.assert_array_equal(est.predict(X, edge_index=edge_index), est.labels_)
    with pytest.raises(ValueError, match="needs a graph"):
        DeepClustering(head=DMoNClusterHead, n_clusters=3, **TINY).fit(X)
    with pytest.raises(ValueError, match="fitted on a feature matrix"):
        DeepClustering(n_clusters=3, **TINY).fit(X).predict(X, edge_index=edge_index)


# -------------------------------------------------------------------------------------------- one training path
@pytest.mark.parametrize("cls, name", [(DEC, "dec"), (IDEC, "idec")])
def test_same_labels_as_pyagc_train(cls, name, tmp_path):
    """The estimator and pyagc-train build the same module from the same configs, seed it the same way, see the same
    batches and train with the same Trainer.fit: the same labels."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from pyagc.cli.build import config_dir
    from pyagc.cli.train import run

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=[
                f"paths.output_dir={tmp_path}",
                "data=iris",
                "data.scaling=none",
                "data.batch_size=16",
                f"head={name}",
                f"model={name}",
                "encoder.hidden_dims=[8]",
                "encoder.latent_dim=2",
                "model.pretrain_epochs=2",
                "model.epochs=2",
                "n_clusters=3",
                "seed=0",
                "plot=false",
                "logger=none",
                "callbacks=none",
                "trainer.enable_progress_bar=false",
            ],
        )
    GlobalHydra.instance().clear()
    run(cfg)
    cli_labels = np.loadtxt(tmp_path / "assignments.csv", delimiter=",", skiprows=1, dtype=int)[:, 1]
    X = load_iris().data.astype(np.float32)
    est = cls(
        3, hidden_dims=(8,), n_features=2, pretrain_epochs=2, epochs=2, batch_size=16, scaling=None, random_state=0
    ).fit(X)
    assert len(np.unique(cli_labels)) == 3
    np.testing.assert_array_equal(est.labels_, cli_labels)
