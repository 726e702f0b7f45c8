"""The FFT route beyond the shared grid: its transform grid, chunks and tiles within the workspace limit, the rule of
``backend="auto"`` and ``choose_backend``, and the sparse route's prebuilt ``W``.

The FFT route's numbers are checked with the other routes' over the generated grid of geometries (both dtypes,
against the naive reference, the adjoint identities and finite differences) in ``test_conv_core.py``.
"""

import importlib
import tracemalloc

import numpy as np
import pytest
import scipy.fft
import scipy.sparse as sp
from conftest import assert_close, random_array
from reference import conv_input_grad_reference, conv_reference, conv_weight_grad_reference

import convmat as cm
from convmat.conv_fft import fft_plan
from convmat.geometry import conv_geometry
from convmat.route_choice import FFT_MARGIN, pick_route, route_costs

conv_module = importlib.import_module("convmat.conv")

GEOMETRIES = [
    # (x shape, w shape, kwargs): dense, grouped with several channels a group, depthwise with a channel
    # multiplier, strided and dilated, a folded padding mode, circular (the exact diagonalisation), 1-d and 3-d
    ((5, 6, 9, 8), (4, 6, 3, 3), {"padding": 1}),
    ((4, 6, 9, 8), (9, 2, 3, 2), {"padding": (2, 1), "groups": 3}),
    ((4, 3, 10, 7), (6, 1, 5, 5), {"padding": 2, "groups": 3, "padding_mode": "reflect"}),
    ((3, 4, 11, 9), (4, 2, 3, 3), {"stride": 2, "dilation": (2, 1), "padding": 1, "groups": 2}),
    ((3, 2, 7, 6), (3, 2, 3, 4), {"padding": (1, 2), "stride": (1, 2), "padding_mode": "circular"}),
    ((6, 3, 17), (2, 3, 9), {"padding": "same", "padding_mode": "replicate"}),
    ((2, 2, 5, 6, 4), (4, 2, 3, 2, 3), {"padding": 1, "padding_mode": "circular"}),
]


@pytest.mark.parametrize("limit", [1, 3000, 10**9])
@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), GEOMETRIES)
def test_results_do_not_depend_on_the_workspace_limit(x_shape, w_shape, kwargs, limit, rng):
    """Chunks of the batch and tiles of the kernel spectrum (one channel a tile at the smallest limit)."""
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    y = conv_reference(x, w, **kwargs)
    dy = rng.standard_normal(y.shape)
    with cm.workspace_limit(limit):
        assert_close(cm.conv(x, w, **kwargs, backend="fft"), y)
        dx = cm.conv_input_grad(x.shape, w, dy, **kwargs, backend="fft")
        assert_close(dx, conv_input_grad_reference(x.shape, w, dy, **kwargs))
        dw = cm.conv_weight_grad(x, w.shape, dy, **kwargs, backend="fft")
        assert_close(dw, conv_weight_grad_reference(x, w.shape, dy, **kwargs))


@pytest.mark.parametrize("dtype", [np.complex128, np.complex64, np.float16])
def test_complex_and_half_precision(dtype, rng):
    """Complex arrays take full transforms (no conjugate-symmetry shortcut); float16 is computed in float32."""
    x, w = random_array(rng, (2, 4, 8, 7), dtype), random_array(rng, (4, 2, 3, 3), dtype)
    kwargs = {"padding": 1, "groups": 2, "stride": (1, 2)}
    y = cm.conv(x, w, **kwargs, backend="fft")
    assert y.dtype == dtype
    expected = conv_reference(x, w, **kwargs)
    if dtype == np.float16:
        np.testing.assert_allclose(y, expected, atol=2e-2 * np.abs(expected).max())
        return
    assert_close(y, expected)
    dy = random_array(rng, y.shape, dtype)
    assert_close(
        cm.conv_input_grad(x.shape, w, dy, **kwargs, backend="fft"),
        conv_input_grad_reference(x.shape, w, dy, **kwargs),
    )
    assert_close(
        cm.conv_weight_grad(x, w.shape, dy, **kwargs, backend="fft"),
        conv_weight_grad_reference(x, w.shape, dy, **kwargs),
    )


