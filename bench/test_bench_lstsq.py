"""Solving and transposing: ``conv_lstsq`` against dense least squares, ``conv_transpose`` by padding mode.

``lstsq-<padding>-<size>`` (one sample, 3 -> 4 channels, 3x3 kernel, padding 1, so
``W`` is ``(4·n²) × (3·n²)`` and injective; float64):

* ``conv_lstsq-lsqr``: lsqr on the operator, default tolerances (``W`` never built);
* ``conv_lstsq-fft``: the exact Fourier route, where it applies (circular padding);
* ``dense-lstsq``: ``numpy.linalg.lstsq`` on ``conv_matrix(...).toarray()``, what a
  user would do with the matrix in hand (building it is not timed). Its cost grows
  with the cube of the unknowns: a few sizes where it still fits are enough.

``transpose-s<stride>-<dtype>``: ``conv_transpose`` of a (8, 16, 32, 32) batch with a
16 -> 16 channel 3x3 kernel, padding 1, with each padding mode beside ``"zeros"``
(PyTorch's, the only one it has): the cost of folding the border back.
"""

from __future__ import annotations

import numpy as np
import pytest

import convmat as cm
from convmat.geometry import PADDING_MODES
from convmat.linalg import conv_lstsq

SIZES = (16, 24)
DENSE_ROUNDS = 3  # a dense solve of the larger size takes seconds


def _problem(size: int, padding_mode: str):
    rng = np.random.default_rng(size)
    w = rng.standard_normal((4, 3, 3, 3)) / 6
    x = rng.standard_normal((1, 3, size, size))
    return w, x, cm.conv(x, w, padding=1, padding_mode=padding_mode)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(
    ("padding_mode", "route"),
    [("zeros", "lsqr"), ("zeros", "dense"), ("circular", "lsqr"), ("circular", "fft"), ("circular", "dense")],
)
def test_lstsq(benchmark, size, padding_mode, route):
    w, x, y = _problem(size, padding_mode)
    benchmark.group = f"lstsq-{padding_mode}-{size}x{size}"
    benchmark.extra_info["unknowns"] = x.size
    if route == "dense":
        W = cm.conv_matrix(w, x.shape[1:], padding=1, padding_mode=padding_mode).toarray()
        benchmark.name = "dense-lstsq"
        solution = benchmark.pedantic(
            lambda: np.linalg.lstsq(W, y.ravel(), rcond=None)[0], rounds=DENSE_ROUNDS, iterations=1
        )
    else:
        benchmark.name = f"conv_lstsq-{route}"
        result = benchmark(conv_lstsq, y, w, x.shape, padding=1, padding_mode=padding_mode, method=route)
        assert result.method == route
        assert result.converged.all()
        solution = result.x
    np.testing.assert_allclose(solution.ravel(), x.ravel(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("padding_mode", PADDING_MODES)
def test_transpose(benchmark, padding_mode, stride, dtype):
    rng = np.random.default_rng(0)
    h = rng.standard_normal((8, 16, 32, 32)).astype(dtype)
    w = rng.standard_normal((16, 16, 3, 3)).astype(dtype)
    benchmark.group = f"transpose-s{stride}-{dtype}"
    benchmark.name = f"conv_transpose-{padding_mode}"
    y = benchmark(
        cm.conv_transpose, h, w, stride=stride, padding=1, output_padding=stride - 1, padding_mode=padding_mode
    )
    assert y.shape == (8, 16, 32 * stride, 32 * stride)
    assert y.dtype == np.dtype(dtype)
