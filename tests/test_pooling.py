"""Pooling against the naive references of ``pool_reference.py``, and the identities between its routes.

Max pooling: values and switches over the case grid (1/2/3-d, overlapping,
dilated, padded, ceil mode, odd sizes; float64 and float32), ties, NaN and
``-inf``; the selection matrix ``S`` (``S·x`` is the pooling, ``Sᵀ·dy`` the
gradient); the gradient against finite differences; max unpooling, where it
places and where the backward adds; a worked example by hand. Average
pooling: values, gradients and the averaging matrix ``A``. Then dtypes and the
rank-checking wrappers.
"""

from __future__ import annotations

from math import prod

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_close
from pool_reference import (
    AVG_GRID,
    AVG_IDS,
    GRID,
    GRID_IDS,
    SMALL,
    SMALL_IDS,
    avg_pool_backward_reference,
    avg_pool_reference,
    case_data,
    max_pool_backward_reference,
    max_pool_reference,
    max_unpool_reference,
)

import convmat as cm
from convmat import pool_patterns, pooling

DTYPES = (np.float64, np.float32)
NAN, INF = np.nan, np.inf


def _planes(a):
    """``[N, C, *spatial]`` -> ``[N*C, prod(spatial)]``."""
    return a.reshape(a.shape[0] * a.shape[1], prod(a.shape[2:]))


# ---------------------------------------------------------------------------
# max pooling over the grid
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_matches_reference(case, dtype):
    x, _ = case_data(case, dtype)
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    y_ref, idx_ref = max_pool_reference(x, **case.kwargs)
    assert y.dtype == dtype
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)  # a selection: exact in any dtype
    np.testing.assert_array_equal(idx, idx_ref)
    np.testing.assert_array_equal(cm.max_pool(x, **case.kwargs), y_ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_backward_matches_reference(case, dtype):
    x, dy = case_data(case, dtype)
    _, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    dx = cm.max_pool_backward(dy, idx, x.shape)
    assert dx.dtype == dtype
    assert_close(dx, max_pool_backward_reference(dy, idx, x.shape))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("planes_per_block", [1, 2, 5])
@pytest.mark.parametrize("case", GRID[::3], ids=GRID_IDS[::3])
def test_max_pool_backward_in_blocks(case, planes_per_block, threads, monkeypatch):
    # many blocks (some partial) on one thread or over two, each block one scipy.sparse array of its planes
    x, dy = case_data(case)
    plane_bytes = prod(x.shape[2:]) * x.itemsize
    monkeypatch.setattr(pooling, "BACKWARD_BLOCK_BYTES", planes_per_block * plane_bytes)
    monkeypatch.setattr(pooling, "BACKWARD_THREAD_BLOCK_BYTES", planes_per_block * plane_bytes)
    monkeypatch.setattr(pooling, "BACKWARD_MIN_BYTES_PER_THREAD", 1)
    _, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    with cm.num_threads(threads):
        dx = cm.max_pool_backward(dy, idx, x.shape)
    assert_close(dx, max_pool_backward_reference(dy, idx, x.shape))


@pytest.mark.parametrize("threads", [1, 2])
def test_max_pool_backward_checks_the_switches_of_every_block(threads, monkeypatch):
    x = np.arange(96.0).reshape(3, 2, 4, 4)
    _, idx = cm.max_pool(x, 2, return_indices=True)
    monkeypatch.setattr(pooling, "BACKWARD_BLOCK_BYTES", x[0, 0].nbytes)  # one plane per block
    monkeypatch.setattr(pooling, "BACKWARD_THREAD_BLOCK_BYTES", x[0, 0].nbytes)
    monkeypatch.setattr(pooling, "BACKWARD_MIN_BYTES_PER_THREAD", 1)
    for plane in np.ndindex(3, 2):
        for bad in (-1, 16):
            wrong = idx.copy()
            wrong[(*plane, 1, 0)] = bad
            message = rf"indices must lie in \[0, 16\) .*, got values from {wrong.min()} to {wrong.max()}"
            with cm.num_threads(threads), pytest.raises(ValueError, match=message):
                cm.max_pool_backward(np.ones(idx.shape), wrong, x.shape)


@pytest.mark.parametrize("dtype", [np.float16, np.longdouble, ">f8"])
def test_max_pool_backward_in_dtypes_scipy_sparse_does_or_does_not_hold(dtype):
    # switches shared by up to 9 windows; float16 (no scipy.sparse dtype) adds in float32, rounded once
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 7, 6))
    _, idx = cm.max_pool(x, 3, stride=1, padding=1, return_indices=True)
    dy = rng.standard_normal(idx.shape).astype(dtype)
    dx = cm.max_pool_backward(dy, idx, x.shape)
    assert dx.dtype == np.dtype(dtype)
    work = np.float32 if dtype == np.float16 else dtype
    np.testing.assert_array_equal(dx, max_pool_backward_reference(dy.astype(work), idx, x.shape).astype(dtype))


