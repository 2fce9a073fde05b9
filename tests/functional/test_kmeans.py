"""pyagc.clusters.kmeans.kmeans: determinism, inertia against scikit-learn, dtype/device, mini-batch."""

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from threadpoolctl import threadpool_limits

from pyagc.clusters import kmeans
from pyagc.functional.kmeans import (
    MINIBATCH_THRESHOLD,
    _kmeans_plusplus,
    _lloyd_sklearn,
    _lloyd_torch,
    default_local_trials,
)

BACKENDS = ("sklearn", "torch")


@pytest.fixture(autouse=True)
def one_thread():
    """Small problems: one thread (fast and steady on a loaded machine; kmeans follows torch's thread count)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


def blobs(n=2000, k=5, f=8, std=1.0, seed=0):
    x, y = make_blobs(n_samples=n, centers=k, n_features=f, cluster_std=std, random_state=seed)
    return torch.tensor(x, dtype=torch.float32), y


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["lloyd", "minibatch"])
def test_same_seed_same_result(backend, method):
    if backend == "sklearn" and method == "lloyd":
        torch.set_num_threads(2)  # scikit-learn's lock-ordered reduction of two threads is still bitwise repeatable
    x, _ = blobs(std=3.0)
    runs = [
        kmeans(
            x, 5, n_init=3, seed=s, method=method, batch_size=512 if method == "minibatch" else None, backend=backend
        )
        for s in (11, 11, 12)
    ]
    a, b, c = runs
    assert torch.equal(a.labels, b.labels) and torch.equal(a.centers, b.centers)
    assert a.inertia == b.inertia and a.n_iter == b.n_iter
    assert a.method == method and a.backend == backend
    # another seed draws other k-means++ centres (the partition may still coincide on blobs)
    assert not torch.equal(
        _kmeans_plusplus(x, 5, torch.Generator().manual_seed(11)),
        _kmeans_plusplus(x, 5, torch.Generator().manual_seed(12)),
    )
    assert c.labels.shape == a.labels.shape


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n,k,f,std", [(3000, 8, 10, 2.5), (2000, 20, 4, 1.5), (1500, 3, 32, 6.0)])
def test_inertia_not_worse_than_sklearn(backend, n, k, f, std):
    x, _ = blobs(n, k, f, std, seed=k)
    ours = kmeans(x, k, n_init=10, seed=0, backend=backend)
    ref = KMeans(k, n_init=10, random_state=0).fit(x.numpy())
    assert ours.inertia <= ref.inertia_ * (1 + 1e-4)
    # the reported inertia is that of the returned centres and labels
    d = torch.cdist(x.double(), ours.centers.double()) ** 2
    assert torch.equal(ours.labels, d.argmin(1)) or (d.min(1).values.sum() - ours.inertia) / ours.inertia < 1e-5
    assert abs(float(d.gather(1, ours.labels[:, None]).sum()) - ours.inertia) <= 1e-4 * ours.inertia


def test_torch_lloyd_matches_sklearn_lloyd_from_the_same_start():
    x, _ = blobs(3000, 6, 5, 2.0)
    xc = x - x.mean(0)
    x_sq = (xc * xc).sum(1)
    c0 = _kmeans_plusplus(xc, 6, torch.Generator().manual_seed(0), x_sq)
    tol = 1e-4 * float(xc.var(0, correction=0).mean())
    ct, lt, it, _ = _lloyd_torch(xc, c0.clone(), 300, tol, x_sq)
    cs, ls, is_, _ = _lloyd_sklearn(xc, c0.clone(), 300, tol, x_sq)
    assert torch.equal(lt, ls)
    assert torch.allclose(ct, cs, atol=1e-4) and it == pytest.approx(is_, rel=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_tensor_in_tensor_out(backend, dtype):
    x, _ = blobs(600, 4, 3)
    res = kmeans(x.to(dtype), 4, n_init=2, seed=1, backend=backend)
    assert isinstance(res.centers, torch.Tensor) and res.centers.dtype == dtype and res.centers.shape == (4, 3)
    assert res.labels.dtype == torch.int64 and res.labels.shape == (600,)
    assert res.centers.device == x.device and res.labels.device == x.device
    assert isinstance(res.inertia, float) and isinstance(res.n_iter, int)
    assert set(res.labels.tolist()) == set(range(4))
    # explicit initial centres: one run from there
    init = res.centers.float()[[1, 0, 3, 2]]
    again = kmeans(x.to(dtype), 4, init=init, backend=backend)
    assert again.centers.dtype == dtype and again.inertia <= res.inertia * 1.01


def test_grad_tensor_and_bad_arguments():
    x, _ = blobs(200, 3, 2)
    res = kmeans(x.clone().requires_grad_(True), 3, n_init=1)
    assert not res.centers.requires_grad
    with pytest.raises(ValueError, match="method"):
        kmeans(x, 3, method="elkan")
    with pytest.raises(ValueError, match="backend"):
        kmeans(x, 3, backend="faiss")
    with pytest.raises(ValueError, match="n_local_trials"):
        kmeans(x, 3, n_local_trials=0)


def test_local_trials():
    assert default_local_trials(2) == 4 and default_local_trials(10) == 8 and default_local_trials(1000) == 16
    x, _ = blobs(3000, 12, 6, std=3.0)
    sk_count = kmeans(x, 12, n_init=4, seed=0, n_local_trials=2 + 2)  # scikit-learn's 2 + int(ln 12)
    ours = kmeans(x, 12, n_init=4, seed=0)
    assert not torch.equal(sk_count.centers, ours.centers)
    assert ours.inertia <= sk_count.inertia * 1.001


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("method", ["lloyd", "minibatch"])
def test_cuda_tensor_in_cuda_tensor_out(method):
    x, y = blobs(5000, 5, 8)
    res = kmeans(x.cuda(), 5, n_init=3, seed=0, method=method, batch_size=1024 if method == "minibatch" else None)
    assert res.centers.is_cuda and res.labels.is_cuda and res.backend == "torch"
    assert adjusted_rand_score(y, res.labels.cpu().numpy()) > 0.95
    again = kmeans(x.cuda(), 5, n_init=3, seed=0, method=method, batch_size=1024 if method == "minibatch" else None)
    assert torch.equal(res.labels, again.labels)
    cpu = kmeans(x.cuda(), 5, n_init=3, seed=0, backend="sklearn")  # copied to the CPU and back
    assert cpu.centers.is_cuda and cpu.labels.is_cuda


@pytest.mark.parametrize("backend", BACKENDS)
def test_minibatch_partition_on_blobs(backend):
    x, y = blobs(20000, 6, 8, std=1.5, seed=4)
    res = kmeans(x, 6, n_init=3, seed=0, method="minibatch", batch_size=1024, backend=backend)
    assert res.method == "minibatch"
    assert adjusted_rand_score(y, res.labels.numpy()) > 0.95
    full = kmeans(x, 6, n_init=3, seed=0)
    assert res.inertia <= full.inertia * 1.01


def test_minibatch_is_chosen_above_the_threshold():
    assert MINIBATCH_THRESHOLD == 2**28
    x, y = blobs(8000, 4, 8)
    below = kmeans(x, 4, n_init=2, minibatch_threshold=8000 * 8)
    above = kmeans(x, 4, n_init=2, minibatch_threshold=8000 * 8 - 1)
    assert below.method == "lloyd" and above.method == "minibatch"
    assert adjusted_rand_score(y, above.labels.numpy()) > 0.95
    assert kmeans(x, 4, n_init=2, batch_size=2048).method == "minibatch"  # a batch size asks for mini-batches
    assert kmeans(x, 4, n_init=2, batch_size=2048, method="lloyd").method == "lloyd"


def test_degenerate_data():
    x = torch.zeros(50, 3)
    x[:5] = torch.arange(15, dtype=torch.float32).view(5, 3)  # 6 distinct points, 45 copies of the origin
    for backend in BACKENDS:
        res = kmeans(x, 6, n_init=2, backend=backend)
        assert res.inertia == pytest.approx(0.0, abs=1e-6)
        two = kmeans(torch.ones(10, 2), 2, n_init=1, backend=backend)  # all points equal
        assert np.isfinite(two.inertia) and two.inertia == pytest.approx(0.0, abs=1e-6)


# ---- sample weights (SOM neurons weighted by their hits) and the NumPy front end ----


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_sample_weights_equal_repeated_rows(backend: str) -> None:
    from pyagc.functional import kmeans as kmeans_fn

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(300, 4, generator=gen, dtype=torch.float64) + torch.repeat_interleave(
        torch.tensor([[0.0] * 4, [5.0] * 4, [-5.0] * 4], dtype=torch.float64), 100, dim=0
    )
    w = torch.randint(1, 4, (300,), generator=gen)
    init = x[[0, 100, 200]].clone()
    weighted = kmeans_fn(x, 3, init=init, sample_weight=w, backend=backend)
    repeated = kmeans_fn(torch.repeat_interleave(x, w, dim=0), 3, init=init, backend=backend)
    assert torch.allclose(weighted.centers, repeated.centers, atol=1e-9)
    assert weighted.inertia == pytest.approx(repeated.inertia, rel=1e-9)
    assert torch.equal(weighted.labels, repeated.labels[torch.cumsum(w, 0) - 1])


def test_zero_weight_rows_are_never_seeded_and_do_not_move_centres() -> None:
    from pyagc.functional import kmeans as kmeans_fn

    gen = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(200, 2, generator=gen), torch.full((5, 2), 100.0)])  # far outliers, weight 0
    w = torch.cat([torch.ones(200), torch.zeros(5)])
    for seed in range(5):
        res = kmeans_fn(x, 2, sample_weight=w, seed=seed, n_init=1)
        assert float(res.centers.abs().max()) < 10.0


def test_sample_weight_errors() -> None:
    from pyagc.functional import kmeans as kmeans_fn

    x = torch.randn(20, 2)
    with pytest.raises(ValueError, match="20 rows"):
        kmeans_fn(x, 2, sample_weight=torch.ones(19))
    with pytest.raises(ValueError, match="non-negative"):
        kmeans_fn(x, 2, sample_weight=-torch.ones(20))
    with pytest.raises(ValueError, match="Lloyd"):
        kmeans_fn(x, 2, sample_weight=torch.ones(20), method="minibatch")


def test_kmeans_numpy_matches_scikit_learn_with_weights_and_rejects_unknown_options() -> None:
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    from pyagc.functional import kmeans_numpy

    x, _ = make_blobs(600, centers=5, n_features=3, random_state=1)
    w = np.random.default_rng(0).uniform(0.1, 3.0, len(x))
    ours = kmeans_numpy(x, 5, 0, sample_weight=w, n_init=10)
    theirs = KMeans(5, n_init=10, random_state=0).fit(x, sample_weight=w)
    assert ours.labels.dtype == np.int64 and ours.centers.dtype == np.float64
    assert ours.inertia <= theirs.inertia_ * (1 + 1e-6)
    assert kmeans_numpy(x, 5, 0, init=theirs.cluster_centers_, sample_weight=w).inertia == pytest.approx(
        theirs.inertia_, rel=1e-6
    )
    with pytest.raises(TypeError, match="unknown k-means option"):
        kmeans_numpy(x, 5, algorithm="elkan")
