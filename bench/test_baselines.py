"""The baselines compute what they claim: the textbook convolution and the scipy.signal calls against convmat.

Not benchmarks (``--benchmark-only`` skips them); they run in the smoke test.
"""

from __future__ import annotations

import cases
import harness
import numpy as np
import pytest
import textbook

import convmat as cm

# (x shape, w shape, stride, pad): odd and even kernels, strides, rectangular inputs
GEOMETRIES = [
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1),
    ((3, 2, 9, 8), (5, 2, 4, 2), 2, 0),
    ((1, 1, 6, 6), (2, 1, 5, 5), 3, 2),
    ((2, 4, 5, 7), (3, 4, 1, 1), 1, 0),
]


def close(a, b, dtype):
    tol = 1e-4 if np.dtype(dtype) == np.float32 else 1e-11
    scale = max(1.0, float(np.max(np.abs(b))))
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b))) <= tol * scale


@pytest.mark.parametrize("suffix", ["", "_columns"])
@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad"), GEOMETRIES)
def test_textbook_matches_convmat(x_shape, w_shape, stride, pad, dtype, suffix):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    y = cm.conv(x, w, stride=stride, padding=pad)
    dy = rng.standard_normal(y.shape).astype(dtype)
    f64 = {"stride": stride, "padding": pad}
    x64, w64, dy64 = x.astype(np.float64), w.astype(np.float64), dy.astype(np.float64)
    ref = {
        "forward": cm.conv(x64, w64, **f64),
        "input_grad": cm.conv_input_grad(x.shape, w64, dy64, **f64),
        "weight_grad": cm.conv_weight_grad(x64, w.shape, dy64, **f64),
    }
    got = {
        "forward": getattr(textbook, f"conv2d_forward{suffix}")(x, w, stride, pad),
        "input_grad": getattr(textbook, f"conv2d_input_grad{suffix}")(x.shape, w, dy, stride, pad),
        "weight_grad": getattr(textbook, f"conv2d_weight_grad{suffix}")(x, w.shape, dy, stride, pad),
    }
    for op in cases.OPS:
        assert got[op].dtype == np.dtype(dtype), op
        assert got[op].shape == ref[op].shape, op
        assert close(got[op], ref[op], dtype), op


@pytest.mark.parametrize("op", cases.OPS)
def test_every_route_of_layer_b_agrees(op):
    cfg = cases.CONFIGS["B"]
    d = cases.make_data("B", "float64")
    expected = cases.convmat_op(cfg, op, d)()
    routes = [
        cases.convmat_op(cfg, op, d, backend="sparse"),
        cases.textbook_op(cfg, op, d),
        cases.textbook_op(cfg, op, d, layout="columns"),
    ]
    if harness.torch_module() is not None:
        routes.append(lambda: cases.torch_op(cfg, op, d)().numpy())
    for route in routes:
        assert close(route(), expected, "float64")


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("case", cases.SIGNAL_CASES)
def test_signal_calls_compute_the_same_correlation(case, dtype):
    ops = cases.signal_ops(case, dtype)
    expected = np.asarray(ops["convmat-im2col"](), dtype=np.float64)
    for name, function in ops.items():
        result = function()
        result = result.numpy() if hasattr(result, "numpy") else result
        result = result.reshape(expected.shape)  # correlate of one output channel drops the channel axis
        assert close(result, expected, dtype), name
