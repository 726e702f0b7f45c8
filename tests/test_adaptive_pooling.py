"""Adaptive pooling against the naive references of ``adaptive_lp_reference.py``, and its identities.

Forward and switches window by window over a generated grid (1-3 d, odd sizes,
overlapping windows, outputs larger than the input, ``None`` entries); the
matrices ``A`` and ``S`` against the direct routes, ``<A a, h> == <a, Aᵀ h>``,
finite differences for the backward; the switches fed to ``max_pool_backward``
and ``max_unpool``; unbatched against batched; dtypes; the matrix limit; bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from adaptive_lp_reference import (
    ADAPTIVE_GRID,
    ADAPTIVE_IDS,
    ADAPTIVE_SMALL,
    ADAPTIVE_SMALL_IDS,
    AdaptiveCase,
    adaptive_avg_pool_backward_reference,
    adaptive_avg_pool_matrix_reference,
    adaptive_avg_pool_reference,
    adaptive_max_pool_reference,
    adaptive_windows,
)
from conftest import assert_close

import convmat as cm
from convmat import adaptive_patterns
from convmat.adaptive_geometry import adaptive_pool_output_shape, adaptive_window
from convmat.adaptive_matrices import adaptive_avg_pool_matrix, adaptive_max_pool_matrix
from convmat.adaptive_patterns import (
    LONG_WINDOW,
    adaptive_avg_pool_matrix_size,
    adaptive_axis_windows,
    adaptive_max_pool_matrix_size,
)
from convmat.adaptive_pooling import (
    adaptive_avg_pool,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_avg_pool3d,
    adaptive_avg_pool_backward,
    adaptive_max_pool,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    adaptive_max_pool3d,
)

AVG_ND = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}
MAX_ND = {1: adaptive_max_pool1d, 2: adaptive_max_pool2d, 3: adaptive_max_pool3d}


def _data(case, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed + 7919 * ADAPTIVE_GRID.index(case) if case in ADAPTIVE_GRID else seed)
    return rng.standard_normal(case.x_shape).astype(dtype), rng.standard_normal(case.y_shape).astype(dtype)


def _special(case, seed):
    """Small integers (many ties) with NaN, -inf and inf sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=case.x_shape).astype(np.float64)
    x[rng.random(case.x_shape) < 0.1] = np.nan
    x[rng.random(case.x_shape) < 0.2] = -np.inf
    x[rng.random(case.x_shape) < 0.05] = np.inf
    return x


# ---------------------------------------------------------------------------
# the window rule
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", range(1, 14))
def test_window_rule(size):
    for out in range(1, 2 * size + 3):
        assert [adaptive_window(i, size, out) for i in range(out)] == adaptive_windows(size, out)
        windows = adaptive_axis_windows(size, out)
        stops = windows.start + windows.length
        assert list(zip(windows.start.tolist(), stops.tolist(), strict=True)) == adaptive_windows(size, out)
        assert windows.start[0] == 0
        assert stops[-1] == size
        assert np.all(windows.start[1:] <= stops[:-1])  # no gap: every element is in some window
        if windows.step:
            assert np.array_equal(windows.start, np.arange(out) * windows.step)
            assert np.all(windows.length == windows.length[0])


def test_output_shape_with_none():
    assert adaptive_pool_output_shape((7, 5, 4), (2, None, 9)) == (2, 5, 9)
    assert adaptive_pool_output_shape((7,), 3) == (3,)


