"""Tests of post-hoc SOM clustering: kmeans / gmm / hdbscan, TSK, DenSOM, AutoSOM."""

import os

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs
from sklearn.metrics import adjusted_rand_score

from pyagc.som import (
    SOM,
    build_feature_space,
    default_sigma,
    densom,
    otsu_threshold,
    som_tsk,
    suggest_grid_size,
    watershed_maxima,
)
from pyagc.som.grid import grid_neighbors, grid_positions

torch.set_num_threads(1)
DATA = os.environ.get("PYAGC_CLUSTERING_DATA", "/work/shared/data/clustering")
needs_data = pytest.mark.skipif(not os.path.isdir(DATA), reason=f"benchmark data not found at {DATA}")


def load(battery, name):
    X = np.loadtxt(os.path.join(DATA, battery, f"{name}.data.gz"), ndmin=2)
    y = np.loadtxt(os.path.join(DATA, battery, f"{name}.labels0.gz"), dtype=int)
    return X, y


@pytest.fixture(scope="module")
def blob_som():
    X, y = make_blobs(600, n_features=3, centers=3, cluster_std=0.6, center_box=(-6, 6), random_state=7)
    som = SOM(12, 10, num_features=3, topology="hexagonal", epochs=30, batch_size=32, random_seed=0).fit(X)
    return som, X, y


@pytest.mark.parametrize("method", ["kmeans", "gmm", "hdbscan"])
def test_neuron_clustering_methods(blob_som, method):
    som, X, y = blob_som
    res = som.cluster(method=method, n_clusters=None if method == "hdbscan" else 3, feature_space="weights")
    for key in ("labels", "sample_labels", "method", "n_clusters", "feature_space", "metrics", "noise_fraction"):
        assert key in res
    assert res["labels"].shape == (som.n_neurons,) and res["sample_labels"].shape == (len(X),)
    assert res["n_clusters"] == 3 and res["labels"].max() == 2  # 0-based
    mask = res["sample_labels"] >= 0
    assert mask.mean() > 0.95
    assert adjusted_rand_score(y[mask], res["sample_labels"][mask]) > 0.97
    assert set(res["metrics"]) == {"silhouette", "davies_bouldin", "calinski_harabasz"}
    assert res["metrics"]["silhouette"] > 0.6
    np.testing.assert_array_equal(som.predict(X), res["sample_labels"])


def test_k_is_chosen_by_stated_criterion(blob_som):
    som, X, y = blob_som
    km = som.cluster(method="kmeans")
    assert km["n_clusters"] == 3
    sel = km["k_selection"]
    assert sel["criterion"].startswith("silhouette") and sel["k_values"][0] == 2
    assert sel["k_values"][-1] == int(np.ceil(np.sqrt(som.n_neurons)))  # kmax from the number of neurons
    assert sel["k"] == sel["k_values"][int(np.argmax(sel["scores"]))]
    gm = som.cluster(method="gmm")
    assert gm["n_clusters"] == 3 and "BIC" in gm["k_selection"]["criterion"]


def test_feature_spaces(blob_som):
    som, X, y = blob_som
    W = som.weights.detach().numpy().astype(float)
    P = som.positions.numpy().astype(float)
    C = build_feature_space(W, P, "combined")
    assert C.shape == (som.n_neurons, 5)
    # each block carries a total variance of exactly one: neither dominates
    assert np.isclose((C[:, :3] ** 2).sum(1).mean(), 1.0) and np.isclose((C[:, 3:] ** 2).sum(1).mean(), 1.0)
    pos = som.cluster(method="kmeans", n_clusters=4, feature_space="positions")
    # clusters in grid space are contiguous blocks of the grid
    assert pos["feature_space"] == "positions" and len(np.unique(pos["labels"])) == 4
    comb = som.cluster(method="kmeans", n_clusters=3, feature_space="combined")
    assert adjusted_rand_score(y, comb["sample_labels"]) > 0.9


def test_tsk_pool_and_selection(blob_som):
    som, X, y = blob_som
    res = som.cluster(method="tsk", n_clusters=3)
    assert adjusted_rand_score(y, res["sample_labels"]) == pytest.approx(1.0)
    names = [c["name"] for c in res["candidates"]]
    assert sum(n.startswith("B-bis") for n in names) == 3
    assert any(n.startswith("A:") for n in names) and any(n.startswith("A-alt") for n in names)
    assert any(n.startswith("C:") for n in names)
    best = min(c["inertia"] for c in res["candidates"])
    assert res["inertia"] <= best * 1.05
    sk = KMeans(3, init="k-means++", n_init=10, random_state=0).fit(X)
    assert res["inertia"] <= sk.inertia_ * (1 + 1e-6)
    np.testing.assert_array_equal(som.predict(X), res["sample_labels"])
    # without k: GMM + BIC on a subsample
    auto = som.cluster(method="tsk")
    assert auto["n_clusters"] == 3 and auto["k_selection"]["criterion"].startswith("GMM BIC")


