"""Average pooling's ``divisor_override``: every window divides by it instead of its size.

A naive reference from the definition (window sums over the input elements,
divided by the override) over the average-pooling grid, in 1 to 3 dims, with
padding and ceil mode; the adjoint identity and ``avg_pool_matrix``; the
rank-specific variants; the argument's checks; the cache keyed by the divisor.
PyTorch parity (``F.avg_pool2d/3d`` forward and autograd, float64) skips
cleanly without torch; PyTorch's ``avg_pool1d`` has no ``divisor_override``,
so 1-d is checked as ``avg_pool2d`` of planes one row high.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from conftest import assert_close
from pool_reference import AVG_GRID, AVG_IDS, as_tuple, avg_pool_out_spatial, case_data, pool_out_size

import convmat as cm

DIVISORS = (1, 3, -2, 7)
CASES = [pytest.param(c, id=i) for c, i in zip(AVG_GRID, AVG_IDS, strict=True)]


def _windows(x_shape, kernel_size, stride, padding, ceil_mode):
    """``(o, input positions)`` of every window of one plane, from the definition."""
    n = len(x_shape) - 2
    kernel = as_tuple(kernel_size, n)
    stride = kernel if stride is None else as_tuple(stride, n)
    padding = as_tuple(padding, n)
    spatial = x_shape[2:]
    out = tuple(pool_out_size(spatial[d], kernel[d], stride[d], padding[d], 1, ceil_mode) for d in range(n))
    for o in itertools.product(*(range(v) for v in out)):
        axes = [
            [p for p in range(o[d] * stride[d] - padding[d], o[d] * stride[d] - padding[d] + kernel[d])]
            for d in range(n)
        ]
        inside = [[p for p in axis if 0 <= p < spatial[d]] for d, axis in enumerate(axes)]
        yield o, list(itertools.product(*inside))


def avg_pool_override_reference(x, divisor, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Each window's sum of input elements, divided by ``divisor``."""
    out = avg_pool_out_spatial(x.shape, kernel_size, stride, padding, ceil_mode)
    y = np.zeros(x.shape[:2] + out, dtype=x.dtype)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o, positions in _windows(x.shape, kernel_size, stride, padding, ceil_mode):
            y[(b, c, *o)] = sum((x[(b, c, *q)] for q in positions), start=x.dtype.type(0)) / divisor
    return y


def avg_pool_override_backward_reference(dy, input_shape, divisor, kernel_size, stride=None, padding=0, ceil=False):
    """Each output gradient divided by ``divisor`` and added to every input element of its window."""
    dx = np.zeros(input_shape, dtype=dy.dtype)
    for b, c in itertools.product(range(input_shape[0]), range(input_shape[1])):
        for o, positions in _windows(tuple(input_shape), kernel_size, stride, padding, ceil):
            for q in positions:
                dx[(b, c, *q)] += dy[(b, c, *o)] / divisor
    return dx


@pytest.mark.parametrize("divisor", DIVISORS)
@pytest.mark.parametrize("case", CASES)
def test_avg_pool_with_divisor_override_is_the_reference(case, divisor):
    x, dy = case_data(case)
    kwargs = case.avg_kwargs
    expected = avg_pool_override_reference(x, divisor, **kwargs)
    for include in (True, False):  # count_include_pad plays no part
        assert_close(cm.avg_pool(x, **kwargs, count_include_pad=include, divisor_override=divisor), expected)
    back = avg_pool_override_backward_reference(
        dy, x.shape, divisor, kwargs["kernel_size"], kwargs["stride"], kwargs["padding"], kwargs["ceil_mode"]
    )
    assert_close(cm.avg_pool_backward(dy, x.shape, **kwargs, divisor_override=divisor), back)