# ---------------------------------------------------------------------------
# forward, switches and backward against the references
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_avg_pool_matches_reference(case):
    x, dy = _data(case)
    assert_close(adaptive_avg_pool(x, case.output_size), adaptive_avg_pool_reference(x, case.output_size))
    assert_close(adaptive_avg_pool_backward(dy, x.shape), adaptive_avg_pool_backward_reference(dy, x.shape), rtol=1e-12)


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_max_pool_matches_reference(case):
    x, _ = _data(case)
    values, indices = adaptive_max_pool(x, case.output_size, return_indices=True)
    ref_values, ref_indices = adaptive_max_pool_reference(x, case.output_size)
    assert np.array_equal(values, ref_values)
    assert np.array_equal(indices, ref_indices)
    assert indices.dtype == np.int64
    assert np.array_equal(adaptive_max_pool(x, case.output_size), values)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_max_pool_ties_nan_and_infinities(case, seed):
    """Ties go to the first maximum in row-major order, NaN to the last NaN, an all -inf window to its first element."""
    x = _special(case, seed)
    values, indices = adaptive_max_pool(x, case.output_size, return_indices=True)
    ref_values, ref_indices = adaptive_max_pool_reference(x, case.output_size)
    assert np.array_equal(values, ref_values, equal_nan=True)
    assert np.array_equal(indices, ref_indices)


def test_long_windows_take_the_argmax_route_with_the_same_rule():
    rng = np.random.default_rng(5)
    size = 3 * LONG_WINDOW + 1
    for shape, out in [((2, 2, size), 3), ((1, 2, size, 4), (2, 3)), ((1, 1, 3, size), (2, 3)), ((1, 1, size), 1)]:
        for x in (rng.integers(-1, 2, size=shape).astype(float), rng.standard_normal(shape)):
            x[rng.random(shape) < 0.01] = np.nan
            values, indices = adaptive_max_pool(x, out, return_indices=True)
            ref_values, ref_indices = adaptive_max_pool_reference(x, out)
            assert np.array_equal(values, ref_values, equal_nan=True)
            assert np.array_equal(indices, ref_indices)


def test_blocks_and_threads_do_not_change_the_switches(monkeypatch):
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, size=(16, 32, 23, 19)).astype(np.float64)  # ~1.8 MiB: several threads
    x[rng.random(x.shape) < 0.001] = np.nan
    with cm.num_threads(1):
        one = adaptive_max_pool(x, (5, 4), return_indices=True)
    monkeypatch.setattr(adaptive_patterns, "ADAPTIVE_BLOCK_BYTES", 1 << 16)  # and many blocks
    with cm.num_threads(2):
        two = adaptive_max_pool(x, (5, 4), return_indices=True)
    assert np.array_equal(one[0], two[0], equal_nan=True)
    assert np.array_equal(one[1], two[1])
    ref_values, ref_indices = adaptive_max_pool_reference(x[-1:, -3:], (5, 4))  # a part of the last block
    assert np.array_equal(two[0][-1:, -3:], ref_values, equal_nan=True)
    assert np.array_equal(two[1][-1:, -3:], ref_indices)


@pytest.mark.parametrize("case", ADAPTIVE_SMALL, ids=ADAPTIVE_SMALL_IDS)
def test_adaptive_avg_pool_backward_by_finite_differences(case):
    """The average is linear: central differences of <y(x), dy> are exact up to rounding."""
    x, dy = _data(case, seed=11)
    dx = adaptive_avg_pool_backward(dy, x.shape)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        plus = np.vdot(adaptive_avg_pool(x + step, case.output_size), dy)
        minus = np.vdot(adaptive_avg_pool(x - step, case.output_size), dy)
        numeric[i] = (plus - minus) / (2 * eps)
    assert_close(dx, numeric, rtol=1e-7)


@pytest.mark.parametrize("case", ADAPTIVE_SMALL, ids=ADAPTIVE_SMALL_IDS)
def test_adaptive_max_pool_gradient_by_finite_differences(case):
    """Away from ties the switches are the Jacobian: max_pool_backward of the switches is the gradient."""
    x, dy = _data(case, seed=13)
    _, indices = adaptive_max_pool(x, case.output_size, return_indices=True)
    dx = cm.max_pool_backward(dy, indices, x.shape)
    eps = 1e-7
    numeric = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        plus = np.vdot(adaptive_max_pool(x + step, case.output_size), dy)
        minus = np.vdot(adaptive_max_pool(x - step, case.output_size), dy)
        numeric[i] = (plus - minus) / (2 * eps)
    assert_close(dx, numeric, rtol=1e-6)


