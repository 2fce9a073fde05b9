r"""Grid geometry of a self-organising map: neuron positions, adjacency, smoothing.

Conventions used throughout :mod:`pyagc.som`:

* a map has ``x`` columns and ``y`` rows, ``M = x * y`` neurons;
* neuron ``k`` sits in row ``r = k // x`` and column ``c = k % x``;
* rectangular grid: position :math:`(c, r)`;
* hexagonal grid (pointy-top hexagons, odd rows shifted right):
  position :math:`(c + \tfrac12 (r \bmod 2),\; r \sqrt{3}/2)`, so every neuron has
  up to six neighbours at grid distance exactly 1;
* ``to_grid(values)`` reshapes an ``(M, ...)`` array to ``(y, x, ...)`` (row-major).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

TOPOLOGIES = ("rectangular", "hexagonal")


def grid_positions(x: int, y: int, topology: str = "rectangular") -> np.ndarray:
    """Return the ``(x * y, 2)`` float array of neuron positions on the grid."""
    rows, cols = np.divmod(np.arange(x * y), x)
    if topology == "hexagonal":
        px = cols + 0.5 * (rows % 2)
        py = rows * (math.sqrt(3.0) / 2.0)
    else:
        px, py = cols.astype(float), rows.astype(float)
    return np.stack([px, py], axis=1).astype(np.float64)


def adjacency_radius(topology: str) -> float:
    r"""Grid distance up to which two neurons count as neighbours.

    Hexagonal: 1 (six neighbours). Rectangular: :math:`\\sqrt{2}` (eight neighbours, as in
    MiniSom's topographic error and distance map).
    """
    return 1.0 + 1e-6 if topology == "hexagonal" else math.sqrt(2.0) + 1e-6


def grid_neighbors(positions: np.ndarray, topology: str) -> np.ndarray:
    """Return an ``(M, max_degree)`` int array of neighbour indices, padded with ``-1``."""
    m = len(positions)
    pairs = cKDTree(positions).query_pairs(adjacency_radius(topology), output_type="ndarray")
    deg = np.zeros(m, dtype=np.int64)
    if len(pairs):
        np.add.at(deg, pairs[:, 0], 1)
        np.add.at(deg, pairs[:, 1], 1)
    width = max(int(deg.max()) if m else 0, 1)
    out = -np.ones((m, width), dtype=np.int64)
    fill = np.zeros(m, dtype=np.int64)
    for a, b in pairs:
        out[a, fill[a]] = b
        fill[a] += 1
        out[b, fill[b]] = a
        fill[b] += 1
    return out


def smooth_on_grid(values: np.ndarray, x: int, y: int, topology: str, sigma: float) -> np.ndarray:
    r"""Gaussian smoothing of per-neuron ``values`` over the grid (normalised convolution).

    .. math::
        \tilde v_j = \frac{\sum_i g(\lVert p_i - p_j\rVert) v_i}{\sum_i g(\lVert p_i - p_j\rVert)},
        \qquad g(d) = \exp\!\left(-\frac{d^2}{2\sigma^2}\right)

    The Gaussian factorises, :math:`g = g_x(\Delta p_x)\,g_y(\Delta p_y)`, so the sum is
    computed in two separable 1-D passes: along each row (horizontal offsets), then along
    columns (vertical offsets). On a **hexagonal** grid odd rows are shifted by half a cell,
    so the horizontal pass evaluates every row's filtered signal at *all* distinct horizontal
    positions (integers and half-integers) and the vertical pass (row spacing
    :math:`\sqrt3/2`) reads, in each row, the value at the target neuron's own horizontal
    position. The result is the exact isotropic Gaussian on the true hexagonal positions,
    at separable cost :math:`O(M(x + y))`. Dividing by the smoothed all-ones map
    (normalised convolution) keeps border neurons unbiased.
    """
    v = np.asarray(values, dtype=np.float64).reshape(y, x)
    if sigma <= 0:
        return v.reshape(-1).copy()
    pos = grid_positions(x, y, topology)
    px = pos[:, 0].reshape(y, x)
    xs = np.unique(np.round(px, 6))  # all distinct horizontal coordinates
    col_index = np.searchsorted(xs, np.round(px, 6))  # (y, x)
    dy = math.sqrt(3.0) / 2.0 if topology == "hexagonal" else 1.0
    ys = np.arange(y) * dy

    def _smooth(vals: np.ndarray) -> np.ndarray:
        # horizontal pass: F[r, u] = sum_c g(xs[u] - px[r, c]) vals[r, c]
        gx = np.exp(-((xs[None, None, :] - px[:, :, None]) ** 2) / (2 * sigma**2))  # (y, x, U)
        f = np.einsum("rcu,rc->ru", gx, vals)
        # vertical pass: out[r, c] = sum_r' g(ys[r] - ys[r']) F[r', u(r, c)]
        gy = np.exp(-((ys[:, None] - ys[None, :]) ** 2) / (2 * sigma**2))  # (y, y)
        fv = gy @ f  # (y, U)
        return np.take_along_axis(fv, col_index, axis=1)

    num = _smooth(v)
    den = _smooth(np.ones_like(v))
    return (num / den).reshape(-1)


def suggest_grid_size(n_samples: int, data: np.ndarray | None = None, topology: str = "hexagonal") -> tuple[int, int]:
    r"""Default map size (Vesanto's SOM Toolbox heuristic).

    :math:`M \approx 5\sqrt{n}` neurons; if ``data`` is given, the side ratio follows the
    ratio of the square roots of the two largest principal variances (the longer side
    ``x`` along the first principal direction); otherwise a 4:3 ratio. Both sides are at
    least 3.
    """
    m = max(9.0, 5.0 * math.sqrt(max(int(n_samples), 1)))
    ratio = 4.0 / 3.0
    if data is not None and np.ndim(data) == 2 and np.shape(data)[1] >= 2 and len(data) >= 3:
        d = np.asarray(data, dtype=np.float64)
        if len(d) > 20000:
            d = d[np.random.default_rng(0).choice(len(d), 20000, replace=False)]
        ev = np.sort(np.linalg.eigvalsh(np.cov(d, rowvar=False)))[::-1]
        if ev[1] > 1e-12:
            ratio = float(np.clip(math.sqrt(ev[0] / ev[1]), 1.0, 4.0))
    if topology == "hexagonal":  # rows are sqrt(3)/2 apart: more rows for the same extent
        ratio *= math.sqrt(3.0) / 2.0
    ysz = max(3, int(round(math.sqrt(m / ratio))))
    xsz = max(3, int(round(m / ysz)))
    return xsz, ysz
