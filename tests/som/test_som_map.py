"""Tests of the SOM itself: training, BMUs, errors, grid helpers, input validation."""

import math
import time

import numpy as np
import pytest
import torch
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from pyagc.som import SOM, SOMVisualizer, grid_neighbors, grid_positions, smooth_on_grid, suggest_grid_size
from pyagc.som.neighborhood import DECAYS, decay, neighborhood, pairwise_distance

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(1000, n_features=5, centers=4, random_state=42)
    return StandardScaler().fit_transform(X), y


def _png_ok(path, min_bytes=5000):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > min_bytes


def test_spec_example_hexagonal_blobs(blobs, tmp_path):
    X, y = blobs
    som = SOM(
        25,
        15,
        num_features=5,
        topology="hexagonal",
        initialization_mode="pca",
        epochs=100,
        batch_size=16,
        random_seed=42,
    )
    t0 = time.perf_counter()
    som.fit(X)
    assert time.perf_counter() - t0 < 20.0  # vectorised: ~1 s on one core
    qe = som.history["quantization_error"]
    assert len(qe) == 100 and len(som.history["topographic_error"]) == 100
    assert qe[-1] < 0.6 * qe[0]
    assert som.history["topographic_error"][-1] < 0.15
    vis = SOMVisualizer(som=som)
    fig = vis.plot_elbow_analysis(max_k=10, feature_space="weights", save_path=tmp_path / "elbow.png")
    assert 3 <= fig.elbow["knee"] <= 6
    res = som.cluster(method="kmeans", n_clusters=4, feature_space="weights")
    assert res["labels"].shape == (375,) and res["sample_labels"].shape == (1000,)
    assert adjusted_rand_score(y, res["sample_labels"]) > 0.98
    assert res["metrics"]["silhouette"] > 0.6
    np.testing.assert_array_equal(som.predict(X), res["sample_labels"])
    vis.plot_cluster_map(cluster_result=res, save_path=tmp_path / "clusters.png")
    _png_ok(tmp_path / "elbow.png")
    _png_ok(tmp_path / "clusters.png")


def test_buffers_parameters_and_neighborhood():
    som = SOM(6, 4, num_features=3, topology="hexagonal", sigma=1.5)
    assert isinstance(som.weights, torch.nn.Parameter) and som.weights.shape == (24, 3)
    assert "positions" in dict(som.named_buffers()) and som.positions.shape == (24, 2)
    H = som.neighborhood_matrix(1.5)
    assert H.shape == (24, 24)
    assert torch.allclose(H, H.T) and torch.allclose(torch.diagonal(H), torch.ones(24))
    # hexagonal: every neighbour sits at grid distance exactly 1
    pos = som.positions.numpy()
    for j, nb in enumerate(som.neighbors):
        d = np.linalg.norm(pos[nb[nb >= 0]] - pos[j], axis=1)
        assert np.allclose(d, 1.0)
    assert (som.neighbors >= 0).sum(1).max() == 6
    rect = SOM(5, 5, num_features=2, topology="rectangular")
    assert (rect.neighbors >= 0).sum(1).max() == 8 and (rect.neighbors >= 0).sum(1).min() == 3
    rows = som.neighborhood_matrix(1.5, torch.tensor([0, 5]))
    assert torch.allclose(rows, H[[0, 5]])


def test_batch_update_matches_formula():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    som = SOM(4, 3, num_features=3, epochs=1, batch_size=40, sigma=2.0, learning_rate=0.5, random_seed=0)
    som.initialize_weights(X, "sample")
    W0 = som.weights.detach().clone().double()
    Xt = torch.as_tensor(X)
    d = torch.cdist(Xt, W0)
    bmu = d.argmin(1)
    pos = som.positions.double()
    h = torch.exp(-((pos[bmu][:, None] - pos[None]) ** 2).sum(-1) / (2 * 2.0**2))
    expected = W0 + 0.5 * (h.T @ Xt - h.sum(0)[:, None] * W0) / 40
    som.fit(X)
    assert torch.allclose(som.weights.detach().double(), expected, atol=1e-5)


