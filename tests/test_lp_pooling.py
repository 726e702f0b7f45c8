"""LP pooling against the naive reference of ``adaptive_lp_reference.py``, finite differences, zeros, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from adaptive_lp_reference import LP_GRID, LP_IDS, LP_SMALL, LP_SMALL_IDS, LpCase, lp_pool_reference
from conftest import assert_close

import convmat as cm
from convmat.lp_pooling import lp_pool, lp_pool1d, lp_pool2d, lp_pool3d, lp_pool_backward

LP_ND = {1: lp_pool1d, 2: lp_pool2d, 3: lp_pool3d}


def _positive(case, seed):
    """Inputs away from zero (and, for max pooling, without ties): every power and its gradient is smooth."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 2.0, size=case.x_shape), rng.standard_normal(case.y_shape)


@pytest.mark.parametrize("case", LP_GRID, ids=LP_IDS)
def test_lp_pool_matches_reference(case):
    rng = np.random.default_rng(LP_GRID.index(case))
    for x in (rng.uniform(0.1, 2.0, size=case.x_shape), rng.standard_normal(case.x_shape)):
        y = lp_pool(x, case.norm_type, **case.kwargs)
        assert y.shape == case.y_shape
        assert_close(y, lp_pool_reference(x, case.norm_type, **case.kwargs))


@pytest.mark.parametrize("case", LP_SMALL, ids=LP_SMALL_IDS)
def test_lp_pool_backward_by_finite_differences(case):
    x, dy = _positive(case, 3)
    dx = lp_pool_backward(dy, x, case.norm_type, **case.kwargs)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        plus = np.vdot(lp_pool(x + step, case.norm_type, **case.kwargs), dy)
        minus = np.vdot(lp_pool(x - step, case.norm_type, **case.kwargs), dy)
        numeric[i] = (plus - minus) / (2 * eps)
    assert_close(dx, numeric, rtol=1e-6)


def test_ceil_window_is_scaled_by_the_whole_kernel():
    """PyTorch's definition: a ceil-mode window of m elements has its sum of powers multiplied by K / m."""
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    assert_close(lp_pool(x, 1, 2, ceil_mode=True), [[[3.0, 7.0, 10.0]]])
    x6 = np.arange(1.0, 7.0).reshape(1, 1, 6)  # windows [1, 2, 3], [3, 4, 5] and, past the input, [5, 6]
    assert_close(lp_pool(x6, 2, 3, stride=2, ceil_mode=True), [[[14**0.5, 50**0.5, (61 * 3 / 2) ** 0.5]]])
    dx = lp_pool_backward(np.ones((1, 1, 3)), x, 1, 2, ceil_mode=True)
    assert_close(dx, [[[1.0, 1.0, 1.0, 1.0, 2.0]]])


def test_inf_is_max_pooling_of_the_magnitude():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 6))
    assert_close(lp_pool(x, math.inf, 2, stride=1), cm.max_pool(np.abs(x), 2, stride=1), rtol=0)
    dy = rng.standard_normal((2, 3, 6, 5))
    _, idx = cm.max_pool(np.abs(x), 2, stride=1, return_indices=True)
    expected = cm.max_pool_backward(dy, idx, x.shape) * np.sign(x)
    assert_close(lp_pool_backward(dy, x, np.inf, 2, stride=1), expected, rtol=0)
    assert lp_pool_backward(np.ones((1, 1, 1)), np.zeros((1, 1, 2)), np.inf, 2)[0, 0].tolist() == [0.0, 0.0]


def test_zeros():
    """The 1/p power is singular where a window's sum is 0: no gradient passes there (PyTorch's rule)."""
    x = np.array([[[0.0, 0.0, 3.0, 0.0, 4.0, 0.0]]])
    dy = np.array([[[2.0, 1.0, 1.0]]])
    assert_close(lp_pool(x, 2, 2), [[[0.0, 3.0, 4.0]]])
    # all-zero window: nothing; a zero beside a non-zero element: x**(p-1) = 0 for p > 1
    assert lp_pool_backward(dy, x, 2, 2).tolist() == [[[0.0, 0.0, 1.0, 0.0, 1.0, 0.0]]]
    assert_close(lp_pool_backward(dy, x, 3, 2), [[[0.0, 0.0, 1.0, 0.0, 1.0, 0.0]]])
    # p = 1 is sum pooling: 0**0 = 1, every element of a window with a non-zero sum gets the window's gradient
    assert lp_pool_backward(dy, x, 1, 2).tolist() == [[[0.0, 0.0, 1.0, 1.0, 1.0, 1.0]]]
    # p < 1: an infinite slope at 0, and 0 · inf = NaN in the window that passes nothing
    dx = lp_pool_backward(dy, x, 0.5, 2)
    assert np.isnan(dx[0, 0, :2]).all()
    assert dx[0, 0, 3] == np.inf
    assert dx[0, 0, 5] == np.inf
    assert_close(dx[0, 0, [2, 4]], [1.0, 1.0])


