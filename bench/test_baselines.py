"""The baselines compute what they claim: the textbook convolution, the scipy.signal calls, PyTorch's calls
and the floors of convmat's routes (``bench/floors.py``) against convmat.

Not benchmarks (``--benchmark-only`` skips them); they run in the smoke test.
"""

from __future__ import annotations

from dataclasses import replace

import cases
import floors
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


# ---------------------------------------------------------------------------
# The layers beside B-F (bench/test_bench_layers.py, part "layers" of the report)
# ---------------------------------------------------------------------------

NEW_LAYER_OPS = [(name, op) for name, layer in cases.NEW_LAYERS.items() for op in layer.ops]
LAYER_OPS = [(name, op) for name, layer in cases.LAYERS.items() for op in layer.ops]


def as_float64(d: cases.Data) -> cases.Data:
    return cases.Data(*(a.astype(np.float64) for a in (d.x, d.w, d.dy)))


def numpy_of(result) -> np.ndarray:
    return result.numpy() if hasattr(result, "numpy") else np.asarray(result)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize(("name", "op"), NEW_LAYER_OPS)
def test_every_route_of_a_new_layer_agrees(name, op, dtype):
    """Each call the benchmarks time for a layer (its small version) gives the im2col route's float64 result."""
    layer = cases.layer_spec(name, tiny=True)
    d = cases.make_layer_data(name, dtype, tiny=True)
    expected = cases.layer_op(layer, op, as_float64(d), backend="im2col")()
    routes = {f"convmat-{b}": cases.layer_op(layer, op, d, backend=b) for b in cases.convmat_backends()}
    routes["convmat-default"] = cases.layer_op(layer, op, d)
    if harness.torch_module() is not None:
        routes["torch"] = cases.layer_torch_op(layer, op, d)
    if layer.textbook_applies:
        routes["textbook"] = cases.layer_textbook_op(layer, op, d)
        routes["textbook-columns"] = cases.layer_textbook_op(layer, op, d, layout="columns")
    if layer.scipy_applies(op):
        for method in ("fftconvolve", "oaconvolve"):
            routes[f"scipy-{method}"] = cases.layer_scipy_op(layer, op, d, method)
    for route, function in routes.items():
        result = numpy_of(function())
        assert result.shape == expected.shape, route
        assert close(result, expected, dtype), route


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("op", ["forward", "input_grad"])
@pytest.mark.parametrize("name", cases.LARGE_KERNEL_LAYERS)
def test_scipy_convolutions_equal_convmat_on_the_large_kernels(name, op, dtype):
    """fftconvolve / oaconvolve of the full DW7 and DW31 layers: convmat's output (default route)."""
    layer = cases.LAYERS[name]
    d = cases.make_layer_data(name, dtype)
    expected = np.asarray(cases.layer_op(layer, op, d)(), dtype=np.float64)
    for method in ("fftconvolve", "oaconvolve"):
        result = cases.layer_scipy_op(layer, op, d, method)()
        assert result.shape == expected.shape, method
        assert result.dtype == np.dtype(dtype), method
        assert close(result, expected, dtype), method


@pytest.mark.parametrize("threads", [1, harness.THREADS])
@pytest.mark.parametrize("route", ["im2col", "fft"])
@pytest.mark.parametrize(("name", "op"), LAYER_OPS)
def test_floor_computes_the_operation(name, op, route, threads, monkeypatch):
    """A floor is the same arithmetic as the route: its output, put back in place, is the operation's result
    (of its first block: im2col floors are also run in blocks of a few KiB here)."""
    monkeypatch.setattr(floors, "MIN_FLOPS_PER_THREAD", 10**18 if threads == 1 else 1)
    layer = cases.layer_spec(name, tiny=True)
    d = as_float64(cases.make_layer_data(name, "float64", tiny=True))
    for block_bytes in (floors.BLOCK_BYTES, 4096) if route == "im2col" else (floors.BLOCK_BYTES,):
        floor = floors.floor_op(layer, op, d, route, block_bytes)
        got = floor.result(floor.run())
        n = floor.samples
        first = replace(layer, x_shape=(n, *layer.x_shape[1:]))
        expected = cases.layer_op(first, op, cases.Data(d.x[:n], d.w, d.dy[:n]), backend="im2col")()
        assert close(got, expected[tuple(slice(0, s) for s in got.shape)], "float64"), block_bytes


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize(("name", "op"), LAYER_OPS)
def test_the_chosen_route_is_a_route(name, op, dtype):
    layer = cases.LAYERS[name]
    assert cases.chosen_route(layer, op, dtype) in cases.convmat_backends()
    assert layer.flops > 0
    assert layer.sparse_nnz > 0