def test_tsk_function_keeps_lowest_inertia_candidate():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.3, size=(150, 2)) for c in [(0, 0), (3, 0), (0, 3), (3, 3), (6, 6)]])
    som = SOM(10, 8, 2, epochs=20, random_seed=1).fit(X)
    res = som_tsk(X, som.weights.detach().numpy(), som.bmus(X), 5, inertia_window=0.0)
    assert res["inertia"] == pytest.approx(min(c["inertia"] for c in res["candidates"]))


@needs_data
def test_tsk_matches_or_beats_kmeanspp_on_real_sets():
    for battery, name in [("sipu", "r15"), ("other", "iris"), ("uci", "wine"), ("fcps", "tetra")]:
        X, y = load(battery, name)
        k = len(np.unique(y[y > 0]))
        x_, y_ = suggest_grid_size(len(X), X, "hexagonal")
        som = SOM(x_, y_, X.shape[1], topology="hexagonal", epochs=30, batch_size=32, random_seed=0).fit(X)
        res = som.cluster(method="tsk", n_clusters=k, random_state=0)
        sk = KMeans(k, init="k-means++", n_init=10, random_state=0).fit(X)
        assert res["inertia"] <= sk.inertia_ * (1 + 1e-6), name
        a_tsk = adjusted_rand_score(y, res["sample_labels"])
        a_sk = adjusted_rand_score(y, sk.labels_)
        assert a_tsk >= a_sk - 0.005, name


def test_tsk_on_digits():
    d = load_digits()
    X = d.data[:900].astype(float)
    som = SOM(12, 10, 64, epochs=10, batch_size=32, random_seed=0).fit(X)
    res = som.cluster(method="tsk", n_clusters=10)
    sk = KMeans(10, n_init=10, random_state=0).fit(X)
    assert res["inertia"] <= sk.inertia_ * (1 + 1e-6)
    assert adjusted_rand_score(d.target[:900], res["sample_labels"]) > 0.6


def test_otsu_and_watershed_primitives():
    rng = np.random.default_rng(0)
    v = np.r_[rng.normal(1, 0.2, 300), rng.normal(5, 0.3, 200)]
    assert 1.6 < otsu_threshold(v) < 4.2
    # two density bumps on a 12 x 1 strip, a dip between them, a tiny bump on the right flank
    x, y = 12, 1
    rho = np.array([1, 3, 6, 3, 1.5, 2, 5, 8, 5, 4.0, 4.3, 2])
    nb = grid_neighbors(grid_positions(x, y, "rectangular"), "rectangular")
    mask = np.ones(12, bool)
    plain = watershed_maxima(rho, nb, mask, 0.0)
    assert plain["labels"].max() + 1 == 3 and sorted(plain["seeds"]) == [2, 7, 10]
    merged = watershed_maxima(rho, nb, mask, 0.3)  # the 4.3 bump rises only 0.3 above its 4.0 saddle
    assert merged["labels"].max() + 1 == 2
    assert merged["labels"][2] != merged["labels"][7] and merged["labels"][10] == merged["labels"][7]


def test_densom_finds_k_and_noise():
    X, y = make_blobs(1500, n_features=2, centers=[(-6, 0), (0, 6), (6, 0)], cluster_std=0.8, random_state=3)
    som = SOM(*suggest_grid_size(len(X), X, "hexagonal"), 2, topology="hexagonal", epochs=30, random_seed=0).fit(X)
    res = som.cluster(method="densom")
    assert res["n_clusters"] == 3
    lab = res["sample_labels"]
    assert (lab >= -1).all() and lab.max() == 2
    assert 0 < res["noise_fraction"] < 0.5
    keep = lab >= 0
    assert adjusted_rand_score(y[keep], lab[keep]) > 0.99
    # noise = samples whose BMU is not a core neuron
    core = res["core"]
    np.testing.assert_array_equal(lab < 0, ~core[som.bmus(X)])
    np.testing.assert_array_equal(som.predict(X), lab)
    assert res["threshold"] == pytest.approx(otsu_threshold(res["density"]))
    assert res["sigma"] == pytest.approx(np.sqrt(som.x * som.y) / 12)  # default: follows the map size


def test_densom_default_sigma_follows_map_size():
    assert default_sigma(12, 12) == pytest.approx(1.0)
    assert default_sigma(24, 24) == pytest.approx(2 * default_sigma(12, 12))  # twice the resolution
    h = np.random.default_rng(0).poisson(5, 20 * 15).astype(float)
    assert densom(h, 20, 15)["sigma"] == pytest.approx(np.sqrt(300) / 12)
    assert densom(h, 20, 15, sigma=0.7)["sigma"] == 0.7