@pytest.mark.parametrize("dtype", ["<i8", ">i8", "<i4", ">u4", "u8", "i2"])
def test_max_pool_backward_takes_any_integer_indices(dtype):
    x = np.arange(32.0).reshape(2, 1, 4, 4)[:, :, ::-1]
    _, idx = cm.max_pool(x, 2, return_indices=True)
    dy = np.arange(1.0, 9.0).reshape(idx.shape)
    expected = cm.max_pool_backward(dy, idx, x.shape)
    np.testing.assert_array_equal(cm.max_pool_backward(dy, idx.astype(dtype), x.shape), expected)
    np.testing.assert_array_equal(cm.max_pool_backward(dy, idx.astype(dtype)[:, :, ::-1, :], x.shape).sum(), dy.sum())
    if np.dtype(dtype).kind == "i":
        bad = idx.astype(dtype)
        bad[1, 0, 1, 1] = -1  # negative: huge when read as unsigned
        with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\)"):
            cm.max_pool_backward(dy, bad, x.shape)
    for too_large in (16, 2**32 + 3):
        if too_large > np.iinfo(dtype).max:
            continue
        bad = idx.astype(dtype)
        bad[0, 0, 0, 0] = too_large
        with pytest.raises(ValueError, match=r"indices must lie in \[0, 16\)"):
            cm.max_pool_backward(dy, bad, x.shape)


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_selection_matrix_route_equals_direct_route(case):
    x, dy = case_data(case)
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    S = cm.max_pool_matrix(x, **case.kwargs)
    assert isinstance(S, sp.csr_array)
    assert S.shape == (y.size, x.size)
    # one 1 per row, in the column of that window's switch
    np.testing.assert_array_equal(S.indptr, np.arange(y.size + 1))
    np.testing.assert_array_equal(S.data, np.ones(y.size))
    plane = prod(x.shape[2:])
    np.testing.assert_array_equal(S.indices % plane, idx.ravel())
    np.testing.assert_array_equal(S @ x.ravel(), y.ravel())
    np.testing.assert_array_equal(S.T @ dy.ravel(), cm.max_pool_backward(dy, idx, x.shape).ravel())


@pytest.mark.parametrize("case", SMALL, ids=SMALL_IDS)
def test_max_pool_gradient_equals_finite_differences(case):
    # standard normal data: every window has a unique maximum, and pooling is linear near x
    x, dy = case_data(case)
    _, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    eps = 1e-6
    numeric = np.empty(x.size)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        up = cm.max_pool(x + step.reshape(x.shape), **case.kwargs)
        down = cm.max_pool(x - step.reshape(x.shape), **case.kwargs)
        numeric[i] = np.sum(dy * (up - down)) / (2 * eps)
    assert_close(cm.max_pool_backward(dy, idx, x.shape).ravel(), numeric, rtol=1e-8)


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_pool_of_strided_view(case):
    x, _ = case_data(case)
    doubled = np.repeat(x, 2, axis=-1)[..., ::2]  # same values, non-contiguous
    y, idx = cm.max_pool(doubled, return_indices=True, **case.kwargs)
    y_ref, idx_ref = max_pool_reference(x, **case.kwargs)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