# ---------------------------------------------------------------------------
# the matrices
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_avg_pool_matrix(case):
    x, dy = _data(case, seed=3)
    spatial = case.x_shape[2:]
    A = adaptive_avg_pool_matrix(spatial, case.output_size)
    assert A.format == "csr"
    assert A.dtype == np.float64
    assert A.shape == (int(np.prod(case.out_spatial)), int(np.prod(spatial)))
    assert np.array_equal(A.toarray(), adaptive_avg_pool_matrix_reference(spatial, case.output_size))
    planes = x.reshape(-1, A.shape[1])
    assert_close((A @ planes.T).T.reshape(case.y_shape), adaptive_avg_pool(x, case.output_size), rtol=1e-13)
    assert_close((A.T @ dy.reshape(-1, A.shape[0]).T).T.reshape(x.shape), adaptive_avg_pool_backward(dy, x.shape))
    size = adaptive_avg_pool_matrix_size(spatial, case.output_size)
    assert (size.shape, size.nnz) == (A.shape, A.nnz)
    assert size.nbytes == A.data.nbytes + A.indices.nbytes + A.indptr.nbytes
    A.data[:] = 0  # a copy: the cached pattern is untouched
    assert adaptive_avg_pool_matrix(spatial, case.output_size).data.any()


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adjoint_identity(case):
    """<A a, h> == <a, Aᵀ h>: adaptive_avg_pool_backward is the adjoint of adaptive_avg_pool."""
    rng = np.random.default_rng(17)
    a, h = rng.standard_normal(case.x_shape), rng.standard_normal(case.y_shape)
    lhs = np.vdot(adaptive_avg_pool(a, case.output_size), h)
    rhs = np.vdot(a, adaptive_avg_pool_backward(h, case.x_shape))
    assert abs(lhs - rhs) <= 1e-12 * max(1.0, abs(lhs))


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_max_pool_matrix(case):
    x, dy = _data(case, seed=5)
    S = adaptive_max_pool_matrix(x, case.output_size)
    y, indices = adaptive_max_pool(x, case.output_size, return_indices=True)
    assert S.format == "csr"
    assert S.shape == (y.size, x.size)
    assert S.nnz == y.size
    assert np.array_equal(np.diff(S.indptr), np.ones(y.size))  # one 1 per row
    assert np.array_equal(S @ x.ravel(), y.ravel())
    assert_close((S.T @ dy.ravel()).reshape(x.shape), cm.max_pool_backward(dy, indices, x.shape), rtol=1e-14)
    size = adaptive_max_pool_matrix_size(x.shape, case.output_size)
    assert (size.shape, size.nnz) == (S.shape, S.nnz)
    assert size.nbytes == S.data.nbytes + S.indices.nbytes + S.indptr.nbytes


def test_matrices_keep_float32_and_refuse_complex():
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(np.float32)
    assert adaptive_max_pool_matrix(x, 2).dtype == np.float32
    assert adaptive_max_pool_matrix(x.astype(np.float16), 2).dtype == np.float32
    assert adaptive_max_pool_matrix(x.astype(np.int32), 2).dtype == np.float64
    S = adaptive_max_pool_matrix(x, 2)
    assert adaptive_max_pool_matrix_size(x.shape, 2, dtype="float32").nbytes == sum(
        a.nbytes for a in (S.data, S.indices, S.indptr)
    )
    with pytest.raises(TypeError, match="x must be real"):
        adaptive_max_pool_matrix(x + 0j, 2)


def test_matrix_limit_is_checked_before_building():
    with pytest.raises(cm.MatrixTooLargeError, match="adaptive_avg_pool_matrix: A would be 49 x 3136"):
        adaptive_avg_pool_matrix((56, 56), 7, max_bytes=1000)
    with cm.matrix_limit(1000), pytest.raises(cm.MatrixTooLargeError, match="over the matrix limit"):
        adaptive_avg_pool_matrix((56, 56), 7)
    x = np.ones((2, 3, 8, 8))
    with pytest.raises(cm.MatrixTooLargeError, match="adaptive_max_pool_matrix: S would be 24 x 384"):
        adaptive_max_pool_matrix(x, 2, max_bytes=100)
    assert adaptive_max_pool_matrix(x, 2, max_bytes=10**6).shape == (24, 384)
    with pytest.raises(ValueError, match="max_bytes must be positive"):
        adaptive_avg_pool_matrix((4, 4), 2, max_bytes=0)
    with pytest.raises(TypeError, match="max_bytes must be an int"):
        adaptive_max_pool_matrix(x, 2, max_bytes=1.5)