def test_negative_values_follow_the_powers():
    """x**p of a negative element: real for an integer p, NaN for another; an odd p can make a window's sum negative."""
    x = np.array([[[-3.0, 4.0, -2.0, 1.0, -1.0, 1.0]]])
    assert_close(lp_pool(x, 2, 2), [[[5.0, math.sqrt(5.0), math.sqrt(2.0)]]])
    assert_close(lp_pool(x, 3, 2), [[[37.0 ** (1 / 3), np.nan, 0.0]]])  # -27 + 64, then -8 + 1 < 0: NaN
    assert np.isnan(lp_pool(x, 1.5, 2)).all()
    assert_close(lp_pool(x, 1, 2), [[[1.0, -1.0, 0.0]]])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_unbatched_equals_batched(n):
    x = np.random.default_rng(n).uniform(0.1, 1.0, size=(3, *(7, 6, 5)[:n]))
    assert_close(LP_ND[n](x, 2, 2), lp_pool(x[None], 2, 2)[0], rtol=0)
    assert_close(LP_ND[n](x[None], 3, 2, 1, True), lp_pool(x[None], 3, 2, 1, True), rtol=0)
    assert LP_ND[n].__name__ == f"lp_pool{n}d"


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.bool_])
def test_dtypes(dtype):
    x = np.random.default_rng(0).uniform(0.0, 3.0, size=(2, 3, 6, 5)).astype(dtype)
    expected = {np.float32: np.float32, np.float16: np.float16}.get(dtype, np.float64)
    y = lp_pool(x, 2, 2)
    assert y.dtype == expected
    rtol = {np.float32: 1e-6, np.float16: 2e-3}.get(dtype, 1e-12)
    assert_close(y, lp_pool_reference(x.astype(np.float64), 2, 2), rtol=rtol)
    dx = lp_pool_backward(np.ones(y.shape, dtype=expected), x, 2, 2)
    assert dx.dtype == expected
    assert lp_pool_backward(np.ones(y.shape, dtype=np.float64), x, 2, 2).dtype == np.float64


@pytest.mark.parametrize("norm_type", [2, 2.0, np.float32(2), np.int64(2)])
def test_norm_type_as_any_real_number(norm_type):
    x = np.arange(1.0, 9.0).reshape(1, 1, 8)
    assert_close(lp_pool(x, norm_type, 4), [[[math.sqrt(30.0), math.sqrt(174.0)]]])


def test_empty_batch():
    x = np.ones((0, 2, 4, 4))
    assert lp_pool(x, 2, 2).shape == (0, 2, 2, 2)
    assert lp_pool_backward(np.ones((0, 2, 2, 2)), x, 2, 2).shape == x.shape
    assert lp_pool(x, np.inf, 2).shape == (0, 2, 2, 2)


X = np.ones((2, 3, 6, 5))
DY = np.ones((2, 3, 3, 2))

BAD_CALLS = {
    "norm_type zero": (lambda: lp_pool(X, 0, 2), ValueError, r"norm_type must be positive"),
    "norm_type negative": (lambda: lp_pool(X, -1.5, 2), ValueError, r"norm_type must be positive"),
    "norm_type -inf": (lambda: lp_pool(X, -math.inf, 2), ValueError, r"norm_type must be positive"),
    "norm_type nan": (lambda: lp_pool(X, math.nan, 2), ValueError, r"norm_type must be positive"),
    "norm_type bool": (lambda: lp_pool(X, True, 2), TypeError, r"norm_type must be a positive real number"),
    "norm_type str": (lambda: lp_pool(X, "2", 2), TypeError, r"norm_type must be a positive real number"),
    "norm_type complex": (lambda: lp_pool(X, 2j, 2), TypeError, r"norm_type must be"),
    "norm_type None": (lambda: lp_pool(X, None, 2), TypeError, r"norm_type must be"),
    "backward norm_type": (lambda: lp_pool_backward(DY, X, 0, 2), ValueError, r"norm_type must be positive"),
    "kernel_size float": (lambda: lp_pool(X, 2, 2.5), TypeError, r"kernel_size"),
    "kernel_size zero": (lambda: lp_pool(X, 2, 0), ValueError, r"kernel_size must be positive"),
    "kernel_size length": (lambda: lp_pool(X, 2, (2, 2, 2)), ValueError, r"kernel_size has 3 entries"),
    "kernel_size larger": (lambda: lp_pool(X, 2, 7), ValueError, r"kernel is larger than the padded input"),
    "stride zero": (lambda: lp_pool(X, 2, 2, 0), ValueError, r"stride must be positive"),
    "stride float": (lambda: lp_pool(X, 2, 2, 1.5), TypeError, r"stride"),
    "ceil_mode type": (lambda: lp_pool(X, 2, 2, ceil_mode="yes"), TypeError, r"ceil_mode must be a bool"),
    "x complex": (lambda: lp_pool(X + 0j, 2, 2), TypeError, r"x must be real"),
    "x no channels": (lambda: lp_pool(np.ones((2, 0, 4, 4)), 2, 2), ValueError, r"at least one channel"),
    "x rank": (lambda: lp_pool(np.ones((4, 4)), 2, 2), ValueError, r"x must have shape \(N, C, \*spatial\)"),
    "x unbatched hint": (lambda: lp_pool(np.ones((3, 4, 4)), 2, (2, 2)), ValueError, r"use lp_pool2d"),
    "nd rank": (lambda: lp_pool2d(np.ones((4, 4)), 2, 2), ValueError, r"lp_pool2d needs x of shape"),
    "backward grad shape": (
        lambda: lp_pool_backward(np.ones((2, 3, 2, 2)), X, 2, 2),
        ValueError,
        r"grad_output has shape \(2, 3, 2, 2\), expected \(2, 3, 3, 2\)",
    ),
    "backward grad complex": (lambda: lp_pool_backward(DY + 0j, X, 2, 2), TypeError, r"grad_output must be real"),
    "backward x complex": (lambda: lp_pool_backward(DY, X + 0j, 2, 2), TypeError, r"x must be real"),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_bad_input_names_the_argument(name):
    call, error, pattern = BAD_CALLS[name]
    with pytest.raises(error, match=pattern):
        call()


def test_grid_covers_ceil_windows_and_every_norm():
    assert {c.norm_type for c in LP_GRID} >= {1, 2, 3, 1.5, 0.75, math.inf}
    assert any(c.ceil_mode for c in LP_GRID)
    assert LpCase((1, 1, 7), 2, 3, 2, True).out_spatial == (3,)