# ---------------------------------------------------------------------------
# ties, NaN, infinities
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "kwargs", "values", "indices"),
    [
        # first maximum of the window wins
        ([2.0, 7.0, 7.0, 1.0, 7.0], {"kernel_size": 3, "stride": 2}, [7.0, 7.0], [1, 2]),
        # padding is never a candidate: a constant input names the first input element of each window
        ([1.0, 1.0, 1.0], {"kernel_size": 2, "stride": 1, "padding": 1}, [1.0] * 4, [0, 0, 1, 2]),
        # a NaN propagates and the index is the window's last NaN (PyTorch's CPU rule)
        ([1.0, NAN, 3.0, NAN, 2.0], {"kernel_size": 5}, [NAN], [3]),
        ([1.0, NAN, 9.0, 4.0], {"kernel_size": 2}, [NAN, 9.0], [1, 2]),
        # a window of -inf names its first input element, not the padding
        ([-INF, -INF, -INF], {"kernel_size": 2, "padding": 1}, [-INF, -INF], [0, 1]),
        ([-INF, 3.0, INF], {"kernel_size": 3, "stride": 1, "padding": 1}, [3.0, INF, INF], [1, 2, 2]),
        # dilation: the second window reads positions 1 and 3 only
        ([5.0, 0.0, 5.0, 1.0], {"kernel_size": 2, "stride": 1, "dilation": 2}, [5.0, 1.0], [0, 3]),
    ],
)
def test_max_pool_special_values_1d(x, kwargs, values, indices):
    x = np.array([[x]])
    y, idx = cm.max_pool(x, return_indices=True, **kwargs)
    np.testing.assert_array_equal(y[0, 0], values)
    np.testing.assert_array_equal(idx[0, 0], indices)
    y_ref, idx_ref = max_pool_reference(x, **kwargs)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


def test_max_pool_ties_in_2d_follow_row_major_scan():
    x = np.array([[[[1.0, 5.0, 0.0, 0.0], [5.0, 5.0, 0.0, 0.0]]]])
    y, idx = cm.max_pool(x, 2, return_indices=True)
    np.testing.assert_array_equal(y[0, 0], [[5.0, 0.0]])
    np.testing.assert_array_equal(idx[0, 0], [[1, 2]])
    x = np.array([[[[1.0, NAN], [NAN, 2.0]]]])
    y, idx = cm.max_pool(x, 2, return_indices=True)
    assert np.isnan(y).all()
    np.testing.assert_array_equal(idx, [[[[2]]]])


@pytest.mark.parametrize("nan", [True, False], ids=["nan", "no-nan"])  # PyTorch's scan / max then first tap
@pytest.mark.parametrize("case", GRID[::4], ids=GRID_IDS[::4])
def test_max_pool_with_nans_ties_and_infinities_matches_reference(case, nan):
    rng = np.random.default_rng(GRID.index(case))
    x = rng.integers(-2, 3, size=case.x_shape).astype(np.float64)  # many ties
    x[rng.random(case.x_shape) < (0.1 if nan else 0.0)] = NAN
    x[rng.random(case.x_shape) < 0.2] = -INF
    x[rng.random(case.x_shape) < 0.05] = INF
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    y_ref, idx_ref = max_pool_reference(x, **case.kwargs)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    # S·x selects exactly: a NaN or inf away from the switches does not leak into other outputs
    S = cm.max_pool_matrix(x, **case.kwargs)
    np.testing.assert_array_equal(S @ x.ravel(), y.ravel())


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("block_bytes", [1, 200, 10**4])
@pytest.mark.parametrize("case", GRID[::3], ids=GRID_IDS[::3])
def test_max_pool_in_small_blocks_on_threads(case, block_bytes, threads, monkeypatch):
    # blocks of one plane, of a few planes (some partial) and of many; NaN (the scan) in some planes only
    monkeypatch.setattr(pool_patterns, "POOL_BLOCK_BYTES", block_bytes)
    monkeypatch.setattr(pool_patterns, "POOL_MIN_BYTES_PER_THREAD", 1)
    rng = np.random.default_rng(GRID.index(case))
    x = rng.integers(-2, 3, size=case.x_shape).astype(np.float64)
    x[rng.random(case.x_shape) < 0.2] = -INF
    if x.size:
        x[0, -1][rng.random(case.x_shape[2:]) < 0.3] = NAN
    with cm.num_threads(threads):
        y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    y_ref, idx_ref = max_pool_reference(x, **case.kwargs)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


