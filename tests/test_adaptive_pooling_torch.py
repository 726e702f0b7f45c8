"""Adaptive pooling parity with PyTorch (skipped when torch is not installed).

First the naive references of ``adaptive_lp_reference.py`` against torch (what
makes them trustworthy for ``test_adaptive_pooling.py``), then convmat itself:
``F.adaptive_avg_pool{1,2,3}d`` and ``F.adaptive_max_pool{1,2,3}d`` values and
indices, autograd gradients (the max-pool gradient through
``max_pool_backward`` of the switches), ties, NaN and infinities, unbatched
input and ``None`` entries, in float64 and float32.
"""

from __future__ import annotations

import numpy as np
import pytest
from adaptive_lp_reference import (
    ADAPTIVE_GRID,
    ADAPTIVE_IDS,
    adaptive_avg_pool_reference,
    adaptive_max_pool_reference,
)
from conftest import assert_close

import convmat as cm
from convmat.adaptive_matrices import adaptive_avg_pool_matrix, adaptive_max_pool_matrix
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

torch = pytest.importorskip("torch")
F = torch.nn.functional

AVG_ND = {1: adaptive_avg_pool1d, 2: adaptive_avg_pool2d, 3: adaptive_avg_pool3d}
MAX_ND = {1: adaptive_max_pool1d, 2: adaptive_max_pool2d, 3: adaptive_max_pool3d}
DTYPES = (np.float64, np.float32)


def _torch_size(case):
    """``output_size`` as torch takes it: its 1-d functions take no ``None``."""
    return case.out_spatial if case.ndim == 1 else case.output_size


def _avg_torch(xt, case):
    return getattr(F, f"adaptive_avg_pool{case.ndim}d")(xt, _torch_size(case))


def _max_torch(xt, case):
    return getattr(F, f"adaptive_max_pool{case.ndim}d")(xt, _torch_size(case), return_indices=True)