def test_bmus_match_brute_force_all_distances():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4)) + 0.5
    for dist in ("euclidean", "cosine", "manhattan"):
        som = SOM(6, 5, num_features=4, epochs=3, distance_function=dist, random_seed=1).fit(X)
        W = som.weights.detach().numpy().astype(np.float64)
        if dist == "euclidean":
            D = ((X[:, None] - W[None]) ** 2).sum(-1)
        elif dist == "manhattan":
            D = np.abs(X[:, None] - W[None]).sum(-1)
        else:
            D = 1 - (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (W / np.linalg.norm(W, axis=1, keepdims=True)).T
        agree = np.mean(som.bmus(X) == D.argmin(1))
        assert agree > 0.99, dist
        assert np.isfinite(som.quantization_error(X))
    # tensors are accepted and a tensor can be returned
    b = som.bmus(torch.as_tensor(X, dtype=torch.float32), return_tensor=True)
    assert isinstance(b, torch.Tensor) and b.dtype == torch.int64


def test_training_improves_quality_all_options(blobs):
    X, _ = blobs
    for topo in ("rectangular", "hexagonal"):
        for nf in ("gaussian", "bubble", "mexican_hat", "triangle"):
            som = SOM(
                8,
                6,
                num_features=5,
                topology=topo,
                neighborhood_function=nf,
                epochs=8,
                batch_size=64,
                initialization_mode="random",
                random_seed=3,
            )
            som.initialize_weights(X, "random")
            qe0 = som.quantization_error(X)
            som.fit(X)
            # the inhibitory rim of the Mexican hat trades quantisation for contrast
            factor = 0.9 if nf == "mexican_hat" else 0.7
            assert som.quantization_error(X) < factor * qe0, (topo, nf)
            assert som.weights.abs().max().item() < 10 * np.abs(X).max()  # no divergence
    for mode in ("random", "sample", "pca"):
        som = SOM(8, 6, num_features=5, initialization_mode=mode, epochs=5, random_seed=0).fit(X)
        assert som.history["quantization_error"][-1] < 1.5


def test_initialization_modes(blobs):
    X, _ = blobs
    som = SOM(10, 4, num_features=5, random_seed=0)
    som.initialize_weights(X, "sample")
    W = som.weights.detach().numpy()
    assert all(np.isclose(X, w, atol=1e-5).all(1).any() for w in W)
    som.initialize_weights(X, "random")
    W = som.weights.detach().numpy()
    assert (W >= X.min(0) - 1e-5).all() and (W <= X.max(0) + 1e-5).all()
    som.initialize_weights(X, "pca")
    W = som.weights.detach().numpy().astype(np.float64)
    ev, evec = np.linalg.eigh(np.cov(X, rowvar=False))
    pc1, pc2 = evec[:, -1], evec[:, -2]
    Wc = W - X.mean(0)
    # weights lie in the plane of the two leading PCs, the long (x = 10) side along PC1
    resid = Wc - np.outer(Wc @ pc1, pc1) - np.outer(Wc @ pc2, pc2)
    assert np.abs(resid).max() < 1e-3
    grid = som.to_grid(Wc @ pc1)
    assert np.ptp(grid[0]) > np.ptp(grid[:, 0])


def test_decay_schedules_and_neighborhood_functions():
    for kind in DECAYS:
        assert decay(kind, 2.0, 0.5, 0, 100) == pytest.approx(2.0)
        vals = [decay(kind, 2.0, 0.5, t, 100) for t in range(101)]
        assert all(a >= b for a, b in zip(vals, vals[1:]))
    for kind in ("linear", "exponential", "inverse"):
        assert decay(kind, 2.0, 0.5, 100, 100) == pytest.approx(0.5)
    assert decay("asymptotic", 2.0, 0.5, 100, 100) == pytest.approx(2.0 / 3.0)
    d2 = torch.tensor([0.0, 1.0, 4.0, 9.0])
    assert torch.allclose(neighborhood(d2, 1.0, "gaussian"), torch.exp(-d2 / 2))
    assert torch.equal(neighborhood(d2, 2.0, "bubble"), torch.tensor([1.0, 1.0, 1.0, 0.0]))
    assert torch.allclose(neighborhood(d2, 2.0, "triangle"), torch.tensor([1.0, 0.5, 0.0, 0.0]))
    mh = neighborhood(d2, 1.5, "mexican_hat")
    assert mh[0] == 1.0 and mh[-1] < 0  # negative (inhibitory) rim
    x = torch.randn(7, 3)
    w = torch.randn(5, 3)
    assert torch.allclose(pairwise_distance(x, w, "euclidean"), torch.cdist(x, w), atol=1e-5)


def test_maps_hits_umatrix_component_planes(blobs):
    X, _ = blobs
    som = SOM(9, 7, num_features=5, topology="hexagonal", epochs=10, random_seed=0).fit(X)
    assert som.hit_map().shape == (7, 9) and som.hit_map().sum() == len(X)
    u = som.distance_map()
    assert u.shape == (7, 9) and u.max() == pytest.approx(1.0) and u.min() >= 0
    # neurons in the gaps between the 4 blobs have no hits and sit on U-matrix ridges
    h = som.hits()
    assert u.ravel()[h == 0].mean() > u.ravel()[h > 0].mean()
    assert som.component_planes().shape == (5, 7, 9)
    assert 0 <= som.topographic_error() <= 1


def test_loss_is_differentiable_desom_style():
    som = SOM(5, 5, num_features=3)
    x = torch.randn(16, 3, requires_grad=True)
    loss = som.loss(x, sigma=1.0)
    loss.backward()
    assert loss.item() > 0 and som.weights.grad is not None and x.grad is not None
    assert som.forward(x).shape == (16, 25)


def test_grid_helpers():
    pos = grid_positions(4, 3, "hexagonal")
    assert pos[4, 0] == pytest.approx(0.5) and pos[4, 1] == pytest.approx(math.sqrt(3) / 2)
    # constant maps stay constant (normalised convolution), hexagonal smoothing is isotropic
    assert np.allclose(smooth_on_grid(np.full(99, 3.0), 11, 9, "hexagonal", 1.3), 3.0)
    x, y = 11, 11
    delta = np.zeros(x * y)
    c = 5 * x + 5
    delta[c] = 1.0
    s = smooth_on_grid(delta, x, y, "hexagonal", 1.0)
    nb = grid_neighbors(grid_positions(x, y, "hexagonal"), "hexagonal")[c]
    ring = s[nb[nb >= 0]]
    assert len(ring) == 6 and np.allclose(ring, ring[0], rtol=1e-3)
    sx, sy = suggest_grid_size(1000)
    assert 120 <= sx * sy <= 200
    X = np.random.default_rng(0).normal(size=(500, 3)) * [5, 1, 0.1]
    sx, sy = suggest_grid_size(len(X), X, "rectangular")
    assert sx > 1.8 * sy


def test_clear_errors(blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="too small"):
        SOM(1, 1, num_features=2)
    with pytest.raises(ValueError, match="Valid options are: 'rectangular', 'hexagonal'"):
        SOM(3, 3, num_features=2, topology="triangular")
    with pytest.raises(ValueError, match="neighborhood_function"):
        SOM(3, 3, num_features=2, neighborhood_function="cauchy")
    with pytest.raises(ValueError, match="distance_function"):
        SOM(3, 3, num_features=2, distance_function="chebyshev")
    with pytest.raises(ValueError, match="sigma_decay"):
        SOM(3, 3, num_features=2, sigma_decay="cosine")
    with pytest.raises(ValueError, match="sigma must be"):
        SOM(3, 3, num_features=2, sigma=-1)
    som = SOM(4, 4, num_features=5, epochs=1)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN.*first bad row: 7.*impute"):
        som.fit(bad)
    bad[7, 2] = np.inf
    with pytest.raises(ValueError, match="inf"):
        som.bmus(bad)
    with pytest.raises(ValueError, match="has 3 features but the map was built with num_features=5"):
        som.fit(X[:, :3])
    with pytest.raises(ValueError, match="2-D"):
        som.fit(X[:, 0])
    with pytest.raises(RuntimeError, match="not clustered yet"):
        som.predict(X)
    with pytest.raises(RuntimeError, match="call fit"):
        som.hits()
    som.fit(X)
    with pytest.raises(ValueError, match="Valid options are"):
        som.cluster(method="spectral")
    with pytest.raises(ValueError, match="exceeds the number of neurons"):
        som.cluster(method="kmeans", n_clusters=17)
    with pytest.raises(ValueError, match="feature_space"):
        som.cluster(method="kmeans", n_clusters=2, feature_space="latent")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_device(blobs):
    X, _ = blobs
    som = SOM(10, 10, num_features=5, epochs=5, device="cuda").fit(X)
    assert som.weights.device.type == "cuda"
    b = som.bmus(torch.as_tensor(X, dtype=torch.float32, device="cuda"), return_tensor=True)
    assert b.device.type == "cuda"
    cpu = SOM(10, 10, num_features=5)
    cpu.load_state_dict({k: v.cpu() for k, v in som.state_dict().items()})
    assert np.mean(cpu.bmus(X) == b.cpu().numpy()) > 0.99