def test_nan_outside_every_window_does_not_reach_the_output():
    x = np.array([[[1.0, 2.0, NAN, 4.0, 3.0, NAN]]])  # stride 3 > kernel 2 skips positions 2 and 5
    S = cm.max_pool_matrix(x, 2, stride=3)
    np.testing.assert_array_equal(S @ x.ravel(), [2.0, 4.0])
    np.testing.assert_array_equal(cm.max_pool(x, 2, stride=3)[0, 0], [2.0, 4.0])


# ---------------------------------------------------------------------------
# a worked example by hand
# ---------------------------------------------------------------------------


def test_worked_example_switches_and_unpooling():
    # a 4x4 map whose 2x2-window maxima sit at a21, a14, a31, a43 (1-based row, column)
    a = np.array(
        [
            [1.0, 2.0, 3.0, 9.0],  # a14 = 9
            [8.0, 0.0, 1.0, 2.0],  # a21 = 8
            [7.0, 1.0, 2.0, 0.0],  # a31 = 7
            [3.0, 4.0, 6.0, 5.0],  # a43 = 6
        ]
    )
    x = a.reshape(1, 1, 4, 4)
    y, idx = cm.max_pool(x, 2, stride=2, return_indices=True)
    np.testing.assert_array_equal(y[0, 0], [[a[1, 0], a[0, 3]], [a[2, 0], a[3, 2]]])
    np.testing.assert_array_equal(idx[0, 0], [[4, 3], [8, 14]])  # the switches: flat, 0-based, row-major
    restored = cm.max_unpool(y, idx, (4, 4))[0, 0]
    expected = np.zeros((4, 4))
    for i, j in [(1, 0), (0, 3), (2, 0), (3, 2)]:
        expected[i, j] = a[i, j]
    np.testing.assert_array_equal(restored, expected)
    # the selection matrix of the example: four rows, each picking one switch
    S = cm.max_pool_matrix(x, 2)
    assert S.shape == (4, 16)
    np.testing.assert_array_equal(S.toarray().nonzero(), (np.arange(4), [4, 3, 8, 14]))


# ---------------------------------------------------------------------------
# max unpooling: places, where the backward adds
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_max_unpool_matches_reference(case):
    x, dy = case_data(case)
    y, idx = cm.max_pool(x, return_indices=True, **case.kwargs)
    spatial = x.shape[2:]
    for values in (y, dy):
        out = cm.max_unpool(values, idx, spatial)
        np.testing.assert_array_equal(out, max_unpool_reference(values, idx, spatial))
    # unpooling the pooled output puts each maximum back where it came from
    restored = cm.max_unpool(y, idx, spatial)
    hit = restored != 0
    np.testing.assert_array_equal(restored[hit], x[hit])
    if not case.overlapping:
        np.testing.assert_array_equal(cm.max_unpool(dy, idx, spatial), cm.max_pool_backward(dy, idx, x.shape))