# ---------------------------------------------------------------------------
# the switches feed max pooling's ways back
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_switches_feed_max_pool_backward(case):
    x, dy = _data(case, seed=7)
    _, indices = adaptive_max_pool(x, case.output_size, return_indices=True)
    dx = cm.max_pool_backward(dy, indices, x.shape)
    expected = np.zeros_like(x)
    for pos in np.ndindex(*dy.shape):  # Sᵀ dy, overlapping windows adding
        expected[(*pos[:2], *np.unravel_index(indices[pos], x.shape[2:]))] += dy[pos]
    assert_close(dx, expected, rtol=1e-14)


def _unpool_accepts(case):
    """max_unpool takes an output size of at least the pooled size minus one (the rule of a pooling's input)."""
    return all(s >= o - 1 for s, o in zip(case.x_shape[2:], case.out_spatial, strict=True))


@pytest.mark.parametrize(
    "case", [c for c in ADAPTIVE_GRID if _unpool_accepts(c)], ids=[c.id() for c in ADAPTIVE_GRID if _unpool_accepts(c)]
)
def test_switches_feed_max_unpool(case):
    x, _ = _data(case, seed=9)
    y, indices = adaptive_max_pool(x, case.output_size, return_indices=True)
    unpooled = cm.max_unpool(y, indices, case.x_shape[2:])
    expected = np.zeros_like(x)
    for pos in np.ndindex(*y.shape):  # placed in row-major order: a shared switch keeps the last (equal) value
        expected[(*pos[:2], *np.unravel_index(indices[pos], x.shape[2:]))] = y[pos]
    assert np.array_equal(unpooled, expected)
    S = adaptive_max_pool_matrix(x, case.output_size)
    assert np.array_equal(S @ unpooled.ravel(), y.ravel())  # selecting at the switches gives the pooled values back


def test_switches_of_an_output_larger_than_the_input_feed_max_unpool():
    x = np.array([[[1.0, 3.0, 2.0]]])
    y, indices = adaptive_max_pool(x, 7, return_indices=True)  # windows {0}, {0}, {0, 1}, {1}, {1, 2}, {2}, {2}
    assert indices.tolist() == [[[0, 0, 1, 1, 1, 2, 2]]]
    assert np.array_equal(cm.max_unpool(y, indices, (3,)), x)


# ---------------------------------------------------------------------------
# unbatched, dtypes, empty batches
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3])
def test_unbatched_equals_batched(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, *(5, 7, 4)[:n]))
    out = (3, None, 2)[:n]
    assert_close(AVG_ND[n](x, out), adaptive_avg_pool(x[None], out)[0], rtol=0)
    y, idx = MAX_ND[n](x, out, return_indices=True)
    y_b, idx_b = adaptive_max_pool(x[None], out, return_indices=True)
    assert np.array_equal(y, y_b[0])
    assert np.array_equal(idx, idx_b[0])
    assert np.array_equal(MAX_ND[n](x, out), y_b[0])
    assert np.array_equal(AVG_ND[n](x[None], out), adaptive_avg_pool(x[None], out))
    assert MAX_ND[n].__name__ == f"adaptive_max_pool{n}d"


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int64, np.bool_])
def test_dtypes(dtype):
    x = (np.random.default_rng(0).standard_normal((2, 3, 7, 6)) * 3).astype(dtype)
    expected = {np.float32: np.float32, np.float16: np.float16}.get(dtype, np.float64)
    y = adaptive_avg_pool(x, (3, 4))
    assert y.dtype == expected
    rtol = {np.float32: 1e-6, np.float16: 2e-3}.get(dtype, 1e-13)
    assert_close(y, adaptive_avg_pool_reference(x.astype(np.float64), (3, 4)), rtol=rtol)
    values, indices = adaptive_max_pool(x, (3, 4), return_indices=True)
    assert values.dtype == expected
    ref_values, ref_indices = adaptive_max_pool_reference(x.astype(expected), (3, 4))
    assert np.array_equal(values, ref_values)
    assert np.array_equal(indices, ref_indices)
    dx = adaptive_avg_pool_backward(np.ones((2, 3, 3, 4), dtype=dtype), x.shape)
    assert dx.dtype == expected