def test_circular_wraps_a_kernel_larger_than_the_input(rng):
    """On the circular grid taps that land on the same point add up (the kernel wraps around the input)."""
    x, w = rng.standard_normal((2, 1, 3)), rng.standard_normal((1, 1, 3))
    kwargs = {"padding": 3, "dilation": 2, "padding_mode": "circular"}
    assert fft_plan(conv_geometry((3,), 3, padding=3, dilation=2, padding_mode="circular")).shape == (3,)
    y = conv_reference(x, w, **kwargs)
    assert_close(cm.conv(x, w, **kwargs, backend="fft"), y)
    dy = rng.standard_normal(y.shape)
    assert_close(
        cm.conv_input_grad(x.shape, w, dy, **kwargs, backend="fft"),
        conv_input_grad_reference(x.shape, w, dy, **kwargs),
    )
    assert_close(
        cm.conv_weight_grad(x, w.shape, dy, **kwargs, backend="fft"),
        conv_weight_grad_reference(x, w.shape, dy, **kwargs),
    )


def test_transform_grid():
    """The input's own grid with circular padding; else a fast size at least the padded input."""
    assert fft_plan(conv_geometry((56, 56), 7, padding=3)).shape == (64, 64)
    assert fft_plan(conv_geometry((97,), 5, padding=2)).shape == (scipy.fft.next_fast_len(101, real=True),)
    assert fft_plan(conv_geometry((13, 10), 3, padding=1, padding_mode="circular")).shape == (13, 10)
    # zero padding: the low padding is the last points of the grid (zeros, as the input is zero-extended)
    assert fft_plan(conv_geometry((8,), 3, stride=2, padding=1)).outputs[0].tolist() == [9, 1, 3, 5]
    assert fft_plan(conv_geometry((8,), 3, stride=2, padding=1, padding_mode="reflect")).outputs[0].tolist() == [
        0,
        2,
        4,
        6,
    ]
    assert fft_plan(conv_geometry((8,), 3, stride=2, padding=1, padding_mode="circular")).outputs[0].tolist() == [
        7,
        1,
        3,
        5,
    ]


def test_transposed_convolution_on_the_fft_route(rng):
    x, w = rng.standard_normal((2, 4, 6, 5)), rng.standard_normal((4, 3, 4, 4))
    kwargs = {"stride": 2, "padding": 1}
    assert_close(cm.conv_transpose(x, w, **kwargs, backend="fft"), cm.conv_transpose(x, w, **kwargs, backend="im2col"))


@pytest.mark.parametrize("op", ["forward", "input_grad", "weight_grad"])
@pytest.mark.parametrize("limit", [2**20, 2**21])
def test_peak_memory_stays_within_the_workspace_limit(op, limit, rng):
    """A batch whose transforms together take many times the limit: result + 1.1 x limit at the peak."""
    x = rng.standard_normal((64, 16, 32, 32)).astype(np.float32)
    w = rng.standard_normal((16, 1, 7, 7)).astype(np.float32)
    kwargs = {"padding": 3, "groups": 16, "backend": "fft"}
    dy = rng.standard_normal(x.shape).astype(np.float32)
    call = {
        "forward": lambda: cm.conv(x, w, **kwargs),
        "input_grad": lambda: cm.conv_input_grad(x.shape, w, dy, **kwargs),
        "weight_grad": lambda: cm.conv_weight_grad(x, w.shape, dy, **kwargs),
    }[op]
    result_bytes = w.nbytes if op == "weight_grad" else x.nbytes
    call()
    with cm.workspace_limit(limit):
        tracemalloc.start()
        call()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    spectra = 2 * x.shape[0] * 16 * 38 * 20 * 8  # the input's and the output's spectra, all samples at once
    assert spectra > 5 * limit
    assert peak <= result_bytes + 1.1 * limit


