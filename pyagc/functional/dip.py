r"""Hartigan's dip statistic of unimodality, its modal interval and modal triangle, and p-values.

Hartigan & Hartigan, *The Dip Test of Unimodality*, Ann. Statist. 13(1), 1985,
https://doi.org/10.1214/aos/1176346577; algorithm AS 217 (P. M. Hartigan, Appl. Statist. 34(3), 1985).

For sorted data :math:`x_1 \le \dots \le x_n` with empirical distribution function :math:`F_n`, the dip
is the distance to the closest unimodal distribution function,

.. math::
    \mathrm{dip}(F_n) = \min_{G \text{ unimodal}} \; \sup_x \lvert F_n(x) - G(x) \rvert
    \;\in\; \Bigl[\tfrac{1}{2n}, \tfrac14\Bigr].

AS 217 finds it by alternating the greatest convex minorant (GCM) and the least concave majorant (LCM)
of :math:`F_n` on a shrinking *modal interval* :math:`[x_{\ell}, x_{u}]`. The dip is attained at a
*modal triangle* :math:`(i_1, i_2, i_3)`: the GCM (or LCM) segment from :math:`x_{i_1}` to
:math:`x_{i_3}` and the sample :math:`x_{i_2}` farthest from it, so that (0-based ranks)

.. math::
    \mathrm{dip} = \frac{1 + \lvert A \rvert}{2n}, \qquad
    A = (i_1 - i_2) + (i_3 - i_1)\,\frac{x_{i_2} - x_{i_1}}{x_{i_3} - x_{i_1}} .

With the ranks held fixed, this expression is differentiable in the three sample values; the DipEncoder
(Leiber et al., KDD 2022) back-propagates through it (:func:`dip_from_triangle`).

p-values (:func:`dip_pvalue`): Monte-Carlo against the uniform distribution (the least favourable
unimodal null of Hartigan & Hartigan): ``n_boot`` uniform samples of size ``n`` are drawn once per
``(n, n_boot, seed)`` and their dips cached; :math:`p = (1 + \#\{\mathrm{dip}^* \ge \mathrm{dip}\})
/ (1 + n_{boot})`. For ``n > max_exact_n`` the null of ``max_exact_n`` is rescaled by
:math:`\sqrt{n}`, since :math:`\sqrt{n}\,\mathrm{dip}` converges in distribution under the uniform
(Hartigan & Hartigan 1985, Theorem 3).

The hull scans of AS 217 are inherently sequential (amortised :math:`O(n)`), so they run as tight
Python loops on plain lists; sorting, the p-value tables, the mirrored modal intervals' bookkeeping and
all gradients are vectorised NumPy / PyTorch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from torch import Tensor

__all__ = [
    "DipResult",
    "dip_statistic",
    "dip_test",
    "dip_pvalue",
    "dip_from_triangle",
    "mirrored_modal_interval",
]


@dataclass(frozen=True)
class DipResult:
    """The dip of a sorted sample and where it is attained.

    Attributes:
        dip: the dip statistic in :math:`[1/(2n), 1/4]`; 0 for degenerate samples (``n < 4``, all equal, or
            exactly collinear ranks and values such as an equally spaced grid), as AS 217 and the ``diptest``
            package return.
        modal_interval: 0-based ranks ``(low, high)`` of the modal interval's ends.
        modal_triangle: 0-based ranks ``(i1, i2, i3)`` defining the dip (``(-1, -1, -1)`` when the dip is
            the minimal :math:`1/(2n)` or the sample is degenerate: then it has no gradient).
    """

    dip: float
    modal_interval: tuple[int, int]
    modal_triangle: tuple[int, int, int]


def _hull_predecessors(x: list[float]) -> tuple[list[int], list[int]]:
    """``mn[j]``: predecessor of ``j`` on the GCM of points ``0..j``; ``mj[k]``: successor of ``k`` on the
    LCM of points ``k..n-1`` (points ``(x_i, i)``; collinear points are skipped).
    """
    n = len(x)
    mn = [0] * n
    for j in range(1, n):
        xj = x[j]
        m = j - 1
        while m != 0:
            mm = mn[m]
            if (xj - x[m]) * (m - mm) < (x[m] - x[mm]) * (j - m):
                break
            m = mm
        mn[j] = m
    last = n - 1
    mj = [last] * n
    for k in range(n - 2, -1, -1):
        xk = x[k]
        m = k + 1
        while m != last:
            mm = mj[m]
            if (xk - x[m]) * (m - mm) < (x[m] - x[mm]) * (k - m):
                break
            m = mm
        mj[k] = m
    return mn, mj


def _max_deviation(x: list[float], hull: list[int], start: int, stop: int, convex: bool) -> tuple[float, int, int, int]:
    """Largest deviation (in units of 1/(2n), at least 1) between F_n and the hull segments
    ``hull[start..stop]``; returns ``(t, i1, i2, i3)`` (ranks ``-1`` when nothing exceeds 1).
    """
    # as AS 217: 0 without segments (collinear data), else at least 1
    best, b1, b2, b3 = (1.0 if stop > start else 0.0), -1, -1, -1
    for j in range(start, stop):
        if convex:  # GCM indices run downwards
            jb, je = hull[j + 1], hull[j]
        else:
            jb, je = hull[j], hull[j + 1]
        if je - jb <= 1:
            continue
        xb = x[jb]
        dx = x[je] - xb
        if dx == 0.0:
            continue
        c = (je - jb) / dx
        seg_best, seg_arg = 1.0, -1
        for jj in range(jb + 1, je):
            if convex:
                t = (jj - jb + 1) - (x[jj] - xb) * c
            else:
                t = (x[jj] - xb) * c - (jj - jb - 1)
            if t > seg_best:
                seg_best, seg_arg = t, jj
        if seg_best > best:
            best, b1, b2, b3 = seg_best, jb, seg_arg, je
    return best, b1, b2, b3


def _dip_sorted_list(x: list[float]) -> DipResult:
    n = len(x)
    if n < 4 or x[0] == x[-1]:
        return DipResult(0.0, (0, max(n - 1, 0)), (-1, -1, -1))
    mn, mj = _hull_predecessors(x)
    low, high = 0, n - 1
    dip = 0.0  # in units of 1/(2n)
    tri = (-1, -1, -1)
    while True:
        gcm = [high]
        while gcm[-1] > low:
            gcm.append(mn[gcm[-1]])
        lcm = [low]
        while lcm[-1] < high:
            lcm.append(mj[lcm[-1]])
        l_gcm, l_lcm = len(gcm) - 1, len(lcm) - 1
        ig, ih = l_gcm, l_lcm
        ix, iv = l_gcm - 1, 1
        d = 0.0
        if l_gcm != 1 or l_lcm != 1:
            # largest distance between GCM and LCM on [low, high] and where it occurs
            while True:
                gcmix, lcmiv = gcm[ix], lcm[iv]
                if gcmix > lcmiv:
                    gcmil = gcm[ix + 1]
                    den = x[gcmix] - x[gcmil]
                    iv += 1
                    if den != 0.0:
                        dx = (lcmiv - gcmil + 1) - (x[lcmiv] - x[gcmil]) * (gcmix - gcmil) / den
                        if dx >= d:
                            d, ig, ih = dx, ix + 1, iv - 1
                else:
                    lcmivl = lcm[iv - 1]
                    den = x[lcmiv] - x[lcmivl]
                    ix -= 1
                    if den != 0.0:
                        dx = (x[gcmix] - x[lcmivl]) * (lcmiv - lcmivl) / den - (gcmix - lcmivl - 1)
                        if dx >= d:
                            d, ig, ih = dx, ix + 1, iv
                if ix < 0:
                    ix = 0
                if iv > l_lcm:
                    iv = l_lcm
                if gcm[ix] == lcm[iv]:
                    break
        if d < dip:
            break
        dip_l, g1, g2, g3 = _max_deviation(x, gcm, ig, l_gcm, convex=True)
        dip_u, u1, u2, u3 = _max_deviation(x, lcm, ih, l_lcm, convex=False)
        new, new_tri = (dip_u, (u1, u2, u3)) if dip_u > dip_l else (dip_l, (g1, g2, g3))
        if new > dip:
            dip, tri = new, new_tri
        if low == gcm[ig] and high == lcm[ih]:
            break
        low, high = gcm[ig], lcm[ih]
    return DipResult(dip / (2 * n), (low, high), tri)


def _as_sorted_list(x: np.ndarray | Tensor | list[float], is_sorted: bool) -> list[float]:
    if isinstance(x, Tensor):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"the dip test needs 1-D data, got shape {arr.shape}; project or flatten it first.")
    if not np.isfinite(arr).all():
        raise ValueError("the dip test received NaN or inf values; remove or impute them first.")
    if not is_sorted:
        arr = np.sort(arr)
    elif arr.size > 1 and bool((arr[1:] < arr[:-1]).any()):
        raise ValueError("dip_statistic(..., is_sorted=True) got unsorted data; sort it or pass is_sorted=False.")
    return arr.tolist()


def dip_statistic(x: np.ndarray | Tensor | list[float], is_sorted: bool = False) -> DipResult:
    """Dip statistic, modal interval and modal triangle of a 1-D sample (ranks refer to the sorted sample).

    Args:
        x: 1-D sample (NumPy array, tensor or list), computed in float64.
        is_sorted: the sample is already sorted ascending (checked).
    """
    return _dip_sorted_list(_as_sorted_list(x, is_sorted))


@lru_cache(maxsize=256)
def _uniform_null(n: int, n_boot: int, seed: int) -> np.ndarray:
    """Sorted dips of ``n_boot`` uniform samples of size ``n`` (cached per arguments)."""
    rng = np.random.default_rng(seed)
    dips = np.empty(n_boot)
    for b in range(n_boot):
        dips[b] = _dip_sorted_list(np.sort(rng.random(n)).tolist()).dip
    dips.sort()
    return dips


def dip_pvalue(dip: float, n: int, n_boot: int = 1000, seed: int = 0, max_exact_n: int = 2000) -> float:
    r"""p-value of a dip ``dip`` for a sample of size ``n`` under the uniform null (Monte-Carlo, cached).

    :math:`p = (1 + \#\{b : \mathrm{dip}^*_b \ge \mathrm{dip}\}) / (1 + n_{boot})` with
    :math:`\mathrm{dip}^*_b` the dips of ``n_boot`` uniform samples of size ``n`` (drawn once per
    ``(n, n_boot, seed)``). For ``n > max_exact_n`` the null of size ``max_exact_n`` is rescaled by
    :math:`\sqrt{\text{max\_exact\_n} / n}` (:math:`\sqrt n\,\mathrm{dip}` has a limit law).
    """
    n = int(n)
    if n < 4:
        raise ValueError(f"the dip test needs at least 4 samples, got n={n}.")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}.")
    if not (math.isfinite(dip) and 0.0 <= dip <= 0.25 + 1e-12):
        raise ValueError(f"a dip lies in [0, 0.25], got {dip}.")
    if n <= max_exact_n:
        null = _uniform_null(n, int(n_boot), int(seed))
    else:
        null = _uniform_null(int(max_exact_n), int(n_boot), int(seed)) * math.sqrt(max_exact_n / n)
    exceed = null.size - int(np.searchsorted(null, dip - 1e-12, side="left"))
    return (1.0 + exceed) / (1.0 + null.size)


def dip_test(x: np.ndarray | Tensor | list[float], n_boot: int = 1000, seed: int = 0) -> tuple[float, float]:
    """``(dip, p-value)`` of a 1-D sample (see :func:`dip_statistic` and :func:`dip_pvalue`)."""
    xs = _as_sorted_list(x, is_sorted=False)
    if len(xs) < 4:
        raise ValueError(f"the dip test needs at least 4 samples, got {len(xs)}.")
    d = _dip_sorted_list(xs).dip
    return d, dip_pvalue(d, len(xs), n_boot=n_boot, seed=seed)


def dip_from_triangle(x1: Tensor, x2: Tensor, x3: Tensor, ranks: Tensor, n: Tensor) -> Tensor:
    r"""Differentiable dips :math:`(1 + |A|)/(2n)` from modal triangles (vectorised over triangles).

    Args:
        x1: sample values at the triangle's first rank ``(T,)`` (carry the gradient).
        x2: sample values at the triangle's second rank ``(T,)``.
        x3: sample values at the triangle's third rank ``(T,)``.
        ranks: ``(T, 3)`` 0-based ranks :math:`(i_1, i_2, i_3)` in the sorted sample (held fixed).
        n: ``(T,)`` sample sizes.
    """
    r = ranks.to(x1.dtype)
    a = (r[:, 0] - r[:, 1]) + (r[:, 2] - r[:, 0]) * (x2 - x1) / (x3 - x1)
    return (1.0 + a.abs()) / (2.0 * n.to(x1.dtype))


def mirrored_modal_interval(x_sorted: np.ndarray) -> tuple[int, int]:
    """Modal interval (0-based ranks) of a sorted unimodal sample, found on its mirrored copies.

    A cluster's mode may sit at its edge, where the dip's modal interval is unreliable; as in the
    DipEncoder (after SkinnyDip, Maurus & Plant, KDD 2016) the sample is mirrored at its minimum and at its
    maximum, the copy with the larger dip is used, and its modal interval is mapped back to the
    original ranks (the plain modal interval when it straddles the mirror point).
    """
    x = np.asarray(x_sorted, dtype=np.float64)
    n = x.size
    if n < 4:
        return 0, max(n - 1, 0)
    left = np.concatenate([x[0] - (x[:0:-1] - x[0]), x])  # n-1 mirrored points, then x: x[r] at n-1+r
    right = np.concatenate([x, x[-1] + (x[-1] - x[-2::-1])])  # x, then mirrored points: x[r] at r
    res_l = _dip_sorted_list(left.tolist())
    res_r = _dip_sorted_list(right.tolist())
    if res_l.dip > res_r.dip:
        lo, hi = res_l.modal_interval
        if lo < n - 1 < hi:
            return _dip_sorted_list(x.tolist()).modal_interval
        if lo >= n - 1:
            return lo - (n - 1), hi - (n - 1)
        return (n - 1) - hi, (n - 1) - lo
    lo, hi = res_r.modal_interval
    if lo < n - 1 < hi:
        return _dip_sorted_list(x.tolist()).modal_interval
    if hi <= n - 1:
        return lo, hi
    return 2 * (n - 1) - hi, 2 * (n - 1) - lo