def _data(case, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(case.x_shape).astype(dtype), rng.standard_normal(case.y_shape).astype(dtype)


def _special(case, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=case.x_shape).astype(np.float64)
    x[rng.random(case.x_shape) < 0.1] = np.nan
    x[rng.random(case.x_shape) < 0.2] = -np.inf
    x[rng.random(case.x_shape) < 0.05] = np.inf
    return x


# ---------------------------------------------------------------------------
# the references are torch's semantics
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_references_match_torch(case):
    x, _ = _data(case, 1)
    xt = torch.from_numpy(x)
    assert_close(adaptive_avg_pool_reference(x, case.output_size), _avg_torch(xt, case).numpy())
    values, indices = _max_torch(xt, case)
    ref_values, ref_indices = adaptive_max_pool_reference(x, case.output_size)
    assert np.array_equal(ref_values, values.numpy())
    assert np.array_equal(ref_indices, indices.numpy())


# ---------------------------------------------------------------------------
# convmat against torch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_avg_pool_forward_and_gradient(case, dtype):
    x, dy = _data(case, 2, dtype)
    xt = torch.from_numpy(x).requires_grad_()
    yt = _avg_torch(xt, case)
    y = adaptive_avg_pool(x, case.output_size)
    assert y.dtype == dtype
    assert_close(y, yt.detach().numpy())
    yt.backward(torch.from_numpy(dy))
    dx = adaptive_avg_pool_backward(dy, x.shape)
    assert dx.dtype == dtype
    assert_close(dx, xt.grad.numpy())
    if dtype == np.float64 and x.size:  # the matrix route too
        A = adaptive_avg_pool_matrix(x.shape[2:], case.output_size)
        assert_close((A @ x.reshape(-1, A.shape[1]).T).T.reshape(y.shape), yt.detach().numpy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_adaptive_max_pool_forward_indices_and_gradient(case, dtype):
    x, dy = _data(case, 3, dtype)
    xt = torch.from_numpy(x).requires_grad_()
    yt, it = _max_torch(xt, case)
    y, idx = adaptive_max_pool(x, case.output_size, return_indices=True)
    assert y.dtype == dtype
    assert np.array_equal(y, yt.detach().numpy())
    assert np.array_equal(idx, it.numpy())
    assert np.array_equal(adaptive_max_pool(x, case.output_size), y)
    yt.backward(torch.from_numpy(dy))
    assert_close(cm.max_pool_backward(dy, idx, x.shape), xt.grad.numpy())
    if x.size:
        S = adaptive_max_pool_matrix(x, case.output_size)
        assert_close((S.T @ dy.ravel()).reshape(x.shape), xt.grad.numpy())


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", ADAPTIVE_GRID, ids=ADAPTIVE_IDS)
def test_ties_nan_and_infinities_match_torch(case, seed):
    x = _special(case, seed)
    yt, it = _max_torch(torch.from_numpy(x), case)
    y, idx = adaptive_max_pool(x, case.output_size, return_indices=True)
    assert np.array_equal(y, yt.numpy(), equal_nan=True)
    assert np.array_equal(idx, it.numpy())
    finite = np.nan_to_num(x, nan=0.5, posinf=7.0, neginf=-7.0)  # the average of finite values only
    assert_close(adaptive_avg_pool(finite, case.output_size), _avg_torch(torch.from_numpy(finite), case).numpy())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_unbatched_input_as_torch(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((3, *(9, 7, 5)[:n]))
    out = (4, 3, 6)[:n]
    xt = torch.from_numpy(x)
    assert_close(AVG_ND[n](x, out), getattr(F, f"adaptive_avg_pool{n}d")(xt, out).numpy())
    y, idx = MAX_ND[n](x, out, return_indices=True)
    yt, it = getattr(F, f"adaptive_max_pool{n}d")(xt, out, return_indices=True)
    assert y.shape == tuple(yt.shape)
    assert np.array_equal(y, yt.numpy())
    assert np.array_equal(idx, it.numpy())


@pytest.mark.parametrize("n", [2, 3])
def test_none_entries_as_torch(n):
    x = np.random.default_rng(n).standard_normal((2, 3, *(9, 7, 5)[:n]))
    out = (None, 3, None)[:n]
    xt = torch.from_numpy(x)
    assert_close(adaptive_avg_pool(x, out), getattr(F, f"adaptive_avg_pool{n}d")(xt, out).numpy())
    y, idx = adaptive_max_pool(x, out, return_indices=True)
    yt, it = getattr(F, f"adaptive_max_pool{n}d")(xt, out, return_indices=True)
    assert np.array_equal(y, yt.numpy())
    assert np.array_equal(idx, it.numpy())


def test_global_and_long_windows_as_torch():
    rng = np.random.default_rng(4)
    for shape, out in [((8, 16, 7, 7), 1), ((2, 3, 1000), 7), ((2, 3, 130, 9), (3, 2)), ((2, 2, 3, 4, 200), (1, 2, 3))]:
        x = rng.standard_normal(shape)
        n = len(shape) - 2
        xt = torch.from_numpy(x)
        assert_close(adaptive_avg_pool(x, out), getattr(F, f"adaptive_avg_pool{n}d")(xt, out).numpy())
        y, idx = adaptive_max_pool(x, out, return_indices=True)
        yt, it = getattr(F, f"adaptive_max_pool{n}d")(xt, out, return_indices=True)
        assert np.array_equal(y, yt.numpy())
        assert np.array_equal(idx, it.numpy())


def test_what_torch_accepts_and_convmat_refuses():
    """PyTorch answers an output size of 0, and adaptive_avg_pool1d/2d zero channels, with empty results."""
    xt = torch.ones(2, 3, 5, 5)
    assert tuple(F.adaptive_avg_pool2d(xt, 0).shape) == (2, 3, 0, 0)
    assert tuple(F.adaptive_avg_pool2d(xt[:, :0], 2).shape) == (2, 0, 2, 2)
    with pytest.raises(ValueError, match="output_size must be positive"):
        adaptive_avg_pool(np.ones((2, 3, 5, 5)), 0)
    with pytest.raises(ValueError, match="at least one channel"):
        adaptive_avg_pool(np.ones((2, 0, 5, 5)), 2)
    with pytest.raises(RuntimeError):
        F.adaptive_max_pool2d(xt[:, :0], 2)  # max pooling refuses zero channels in torch too