# ---------------------------------------------------------------------------
# backend="auto" and choose_backend
# ---------------------------------------------------------------------------

RULE_CASES = [
    # (x shape, w shape, kwargs): layers the rule should send either way, and a few in between
    ((32, 64, 32, 32), (64, 64, 3, 3), {"padding": 1}),
    ((2, 64, 56, 56), (64, 1, 31, 31), {"padding": 15, "groups": 64}),
    ((8, 96, 56, 56), (96, 1, 7, 7), {"padding": 3, "groups": 96}),
    ((8, 128, 28, 28), (128, 1, 3, 3), {"padding": 1, "groups": 128, "stride": 2}),
    ((16, 128, 4096), (128, 128, 9), {"padding": 4}),
    ((4, 8, 64), (8, 8, 33), {"padding": 16}),
    ((2, 4, 40, 40), (4, 1, 21, 21), {"padding": 10, "groups": 4, "padding_mode": "circular"}),
]


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), RULE_CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_auto_takes_the_route_choose_backend_names(x_shape, w_shape, kwargs, dtype, monkeypatch):
    """Each map, called with the default backend, runs the route ``choose_backend`` says (shapes only: the
    routes are replaced by stubs that record their name)."""
    taken = []
    for table in ("_FORWARD", "_INPUT_GRAD", "_WEIGHT_GRAD"):
        stubs = {}
        for route in ("im2col", "fft"):

            def stub(*args, _route=route, _table=table):
                taken.append(_route)
                return conv_module._STUB_RESULT

            stubs[route] = stub
        monkeypatch.setattr(conv_module, table, stubs)
    geom, _ = conv_module.conv_problem(x_shape, w_shape, **kwargs)
    monkeypatch.setattr(conv_module, "_STUB_RESULT", np.zeros(1, dtype=dtype), raising=False)
    x, w = np.ones(x_shape, dtype=dtype), np.ones(w_shape, dtype=dtype)
    dy = np.ones((x_shape[0], w_shape[0], *geom.output_spatial), dtype=dtype)
    cm.conv(x, w, **kwargs)
    cm.conv_input_grad(x_shape, w, dy, **kwargs)
    cm.conv_weight_grad(x, w_shape, dy, **kwargs)
    expected = [cm.choose_backend(x_shape, w_shape, **kwargs, op=op, dtype=dtype) for op in conv_module.OPS]
    assert taken == expected


def test_the_rule_sends_large_depthwise_kernels_to_the_fft_and_dense_layers_to_im2col():
    assert cm.choose_backend((2, 64, 56, 56), (64, 1, 31, 31), padding=15, groups=64) == "fft"
    assert cm.choose_backend((2, 64, 56, 56), (64, 1, 31, 31), padding=15, groups=64, dtype="float64") == "fft"
    assert cm.choose_backend((32, 64, 32, 32), (64, 64, 3, 3), padding=1) == "im2col"
    assert cm.choose_backend((16, 256, 14, 14), (256, 256, 3, 3), padding=1, dtype="float64") == "im2col"
    assert cm.choose_backend((8, 256, 28, 28), (512, 256, 1, 1)) == "im2col"


def test_integer_inputs_stay_exact_on_im2col():
    big = ((2, 64, 56, 56), (64, 1, 31, 31))
    assert cm.choose_backend(*big, padding=15, groups=64, dtype=np.int64) == "im2col"
    assert cm.choose_backend(*big, padding=15, groups=64, dtype=bool) == "im2col"
    x = np.full((1, 2, 40, 40), 3, dtype=np.int64)
    w = np.full((2, 1, 21, 21), 7, dtype=np.int64)
    assert cm.conv(x, w, padding=10, groups=2)[0, 0, 20, 20] == 21 * 21 * 21  # exact, as integer sums are
    dy = np.ones((1, 2, 40, 40), dtype=np.int64)
    assert cm.conv_input_grad(x.shape, w, dy, padding=10, groups=2)[0, 0, 20, 20] == 21 * 21 * 7
    assert cm.conv_weight_grad(x, w.shape, dy, padding=10, groups=2)[0, 0, 10, 10] == 40 * 40 * 3
    assert cm.conv_transpose(dy, w, padding=10, groups=2)[0, 0, 20, 20] == 21 * 21 * 7