@pytest.mark.parametrize("case", CASES[::3])
def test_adjoint_identity_and_the_matrix(case):
    x, dy = case_data(case)
    kwargs = {**case.avg_kwargs, "divisor_override": 5}
    y = cm.avg_pool(x, **kwargs)
    dx = cm.avg_pool_backward(dy, x.shape, **kwargs)
    assert np.isclose(np.vdot(y, dy), np.vdot(x, dx), rtol=1e-12, atol=1e-12)  # <A x, dy> == <x, Aᵀ dy>
    A = cm.avg_pool_matrix(x.shape[2:], **kwargs)
    planes = x.reshape(-1, A.shape[1])
    assert_close((A @ planes.T).T.reshape(y.shape), y)
    assert set(np.unique(A.data)) == {0.2}
    assert A.nnz == cm.avg_pool_matrix_size(x.shape[2:], **case.avg_kwargs).nnz  # same structure, same size


def test_hand_worked():
    x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    assert cm.avg_pool(x, 2, divisor_override=1).tolist() == [[[3.0, 7.0]]]
    assert cm.avg_pool(x, 2, ceil_mode=True, divisor_override=2).tolist() == [[[1.5, 3.5, 2.5]]]
    assert cm.avg_pool(x, 3, stride=2, padding=1, divisor_override=-1).tolist() == [[[-3.0, -9.0, -9.0]]]
    assert cm.avg_pool_backward(np.ones((1, 1, 2)), (1, 1, 5), 2, divisor_override=4).tolist() == [
        [[0.25, 0.25, 0.25, 0.25, 0.0]]
    ]
    assert cm.avg_pool_matrix((4,), 2, stride=1, divisor_override=-4).toarray()[0].tolist() == [-0.25, -0.25, 0, 0]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_rank_specific_variants_take_it_batched_and_unbatched(n):
    wrapper = getattr(cm, f"avg_pool{n}d")
    x = np.arange(float(2 * 4**n)).reshape(1, 2, *(4,) * n)
    expected = cm.avg_pool(x, 2, divisor_override=3)
    assert_close(wrapper(x, 2, divisor_override=3), expected)
    assert_close(wrapper(x[0], 2, None, 0, False, True, 3), expected[0])  # positional, unbatched


def test_the_cached_matrix_is_keyed_by_the_divisor():
    cm.clear_cache()
    plain = cm.avg_pool_matrix((5, 5), 3, padding=1).toarray()
    assert set(np.unique(cm.avg_pool_matrix((5, 5), 3, padding=1, divisor_override=2).data)) == {0.5}
    assert set(np.unique(cm.avg_pool_matrix((5, 5), 3, padding=1, divisor_override=3).data)) == {1 / 3}
    assert np.array_equal(cm.avg_pool_matrix((5, 5), 3, padding=1).toarray(), plain)
    excluded = cm.avg_pool_matrix((5, 5), 3, padding=1, count_include_pad=False).toarray()
    assert not np.array_equal(excluded, plain)
    assert np.array_equal(cm.avg_pool_matrix((5, 5), 3, padding=1, count_include_pad=False).toarray(), excluded)


def test_dtypes_are_kept():
    for dtype in (np.float16, np.float32, np.float64, np.complex128):
        x = np.ones((1, 1, 4, 4), dtype=dtype)
        y = cm.avg_pool(x, 2, divisor_override=8)
        assert y.dtype == dtype
        assert np.allclose(y, 0.5)
        assert cm.avg_pool_backward(y, x.shape, 2, divisor_override=8).dtype == dtype


BAD = {
    "zero": (0, ValueError, r"^divisor_override must be a non-zero int .*got 0$"),
    "float": (2.0, TypeError, r"^divisor_override must be an int, got 2.0 \(float\)"),
    "fraction": (2.5, TypeError, r"^divisor_override must be an int"),
    "bool": (True, TypeError, r"^divisor_override must be an int, got True \(bool\)"),
    "string": ("2", TypeError, r"^divisor_override must be an int"),
    "past int64": (2**63, ValueError, r"^divisor_override must fit in int64"),
}