def test_average_is_linear_on_complex_input():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 2, 5, 7)) + 1j * rng.standard_normal((2, 2, 5, 7))
    y = adaptive_avg_pool(x, (2, 3))
    assert y.dtype == np.complex128
    assert_close(y, adaptive_avg_pool(x.real, (2, 3)) + 1j * adaptive_avg_pool(x.imag, (2, 3)))
    dx = adaptive_avg_pool_backward(y, x.shape)
    assert_close(dx, adaptive_avg_pool_backward(y.real, x.shape) + 1j * adaptive_avg_pool_backward(y.imag, x.shape))
    with pytest.raises(TypeError, match="x must be real"):
        adaptive_max_pool(x, 2)


def test_any_memory_layout():
    base = np.random.default_rng(4).standard_normal((3, 4, 11, 13))
    for x in (base[:, :, ::2], np.asfortranarray(base), base.transpose(1, 0, 2, 3), base[..., ::-1]):
        values, indices = adaptive_max_pool(x, (4, 5), return_indices=True)
        ref_values, ref_indices = adaptive_max_pool_reference(np.ascontiguousarray(x), (4, 5))
        assert np.array_equal(values, ref_values)
        assert np.array_equal(indices, ref_indices)
        assert_close(adaptive_avg_pool(x, (4, 5)), adaptive_avg_pool_reference(np.ascontiguousarray(x), (4, 5)))


def test_empty_batch():
    x = np.ones((0, 2, 5, 5))
    assert adaptive_avg_pool(x, 3).shape == (0, 2, 3, 3)
    assert adaptive_max_pool(x, 3, return_indices=True)[1].shape == (0, 2, 3, 3)
    assert adaptive_avg_pool_backward(np.ones((0, 2, 3, 3)), x.shape).shape == x.shape
    assert adaptive_max_pool_matrix(x, 3).shape == (0, 0)