def test_rule_is_inspectable():
    geom = conv_geometry((56, 56), 31, padding=15)
    costs = route_costs(geom, 2, 64, 64, 64, "float32")
    assert costs.fft * FFT_MARGIN < costs.im2col
    assert costs.fft_error <= costs.fft_tolerance
    assert pick_route(geom, 2, 64, 64, 64, "float32") == "fft"
    assert "RouteCosts(" in repr(costs)


def test_choose_backend_validates_its_arguments():
    with pytest.raises(ValueError, match="op must be one of"):
        cm.choose_backend((1, 1, 5), (1, 1, 3), op="backward")
    with pytest.raises(TypeError, match="dtype"):
        cm.choose_backend((1, 1, 5), (1, 1, 3), dtype="not a dtype")
    with pytest.raises(ValueError, match="x_shape"):
        cm.choose_backend((1, 2, 5), (1, 1, 3))
    with pytest.raises(ValueError, match="weight_shape"):
        cm.choose_backend((1, 1, 5), (1, 1, 3, 3))


# ---------------------------------------------------------------------------
# A prebuilt W for the sparse route
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_a_prebuilt_w_gives_the_same_numbers(fmt, rng, monkeypatch):
    x, w = rng.standard_normal((3, 4, 7, 6)), rng.standard_normal((6, 2, 3, 3))
    kwargs = {"padding": 1, "groups": 2, "padding_mode": "reflect"}
    W = cm.conv_matrix(w, x.shape[1:], **kwargs).asformat(fmt)
    y = cm.conv(x, w, **kwargs)
    dy = rng.standard_normal(y.shape)

    def refuse(*args, **kw):
        raise AssertionError("W was built again")

    monkeypatch.setattr(conv_module, "matrix_for_geometry", refuse)
    assert_close(cm.conv(x, w, **kwargs, matrix=W), y)
    assert_close(cm.conv(x, w, **kwargs, backend="sparse", matrix=W), y)
    assert_close(
        cm.conv_input_grad(x.shape, w, dy, **kwargs, matrix=W), conv_input_grad_reference(x.shape, w, dy, **kwargs)
    )
    assert_close(cm.conv_transpose(dy, w, **kwargs, matrix=W), cm.conv_input_grad(x.shape, w, dy, **kwargs, matrix=W))


def test_a_prebuilt_w_keeps_the_call_dtype(rng):
    x, w = rng.standard_normal((2, 1, 5, 5)).astype(np.float32), rng.standard_normal((1, 1, 3, 3)).astype(np.float32)
    W = cm.conv_matrix(w.astype(np.float64), x.shape[1:])
    assert cm.conv(x, w, matrix=W).dtype == np.float32


def test_a_prebuilt_w_is_checked(rng):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    W = cm.conv_matrix(w, x.shape[1:])
    with pytest.raises(ValueError, match=r"matrix has shape \(64, 108\), but this call's W is .* \(144, 108\)"):
        cm.conv(x, w, padding=1, matrix=W)
    with pytest.raises(TypeError, match=r"matrix must be a scipy\.sparse"):
        cm.conv(x, w, matrix=W.toarray())
    with pytest.raises(ValueError, match="sparse route only, got backend='im2col'"):
        cm.conv(x, w, matrix=W, backend="im2col")
    with pytest.raises(ValueError, match="sparse route only"):
        cm.conv_input_grad(x.shape, w, np.ones((2, 4, 4, 4)), matrix=W, backend="fft")
    assert sp.issparse(W)
