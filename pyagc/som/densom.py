r"""DenSOM: density watershed on a trained SOM.

1. **Density.** Each neuron :math:`j` gets a density :math:`d_j`, then it is smoothed over the
   grid with a Gaussian of width :math:`\sigma` (grid units; the only parameter of the method):
   :math:`\rho_j = \sum_i g_\sigma(\lVert p_i - p_j\rVert) d_i / \sum_i g_\sigma(\lVert p_i - p_j\rVert)`,
   computed as a separable convolution (:func:`pyagc.som.grid.smooth_on_grid`; on hexagonal
   grids the two passes use the true, half-cell-shifted positions, which gives the exact
   isotropic Gaussian). Two estimates of :math:`d_j`:

   * ``density="hits"`` (default): the hit map :math:`d_j = h_j` (samples per neuron);
   * ``density="data"``: the **data-space log-density** at the prototype,
     a Gaussian kernel density estimate of the data evaluated at :math:`w_j`,
     :math:`d_j = \log \sum_i \exp(-\lVert x_i - w_j\rVert^2 / 2h^2)` (log-sum-exp, no
     underflow), with the bandwidth :math:`h` set from the data, not tuned: the median distance
     of a sample to its BMU's prototype (the map's resolution). The raw hit counts are flattened
     by the SOM's magnification (dense regions get more neurons, so hits per neuron stay nearly
     constant) and are Poisson-noisy; the data density at the prototype is not. Working with the
     log keeps clusters whose densities differ by orders of magnitude (a dense core in a sparse
     shell) on one scale for the threshold. On FCPS it finds the true :math:`k` on as many sets
     as the hit map (5/9 on seed 0, 16 vs 13 of 27 over seeds 0-2) but on other sets, and it
     splits three well-separated blobs into four (the far tail of the log-density stretches
     Otsu's histogram, so the shallow gaps between clusters stay core): see
     ``benchmarks/densom_fcps.md``. It is therefore an option, not the default.
2. **Core neurons.** :math:`\rho_j > \tau` with :math:`\tau` Otsu's threshold
   (`Otsu, 1979 <https://doi.org/10.1109/TSMC.1979.4310076>`_), maximising the between-class
   variance :math:`\omega_0\omega_1(\mu_0 - \mu_1)^2` of the :math:`\rho` histogram.
3. **Watershed.** Core neurons are flooded in order of decreasing :math:`\rho`
   (`Vincent & Soille, 1991 <https://doi.org/10.1109/34.87344>`_, for maxima instead of
   minima): a neuron with no already-flooded core neighbour is a local density maximum and
   seeds a new basin; otherwise it joins the basin of its densest flooded neighbour. Grid
   adjacency: 6 neighbours (hexagonal) or 8 (rectangular). Density estimates are noisy, so the
   plain watershed over-segments: a basin whose peak density :math:`D_a` exceeds the density
   :math:`D_s` of the saddle where it meets a higher basin by less than ``min_persistence``
   :math:`\pi` of its peak, :math:`D_s > (1 - \pi) D_a`, is merged into it (persistence as in
   ToMATo, `Chazal et al., 2013 <https://doi.org/10.1145/2535927>`_; on the log-density the
   same test reads :math:`\rho_a - \rho_s < -\log(1 - \pi)`); ``min_persistence=0`` is the
   plain watershed.
4. **Noise.** Non-core neurons get label ``-1``; samples whose BMU is not core are noise.

:math:`k` is the number of surviving basins: it is found, not given.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

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


def watershed_maxima(density: np.ndarray, neighbors: np.ndarray, mask: np.ndarray, min_persistence: float = 0.0,
                     log_density: bool = False) -> Dict[str, Any]:
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
                    if r != top and (peak[r] - density[j] < log_margin if log_density
                                     else peak[r] - density[j] < min_persistence * peak[r]):
                        parent[r] = top
                        merges += 1
    if min_persistence > 0 and parent:
        roots = np.array([find(int(b)) for b in range(len(parent))])
        basin = np.where(basin >= 0, roots[np.maximum(basin, 0)], -1)
        seeds = [seeds[r] for r in sorted(set(roots.tolist()))]
    uniq = np.unique(basin[basin >= 0])
    labels = np.where(basin >= 0, np.searchsorted(uniq, basin), -1).astype(np.int64)
    return {"labels": labels, "seeds": seeds, "merges": merges}


def data_log_density(data: np.ndarray, weights: np.ndarray, bandwidth: Optional[float] = None,
                     chunk: int = 4096) -> Tuple[np.ndarray, float]:
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
    sigma: float = 1.0,
    min_persistence: float = 0.3,
    data: Optional[np.ndarray] = None,
    weights: Optional[np.ndarray] = None,
    density: str = "hits",
) -> Dict[str, Any]:
    r"""DenSOM clustering of a map.

    Args:
        hits (np.ndarray): ``(x*y,)`` samples per neuron.
        x (int), y (int): grid size. topology (str): ``"rectangular"`` or ``"hexagonal"``.
        sigma (float, optional): width of the Gaussian smoothing in grid units. (default: :obj:`1.0`)
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
        neuron of every cluster), ``bandwidth`` (``"data"`` only).
    """
    hits = np.asarray(hits, dtype=np.float64)
    if len(hits) != x * y:
        raise ValueError(f"hits has {len(hits)} entries but the grid has x*y = {x * y} neurons.")
    if hits.sum() <= 0:
        raise ValueError("The hit map is empty: fit the SOM on data (or pass the data to cluster) first.")
    if density not in ("data", "hits"):
        raise ValueError(f"Unknown density {density!r}. Valid options are: 'hits', 'data'.")
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
    ws = watershed_maxima(rho, nbrs, core, float(min_persistence), log_density=density == "data")
    labels = ws["labels"]
    out = {
        "labels": labels,
        "n_clusters": int(labels.max() + 1) if (labels >= 0).any() else 0,
        "density": rho,
        "density_kind": density,
        "threshold": thr,
        "core": core,
        "seeds": ws["seeds"],
        "sigma": float(sigma),
        "persistence_merges": ws["merges"],
    }
    if bandwidth is not None:
        out["bandwidth"] = bandwidth
    return out
