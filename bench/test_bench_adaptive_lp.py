"""Adaptive and LP pooling against PyTorch.

Adaptive pooling, group ``adaptive-<case>-<op>-<dtype>``, on three cases:

* ``head``: (8, 512, 7, 7) pooled to 1, the global pooling before a classifier;
* ``56to7``: (8, 64, 56, 56) pooled to (7, 7), windows of 8 side by side;
* ``56to5``: (8, 64, 56, 56) pooled to (5, 5), windows of 12 every 11 (overlapping).

Ops: ``avg`` (convmat's ``adaptive_avg_pool``, one BLAS product per axis; beside it
``matrix``, the plane matrix ``A`` built once and applied to every plane; and
``F.adaptive_avg_pool2d``), ``avg_backward`` (``adaptive_avg_pool_backward``
against aten's ``_adaptive_avg_pool2d_backward``), ``max`` (with the switches, against
``F.adaptive_max_pool2d(return_indices=True)``) and ``max_backward``
(``max_pool_backward`` of the switches against aten's ``adaptive_max_pool2d_backward``).

LP pooling, group ``lp-<case>-<op>-<dtype>``, on a non-negative (8, 64, 56, 56), as
after a ReLU: ``p2k2`` (norm 2, 2x2 windows, stride 2) and ``p3k3s2ceil`` (norm 3, 3x3
windows, stride 2, ceil mode).
``forward`` against ``F.lp_pool2d``; ``backward``: ``lp_pool_backward`` (which
recomputes the window sums from ``x``) against ``torch.autograd.grad`` through a
saved forward.
"""

from __future__ import annotations

import numpy as np
import pytest

import convmat as cm
from convmat.adaptive_matrices import adaptive_avg_pool_matrix
from convmat.adaptive_pooling import adaptive_avg_pool, adaptive_avg_pool_backward, adaptive_max_pool
from convmat.lp_pooling import lp_pool, lp_pool_backward

DTYPES = ("float32", "float64")

ADAPTIVE = {
    "head": ((8, 512, 7, 7), (1, 1)),
    "56to7": ((8, 64, 56, 56), (7, 7)),
    "56to5": ((8, 64, 56, 56), (5, 5)),
}
ADAPTIVE_IMPLS = {
    "avg": ("convmat", "matrix", "torch"),
    "avg_backward": ("convmat", "torch"),
    "max": ("convmat", "torch"),
    "max_backward": ("convmat", "torch"),
}

LP = {
    "p2k2": ((8, 64, 56, 56), {"norm_type": 2, "kernel_size": 2}),
    "p3k3s2ceil": ((8, 64, 56, 56), {"norm_type": 3, "kernel_size": 3, "stride": 2, "ceil_mode": True}),
}


def _data(shape, out_shape, dtype):
    rng = np.random.default_rng(0)
    return rng.standard_normal(shape).astype(dtype), rng.standard_normal(out_shape).astype(dtype)


def _adaptive_convmat(op, x, dy, out):
    if op == "avg":
        return lambda: adaptive_avg_pool(x, out)
    if op == "avg_backward":
        return lambda: adaptive_avg_pool_backward(dy, x.shape)
    if op == "max":
        return lambda: adaptive_max_pool(x, out, return_indices=True)
    _, indices = adaptive_max_pool(x, out, return_indices=True)
    return lambda: cm.max_pool_backward(dy, indices, x.shape)


def _adaptive_matrix(x, out):
    """``A`` of a plane, built once; every plane of the batch in one sparse product."""
    A = adaptive_avg_pool_matrix(x.shape[2:], out).astype(x.dtype)
    planes = x.reshape(-1, A.shape[1])
    return lambda: (A @ planes.T).T.reshape(*x.shape[:2], *out)


def _adaptive_torch(torch, op, x, dy, out):
    F = torch.nn.functional
    xt, dyt = torch.from_numpy(x), torch.from_numpy(dy)
    if op == "avg":
        return lambda: F.adaptive_avg_pool2d(xt, out)
    if op == "avg_backward":
        return lambda: torch.ops.aten._adaptive_avg_pool2d_backward(dyt, xt)
    if op == "max":
        return lambda: F.adaptive_max_pool2d(xt, out, return_indices=True)
    _, indices = F.adaptive_max_pool2d(xt, out, return_indices=True)
    return lambda: torch.ops.aten.adaptive_max_pool2d_backward(dyt, xt, indices)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("op", "impl"), [(op, impl) for op, impls in ADAPTIVE_IMPLS.items() for impl in impls])
@pytest.mark.parametrize("case", list(ADAPTIVE))
def test_adaptive(benchmark, request, case, op, impl, dtype):
    shape, out = ADAPTIVE[case]
    x, dy = _data(shape, (*shape[:2], *out), dtype)
    if impl == "torch":
        function = _adaptive_torch(request.getfixturevalue("torch"), op, x, dy, out)
    elif impl == "matrix":
        function = _adaptive_matrix(x, out)
    else:
        function = _adaptive_convmat(op, x, dy, out)
    benchmark.group = f"adaptive-{case}-{op}-{dtype}"
    benchmark.name = impl
    benchmark.extra_info["input_shape"] = list(shape)
    result = benchmark(function)
    first = result[0] if isinstance(result, tuple) else result
    assert tuple(first.shape) in (x.shape, dy.shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl", ["convmat", "torch"])
@pytest.mark.parametrize("op", ["forward", "backward"])
@pytest.mark.parametrize("case", list(LP))
def test_lp(benchmark, request, case, op, impl, dtype):
    shape, kwargs = LP[case]
    x = np.abs(np.random.default_rng(1).standard_normal(shape)).astype(dtype)  # non-negative, as after a ReLU
    y = lp_pool(x, **kwargs)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(dtype)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        F = torch.nn.functional
        xt = torch.from_numpy(x).requires_grad_(op == "backward")
        args = (kwargs["norm_type"], kwargs["kernel_size"], kwargs.get("stride"), kwargs.get("ceil_mode", False))
        if op == "forward":
            function = lambda: F.lp_pool2d(xt, *args)  # noqa: E731
        else:
            yt, dyt = F.lp_pool2d(xt, *args), torch.from_numpy(dy)
            function = lambda: torch.autograd.grad(yt, xt, dyt, retain_graph=True)[0]  # noqa: E731
    elif op == "forward":
        function = lambda: lp_pool(x, **kwargs)  # noqa: E731
    else:
        function = lambda: lp_pool_backward(dy, x, **kwargs)  # noqa: E731
    benchmark.group = f"lp-{case}-{op}-{dtype}"
    benchmark.name = impl
    benchmark.extra_info["input_shape"] = list(shape)
    result = benchmark(function)
    assert tuple(result.shape) == (y.shape if op == "forward" else x.shape)