def test_long_axis_uses_the_sparse_axis_matrix():
    """An axis too long for a dense per-axis matrix is averaged through the sparse one, to the same numbers."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 3000))
    case = AdaptiveCase(x.shape, 700)
    assert_close(adaptive_avg_pool(x, 700), adaptive_avg_pool_reference(x, case.output_size), rtol=1e-13)
    dy = rng.standard_normal((2, 3, 700))
    assert_close(adaptive_avg_pool_backward(dy, x.shape), adaptive_avg_pool_backward_reference(dy, x.shape), rtol=1e-12)
    x2 = rng.standard_normal((1, 2, 600, 3))
    assert_close(adaptive_avg_pool(x2, (500, 2)), adaptive_avg_pool_reference(x2, (500, 2)), rtol=1e-13)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

X = np.ones((2, 3, 6, 5))

BAD_CALLS = {
    "output_size float": (lambda: adaptive_avg_pool(X, 2.5), TypeError, r"output_size must be an int or a tuple"),
    "output_size str": (lambda: adaptive_max_pool(X, "3"), TypeError, r"output_size must be"),
    "output_size None": (lambda: adaptive_avg_pool(X, None), TypeError, r"output_size must be"),
    "output_size bool": (lambda: adaptive_avg_pool(X, True), TypeError, r"output_size must be"),
    "output_size entry float": (lambda: adaptive_avg_pool(X, (2, 2.0)), TypeError, r"output_size must be"),
    "output_size zero": (lambda: adaptive_avg_pool(X, 0), ValueError, r"output_size must be positive, got 0"),
    "output_size negative": (lambda: adaptive_max_pool(X, -2), ValueError, r"output_size must be positive"),
    "output_size entry zero": (lambda: adaptive_max_pool(X, (2, 0)), ValueError, r"output_size must have positive"),
    "output_size length": (lambda: adaptive_avg_pool(X, (2, 2, 2)), ValueError, r"output_size has 3 entries"),
    "output_size length hint": (
        lambda: adaptive_max_pool(X[0], (2, 2)),
        ValueError,
        r"use adaptive_max_pool2d.*x\[None\]",
    ),
    "x rank": (lambda: adaptive_avg_pool(np.ones((2, 3)), 2), ValueError, r"x must have shape \(N, C, \*spatial\)"),
    "x rank 6": (lambda: adaptive_max_pool(np.ones((1, 1, 2, 2, 2, 2)), 2), ValueError, r"1 to 3 spatial dims"),
    "x no channels": (lambda: adaptive_avg_pool(np.ones((2, 0, 4)), 2), ValueError, r"at least one channel"),
    "x empty plane": (lambda: adaptive_max_pool(np.ones((2, 3, 0, 4)), 2), ValueError, r"non-empty input plane"),
    "x complex max": (lambda: adaptive_max_pool(X + 0j, 2), TypeError, r"x must be real"),
    "x str": (lambda: adaptive_avg_pool(np.array(["a"]), 2), TypeError, r"x must have a numeric dtype"),
    "nd rank": (lambda: adaptive_avg_pool2d(np.ones((4, 4)), 2), ValueError, r"adaptive_avg_pool2d needs x of shape"),
    "nd rank 3d": (lambda: adaptive_max_pool3d(X[0], 2), ValueError, r"adaptive_max_pool3d needs x"),
    "nd unbatched no channels": (lambda: adaptive_max_pool1d(np.ones((0, 4)), 2), ValueError, r"at least one channel"),
    "backward grad rank": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 3, 3)), X.shape),
        ValueError,
        r"grad_output has shape \(2, 3, 3\), expected \(N, C, \*out_spatial\)",
    ),
    "backward grad channels": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 2, 3, 3)), X.shape),
        ValueError,
        r"grad_output has shape",
    ),
    "backward empty output": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 3, 0, 3)), X.shape),
        ValueError,
        r"grad_output must have non-empty spatial dims",
    ),
    "backward input_shape type": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 3, 3, 3)), "2x3x6x5"),
        TypeError,
        r"input_shape must be a tuple of ints",
    ),
    "backward input_shape rank": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 3, 3, 3)), (3, 6, 5)),
        ValueError,
        r"input_shape",
    ),
    "backward empty plane": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 3, 3, 3)), (2, 3, 0, 5)),
        ValueError,
        r"non-empty input plane",
    ),
    "backward no channels": (
        lambda: adaptive_avg_pool_backward(np.ones((2, 0, 3, 3)), (2, 0, 6, 5)),
        ValueError,
        r"at least one channel",
    ),
    "matrix input_spatial type": (lambda: adaptive_avg_pool_matrix(5, 2), TypeError, r"input spatial shape must be"),
    "matrix input_spatial rank": (lambda: adaptive_avg_pool_matrix((2,) * 4, 2), ValueError, r"1 to 3 spatial dims"),
    "matrix output_size length": (
        lambda: adaptive_avg_pool_matrix((5, 5), (2, 2, 2)),
        ValueError,
        r"output_size must be an int or a tuple of 2 entries",
    ),
    "matrix output_size zero": (lambda: adaptive_avg_pool_matrix((5,), 0), ValueError, r"output_size must be positive"),
    "S x rank": (lambda: adaptive_max_pool_matrix(np.ones((3, 4)), 2), ValueError, r"x must have shape"),
    "size input_shape": (
        lambda: adaptive_max_pool_matrix_size((3, 5, 5), (2, 2, 2)),
        ValueError,
        r"output_size has 3 entries",
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_CALLS))
def test_bad_input_names_the_argument(name):
    call, error, pattern = BAD_CALLS[name]
    with pytest.raises(error, match=pattern):
        call()