def test_max_unpool_places_where_backward_adds():
    x = np.array([[[1.0, 5.0, 2.0, 0.0]]])
    y, idx = cm.max_pool(x, 3, stride=1, return_indices=True)
    np.testing.assert_array_equal(idx, [[[1, 1]]])  # both windows share the switch at position 1
    np.testing.assert_array_equal(cm.max_unpool(y, idx, (4,)), [[[0.0, 5.0, 0.0, 0.0]]])
    np.testing.assert_array_equal(cm.max_pool_backward(np.ones((1, 1, 2)), idx, x.shape), [[[0.0, 2.0, 0.0, 0.0]]])
    # a shared switch keeps the last value in row-major order
    np.testing.assert_array_equal(cm.max_unpool([[[3.0, 4.0]]], idx, (4,)), [[[0.0, 4.0, 0.0, 0.0]]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.longdouble])
@pytest.mark.parametrize("block", [7, 1 << 14])
def test_max_unpool_keeps_the_last_of_clashing_values(dtype, block, monkeypatch):
    # switches that clash far more than pooling's would, with different values, NaN and signed zeros among them
    monkeypatch.setattr(pooling, "SCATTER_BLOCK", block)
    rng = np.random.default_rng(11)
    idx = rng.integers(0, 6, size=(3, 2, 5, 4))
    x = rng.choice(np.array([1.5, -2.0, 0.0, -0.0, NAN, INF, 7.0], dtype=dtype), size=idx.shape)
    out = cm.max_unpool(x, idx, (5, 4))  # all switches among the first 6 of 20 positions
    expected = max_unpool_reference(x, idx, (5, 4))
    assert out.dtype == dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))


def test_max_unpool_output_size_forms():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 5, 5))
    y, idx = cm.max_pool(x, 2, return_indices=True)
    spatial_form = cm.max_unpool(y, idx, (5, 5))
    np.testing.assert_array_equal(cm.max_unpool(y, idx, (2, 3, 5, 5)), spatial_form)
    np.testing.assert_array_equal(cm.max_unpool(y, idx, [5, 5]), spatial_form)
    # a smaller size works as long as it holds every switch (here: 2x2 pooled from at least 1x1)
    assert cm.max_unpool(y, np.zeros_like(idx), (1, 1)).shape == (2, 3, 1, 1)


