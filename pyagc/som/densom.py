r"""DenSOM: density watershed on a trained SOM.

1. **Density.** Each neuron :math:`j` gets a density :math:`d_j`, then it is smoothed over the
   grid with a Gaussian of width :math:`\sigma` (grid units; the only parameter of the method):
   :math:`\rho_j = \sum_i g_\sigma(\lVert p_i - p_j\rVert) d_i / \sum_i g_\sigma(\lVert p_i - p_j\rVert)`,
   computed as a separable convolution (:func:`pyagc.som.grid.smooth_on_grid`; on hexagonal
   grids the two passes use the true, half-cell-shifted positions, which gives the exact
   isotropic Gaussian). By default :math:`\sigma` follows the map's resolution,
   :math:`\sigma = \sqrt{xy}/12` (:func:`default_sigma`): a map with four times the neurons on
   the same data has twice the linear resolution, so the same smoothing in data space needs
   twice :math:`\sigma` in grid units; a fixed :math:`\sigma` in grid units smooths small maps
   too much (merging clusters) and large maps too little (splitting them on Poisson noise).
   Two estimates of :math:`d_j`:

   * ``density="hits"`` (default): the hit map :math:`d_j = h_j` (samples per neuron);
   * ``density="data"``: the **data-space log-density** at the prototype,
     a Gaussian kernel density estimate of the data evaluated at :math:`w_j`,
     :math:`d_j = \log \sum_i \exp(-\lVert x_i - w_j\rVert^2 / 2h^2)` (log-sum-exp, no
     underflow), with the bandwidth :math:`h` set from the data, not tuned: the median distance
     of a sample to its BMU's prototype (the map's resolution). Working with the log keeps
     clusters whose densities differ by orders of magnitude on one scale for the threshold.
     It finds the true :math:`k` on fewer FCPS sets than the hit map and splits three
     well-separated blobs into four (the far tail of the log-density stretches Otsu's
     histogram; see ``benchmarks/densom_fcps.md``), so it is an option, not the default.
2. **Core neurons.** :math:`\rho_j > \tau` with :math:`\tau` Otsu's threshold
   (`Otsu, 1979 <https://doi.org/10.1109/TSMC.1979.4310076>`_), maximising the between-class
   variance :math:`\omega_0\omega_1(\mu_0 - \mu_1)^2` of the :math:`\rho` histogram.
3. **Watershed with persistence.** *All* neurons are flooded in order of decreasing
   :math:`\rho` (`Vincent & Soille, 1991 <https://doi.org/10.1109/34.87344>`_, for maxima
   instead of minima): a neuron with no already-flooded neighbour is a local density maximum
   and seeds a new basin; otherwise it joins the basin of its densest flooded neighbour. Grid
   adjacency: 6 neighbours (hexagonal) or 8 (rectangular). Density estimates are noisy, so the
   plain watershed over-segments: when two basins meet at a neuron (a saddle of density
   :math:`D_s`), the lower one, of peak density :math:`D_a`, is merged into the higher one if
   its persistence is below ``min_persistence`` :math:`\pi` of its peak,
   :math:`D_a - D_s < \pi D_a` (topological persistence as in ToMATo,
   `Chazal et al., 2013 <https://doi.org/10.1145/2535927>`_; the test is a density *ratio*,
   so it does not change when the density is multiplied by a constant, e.g. more samples on
   the same map; on the log-density the same ratio test reads
   :math:`\rho_a - \rho_s < -\log(1 - \pi)`); ``min_persistence=0`` is the plain watershed.
   The flood and the merges run over the whole map, not only over the core: two core islands
   that the threshold separates by a shallow dip (e.g. the rim of a map, whose border
   neurons collect the samples outside the map and so look denser than its inside) are one
   cluster if the dip is not persistent, while a deep gap keeps them apart.
4. **Noise.** Non-core neurons get label ``-1``; samples whose BMU is not core are noise.

:math:`k` is the number of persistent basins that contain core neurons: it is found, not given.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
from scipy.special import logsumexp

from .grid import grid_neighbors, grid_positions, smooth_on_grid


def otsu_threshold(values: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of ``values`` (maximum between-class variance over ``bins`` cuts)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        return lo
    hist, edges = np.histogram(v, bins=bins, range=(lo, hi))
    p = hist / hist.sum()
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)
    w1 = 1 - w0
    m0 = np.cumsum(p * centers)
    mt = m0[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mt * w0 - m0) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1
    return float(edges[int(np.argmax(between)) + 1])


def watershed_maxima(
    density: np.ndarray,
    neighbors: np.ndarray,
    mask: np.ndarray,
    min_persistence: float = 0.0,
    log_density: bool = False,
) -> dict[str, Any]:
    """Flood the ``mask`` neurons in decreasing ``density`` order (see module docstring);
    ``min_persistence`` is relative to each basin's peak density (with ``log_density`` the values
    are log-densities and the same density-ratio test is applied to them).

    Returns ``labels`` (``-1`` outside ``mask``), ``seeds`` (neuron index of each basin's peak)
    and ``merges`` (number of persistence merges).
    """
    m = len(density)
    order = np.argsort(-density, kind="stable")
    basin = -np.ones(m, dtype=np.int64)
    parent: list = []  # union-find over basin ids
    peak: list = []
    seeds: list = []

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    merges = 0
    log_margin = -np.log1p(-min(float(min_persistence), 1.0 - 1e-12)) if log_density else 0.0
    for j in order:
        if not mask[j]:
            continue
        nb = neighbors[j]
        nb = nb[(nb >= 0)]
        nb = nb[basin[nb] >= 0]
        if len(nb) == 0:
            bid = len(parent)
            parent.append(bid)
            peak.append(float(density[j]))
            seeds.append(int(j))
            basin[j] = bid
            continue
        up = nb[np.argmax(density[nb])]
        basin[j] = basin[up]
        if min_persistence > 0:
            roots = {find(int(basin[q])) for q in nb}
            if len(roots) > 1:
                top = max(roots, key=lambda r: peak[r])
                for r in roots:
                    if r != top and (
                        peak[r] - density[j] < log_margin
                        if log_density
                        else peak[r] - density[j] < min_persistence * peak[r]
                    ):
                        parent[r] = top
                        merges += 1
    if min_persistence > 0 and parent:
        roots = np.array([find(int(b)) for b in range(len(parent))])
        basin = np.where(basin >= 0, roots[np.maximum(basin, 0)], -1)
        seeds = [seeds[r] for r in sorted(set(roots.tolist()))]
    uniq = np.unique(basin[basin >= 0])
    labels = np.where(basin >= 0, np.searchsorted(uniq, basin), -1).astype(np.int64)
    return {"labels": labels, "seeds": seeds, "merges": merges}


def default_sigma(x: int, y: int) -> float:
    r"""Default smoothing width of DenSOM in grid units: :math:`\sigma = \sqrt{xy}/12`, a fixed
    share of the map's (geometric mean) side, so that it follows the map's resolution.
    """
    return math.sqrt(float(x) * float(y)) / 12.0


def restrict_to_core(labels: np.ndarray, seeds: list, core: np.ndarray) -> tuple[np.ndarray, list]:
    """Keep the basin labels of the ``core`` neurons only (``-1`` elsewhere), renumber the basins
    that keep at least one core neuron as ``0..k-1`` and return them with their peak neurons.
    """
    lab = np.where(core, labels, -1)
    uniq = np.unique(lab[lab >= 0])
    out = np.where(lab >= 0, np.searchsorted(uniq, lab), -1).astype(np.int64)
    return out, [seeds[int(u)] for u in uniq]


def data_log_density(
    data: np.ndarray, weights: np.ndarray, bandwidth: float | None = None, chunk: int = 4096
) -> tuple[np.ndarray, float]:
    r"""Log of the Gaussian kernel density of ``data`` at every prototype (up to a constant).

    :math:`\log \sum_i \exp(-\lVert x_i - w_j\rVert^2 / 2h^2)`, accumulated over chunks of
    samples with log-sum-exp. ``bandwidth`` :math:`h` defaults to the median distance of a
    sample to its nearest prototype. Returns ``(log_density (M,), h)``.
    """
    X = np.asarray(data, dtype=np.float64)
    W = np.asarray(weights, dtype=np.float64)
    w2 = (W * W).sum(1)

    def sq_dists(xc: np.ndarray) -> np.ndarray:
        return np.maximum((xc * xc).sum(1)[:, None] - 2.0 * xc @ W.T + w2[None, :], 0.0)

    if bandwidth is None:
        q = np.sqrt(np.concatenate([sq_dists(X[s : s + chunk]).min(1) for s in range(0, len(X), chunk)]))
        bandwidth = float(np.median(q))
        if not bandwidth > 0:
            bandwidth = float(q.mean()) if q.mean() > 0 else 1.0
    acc = np.full(len(W), -np.inf)
    for s in range(0, len(X), chunk):
        acc = np.logaddexp(acc, logsumexp(-sq_dists(X[s : s + chunk]) / (2.0 * bandwidth**2), axis=0))
    return acc, float(bandwidth)


def densom(
    hits: np.ndarray,
    x: int,
    y: int,
    topology: str = "hexagonal",
    sigma: float | None = None,
    min_persistence: float = 0.3,
    data: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    density: str = "hits",
) -> dict[str, Any]:
    r"""DenSOM clustering of a map.

    Args:
        hits (np.ndarray): ``(x*y,)`` samples per neuron.
        x (int), y (int): grid size. topology (str): ``"rectangular"`` or ``"hexagonal"``.
        sigma (float, optional): width of the Gaussian smoothing in grid units; :obj:`None` means
            :func:`default_sigma`, :math:`\sqrt{xy}/12`. (default: :obj:`None`)
        min_persistence (float, optional): merge a basin whose peak density exceeds its saddle with
            a higher basin by less than this share of its peak; :obj:`0` is the plain watershed.
            (default: :obj:`0.3`)
        data (np.ndarray, optional): the samples ``(n, F)``; with ``weights``, the density is
            estimated in data space.
        weights (np.ndarray, optional): the prototypes ``(x*y, F)``.
        density (str, optional): ``"hits"`` (hit map) or ``"data"`` (log kernel density of
            ``data`` at the prototypes ``weights``). (default: :obj:`"hits"`)

    Returns:
        dict: ``labels`` (per neuron, ``-1`` = non-core), ``n_clusters``, ``density`` (the
        smoothed density :math:`\rho` the threshold and the flood use: log-density for
        ``"data"``), ``density_kind``, ``threshold``, ``core`` (bool per neuron), ``seeds`` (peak
        neuron of every cluster), ``sigma`` (the smoothing width used), ``persistence_merges``,
        ``bandwidth`` (``"data"`` only).
    """
    hits = np.asarray(hits, dtype=np.float64)
    if len(hits) != x * y:
        raise ValueError(f"hits has {len(hits)} entries but the grid has x*y = {x * y} neurons.")
    if hits.sum() <= 0:
        raise ValueError("The hit map is empty: fit the SOM on data (or pass the data to cluster) first.")
    if density not in ("data", "hits"):
        raise ValueError(f"Unknown density {density!r}. Valid options are: 'hits', 'data'.")
    if sigma is None:
        sigma = default_sigma(x, y)
    elif not (isinstance(sigma, numbers.Real) and math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0 (grid units) or None for the default, got {sigma!r}.")
    if not (isinstance(min_persistence, numbers.Real) and 0 <= min_persistence < 1):
        raise ValueError(f"min_persistence must be in [0, 1), got {min_persistence!r}.")
    bandwidth = None
    if density == "data":
        if data is None or weights is None:
            raise ValueError("density='data' needs the samples (data=...) and the prototypes (weights=...).")
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape[0] != x * y:
            raise ValueError(f"weights has {weights.shape[0]} rows but the grid has x*y = {x * y} neurons.")
        raw, bandwidth = data_log_density(data, weights)
    else:
        raw = hits
    rho = smooth_on_grid(raw, x, y, topology, sigma)
    thr = otsu_threshold(rho)
    core = rho > thr
    nbrs = grid_neighbors(grid_positions(x, y, topology), topology)
    # flood (and merge) over the whole map; the threshold only decides which neurons are noise
    ws = watershed_maxima(
        rho, nbrs, np.ones(len(rho), dtype=bool), float(min_persistence), log_density=density == "data"
    )
    labels, seeds = restrict_to_core(ws["labels"], ws["seeds"], core)
    out = {
        "labels": labels,
        "n_clusters": int(labels.max() + 1) if (labels >= 0).any() else 0,
        "density": rho,
        "density_kind": density,
        "threshold": thr,
        "core": core,
        "seeds": seeds,
        "sigma": float(sigma),
        "persistence_merges": ws["merges"],
    }
    if bandwidth is not None:
        out["bandwidth"] = bandwidth
    return out
