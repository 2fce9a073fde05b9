"""Hartigan's dip statistic (pyagc.functional.dip): reference values, modal triangle, p-values."""

import numpy as np
import pytest
import torch

from pyagc.functional.dip import dip_from_triangle, dip_pvalue, dip_statistic, dip_test, mirrored_modal_interval

# Reference values computed with the `diptest` PyPI package 0.12.0 (`diptest.dipstat`, a wrapper of
# Maechler's C implementation of AS 217) installed in /work/benchvenv; modal intervals and triangles with
# clustpy 0.0.3 `clustpy.utils.dip_test_extended` (same C code), both on the sorted samples below.
NORMAL30 = [
    -2.207,
    -1.526,
    -0.989,
    -0.671,
    -0.66,
    -0.636,
    -0.368,
    -0.322,
    -0.317,
    -0.312,
    -0.146,
    0.005,
    0.097,
    0.136,
    0.194,
    0.338,
    0.393,
    0.542,
    0.577,
    0.755,
    0.828,
    0.92,
    1.0,
    1.074,
    1.127,
    1.192,
    1.282,
    1.288,
    1.532,
    1.542,
]  # np.round(np.sort(np.random.default_rng(123).normal(size=30)), 3)
REFERENCE = [
    # (sample, dip, modal interval, modal triangle)
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 31, 32, 33, 34, 35, 36], 0.1583710407239819, (0, 9), (9, 10, 16)),
    ([0.0, 0.1, 0.15, 0.3, 0.32, 0.5, 2.0, 2.05, 2.2, 2.4, 2.41, 2.6], 0.17857142857142858, (0, 5), (5, 6, 11)),
    (NORMAL30, 0.0500625, (6, 9), (9, 19, 27)),
    ([0.0, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2], 0.0625, (0, 2), None),  # clustpy reports no valid triangle
    (list(range(10)), 0.0, (0, 9), (-1, -1, -1)),  # collinear: AS 217 and diptest return 0
]


@pytest.mark.parametrize("sample, dip, interval, triangle", REFERENCE)
def test_dip_matches_reference_implementation(sample, dip, interval, triangle):
    res = dip_statistic(np.array(sample, dtype=float))
    assert res.dip == pytest.approx(dip, abs=1e-12)
    assert res.modal_interval == interval
    if triangle is not None:
        assert res.modal_triangle == triangle
    # unsorted input gives the same statistic; tensors and lists work too
    shuffled = np.random.default_rng(0).permutation(np.array(sample, dtype=float))
    assert dip_statistic(shuffled).dip == pytest.approx(dip, abs=1e-12)
    assert dip_statistic(torch.tensor(shuffled)).dip == pytest.approx(dip, abs=1e-12)


def test_bimodal_by_hand():
    # 17 points: 10 on 1..10, 7 on 30..36. The modal triangle (9, 10, 16) is the LCM segment from x_9 = 10 to
    # x_16 = 36 and the point x_10 = 30: A = (9 - 10) + (16 - 9) * (30 - 10) / (36 - 10) = -1 + 140/26,
    # dip = (1 + |A|) / (2 * 17) = (140/26) / 34.
    x = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 30, 31, 32, 33, 34, 35, 36], dtype=float)
    assert dip_statistic(x).dip == pytest.approx((140 / 26) / 34, abs=1e-12)


def test_uniform_small_dip_and_bimodal_large_dip():
    rng = np.random.default_rng(0)
    uni = rng.random(2000)
    bi = np.concatenate([rng.normal(0, 1, 1000), rng.normal(6, 1, 1000)])
    d_uni, d_bi = dip_statistic(uni).dip, dip_statistic(bi).dip
    assert 1 / (2 * 2000) <= d_uni < 0.02
    assert d_bi > 0.08  # two separated halves: the dip approaches 1/4 only for point masses
    # small samples have larger dips under the null (~ 1/sqrt(n))
    assert dip_statistic(rng.random(20)).dip > d_uni


def test_modal_triangle_gives_the_dip_and_its_gradient():
    x = np.array(NORMAL30)
    res = dip_statistic(x)
    i1, i2, i3 = res.modal_triangle
    v = torch.tensor(x[[i1, i2, i3]], requires_grad=True)
    d = dip_from_triangle(v[0:1], v[1:2], v[2:3], torch.tensor([[i1, i2, i3]]), torch.tensor([30]))
    assert d.item() == pytest.approx(res.dip, abs=1e-12)
    d.sum().backward()
    # finite differences of the real statistic (the triangle does not change for a small move)
    eps = 1e-6
    for k, rank in enumerate((i1, i2, i3)):
        xp = x.copy()
        xp[rank] += eps
        num = (dip_statistic(xp, is_sorted=True).dip - res.dip) / eps
        assert v.grad[k].item() == pytest.approx(num, rel=1e-4, abs=1e-7)
    assert v.grad.abs().sum() > 0


def test_pvalues_monotone_and_calibrated():
    rng = np.random.default_rng(1)
    n = 100
    dips = [0.02, 0.04, 0.06, 0.08, 0.12]
    p = [dip_pvalue(d, n, n_boot=300) for d in dips]
    assert all(a >= b for a, b in zip(p, p[1:])) and p[0] > 0.5 and p[-1] < 0.01
    # the same dip is more significant in a larger sample
    assert dip_pvalue(0.05, 50, n_boot=300) > dip_pvalue(0.05, 200, n_boot=300)
    d_uni, p_uni = dip_test(rng.random(n), n_boot=300)
    d_bi, p_bi = dip_test(np.concatenate([rng.normal(0, 1, 50), rng.normal(8, 1, 50)]), n_boot=300)
    assert p_uni > 0.05 and p_bi < 0.01 and d_bi > d_uni
    # beyond max_exact_n the null is rescaled by sqrt(n): p-values stay monotone in n
    assert dip_pvalue(0.02, 400, n_boot=100, max_exact_n=200) < dip_pvalue(0.02, 200, n_boot=100, max_exact_n=200)


def test_mirrored_modal_interval():
    rng = np.random.default_rng(2)
    x = np.sort(rng.normal(size=300))
    lo, hi = mirrored_modal_interval(x)
    assert 0 <= lo <= hi <= 299 and x[lo] <= 0.5 and x[hi] >= -0.5  # around the mode 0
    # a mode at the left edge (exponential): the interval starts at the minimum
    e = np.sort(rng.exponential(size=300))
    lo, hi = mirrored_modal_interval(e)
    assert lo == 0 and hi < 299
    assert mirrored_modal_interval(np.array([1.0, 2.0])) == (0, 1)


def test_bad_input():
    with pytest.raises(ValueError, match="1-D"):
        dip_statistic(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="NaN"):
        dip_statistic(np.array([0.0, np.nan, 1.0, 2.0]))
    with pytest.raises(ValueError, match="unsorted"):
        dip_statistic(np.array([3.0, 1.0, 2.0, 0.0]), is_sorted=True)
    with pytest.raises(ValueError, match="at least 4"):
        dip_pvalue(0.1, 3)
    with pytest.raises(ValueError, match=r"\[0, 0.25\]"):
        dip_pvalue(0.3, 10)
    with pytest.raises(ValueError, match="at least 4"):
        dip_test([1.0, 2.0])