def test_max_unpool_then_max_pool_recovers_the_pooled_values():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 6, 7)) + 10.0  # positive, so the zeros elsewhere never win
    y, idx = cm.max_pool(x, 3, stride=2, padding=1, return_indices=True)
    y2, idx2 = cm.max_pool(cm.max_unpool(y, idx, (6, 7)), 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(y2, y)
    np.testing.assert_array_equal(idx2, idx)


# ---------------------------------------------------------------------------
# average pooling
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("dtype", [*DTYPES, np.complex128])
@pytest.mark.parametrize("case", AVG_GRID, ids=AVG_IDS)
def test_avg_pool_and_backward_match_reference(case, dtype, count_include_pad):
    x, dy = case_data(case, np.float64)
    if np.dtype(dtype).kind == "c":
        x2, dy2 = case_data(case, np.float64, seed=1)
        x, dy = x + 1j * x2, dy + 1j * dy2
    x, dy = x.astype(dtype), dy.astype(dtype)
    kwargs = {**case.avg_kwargs, "count_include_pad": count_include_pad}
    y = cm.avg_pool(x, **kwargs)
    assert y.dtype == dtype
    assert_close(y, avg_pool_reference(x, **kwargs))
    dx = cm.avg_pool_backward(dy, x.shape, **kwargs)
    assert dx.dtype == dtype
    assert_close(dx, avg_pool_backward_reference(dy, x.shape, **kwargs))


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", AVG_GRID, ids=AVG_IDS)
def test_averaging_matrix_route_equals_direct_route(case, count_include_pad):
    x, dy = case_data(case)
    kwargs = {**case.avg_kwargs, "count_include_pad": count_include_pad}
    A = cm.avg_pool_matrix(x.shape[2:], **kwargs)
    assert isinstance(A, sp.csr_array)
    assert A.shape == (prod(case.out_spatial), prod(x.shape[2:]))
    # [L, P] @ [P, N*C] -> the pooled planes; Aᵀ carries the gradient back
    assert_close((A @ _planes(x).T).T, _planes(cm.avg_pool(x, **kwargs)))
    assert_close((A.T @ _planes(dy).T).T, _planes(cm.avg_pool_backward(dy, x.shape, **kwargs)))
    # the matrix is the Jacobian: column j is the pooling of the j-th unit plane
    units = np.eye(A.shape[1]).reshape(A.shape[1], 1, *x.shape[2:])
    assert_close(_planes(cm.avg_pool(units, **kwargs)).T, A.toarray())


@pytest.mark.parametrize(
    ("size", "kwargs", "expected"),
    [
        # count_include_pad counts the padding in the divisor ...
        (3, {"kernel_size": 2, "padding": 1}, [[0.5, 0, 0], [0, 0.5, 0.5]]),
        # ... not without it
        (3, {"kernel_size": 2, "padding": 1, "count_include_pad": False}, [[1, 0, 0], [0, 0.5, 0.5]]),
        # ceil mode: the last window reaches past the input and is divided by its part inside it
        (5, {"kernel_size": 2, "ceil_mode": True}, [[0.5, 0.5, 0, 0, 0], [0, 0, 0.5, 0.5, 0], [0, 0, 0, 0, 1]]),
        # ceil mode with padding: the divisor counts the padding, never the overhang beyond it
        (
            6,
            {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
            [
                [1 / 3, 1 / 3, 0, 0, 0, 0],
                [0, 1 / 3, 1 / 3, 1 / 3, 0, 0],
                [0, 0, 0, 1 / 3, 1 / 3, 1 / 3],
                [0, 0, 0, 0, 0, 1 / 2],
            ],
        ),
    ],
)
def test_avg_pool_matrix_divisors(size, kwargs, expected):
    A = cm.avg_pool_matrix((size,), **kwargs)
    assert_close(A.toarray(), np.array(expected, dtype=float))


def test_avg_pool_matrix_is_separable_and_averages():
    A = cm.avg_pool_matrix((5, 7), (3, 2), stride=(2, 1), padding=(1, 1), count_include_pad=False)
    rows = cm.avg_pool_matrix((5,), 3, stride=2, padding=1, count_include_pad=False)
    cols = cm.avg_pool_matrix((7,), 2, stride=1, padding=1, count_include_pad=False)
    assert_close(A.toarray(), np.kron(rows.toarray(), cols.toarray()))
    assert_close(A.sum(axis=1), np.ones(A.shape[0]))  # without the padding every row is an average


def test_avg_pool_matrix_is_a_private_copy():
    A = cm.avg_pool_matrix((4, 4), 2)
    A.data[:] = 0.0
    assert cm.avg_pool_matrix((4, 4), 2).sum() == 4.0
    np.testing.assert_array_equal(cm.avg_pool(np.ones((1, 1, 4, 4)), 2), np.ones((1, 1, 2, 2)))


def test_avg_pool_gradient_equals_finite_differences():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 2, 5, 4))
    kwargs = {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True}
    dy = rng.standard_normal((1, 2, *cm.pool_output_shape((5, 4), **kwargs)))
    eps = 1e-6
    numeric = np.empty(x.size)
    for i in range(x.size):
        step = np.zeros(x.size)
        step[i] = eps
        up = cm.avg_pool(x + step.reshape(x.shape), **kwargs)
        down = cm.avg_pool(x - step.reshape(x.shape), **kwargs)
        numeric[i] = np.sum(dy * (up - down)) / (2 * eps)
    assert_close(cm.avg_pool_backward(dy, x.shape, **kwargs).ravel(), numeric, rtol=1e-8)


# ---------------------------------------------------------------------------
# dtypes, wrappers, caching
# ---------------------------------------------------------------------------