def test_densom_merges_core_islands_across_a_shallow_dip():
    # two core islands (peaks 12) on a 7 x 1 strip; the neuron between them is below Otsu's threshold
    shallow = np.array([7, 12, 11.5, 8.5, 11.5, 12, 7.0])
    res = densom(shallow, 7, 1, "rectangular", sigma=0)
    assert res["core"].tolist() == [False, True, True, False, True, True, False]
    # 12 - 8.5 < 0.3 * 12: the dip is not persistent -> one cluster, the dip itself stays noise
    assert res["n_clusters"] == 1 and res["labels"].tolist() == [-1, 0, 0, -1, 0, 0, -1]
    assert res["seeds"] == [1] and res["persistence_merges"] == 1
    # the plain watershed (no persistence) keeps both islands
    assert densom(shallow, 7, 1, "rectangular", sigma=0, min_persistence=0)["n_clusters"] == 2
    # a deep gap (12 - 4 > 0.3 * 12) keeps them apart
    deep = shallow.copy()
    deep[3] = 4.0
    res = densom(deep, 7, 1, "rectangular", sigma=0)
    assert res["labels"].tolist() == [-1, 0, 0, -1, 1, 1, -1] and res["seeds"] == [1, 5]


def test_densom_data_density_option(blob_som):
    som, X, y = blob_som
    res = som.cluster(method="densom", density="data")
    assert res["density_kind"] == "data" and res["bandwidth"] > 0 and res["n_clusters"] >= 3
    assert res["labels"].shape == (som.n_neurons,) and res["sample_labels"].shape == (len(X),)
    with pytest.raises(ValueError, match="needs the samples"):
        densom(som.hits(), som.x, som.y, som.topology, density="data")


def test_densom_is_invariant_to_scaling_the_hits():
    h = np.random.default_rng(1).poisson(4, 14 * 11).astype(float)
    a = densom(h, 14, 11)
    b = densom(7.0 * h, 14, 11)
    np.testing.assert_array_equal(a["labels"], b["labels"])


@needs_data
@pytest.mark.parametrize("name,k", [("twodiamonds", 2), ("tetra", 4), ("lsun", 3)])
def test_densom_on_fcps(name, k):
    X, y = load("fcps", name)
    x_, y_ = suggest_grid_size(len(X), X, "hexagonal")
    som = SOM(x_, y_, X.shape[1], topology="hexagonal", epochs=50, batch_size=32, random_seed=0).fit(X)
    res = som.cluster(method="densom")
    assert res["n_clusters"] == k
    keep = res["sample_labels"] >= 0
    assert adjusted_rand_score(y[keep], res["sample_labels"][keep]) > 0.4


def test_densom_validates_input():
    with pytest.raises(ValueError, match="x\\*y"):
        densom(np.ones(10), 4, 4)
    with pytest.raises(ValueError, match="empty"):
        densom(np.zeros(16), 4, 4)
    with pytest.raises(ValueError, match="sigma must be"):
        densom(np.ones(16), 4, 4, sigma=-1.0)
    with pytest.raises(ValueError, match="min_persistence must be"):
        densom(np.ones(16), 4, 4, min_persistence=1.5)


def test_autosom_reports_route(blob_som):
    som, X, y = blob_som
    res = som.cluster(method="autosom")
    assert res["route"] in ("tsk", "densom")
    assert "silhouette" in res["reason"]
    assert set(res["route_scores"]) == {"tsk", "densom"}
    assert res["k_selection"]["k"] == 3 and res["k_selection"]["n_subsample"] == len(X)
    winner = max(
        res["route_scores"], key=lambda r: -np.inf if np.isnan(res["route_scores"][r]) else res["route_scores"][r]
    )
    assert res["route"] == winner
    mask = res["sample_labels"] >= 0
    assert adjusted_rand_score(y[mask], res["sample_labels"][mask]) > 0.97
    np.testing.assert_array_equal(som.predict(X), res["sample_labels"])


def test_posthoc_errors(blob_som):
    som, X, y = blob_som
    with pytest.warns(UserWarning, match="HDBSCAN finds the number of clusters itself; n_clusters=3 is ignored"):
        res = som.cluster(method="hdbscan", n_clusters=3)  # TorchSOM's page: "ignored by HDBSCAN"
    assert res["n_clusters"] == som.cluster(method="hdbscan")["n_clusters"]
    with pytest.raises(ValueError, match="n_clusters must be an integer >= 2"):
        som.cluster(method="kmeans", n_clusters=1)
    with pytest.warns(UserWarning, match="feature_space is not used"):
        som.cluster(method="tsk", n_clusters=3, feature_space="weights")


@pytest.mark.slow
@needs_data
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_densom_fcps_suite_slow(seed):
    found = 0
    for name in ["atom", "chainlink", "engytime", "hepta", "lsun", "target", "tetra", "twodiamonds", "wingnut"]:
        X, y = load("fcps", name)
        x_, y_ = suggest_grid_size(len(X), X, "hexagonal")
        som = SOM(x_, y_, X.shape[1], topology="hexagonal", epochs=50, batch_size=32, random_seed=seed).fit(X)
        found += som.cluster(method="densom")["n_clusters"] == len(np.unique(y[y > 0]))
    assert found >= 6  # the target; see benchmarks/densom_fcps.md (7/9 on seeds 0, 1, 2)
