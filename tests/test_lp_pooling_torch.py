"""LP pooling parity with PyTorch (skipped when torch is not installed).

The reference of ``adaptive_lp_reference.py`` against ``F.lp_pool{1,2,3}d``, then
convmat's ``lp_pool`` and ``lp_pool_backward`` against torch's forward and
autograd over the grid, on inputs with negative values and exact zeros (where
the powers give NaN and the ``1/p`` power is singular: the NaN and infinity
patterns must match too), in float64 and float32, unbatched, and ``norm_type=inf``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from adaptive_lp_reference import LP_GRID, LP_IDS, lp_pool_reference
from conftest import assert_close

from convmat.lp_pooling import _power, lp_pool, lp_pool1d, lp_pool2d, lp_pool3d, lp_pool_backward

torch = pytest.importorskip("torch")
F = torch.nn.functional

LP_ND = {1: lp_pool1d, 2: lp_pool2d, 3: lp_pool3d}
KINDS = ("normal", "positive", "zeros", "nan")


def _torch_lp(xt, case):
    """``F.lp_pool{n}d`` with the case's arguments (its 1-d version takes ints only)."""
    kernel, stride = case.kernel_size, case.stride
    if case.ndim == 1:
        kernel = kernel[0] if isinstance(kernel, tuple) else kernel
        stride = stride[0] if isinstance(stride, tuple) else stride
    return getattr(F, f"lp_pool{case.ndim}d")(xt, case.norm_type, kernel, stride, case.ceil_mode)


def _data(case, kind, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x_shape)
    if kind == "positive":
        x = np.abs(x) + 0.1
    elif kind == "zeros":
        x[rng.random(x.shape) < 0.5] = 0.0
    elif kind == "nan":
        x[rng.random(x.shape) < 0.1] = np.nan
    return x.astype(dtype), rng.standard_normal(case.y_shape).astype(dtype)


@pytest.mark.parametrize("case", LP_GRID, ids=LP_IDS)
def test_reference_matches_torch(case):
    for kind in ("normal", "positive"):
        x, _ = _data(case, kind, 1)
        assert_close(lp_pool_reference(x, case.norm_type, **case.kwargs), _torch_lp(torch.from_numpy(x), case).numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", LP_GRID, ids=LP_IDS)
def test_forward_and_gradient_match_torch(case, kind, dtype):
    x, dy = _data(case, kind, LP_GRID.index(case), dtype)
    xt = torch.from_numpy(x).requires_grad_()
    yt = _torch_lp(xt, case)
    y = lp_pool(x, case.norm_type, **case.kwargs)
    assert y.dtype == dtype
    assert_close(y, yt.detach().numpy())
    yt.backward(torch.from_numpy(dy))
    dx = lp_pool_backward(dy, x, case.norm_type, **case.kwargs)
    assert dx.dtype == dtype
    assert_close(dx, xt.grad.numpy())


@pytest.mark.parametrize("norm_type", [1, 2, 3, 0.5, 1.5, math.inf])
def test_zero_windows_match_torch(norm_type):
    """All-zero windows, zeros beside non-zeros, in every rank: the gradient's zeros, infinities and NaNs as torch's."""
    x = np.array([[[0.0, 0.0, 3.0, 0.0, 4.0, 0.0, -1.0, 2.0]]])
    for n in (1, 2, 3):
        xn = x.reshape((1, 1) + (1,) * (n - 1) + (8,))
        kernel = (1,) * (n - 1) + (2,)
        xt = torch.from_numpy(xn).requires_grad_()
        yt = getattr(F, f"lp_pool{n}d")(xt, norm_type, kernel[0] if n == 1 else kernel)
        dy = np.arange(1.0, 5.0).reshape(yt.shape)
        yt.backward(torch.from_numpy(dy))
        assert_close(lp_pool(xn, norm_type, kernel), yt.detach().numpy())
        assert_close(lp_pool_backward(dy, xn, norm_type, kernel), xt.grad.numpy())


@pytest.mark.parametrize("n", [1, 2, 3])
def test_unbatched_as_torch(n):
    x = np.random.default_rng(n).standard_normal((3, *(7, 6, 5)[:n]))
    assert_close(LP_ND[n](x, 2, 2, 1, True), getattr(F, f"lp_pool{n}d")(torch.from_numpy(x), 2, 2, 1, True).numpy())


def test_what_torch_accepts_and_convmat_refuses():
    """PyTorch takes a negative norm_type (and -inf: the minimum of |x|); convmat refuses them."""
    xt = torch.rand(1, 1, 4) + 0.5
    assert torch.isfinite(F.lp_pool1d(xt, -1, 2)).all()
    assert torch.equal(F.lp_pool1d(xt, -math.inf, 2), -F.max_pool1d(-xt.abs(), 2))
    for p in (-1, -math.inf, 0):
        with pytest.raises(ValueError, match="norm_type must be positive"):
            lp_pool(xt.numpy(), p, 2)


@pytest.mark.parametrize("exponent", [0, 1, 2, 3, 4, 7, 64, 65, -1, -2, -3, 0.5, -0.5, 1.5, 1 / 3, -2 / 3, 2.5])
def test_powers_are_torch_pow(exponent):
    """The powers (a product for integers, no slow path for negative bases) are Tensor.pow's, zeros' signs included."""
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e200, -1e200, 1e-200, -1e-200]
    x = np.concatenate([rng.standard_normal(500) * 3, special])
    with np.errstate(all="ignore"):
        ours = _power(x, exponent)
    theirs = torch.from_numpy(x).pow(exponent).numpy()
    assert_close(ours, theirs, rtol=1e-13)
    zeros = x == 0
    assert np.array_equal(np.signbit(ours[zeros]), np.signbit(theirs[zeros]))
