r"""k-means: k-means++ seeding, ``n_init`` restarts, Lloyd or mini-batch; optional sample weights.

Lloyd's algorithm minimises the within-cluster sum of squares

.. math::
    \min_{\boldsymbol\mu_1..\boldsymbol\mu_K} \sum_{i=1}^{N} \min_k \lVert \mathbf{z}_i - \boldsymbol\mu_k \rVert^2,

seeded with greedy k-means++ (Arthur & Vassilvitskii, SODA 2007,
https://theory.stanford.edu/~sergei/papers/kMeansPP-soda.pdf): each new centre is the best (the one that lowers
the potential most) of ``n_local_trials`` candidates drawn with probability proportional to the squared distance
to the nearest centre chosen so far. scikit-learn draws ``2 + ln K`` candidates; pyagc draws twice as many by
default: on Gaussian blobs (``benchmarks/kmeans_vs_sklearn.md``) the seeding costs a little more, the Lloyd
iterations that follow converge sooner (about the same total time) and the final inertia is lower (4 % on
average over seeds for 100k x 32, K = 50 and 200k x 64, K = 100). ``n_local_trials=2 + int(math.log(K))``
gives scikit-learn's count.

Which code runs where (one function, :func:`kmeans`, in front):

* **seeding** (k-means++): PyTorch on the input's device, one ``(N, n_local_trials)`` matrix product per
  centre (1.6 to 5 times faster than scikit-learn's ``kmeans_plusplus``, which up-casts float32 distances to
  float64 in chunks; the seeding is most of ``KMeans``'s time for large N and K).
* **Lloyd iterations**: on the CPU scikit-learn's Cython/OpenMP Lloyd (``algorithm="lloyd"``, chunked
  BLAS distances; the restarts' best run is kept as in ``KMeans``), on a GPU (or with
  ``backend="torch"``) PyTorch with row-chunked distance matrices.
* **mini-batch k-means** (``method="minibatch"``, or automatically when ``N * F`` exceeds
  ``minibatch_threshold``, default :data:`MINIBATCH_THRESHOLD` = 2**28 elements, 1 GiB of float32): k-means
  (``n_init`` restarts) on a random subsample seeds scikit-learn's ``MiniBatchKMeans`` on the CPU, or a PyTorch
  mini-batch loop (Sculley's per-centre learning rate) on a GPU; no full-size copy of the data is made.

Determinism: the same ``seed`` and thread count give the same result on the CPU, bitwise with one or two
threads. scikit-learn's Lloyd adds the per-thread partial sums under a lock, in the order the threads finish, so
with three or more OpenMP threads the centres can differ in the last bits from run to run (labels practically
never). On a GPU the centre sums are atomic adds (``index_add_``), repeatable in the last bits only under
``torch.use_deterministic_algorithms(True)``. Heads broadcast rank 0's initialisation under DDP in any case.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["KMeansResult", "MINIBATCH_THRESHOLD", "default_local_trials", "kmeans", "kmeans_numpy", "pairwise_sq_dists"]

#: ``method="auto"`` switches to mini-batch k-means above this many elements ``N * F`` (2**28: 1 GiB of float32).
MINIBATCH_THRESHOLD = 2**28

# the torch Lloyd / assignment works on row chunks whose (rows, K) distance block has at most this many entries
_CHUNK_ELEMENTS = 2**24


@dataclass
class KMeansResult:
    """The best run of :func:`kmeans`."""

    centers: Tensor  # (K, F)
    labels: Tensor  # (N,) int64
    inertia: float
    n_iter: int  # Lloyd iterations of the kept run, or mini-batch steps
    method: str = "lloyd"  # "lloyd" or "minibatch"
    backend: str = "torch"  # "sklearn" or "torch"


def pairwise_sq_dists(x: Tensor, c: Tensor) -> Tensor:
    """Squared Euclidean distances ``(N, K)`` between rows of ``x`` and ``c`` (clamped at 0)."""
    d = (x * x).sum(1, keepdim=True) - 2.0 * x @ c.T + (c * c).sum(1).unsqueeze(0)
    return d.clamp_min_(0.0)


def default_local_trials(k: int) -> int:
    """Pyagc's k-means++ candidates per centre, ``2 * (2 + int(ln K))`` (twice scikit-learn's count)."""
    return 2 * (2 + int(math.log(k)))


def _kmeans_plusplus(
    x: Tensor,
    k: int,
    generator: torch.Generator,
    x_sq: Tensor | None = None,
    n_local_trials: int | None = None,
    weights: Tensor | None = None,
) -> Tensor:
    r"""Greedy k-means++ centres ``(k, F)`` of ``x`` (``x_sq``: the squared row norms): each step draws
    ``n_local_trials`` candidates (from the CPU ``generator``) and keeps the one that lowers the potential most,
    all candidates scored by one ``(N, T)`` product; no host synchronisation on a GPU. With ``weights``, row
    :math:`i` counts :math:`w_i` times: drawn with probability :math:`\propto w_i D(x_i)^2`, potential
    :math:`\sum_i w_i D(x_i)^2`.
    """
    n, dev = x.shape[0], x.device
    if x_sq is None:
        x_sq = (x * x).sum(1)
    if n_local_trials is None:
        n_local_trials = default_local_trials(k)
    if weights is None:
        first = torch.randint(n, (1,), generator=generator, device="cpu").to(dev)
    else:
        cum_w = torch.cumsum(weights, 0, dtype=torch.float64)
        u0 = torch.rand(1, generator=generator, dtype=torch.float64, device="cpu").to(dev)
        first = torch.searchsorted(cum_w, u0 * cum_w[-1], right=True).clamp_max_(n - 1)
    closest = torch.mv(x, x.index_select(0, first)[0]).mul_(-2.0).add_(x_sq).add_(x_sq[first]).clamp_min_(0.0)
    chosen = torch.empty(k, dtype=torch.long, device=dev)
    chosen[0] = first[0]
    for c in range(1, k):
        u = torch.rand(n_local_trials, generator=generator, dtype=torch.float64, device="cpu").to(dev)
        cum = torch.cumsum(closest if weights is None else closest * weights, 0, dtype=torch.float64)
        pot = cum[-1]
        # candidate i is drawn with probability closest[i] / pot; uniform when every point is a centre already
        idx = torch.searchsorted(cum, u * pot, right=True).clamp_max_(n - 1)
        idx = torch.where(pot > 0, idx, (u * n).long().clamp_max_(n - 1))
        dist = torch.addmm(x_sq.index_select(0, idx).unsqueeze(0), x, x.index_select(0, idx).T, alpha=-2.0)
        dist.add_(x_sq.unsqueeze(1)).clamp_min_(0.0)
        torch.minimum(dist, closest.unsqueeze(1), out=dist)  # (N, T): closest distance with each candidate added
        best = (dist.sum(0) if weights is None else weights @ dist).argmin().view(1)
        closest = dist.index_select(1, best).squeeze(1)
        chosen[c] = idx[best][0]
    return x.index_select(0, chosen)


def _assign(
    x: Tensor, centers: Tensor, x_sq: Tensor | None = None, offset: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Nearest centre of every row of ``x`` and the squared distance to it, by row chunks (``offset``: a point
    subtracted from rows and centres first, for accurate expanded distances on uncentred data).
    """
    n, k = x.shape[0], centers.shape[0]
    if offset is not None:
        centers = centers - offset
    c_sq = (centers * centers).sum(1).unsqueeze(0)
    labels = torch.empty(n, dtype=torch.long, device=x.device)
    min_d = torch.empty(n, dtype=x.dtype, device=x.device)
    step = max(1, _CHUNK_ELEMENTS // max(k, 1))
    for s in range(0, n, step):
        e = min(n, s + step)
        xs = x[s:e] if offset is None else x[s:e] - offset
        d = torch.addmm(c_sq, xs, centers.T, alpha=-2.0)  # ||c||^2 - 2 x.c: the argmin needs no ||x||^2
        torch.min(d, 1, out=(min_d[s:e], labels[s:e]))
        min_d[s:e] += x_sq[s:e] if x_sq is not None else (xs * xs).sum(1)
    return labels, min_d.clamp_min_(0.0)


def _lloyd_torch(
    x: Tensor, centers: Tensor, max_iter: int, tol: float, x_sq: Tensor, weights: Tensor | None = None
) -> tuple[Tensor, Tensor, float, int]:
    """Lloyd's iterations in PyTorch (any device): stop when the labels no longer change or the squared centre
    shift is at most ``tol`` (then one more assignment, so that labels match the centres). ``weights``: centres
    are weighted means, the inertia a weighted sum.
    """
    k = centers.shape[0]
    labels, min_d = _assign(x, centers, x_sq)
    xw = x if weights is None else x * weights.unsqueeze(1)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        counts = torch.bincount(labels, weights=weights, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centers).index_add_(0, labels, xw)
        new_centers = sums / counts.clamp_min(1).unsqueeze(1)
        empty = (counts == 0).nonzero().flatten()
        if len(empty):  # re-seed empty clusters at the points farthest from their centre
            new_centers[empty] = x[min_d.topk(len(empty)).indices]
        shift = float(((new_centers - centers) ** 2).sum())
        centers = new_centers
        new_labels, min_d = _assign(x, centers, x_sq)
        converged = bool(torch.equal(new_labels, labels))
        labels = new_labels
        if converged or shift <= tol:
            break
    return centers, labels, float(min_d.sum() if weights is None else weights @ min_d), n_iter


_blas_controller: Any = None


def _lloyd_sklearn(
    x: Tensor, centers: Tensor, max_iter: int, tol: float, x_sq: Tensor, weights: Tensor | None = None
) -> tuple[Tensor, Tensor, float, int]:
    """scikit-learn's Lloyd (Cython, OpenMP over ``torch.get_num_threads()`` threads) on CPU tensors."""
    global _blas_controller
    xn = x.numpy()
    c0 = np.ascontiguousarray(centers.numpy())
    n_threads = max(1, torch.get_num_threads())
    try:
        from sklearn.cluster._kmeans import _kmeans_single_lloyd
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a scikit-learn without the private function: its public class
        return _lloyd_sklearn_public(x, centers, max_iter, tol, n_threads, weights)
    if _blas_controller is None:
        _blas_controller = ThreadpoolController()
    wn = (
        np.ones(xn.shape[0], dtype=xn.dtype)
        if weights is None
        else np.ascontiguousarray(weights.numpy().astype(xn.dtype, copy=False))
    )
    with _blas_controller.limit(limits=1, user_api="blas"):  # BLAS is called from inside the OpenMP threads
        labels, inertia, out, n_iter = _kmeans_single_lloyd(xn, wn, c0, max_iter=max_iter, tol=tol, n_threads=n_threads)
    return torch.from_numpy(out), torch.from_numpy(labels.astype(np.int64)), float(inertia), int(n_iter)


def _lloyd_sklearn_public(
    x: Tensor, centers: Tensor, max_iter: int, tol: float, n_threads: int, weights: Tensor | None = None
):  # pragma: no cover
    from sklearn.cluster import KMeans
    from threadpoolctl import threadpool_limits

    var = float(x.var(0, correction=0).mean())
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        km = KMeans(
            centers.shape[0],
            init=centers.numpy(),
            n_init=1,
            max_iter=max_iter,
            tol=tol / var if var > 0 else 0.0,
            algorithm="lloyd",
        ).fit(x.numpy(), sample_weight=None if weights is None else weights.numpy())
    return (
        torch.from_numpy(km.cluster_centers_),
        torch.from_numpy(km.labels_.astype(np.int64)),
        float(km.inertia_),
        int(km.n_iter_),
    )


def _full_kmeans(
    work: Tensor,
    k: int,
    n_init: int,
    max_iter: int,
    tol: float,
    gen: torch.Generator,
    init: Tensor | None,
    backend: str,
    n_local_trials: int | None = None,
    weights: Tensor | None = None,
) -> tuple[Tensor, Tensor, float, int]:
    """Lloyd k-means with ``n_init`` k-means++ restarts on ``work`` (float32/64); the best run, in ``work``'s
    coordinates. The data are centred first (as scikit-learn does) for accurate expanded distances.
    """
    mean = work.mean(0)
    xc = (work - mean).contiguous()
    x_sq = (xc * xc).sum(1)
    tol_abs = tol * float(xc.var(0, correction=0).mean()) if xc.shape[0] > 1 else 0.0
    lloyd = _lloyd_sklearn if backend == "sklearn" else _lloyd_torch
    best: tuple[Tensor, Tensor, float, int] | None = None
    starts = [init.to(xc) - mean] if init is not None else [None] * n_init
    for start in starts:
        c0 = start if start is not None else _kmeans_plusplus(xc, k, gen, x_sq, n_local_trials, weights)
        run = lloyd(xc, c0.contiguous(), max_iter, tol_abs, x_sq, weights)
        if best is None or run[2] < best[2]:
            best = run
    assert best is not None
    centers, labels, inertia, n_iter = best
    return centers.to(xc) + mean, labels.to(work.device), inertia, n_iter


def _minibatch_torch(
    x: Tensor, centers: Tensor, batch_size: int, max_iter: int, gen: torch.Generator, max_no_improvement: int = 10
) -> tuple[Tensor, int]:
    """Mini-batch k-means in PyTorch: per-centre learning rate 1 / (points seen), as ``MiniBatchKMeans``; stops
    after ``max_iter`` epochs or when the smoothed batch inertia has not improved for ``max_no_improvement`` steps.
    """
    n, k = x.shape[0], centers.shape[0]
    offset = x[:: max(1, n // 65536)].mean(0)  # a rough centre, for accurate expanded distances
    centers = centers.clone()
    counts = torch.zeros(k, dtype=x.dtype, device=x.device)
    n_steps = max(1, math.ceil(max_iter * n / batch_size))
    alpha = min(1.0, 2.0 * batch_size / (n + 1))
    ewa, best_ewa, no_improvement, step = None, math.inf, 0, 0
    for step in range(1, n_steps + 1):  # noqa: B007 (the count is returned)
        idx = torch.randint(n, (batch_size,), generator=gen, device="cpu").to(x.device)
        xb = x.index_select(0, idx)
        labels, min_d = _assign(xb, centers, offset=offset)
        batch_counts = torch.bincount(labels, minlength=k).to(x.dtype)
        sums = torch.zeros_like(centers).index_add_(0, labels, xb)
        counts += batch_counts
        seen = (batch_counts > 0).unsqueeze(1)
        centers = torch.where(
            seen, centers + (sums - batch_counts.unsqueeze(1) * centers) / counts.clamp_min(1).unsqueeze(1), centers
        )
        batch_inertia = float(min_d.sum()) / batch_size
        ewa = batch_inertia if ewa is None else ewa * (1 - alpha) + batch_inertia * alpha
        if ewa < best_ewa:
            best_ewa, no_improvement = ewa, 0
        else:
            no_improvement += 1
            if no_improvement >= max_no_improvement:
                break
    return centers, step


def _minibatch_sklearn(x: Tensor, centers: Tensor, batch_size: int, max_iter: int, seed: int) -> tuple[Tensor, int]:
    from sklearn.cluster import MiniBatchKMeans
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=max(1, torch.get_num_threads()), user_api="openmp"):
        mbk = MiniBatchKMeans(
            centers.shape[0],
            init=centers.numpy(),
            n_init=1,
            batch_size=batch_size,
            max_iter=max_iter,
            random_state=seed,
            compute_labels=False,
        ).fit(x.numpy())
    return torch.from_numpy(mbk.cluster_centers_).to(x), int(mbk.n_steps_)


@torch.no_grad()
def kmeans(
    x: Tensor,
    n_clusters: int,
    n_init: int = 10,
    max_iter: int = 300,
    tol: float = 1e-4,
    seed: int = 0,
    init: Tensor | None = None,
    *,
    method: str = "auto",
    batch_size: int | None = None,
    minibatch_threshold: int = MINIBATCH_THRESHOLD,
    backend: str = "auto",
    n_local_trials: int | None = None,
    sample_weight: Tensor | np.ndarray | None = None,
) -> KMeansResult:
    r"""Cluster the rows of ``x`` with k-means; return the run with the lowest inertia.

    Args:
        x: data ``(N, F)``, any float dtype and device (float64 is computed in float64, every other dtype in
            float32; ``centers`` come back in ``x``'s dtype, ``labels`` as int64, both on ``x``'s device).
        n_clusters: number of clusters :math:`K`, ``2 <= K <= N``.
        n_init: number of k-means++ restarts (ignored when ``init`` is given).
        max_iter: Lloyd iterations per restart (mini-batch: at most this many epochs, early-stopped).
        tol: relative tolerance on the squared centre shift (scaled by the mean feature variance, as
            scikit-learn's ``KMeans``); Lloyd also stops when no label changes.
        seed: seed of the random draws (k-means++, subsample, mini-batches): the same seed (and thread count)
            gives the same result.
        init: optional initial centres ``(K, F)``.
        method: ``"lloyd"`` (full batch), ``"minibatch"``, or ``"auto"``: mini-batch when ``batch_size`` is given
            or ``N * F > minibatch_threshold``, Lloyd otherwise.
        batch_size: mini-batch size (default 4096 on the CPU, 65536 on a GPU; at least ``K``).
        minibatch_threshold: the ``N * F`` above which ``method="auto"`` uses mini-batch k-means
            (default :data:`MINIBATCH_THRESHOLD` = 2**28).
        backend: ``"sklearn"`` (scikit-learn's Cython Lloyd / ``MiniBatchKMeans``; CPU), ``"torch"`` (PyTorch
            on ``x``'s device) or ``"auto"``: scikit-learn for CPU tensors, PyTorch elsewhere.
        n_local_trials: k-means++ candidates per centre (default ``2 * (2 + int(ln K))``, twice scikit-learn's
            ``2 + int(ln K)``; see the module docstring).
        sample_weight: non-negative weight per row ``(N,)``: row :math:`i` counts :math:`w_i` times in the
            seeding, the centres and the inertia (e.g. a SOM's neurons weighted by their hits). Lloyd only.

    Mini-batch k-means seeds with k-means (``n_init`` k-means++ restarts) on a random subsample of
    ``max(3 * batch_size, 20 * K)`` rows, refines the centres with mini-batches of the whole data and then
    assigns every row; ``n_iter`` is then the number of mini-batch steps.
    """
    if x.dim() != 2:
        raise ValueError(f"kmeans expects a 2-D tensor (N, F), got shape {tuple(x.shape)}.")
    n = x.shape[0]
    if not 2 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be between 2 and the number of samples ({n}), got {n_clusters}.")
    if method not in ("auto", "lloyd", "minibatch"):
        raise ValueError(f"method must be 'auto', 'lloyd' or 'minibatch', got {method!r}.")
    if backend not in ("auto", "sklearn", "torch"):
        raise ValueError(f"backend must be 'auto', 'sklearn' or 'torch', got {backend!r}.")
    if n_local_trials is not None and int(n_local_trials) < 1:
        raise ValueError(f"n_local_trials must be at least 1, got {n_local_trials}.")
    if not torch.isfinite(x).all():
        raise ValueError("kmeans received NaN or inf values; clean or impute the data first.")
    weights = None
    if sample_weight is not None:
        weights = torch.as_tensor(sample_weight).detach().flatten()
        if weights.shape[0] != n:
            raise ValueError(f"sample_weight has {weights.shape[0]} entries for {n} rows.")
        if not torch.isfinite(weights).all() or bool((weights < 0).any()) or float(weights.sum()) <= 0:
            raise ValueError("sample_weight must be finite, non-negative and not all zero.")
        if method == "minibatch":
            raise ValueError("sample_weight is supported by Lloyd's k-means only (method='lloyd' or 'auto').")
        method = "lloyd"
    if backend == "auto":
        backend = "sklearn" if x.device.type == "cpu" else "torch"
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    # scikit-learn runs on the CPU: a GPU tensor given backend="sklearn" is copied there and back
    work = x.detach().to(device="cpu" if backend == "sklearn" else x.device, dtype=dtype).contiguous()
    if method == "auto":
        method = "minibatch" if batch_size is not None or n * x.shape[1] > minibatch_threshold else "lloyd"
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    n_init = max(1, int(n_init))
    if weights is not None:
        weights = weights.to(device=work.device, dtype=dtype)

    if method == "lloyd":
        centers, labels, inertia, n_iter = _full_kmeans(
            work, n_clusters, n_init, max_iter, tol, gen, init, backend, n_local_trials, weights
        )
    else:
        if batch_size is None:
            batch_size = 4096 if work.device.type == "cpu" else 65536
        batch_size = max(int(batch_size), n_clusters)
        n_sub = min(n, max(3 * batch_size, 20 * n_clusters))
        if init is not None:
            c0 = init.to(work)
        else:
            sub = work if n_sub == n else work[torch.randperm(n, generator=gen)[:n_sub].to(work.device)]
            c0 = _full_kmeans(sub, n_clusters, n_init, max_iter, tol, gen, None, backend, n_local_trials)[0]
        if backend == "sklearn":
            centers, n_iter = _minibatch_sklearn(work, c0, batch_size, max_iter, int(seed))
        else:
            centers, n_iter = _minibatch_torch(work, c0, batch_size, max_iter, gen)
        labels, min_d = _assign(work, centers, offset=work[:: max(1, n // 65536)].mean(0))
        inertia = float(min_d.sum())
    return KMeansResult(
        centers.to(device=x.device, dtype=x.dtype), labels.to(x.device), inertia, n_iter, method, backend
    )


_NUMPY_OPTIONS = ("n_init", "max_iter", "tol", "init", "n_local_trials", "backend", "method", "batch_size")


def kmeans_numpy(
    x: np.ndarray,
    n_clusters: int,
    random_state: int | None = 0,
    sample_weight: np.ndarray | None = None,
    **options: Any,
) -> KMeansResult:
    """:func:`kmeans` on a NumPy array, with scikit-learn's argument names where they differ: ``random_state``
    (``None``: a fresh seed) and ``init`` as an array or ``"k-means++"``. ``options``: ``n_init``, ``max_iter``,
    ``tol``, ``init``, ``n_local_trials``, ``backend``, ``method``, ``batch_size``; the result holds NumPy arrays
    (``centers`` in ``x``'s float precision, ``labels`` int64).
    """
    unknown = sorted(set(options) - set(_NUMPY_OPTIONS))
    if unknown:
        raise TypeError(f"unknown k-means option(s) {unknown}; valid: {list(_NUMPY_OPTIONS)} (pyagc.functional.kmeans)")
    init = options.pop("init", None)
    if isinstance(init, str):
        if init != "k-means++":
            raise ValueError(f"init must be 'k-means++' or an array of {n_clusters} centres, got {init!r}.")
        init = None
    arr = np.asarray(x)
    tensor = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float64 if arr.dtype == np.float64 else np.float32))
    seed = int(np.random.SeedSequence().entropy % (2**31)) if random_state is None else int(random_state)
    result = kmeans(
        tensor,
        int(n_clusters),
        seed=seed,
        init=None if init is None else torch.as_tensor(np.asarray(init), dtype=tensor.dtype),
        sample_weight=None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64),
        **options,
    )
    return KMeansResult(
        result.centers.numpy(), result.labels.numpy(), result.inertia, result.n_iter, result.method, result.backend
    )