def test_integer_and_bool_inputs_promote_to_float64():
    xi = np.arange(16).reshape(1, 1, 4, 4)
    y, idx = cm.max_pool(xi, 2, return_indices=True)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y[0, 0], [[5, 7], [13, 15]])
    assert cm.avg_pool(xi, 2).dtype == np.float64
    assert cm.avg_pool(xi > 7, 2).dtype == np.float64
    assert cm.max_pool_matrix(xi, 2).dtype == np.float64
    assert cm.max_pool_backward(np.ones((1, 1, 2, 2), dtype=int), idx, xi.shape).dtype == np.float64
    assert cm.max_unpool(np.ones((1, 1, 2, 2), dtype=int), idx, (4, 4)).dtype == np.float64


def test_float32_stays_float32_everywhere():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
    y, idx = cm.max_pool(x, 3, stride=2, padding=1, return_indices=True)
    assert y.dtype == np.float32
    assert cm.max_pool_matrix(x, 3, stride=2, padding=1).dtype == np.float32
    assert cm.max_pool_backward(y, idx, x.shape).dtype == np.float32
    assert cm.max_unpool(y, idx, (6, 6)).dtype == np.float32
    assert cm.avg_pool(x, 3, stride=2, padding=1).dtype == np.float32
    assert cm.avg_pool_backward(y, x.shape, 3, stride=2, padding=1).dtype == np.float32
    assert cm.avg_pool(x.astype(np.complex64), 2).dtype == np.complex64


def test_float16_works_through_the_sparse_routes():
    x = np.arange(16.0, dtype=np.float16).reshape(1, 1, 4, 4)
    y = cm.avg_pool(x, 2)
    assert y.dtype == np.float16
    np.testing.assert_array_equal(y, cm.avg_pool(x.astype(np.float64), 2).astype(np.float16))
    S = cm.max_pool_matrix(x, 2)  # scipy.sparse has no float16: the 0/1 entries are float32
    np.testing.assert_array_equal(S @ x.ravel(), cm.max_pool(x, 2).ravel())


def test_complex_average_pools_real_and_imaginary_parts():
    rng = np.random.default_rng(7)
    re, im = rng.standard_normal((2, 1, 2, 5, 5))
    y = cm.avg_pool(re + 1j * im, 3, stride=2, padding=1, count_include_pad=False)
    kwargs = {"stride": 2, "padding": 1, "count_include_pad": False}
    assert_close(y, cm.avg_pool(re, 3, **kwargs) + 1j * cm.avg_pool(im, 3, **kwargs))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_rank_checked_wrappers_equal_the_generic_functions(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((2, 2, *(5,) * n))
    kwargs = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}
    max_nd, avg_nd = getattr(cm, f"max_pool{n}d"), getattr(cm, f"avg_pool{n}d")
    pairs = zip(max_nd(x, return_indices=True, **kwargs), cm.max_pool(x, return_indices=True, **kwargs), strict=True)
    for a, b in pairs:
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(max_nd(x, 2), cm.max_pool(x, 2))
    np.testing.assert_array_equal(avg_nd(x, **kwargs), cm.avg_pool(x, **kwargs))
    np.testing.assert_array_equal(avg_nd(x, 3, 1, 1), cm.avg_pool(x, 3, 1, 1))


def test_selection_matrix_uses_int32_indices_when_they_fit():
    S = cm.max_pool_matrix(np.zeros((2, 3, 8, 8)), 2)
    assert S.indices.dtype == np.int32
    assert S.indptr.dtype == np.int32


@pytest.mark.parametrize("nan", [False, True])
def test_max_pool_with_more_than_255_taps(nan):
    """The switch counters outgrow uint8: 300 taps, many ties, with and without NaN."""
    rng = np.random.default_rng(300)
    x = rng.integers(-3, 3, size=(2, 2, 700)).astype(np.float64)
    if nan:
        x[0, 1, 500] = NAN
    y, idx = cm.max_pool(x, 300, stride=7, padding=150, return_indices=True)
    y_ref, idx_ref = max_pool_reference(x, kernel_size=300, stride=7, padding=150)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)
    assert idx.max() > 255
