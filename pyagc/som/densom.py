r"""DenSOM: density watershed on the hit map of a trained SOM.

1. **Density.** The hit map :math:`h_j` (samples per neuron) is smoothed over the grid with a
   Gaussian of width :math:`\sigma` (grid units; the only parameter):
   :math:`\rho_j = \sum_i g_\sigma(\lVert p_i - p_j\rVert) h_i / \sum_i g_\sigma(\lVert p_i - p_j\rVert)`,
   computed as a separable convolution (:func:`pyagc.som.grid.smooth_on_grid`; on hexagonal
   grids the two passes use the true, half-cell-shifted positions, which gives the exact
   isotropic Gaussian).
2. **Core neurons.** :math:`\rho_j > \tau` with :math:`\tau` Otsu's threshold
   (`Otsu, 1979 <https://doi.org/10.1109/TSMC.1979.4310076>`_), maximising the between-class
   variance :math:`\omega_0\omega_1(\mu_0 - \mu_1)^2` of the :math:`\rho` histogram.
3. **Watershed.** Core neurons are flooded in order of decreasing :math:`\rho`
   (`Vincent & Soille, 1991 <https://doi.org/10.1109/34.87344>`_, for maxima instead of
   minima): a neuron with no already-flooded core neighbour is a local density maximum and
   seeds a new basin; otherwise it joins the basin of its densest flooded neighbour. Grid
   adjacency: 6 neighbours (hexagonal) or 8 (rectangular). Hit counts are Poisson-noisy (a
   default map holds only ~5 samples per neuron), so the plain watershed over-segments: a
   basin whose peak :math:`\rho_a` rises less than ``min_persistence`` :math:`\cdot\rho_a`
   above the saddle :math:`\rho_s` where it meets a higher basin is merged into it
   (:math:`\rho_a - \rho_s < \pi\rho_a`; persistence as in ToMATo,
   `Chazal et al., 2013 <https://doi.org/10.1145/2535927>`_); ``min_persistence=0`` is the
   plain watershed.
4. **Noise.** Non-core neurons get label ``-1``; samples whose BMU is not core are noise.

:math:`k` is the number of surviving basins: it is found, not given.
"""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

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


def watershed_maxima(density: np.ndarray, neighbors: np.ndarray, mask: np.ndarray, min_persistence: float = 0.0) -> Dict[str, Any]:
    """Flood the ``mask`` neurons in decreasing ``density`` order (see module docstring);
    ``min_persistence`` is relative to each basin's peak.

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
                    if r != top and peak[r] - density[j] < min_persistence * peak[r]:
                        parent[r] = top
                        merges += 1
    if min_persistence > 0 and parent:
        roots = np.array([find(int(b)) for b in range(len(parent))])
        basin = np.where(basin >= 0, roots[np.maximum(basin, 0)], -1)
        seeds = [seeds[r] for r in sorted(set(roots.tolist()))]
    uniq = np.unique(basin[basin >= 0])
    labels = np.where(basin >= 0, np.searchsorted(uniq, basin), -1).astype(np.int64)
    return {"labels": labels, "seeds": seeds, "merges": merges}


def densom(
    hits: np.ndarray,
    x: int,
    y: int,
    topology: str = "hexagonal",
    sigma: float = 1.0,
    min_persistence: float = 0.3,
) -> Dict[str, Any]:
    r"""DenSOM clustering of a map from its hit counts.

    Args:
        hits (np.ndarray): ``(x*y,)`` samples per neuron.
        x (int), y (int): grid size. topology (str): ``"rectangular"`` or ``"hexagonal"``.
        sigma (float, optional): width of the Gaussian smoothing in grid units. (default: :obj:`1.0`)
        min_persistence (float, optional): merge a basin whose peak exceeds its saddle with a
            higher basin by less than this share of its peak; :obj:`0` is the plain watershed.
            (default: :obj:`0.3`)

    Returns:
        dict: ``labels`` (per neuron, ``-1`` = non-core), ``n_clusters``, ``density``,
        ``threshold``, ``core`` (bool per neuron), ``seeds`` (peak neuron of every cluster).
    """
    hits = np.asarray(hits, dtype=np.float64)
    if len(hits) != x * y:
        raise ValueError(f"hits has {len(hits)} entries but the grid has x*y = {x * y} neurons.")
    if hits.sum() <= 0:
        raise ValueError("The hit map is empty: fit the SOM on data (or pass the data to cluster) first.")
    rho = smooth_on_grid(hits, x, y, topology, sigma)
    thr = otsu_threshold(rho)
    core = rho > thr
    nbrs = grid_neighbors(grid_positions(x, y, topology), topology)
    ws = watershed_maxima(rho, nbrs, core, float(min_persistence))
    labels = ws["labels"]
    return {
        "labels": labels,
        "n_clusters": int(labels.max() + 1) if (labels >= 0).any() else 0,
        "density": rho,
        "threshold": thr,
        "core": core,
        "seeds": ws["seeds"],
        "sigma": float(sigma),
        "persistence_merges": ws["merges"],
    }