@pytest.mark.parametrize("name", sorted(BAD))
@pytest.mark.parametrize("function", ["avg_pool", "avg_pool_backward", "avg_pool_matrix", "avg_pool2d"])
def test_bad_divisor_override(function, name):
    value, error, message = BAD[name]
    calls = {
        "avg_pool": lambda: cm.avg_pool(np.ones((1, 1, 4, 4)), 2, divisor_override=value),
        "avg_pool_backward": lambda: cm.avg_pool_backward(
            np.ones((1, 1, 2, 2)), (1, 1, 4, 4), 2, divisor_override=value
        ),
        "avg_pool_matrix": lambda: cm.avg_pool_matrix((4, 4), 2, divisor_override=value),
        "avg_pool2d": lambda: cm.avg_pool2d(np.ones((1, 4, 4)), 2, divisor_override=value),
    }
    with pytest.raises(error, match=message):
        calls[function]()


def test_any_integer_type_and_the_int64_range():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    expected = cm.avg_pool(x, 2, divisor_override=3)
    assert np.array_equal(cm.avg_pool(x, 2, divisor_override=np.int32(3)), expected)
    assert np.array_equal(cm.avg_pool(x, 2, divisor_override=np.uint8(3)), expected)
    assert cm.avg_pool(x, 2, divisor_override=-(2**63))[0, 0, 0, 0] == -10.0 / 2**63
    assert cm.avg_pool(x, 2, divisor_override=2**63 - 1).shape == (1, 1, 2, 2)


# ---------------------------------------------------------------------------
# PyTorch parity
# ---------------------------------------------------------------------------


def _torch_avg_pool(torch, xt, case, include, divisor):
    """``F.avg_pool2d/3d``; 1-d as ``avg_pool2d`` on planes one row high (``avg_pool1d`` has no divisor_override)."""
    F = torch.nn.functional
    kwargs = case.avg_kwargs
    if case.ndim == 1:
        stride = None if kwargs["stride"] is None else (1, as_tuple(kwargs["stride"], 1)[0])
        y = F.avg_pool2d(
            xt[:, :, None],
            (1, as_tuple(kwargs["kernel_size"], 1)[0]),
            stride,
            (0, as_tuple(kwargs["padding"], 1)[0]),
            kwargs["ceil_mode"],
            include,
            divisor,
        )
        return y[:, :, 0]
    pool = getattr(F, f"avg_pool{case.ndim}d")
    return pool(xt, kwargs["kernel_size"], kwargs["stride"], kwargs["padding"], kwargs["ceil_mode"], include, divisor)


def _torch_accepts(case):
    """torch's avg_pool3d refuses an input dim smaller than the kernel even when padding makes room."""
    kernel = as_tuple(case.kernel_size, case.ndim)
    return case.ndim < 3 or all(size >= k for size, k in zip(case.x_shape[2:], kernel, strict=True))


TORCH_CASES = [pytest.param(c, id=i) for c, i in zip(AVG_GRID, AVG_IDS, strict=True) if _torch_accepts(c)]


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("divisor", [1, 3, -2])
@pytest.mark.parametrize("case", TORCH_CASES)
def test_forward_and_backward_are_torch(case, divisor, include):
    torch = pytest.importorskip("torch")
    x, dy = case_data(case)
    xt = torch.from_numpy(x).requires_grad_()
    yt = _torch_avg_pool(torch, xt, case, include, divisor)
    yt.backward(torch.from_numpy(dy))
    kwargs = {**case.avg_kwargs, "count_include_pad": include, "divisor_override": divisor}
    assert_close(cm.avg_pool(x, **kwargs), yt.detach().numpy())
    assert_close(cm.avg_pool_backward(dy, x.shape, **kwargs), xt.grad.numpy())


def test_torch_refuses_what_convmat_refuses():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = np.ones((1, 1, 4, 4))
    for value in (0, 2.0, True):
        with pytest.raises((RuntimeError, TypeError)):
            F.avg_pool2d(torch.from_numpy(x), 2, divisor_override=value)
        with pytest.raises((ValueError, TypeError), match="divisor_override"):
            cm.avg_pool(x, 2, divisor_override=value)
