"""Correctness of the convolution core against the naive references of ``reference.py``.

Covers ``conv``, ``conv_input_grad``, ``conv_weight_grad`` (both backends),
``conv_matrix``, ``im2col``/``col2im``, the rank-checking wrappers, dtype rules,
strided views, NaN/inf propagation and the geometry functions.
"""

from __future__ import annotations

import functools
import importlib
from math import prod

import numpy as np
import pytest
import scipy.signal
import scipy.sparse as sp
from conftest import (
    BACKENDS,
    GRID,
    GRID_IDS,
    LOCAL_BACKENDS,
    SMALL,
    SMALL_IDS,
    Case,
    assert_close,
    case_data,
    random_array,
)
from reference import (
    as_tuple,
    conv_input_grad_reference,
    conv_matrix_reference,
    conv_reference,
    conv_weight_grad_reference,
    fold_reference,
    unfold_reference,
)

import convmat as cm

DTYPES = (np.float64, np.float32)


def _dtype_id(d):
    return np.dtype(d).name


# ---------------------------------------------------------------------------
# references, computed once per (case, dtype) from exactly the data the test uses
# ---------------------------------------------------------------------------


@functools.cache
def _refs(index: int, dtype_name: str):
    case = GRID[index]
    x, w, b, dy = case_data(case, np.dtype(dtype_name))
    kw = case.kwargs
    y = conv_reference(x, w, b, **kw)
    gx = conv_input_grad_reference(case.x_shape, w, dy, **kw)
    gw = conv_weight_grad_reference(x, case.w_shape, dy, **kw)
    return y, gx, gw


GRID_PARAMS = [pytest.param(i, id=GRID_IDS[i]) for i in range(len(GRID))]


# ---------------------------------------------------------------------------
# conv and its two gradients over the grid, both backends, float64 and float32
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", GRID_PARAMS)
def test_conv_matches_reference(index, backend, dtype):
    case = GRID[index]
    x, w, b, _ = case_data(case, dtype)
    y = cm.conv(x, w, b, **case.kwargs, backend=backend)
    assert isinstance(y, np.ndarray)
    assert y.dtype == dtype
    assert y.shape == case.y_shape
    assert_close(y, _refs(index, np.dtype(dtype).name)[0], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", GRID_PARAMS)
def test_conv_input_grad_matches_reference(index, backend, dtype):
    case = GRID[index]
    _, w, _, dy = case_data(case, dtype)
    gx = cm.conv_input_grad(case.x_shape, w, dy, **case.kwargs, backend=backend)
    assert gx.dtype == dtype
    assert gx.shape == case.x_shape
    assert_close(gx, _refs(index, np.dtype(dtype).name)[1], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=_dtype_id)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", GRID_PARAMS)
def test_conv_weight_grad_matches_reference(index, backend, dtype):
    case = GRID[index]
    x, _, _, dy = case_data(case, dtype)
    gw = cm.conv_weight_grad(x, case.w_shape, dy, **case.kwargs, backend=backend)
    assert gw.dtype == dtype
    assert gw.shape == case.w_shape
    assert_close(gw, _refs(index, np.dtype(dtype).name)[2], dtype)


_CONV_MODULE = importlib.import_module("convmat.conv")
_IM2COL_MODULE = importlib.import_module("convmat.im2col")  # the module, not the function cm.im2col
_SHIFTS_MODULE = importlib.import_module("convmat.tap_shifts")
_PATCH_MODULE = importlib.import_module("convmat.patch_gemm")
_TAP_MODULE = importlib.import_module("convmat.tap_gemm")
#: The im2col route's two ways and their ways of cutting the work, each forced over the whole grid.
#: Tap by tap (convmat.tap_shifts): blocks of one column (a part of a row, a group at a time) or of at most
#: three, whole planes of several samples side by side in one product, and chunks of one sample. Patch matrix
#: (convmat.patch_gemm): one GEMM per sample, or one per chunk of samples (channel-major patches), with the
#: batch in one chunk or in chunks of one and two samples. The "threads-" layouts split every batch of two or
#: more samples across convmat's threads (BLAS held to one thread meanwhile), whatever the work.
LAYOUTS = {
    "taps-one-column-blocks": {"BLOCK_BYTES": 1},
    "taps-three-column-blocks": {"MAX_COLUMNS": 3, "MAX_VECTOR_COLUMNS": 3},
    "taps-samples-side-by-side": {"MAX_COLUMNS": 10**9, "MAX_VECTOR_COLUMNS": 10**9, "BLOCK_BYTES": 2**40},
    "taps-chunks-of-1": {"chunk_target": 1},
    "taps-threads-one-column-blocks": {"BLOCK_BYTES": 1, "threads": 3},
    "taps-threads-samples-side-by-side-chunks-of-1": {
        "MAX_COLUMNS": 10**9,
        "MAX_VECTOR_COLUMNS": 10**9,
        "BLOCK_BYTES": 2**40,
        "chunk_target": 1,
        "threads": 2,
    },
    "patches-per-sample": {"patches": True, "ONE_GEMM_MAX_OUTPUT": 0},
    "patches-per-sample-chunks-of-1": {"patches": True, "ONE_GEMM_MAX_OUTPUT": 0, "chunk_target": 1},
    "patches-one-gemm": {"patches": True, "ONE_GEMM_MAX_OUTPUT": 10**9},
    "patches-one-gemm-chunks-of-2": {"patches": True, "ONE_GEMM_MAX_OUTPUT": 10**9, "chunk_target": 1, "samples": 2},
    "patches-threads-per-sample": {"patches": True, "ONE_GEMM_MAX_OUTPUT": 0, "threads": 3},
    "patches-threads-one-gemm-chunks-of-2": {
        "patches": True,
        "ONE_GEMM_MAX_OUTPUT": 10**9,
        "chunk_target": 1,
        "samples": 2,
        "threads": 2,
    },
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("index", GRID_PARAMS)
def test_im2col_layouts_match_reference(index, layout, monkeypatch):
    settings = LAYOUTS[layout]
    patches = settings.get("patches", False)
    monkeypatch.setattr(_CONV_MODULE, "_patch_way", lambda geom, groups: patches)
    if "threads" in settings:
        if not cm.parallel.blas_control():
            pytest.skip("threadpoolctl is not installed: the im2col route runs on one thread")
        monkeypatch.setattr(cm.batch_blocks, "MIN_FLOPS_PER_THREAD", 0)
        monkeypatch.setattr(cm.config, "_threads", settings["threads"])
    if "BLOCK_BYTES" in settings:
        for name in ("BLOCK_BYTES", "VECTOR_BLOCK_BYTES"):
            monkeypatch.setattr(_TAP_MODULE, name, settings["BLOCK_BYTES"])
    for name in ("MAX_COLUMNS", "MAX_VECTOR_COLUMNS"):
        if name in settings:
            monkeypatch.setattr(_SHIFTS_MODULE, name, settings[name])
    if "ONE_GEMM_MAX_OUTPUT" in settings:
        monkeypatch.setattr(_PATCH_MODULE, "ONE_GEMM_MAX_OUTPUT", settings["ONE_GEMM_MAX_OUTPUT"])
    if "samples" in settings:
        monkeypatch.setattr(_PATCH_MODULE, "_one_gemm_samples", lambda geom: settings["samples"])
    if "chunk_target" in settings:
        monkeypatch.setattr(cm.config, "CHUNK_TARGET_BYTES", settings["chunk_target"])
    case = GRID[index]
    x, w, b, dy = case_data(case, np.float64)
    y, gx, gw = _refs(index, "float64")
    kwargs = {**case.kwargs, "backend": "im2col"}
    assert_close(cm.conv(x, w, b, **kwargs), y)
    assert_close(cm.conv_input_grad(case.x_shape, w, dy, **kwargs), gx)
    assert_close(cm.conv_weight_grad(x, case.w_shape, dy, **kwargs), gw)


def test_the_im2col_route_takes_the_patch_matrix_on_dense_2d_layers(monkeypatch):
    """Dense 2-d layers go through convmat.patch_gemm; grouped, 1-d and 3-d layers tap by tap."""
    seen = []
    for name in ("forward", "input_grad", "weight_grad"):
        original = getattr(_PATCH_MODULE, name)
        monkeypatch.setattr(_PATCH_MODULE, name, lambda *a, _f=original, _n=name: seen.append(_n) or _f(*a))
    rng = np.random.default_rng(0)
    for x_shape, w_shape, groups, expected in (
        ((2, 4, 6, 6), (4, 4, 3, 3), 1, {"forward", "input_grad", "weight_grad"}),
        ((2, 4, 6, 6), (4, 2, 3, 3), 2, set()),
        ((2, 4, 6), (4, 4, 3), 1, set()),
        ((2, 4, 6, 6, 6), (4, 4, 3, 3, 3), 1, set()),
    ):
        seen.clear()
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        y = cm.conv(x, w, padding=1, groups=groups, backend="im2col")
        cm.conv_input_grad(x_shape, w, y, padding=1, groups=groups, backend="im2col")
        cm.conv_weight_grad(x, w_shape, y, padding=1, groups=groups, backend="im2col")
        assert set(seen) == expected


def test_grid_covers_the_contract():
    """The grid really contains what the parametrised tests above claim to cover."""
    assert {c.ndim for c in GRID} == {1, 2, 3}
    assert {c.padding_mode for c in GRID} == {"zeros", "circular", "reflect", "replicate"}
    assert {c.x_shape[0] for c in GRID} >= {0, 1, 3}
    assert {c.groups for c in GRID} >= {1, 2, 3}
    assert any(c.groups == c.x_shape[1] > 1 and c.w_shape[1] == 1 for c in GRID)  # depthwise
    assert any(c.padding == "same" for c in GRID)
    assert any(c.padding == "valid" for c in GRID)
    assert any(isinstance(c.padding, tuple) for c in GRID)
    assert any(isinstance(c.padding, int) for c in GRID)
    assert {s for c in GRID for s in as_tuple(c.stride, c.ndim)} == {1, 2, 3}
    assert {d for c in GRID for d in as_tuple(c.dilation, c.ndim)} >= {1, 2}
    assert any(k % 2 == 0 for c in GRID for k in c.w_shape[2:])
    assert any(len(set(c.x_shape[2:])) > 1 and len(set(c.w_shape[2:])) > 1 for c in GRID)
    assert any(isinstance(c.stride, tuple) and len(set(c.stride)) > 1 for c in GRID)
    assert any(lo != hi for c in GRID for lo, hi in c.pads)  # asymmetric "same"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("batch", [0, 1, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular", "replicate"])
def test_batch_sizes(batch, mode, backend, rng):
    case = Case((batch, 4, 5, 6), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2, mode)
    x = random_array(rng, case.x_shape)
    w = random_array(rng, case.w_shape)
    b = random_array(rng, (6,))
    dy = random_array(rng, case.y_shape)
    kw = case.kwargs
    y = cm.conv(x, w, b, **kw, backend=backend)
    assert y.shape == case.y_shape
    assert_close(y, conv_reference(x, w, b, **kw))
    gx = cm.conv_input_grad(case.x_shape, w, dy, **kw, backend=backend)
    assert gx.shape == case.x_shape
    assert_close(gx, conv_input_grad_reference(case.x_shape, w, dy, **kw))
    gw = cm.conv_weight_grad(x, case.w_shape, dy, **kw, backend=backend)
    assert gw.shape == case.w_shape
    assert_close(gw, conv_weight_grad_reference(x, case.w_shape, dy, **kw))
    if batch == 0:
        assert not np.any(gw)


@pytest.mark.parametrize("index", GRID_PARAMS[::3])
def test_backends_agree(index):
    case = GRID[index]
    x, w, b, dy = case_data(case, seed=5)
    kw = case.kwargs
    assert_close(cm.conv(x, w, b, **kw, backend="sparse"), cm.conv(x, w, b, **kw, backend="im2col"))
    assert_close(
        cm.conv_input_grad(case.x_shape, w, dy, **kw, backend="sparse"),
        cm.conv_input_grad(case.x_shape, w, dy, **kw, backend="im2col"),
    )
    assert_close(
        cm.conv_weight_grad(x, case.w_shape, dy, **kw, backend="sparse"),
        cm.conv_weight_grad(x, case.w_shape, dy, **kw, backend="im2col"),
    )


def test_default_backend_and_defaults(rng):
    x = random_array(rng, (2, 3, 6, 5))
    w = random_array(rng, (4, 3, 3, 2))
    assert_close(cm.conv(x, w), conv_reference(x, w))
    dy = random_array(rng, (2, 4, 4, 4))
    assert_close(cm.conv_input_grad(x.shape, w, dy), conv_input_grad_reference(x.shape, w, dy))
    assert_close(cm.conv_weight_grad(x, w.shape, dy), conv_weight_grad_reference(x, w.shape, dy))


def test_hand_worked_values():
    """Numbers small enough to check on paper."""
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0]]])
    w = np.array([[[1.0, 0.0, -1.0]]])
    np.testing.assert_array_equal(cm.conv(x, w), [[[-2.0, -2.0, -2.0]]])
    np.testing.assert_array_equal(cm.conv(x, w, stride=2), [[[-2.0, -2.0]]])
    np.testing.assert_array_equal(cm.conv(x, w, padding=1), [[[-2.0, -2.0, -2.0, -2.0, 4.0]]])
    np.testing.assert_array_equal(cm.conv(x, w, padding=1, padding_mode="replicate"), [[[-1, -2, -2, -2, -1.0]]])
    np.testing.assert_array_equal(cm.conv(x, w, padding=1, padding_mode="reflect"), [[[0, -2, -2, -2, 0.0]]])
    np.testing.assert_array_equal(cm.conv(x, w, padding=1, padding_mode="circular"), [[[3, -2, -2, -2, 3.0]]])
    np.testing.assert_array_equal(cm.conv(x, w, dilation=2), [[[-4.0]]])
    np.testing.assert_array_equal(cm.conv(x, np.array([[[1.0, 1.0]]]), padding="same"), [[[3, 5, 7, 9, 5.0]]])
    # input gradient: every output sends its kernel back
    np.testing.assert_array_equal(
        cm.conv_input_grad((1, 1, 5), w, np.array([[[1.0, 10.0, 100.0]]])), [[[1, 10, 99, -10, -100.0]]]
    )
    np.testing.assert_array_equal(cm.conv_weight_grad(x, (1, 1, 3), np.ones((1, 1, 3))), [[[6.0, 9.0, 12.0]]])


# ---------------------------------------------------------------------------
# conv_matrix: the dense Jacobian, column by column
# ---------------------------------------------------------------------------


SMALL_PARAMS = [pytest.param(c, id=i) for c, i in zip(SMALL, SMALL_IDS, strict=True)]


@pytest.mark.parametrize("case", SMALL_PARAMS)
def test_conv_matrix_is_the_jacobian(case, rng):
    w = random_array(rng, case.w_shape)
    input_shape = case.x_shape[1:]
    W = cm.conv_matrix(w, input_shape, **case.kwargs)
    assert isinstance(W, sp.csr_array)
    n_out = case.w_shape[0] * prod(case.out_spatial)
    assert W.shape == (n_out, prod(input_shape))
    dense = W.toarray()
    assert W.nnz == np.count_nonzero(dense), "explicit zeros stored"
    assert_close(dense, conv_matrix_reference(w, input_shape, **case.kwargs))
    # W maps x[n].ravel() to y[n].ravel() for a whole batch
    x = random_array(rng, (2, *input_shape))
    y = conv_reference(x, w, **case.kwargs)
    for n in range(2):
        assert_close(W @ x[n].ravel(), y[n].ravel())


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect", "replicate"])
@pytest.mark.parametrize(
    ("input_shape", "w_shape", "stride", "padding", "dilation", "groups"),
    [
        ((2, 5), (4, 1, 3), 1, 2, 1, 2),
        ((1, 4), (1, 1, 4), 1, 3, 1, 1),
        ((3, 4, 5), (3, 1, 3, 2), (2, 1), (1, 2), (1, 2), 3),
        ((2, 3, 3), (2, 2, 2, 2), 1, "same", 2, 1),
        ((2, 3, 3, 4), (4, 1, 2, 2, 3), (1, 2, 1), 1, 1, 2),
    ],
    ids=["1d-g2", "1d-pad-eq-dim", "2d-depthwise", "2d-same-even", "3d-g2"],
)
def test_conv_matrix_every_mode(input_shape, w_shape, stride, padding, dilation, groups, mode, rng):
    w = random_array(rng, w_shape)
    kw = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups, "padding_mode": mode}
    W = cm.conv_matrix(w, input_shape, **kw)
    assert isinstance(W, sp.csr_array)
    ref = conv_matrix_reference(w, input_shape, **kw)
    assert W.shape == ref.shape
    assert W.nnz == np.count_nonzero(W.toarray())
    assert_close(W.toarray(), ref)


def test_conv_matrix_cache_gives_each_kernel_its_matrix(rng):
    input_shape = (2, 5, 4)
    kw = {"stride": (2, 1), "padding": 1, "dilation": 1, "groups": 1, "padding_mode": "reflect"}
    w1 = random_array(rng, (3, 2, 3, 2))
    w2 = random_array(rng, (3, 2, 3, 2))
    ref1 = conv_matrix_reference(w1, input_shape, **kw)
    ref2 = conv_matrix_reference(w2, input_shape, **kw)
    W1 = cm.conv_matrix(w1, input_shape, **kw)
    W1_values = W1.toarray()
    W2 = cm.conv_matrix(w2, input_shape, **kw)
    assert_close(W1_values, ref1)
    assert_close(W2.toarray(), ref2)
    assert_close(W1.toarray(), ref1)  # building W2 did not overwrite W1's data
    assert_close(cm.conv_matrix(w1, input_shape, **kw).toarray(), ref1)
    # a different geometry in between does not confuse the cache either
    W3 = cm.conv_matrix(w1, input_shape, **{**kw, "padding_mode": "zeros"})
    assert_close(W3.toarray(), conv_matrix_reference(w1, input_shape, **{**kw, "padding_mode": "zeros"}))
    # and conv's sparse backend (which uses W) sees the right kernel after the others
    x = random_array(rng, (2, *input_shape))
    assert_close(cm.conv(x, w2, **kw, backend="sparse"), conv_reference(x, w2, **kw))
    assert_close(cm.conv(x, w1, **kw, backend="sparse"), conv_reference(x, w1, **kw))


@pytest.mark.parametrize("mode", ["zeros", "replicate"])
def test_conv_matrix_kernel_with_zeros(mode, rng):
    input_shape = (2, 5, 5)
    w = random_array(rng, (2, 2, 3, 3))
    w[rng.random(w.shape) < 0.5] = 0.0
    w[0, 0] = 0.0
    kw = {"stride": 1, "padding": 1, "padding_mode": mode}
    W = cm.conv_matrix(w, input_shape, **kw)
    dense = W.toarray()
    assert_close(dense, conv_matrix_reference(w, input_shape, **kw))
    assert W.nnz == np.count_nonzero(dense), "explicit zeros stored"
    W0 = cm.conv_matrix(np.zeros_like(w), input_shape, **kw)
    assert W0.shape == W.shape
    assert W0.nnz == 0


@pytest.mark.parametrize("backend", LOCAL_BACKENDS)
def test_conv_matrix_folded_taps_that_cancel(backend):
    """Replicate padding sums taps reading the same element: w = [1, -1] cancels at the border, exactly."""
    w = np.array([[[1.0, -1.0]]])
    x = np.array([[[3.0, 5.0, 9.0]]])
    kw = {"padding": 1, "padding_mode": "replicate"}
    W = cm.conv_matrix(w, (1, 3), **kw)
    expected = np.array([[0, 0, 0], [1, -1, 0], [0, 1, -1], [0, 0, 0.0]])
    np.testing.assert_array_equal(W.toarray(), expected)
    assert_close(expected, conv_matrix_reference(w, (1, 3), **kw))
    assert W.nnz == 4, "cancelled entries must not be stored"
    np.testing.assert_array_equal(cm.conv(x, w, **kw, backend=backend), [[[0.0, -2.0, -4.0, 0.0]]])


def test_conv_matrix_complex(rng):
    w = random_array(rng, (2, 1, 3, 2), np.complex128)
    W = cm.conv_matrix(w, (2, 4, 4), padding=1, groups=2, padding_mode="circular")
    assert W.dtype == np.complex128
    assert_close(W.toarray(), conv_matrix_reference(w, (2, 4, 4), padding=1, groups=2, padding_mode="circular"))


def test_conv_matrix_dtype(rng):
    w = random_array(rng, (2, 1, 3), np.float32)
    assert cm.conv_matrix(w, (1, 6)).dtype == np.float32
    assert cm.conv_matrix(np.ones((1, 1, 2), dtype=int), (1, 4)).dtype == np.float64


# ---------------------------------------------------------------------------
# adjoint identities and finite differences
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", GRID_PARAMS[::2])
def test_adjoint_identities(index, backend):
    case = GRID[index].with_batch(2)
    a, w, _, h = case_data(case, seed=11, bias=False)
    kw = case.kwargs
    y = cm.conv(a, w, **kw, backend=backend)
    lhs = np.vdot(y, h)
    rhs = np.vdot(a, cm.conv_input_grad(a.shape, w, h, **kw, backend=backend))
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs), np.abs(y).sum())
    rhs_w = np.vdot(w, cm.conv_weight_grad(a, w.shape, h, **kw, backend=backend))
    assert abs(lhs - rhs_w) <= 1e-10 * max(1.0, abs(lhs), np.abs(y).sum())


FD_CASES = [
    Case((2, 2, 4, 5), (3, 2, 3, 2), (2, 1), 1, 1, 1, "zeros"),
    Case((1, 2, 4, 4), (2, 1, 2, 3), 1, (2, 1), (1, 2), 2, "reflect"),
    Case((2, 1, 6), (2, 1, 3), 2, 3, 1, 1, "circular"),
    Case((1, 2, 3, 3, 3), (2, 2, 2, 2, 2), 1, "same", 1, 1, "replicate"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", [pytest.param(c, id=c.id()) for c in FD_CASES])
def test_gradients_by_central_differences(case, backend, rng):
    x = random_array(rng, case.x_shape)
    w = random_array(rng, case.w_shape)
    h = random_array(rng, case.y_shape)
    kw = case.kwargs
    eps = 1e-3

    def loss(xx, ww):
        return float(np.sum(cm.conv(xx, ww, **kw, backend=backend) * h))

    gx = cm.conv_input_grad(x.shape, w, h, **kw, backend=backend)
    fd_x = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[j] = eps
        fd_x[j] = (loss(x + e, w) - loss(x - e, w)) / (2 * eps)
    np.testing.assert_allclose(gx, fd_x, rtol=1e-7, atol=1e-8)

    gw = cm.conv_weight_grad(x, w.shape, h, **kw, backend=backend)
    fd_w = np.zeros_like(w)
    for j in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[j] = eps
        fd_w[j] = (loss(x, w + e) - loss(x, w - e)) / (2 * eps)
    np.testing.assert_allclose(gw, fd_w, rtol=1e-7, atol=1e-8)


# ---------------------------------------------------------------------------
# im2col / col2im
# ---------------------------------------------------------------------------


def _unfold_cases():
    cases = []
    for c in GRID:
        if c.padding == "same":
            continue
        padding = 0 if c.padding == "valid" else c.padding
        cases.append((c.with_batch(max(c.x_shape[0], 1)).x_shape, c.w_shape[2:], c.stride, padding, c.dilation))
    cases.append(((2, 3, 5, 4), (2, 3), (1, 2), (1, 0), (2, 1)))
    return cases


UNFOLD_CASES = [pytest.param(*args, id=f"{i:02d}-{len(args[1])}d") for i, args in enumerate(_unfold_cases())]


@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding", "dilation"), UNFOLD_CASES)
def test_im2col_col2im_match_reference(x_shape, kernel, stride, padding, dilation, rng):
    x = random_array(rng, x_shape)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    cols = cm.im2col(x, kernel, **kw)
    ref = unfold_reference(x, kernel, **kw)
    assert cols.shape == ref.shape
    assert_close(cols, ref)
    c = random_array(rng, ref.shape)
    img = cm.col2im(c, x_shape[2:], kernel, **kw)
    assert img.shape == x_shape
    assert_close(img, fold_reference(c, x_shape[2:], kernel, **kw))
    # col2im is the adjoint of im2col
    lhs, rhs = np.vdot(cols, c), np.vdot(x, img)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, np.abs(cols).sum() * np.abs(c).max())


@pytest.mark.parametrize("planes", [1, 2, 5, 1000], ids=lambda p: f"{p}-planes")
@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding", "dilation"), UNFOLD_CASES[::4])
def test_col2im_in_small_fold_blocks(x_shape, kernel, stride, padding, dilation, planes, rng, monkeypatch):
    # blocks of one plane, of a few channels of one sample (some partial) and of several whole samples
    monkeypatch.setattr(_IM2COL_MODULE, "FOLD_BLOCK_BYTES", planes * prod(x_shape[2:]) * 8)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    c = random_array(rng, unfold_reference(np.zeros(x_shape), kernel, **kw).shape)
    assert_close(cm.col2im(c, x_shape[2:], kernel, **kw), fold_reference(c, x_shape[2:], kernel, **kw))


def test_im2col_hand_worked():
    x = np.arange(2 * 3 * 3, dtype=float).reshape(1, 2, 3, 3)
    cols = cm.im2col(x, (2, 2))
    assert cols.shape == (1, 8, 4)
    # channel-major then kernel taps in C order; columns are output positions in C order
    np.testing.assert_array_equal(cols[0, :4], [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])
    np.testing.assert_array_equal(cols[0, 4:], cols[0, :4] + 9)
    np.testing.assert_array_equal(
        cm.im2col(np.arange(4.0).reshape(1, 1, 4), 2, stride=2, padding=1)[0], [[0, 1, 3], [0, 2, 0]]
    )
    np.testing.assert_array_equal(cm.col2im(np.ones((1, 2, 3)), (4,), 2, stride=2, padding=1), [[[1.0, 1.0, 1.0, 1.0]]])
    np.testing.assert_array_equal(cm.col2im(np.ones((1, 2, 3)), (4,), 2), [[[1.0, 2.0, 2.0, 1.0]]])


def test_im2col_dtypes(rng):
    assert cm.im2col(random_array(rng, (1, 1, 4, 4), np.float32), 2).dtype == np.float32
    assert cm.im2col(np.ones((1, 1, 4), dtype=int), 2).dtype == np.float64
    assert cm.col2im(random_array(rng, (1, 2, 3), np.float32), (4,), 2).dtype == np.float32


# ---------------------------------------------------------------------------
# an external check: scipy.signal.correlate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("x_shape", "k_shape", "pad"),
    [((5, 7), (3, 3), 0), ((6, 6), (2, 4), 1), ((4, 7), (4, 1), (2, 0)), ((7, 5), (1, 1), 0), ((3, 3), (5, 5), 2)],
)
def test_matches_scipy_correlate(x_shape, k_shape, pad, backend, rng):
    x = random_array(rng, x_shape)
    w = random_array(rng, k_shape)
    pads = as_tuple(pad, 2)
    expected = scipy.signal.correlate(np.pad(x, [(p, p) for p in pads]), w, mode="valid")
    y = cm.conv(x[None, None], w[None, None], padding=pad, backend=backend)
    assert_close(y[0, 0], expected)
    # the input gradient of a stride-1 correlation is the full convolution with the kernel
    dy = random_array(rng, expected.shape)
    full = scipy.signal.convolve(dy, w, mode="full")
    crop = tuple(slice(p, p + n) for p, n in zip(pads, x_shape, strict=True))
    gx = cm.conv_input_grad((1, 1, *x_shape), w[None, None], dy[None, None], padding=pad, backend=backend)
    assert_close(gx[0, 0], full[crop])


# ---------------------------------------------------------------------------
# rank-checking wrappers
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_rank_wrappers(ndim, rng):
    wrappers = {1: cm.conv1d, 2: cm.conv2d, 3: cm.conv3d}
    x = random_array(rng, (2, 2, *(4,) * ndim))
    w = random_array(rng, (4, 1, *(2,) * ndim))
    b = random_array(rng, (4,))
    y = wrappers[ndim](x, w, b, stride=1, padding=1, groups=2)
    assert_close(y, conv_reference(x, w, b, padding=1, groups=2))
    # positional order (x, weight, bias, stride, padding, dilation, groups), as conv
    assert_close(wrappers[ndim](x, w, b, 2, 1, 1, 2), conv_reference(x, w, b, stride=2, padding=1, groups=2))
    for other, fn in wrappers.items():
        if other != ndim:
            with pytest.raises(ValueError, match=r"\bx\b|weight"):
                fn(x, w)


def test_rank_wrappers_reject_mismatched_ranks(rng):
    x4 = random_array(rng, (1, 1, 4, 4))
    w3 = random_array(rng, (1, 1, 2))
    with pytest.raises(ValueError, match=r"\bx\b|weight"):
        cm.conv2d(x4, w3)
    with pytest.raises(ValueError, match=r"\bx\b|weight"):
        cm.conv1d(x4, w3)


# ---------------------------------------------------------------------------
# dtypes and array-likes
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_dtype_rules(backend, rng):
    case = Case((2, 2, 5, 4), (2, 1, 3, 2), 1, 1, 1, 2, "reflect")
    kw = {**case.kwargs, "backend": backend}
    x64, w64, b64, dy64 = case_data(case)
    x32, w32, b32, dy32 = (a.astype(np.float32) for a in (x64, w64, b64, dy64))
    xi = rng.integers(-3, 4, size=case.x_shape)
    wi = rng.integers(-3, 4, size=case.w_shape)
    dyi = rng.integers(-3, 4, size=case.y_shape)
    xb = rng.random(case.x_shape) < 0.5
    ref_kw = case.kwargs

    assert cm.conv(x32, w32, b32, **kw).dtype == np.float32
    assert cm.conv(x32, w64, **kw).dtype == np.float64
    assert cm.conv(x64, w32, **kw).dtype == np.float64
    assert cm.conv(x32, w32, b64, **kw).dtype == np.float64
    assert cm.conv(x32, wi, **kw).dtype == np.float64
    y = cm.conv(xi, wi, **kw)
    assert y.dtype == np.float64
    assert_close(y, conv_reference(xi, wi, **ref_kw))
    y = cm.conv(xb, w64, **kw)
    assert y.dtype == np.float64
    assert_close(y, conv_reference(xb.astype(float), w64, **ref_kw))

    assert cm.conv_input_grad(case.x_shape, w32, dy32, **kw).dtype == np.float32
    assert cm.conv_input_grad(case.x_shape, w32, dy64, **kw).dtype == np.float64
    gx = cm.conv_input_grad(case.x_shape, wi, dyi, **kw)
    assert gx.dtype == np.float64
    assert_close(gx, conv_input_grad_reference(case.x_shape, wi, dyi, **ref_kw))

    assert cm.conv_weight_grad(x32, case.w_shape, dy32, **kw).dtype == np.float32
    assert cm.conv_weight_grad(x64, case.w_shape, dy32, **kw).dtype == np.float64
    gw = cm.conv_weight_grad(xi, case.w_shape, dyi, **kw)
    assert gw.dtype == np.float64
    assert_close(gw, conv_weight_grad_reference(xi, case.w_shape, dyi, **ref_kw))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("which", ["x", "w", "both"])
def test_complex(which, backend, rng):
    case = Case((2, 2, 5, 4), (4, 1, 3, 2), (1, 2), 1, 1, 2, "circular")
    kw = case.kwargs
    x = random_array(rng, case.x_shape, np.complex128 if which in ("x", "both") else np.float64)
    w = random_array(rng, case.w_shape, np.complex128 if which in ("w", "both") else np.float64)
    b = random_array(rng, (4,), np.complex128)
    dy = random_array(rng, case.y_shape, np.complex128)
    y = cm.conv(x, w, b, **kw, backend=backend)
    assert y.dtype == np.complex128
    assert_close(y, conv_reference(x, w, b, **kw))
    y = cm.conv(x, w, **kw, backend=backend)
    assert y.dtype == np.complex128
    assert_close(y, conv_reference(x, w, **kw))
    # the gradients are the transposes (Wᵀ, not Wᴴ) of the bilinear map, as the contract writes them
    gx = cm.conv_input_grad(case.x_shape, w, dy, **kw, backend=backend)
    assert gx.dtype == np.complex128
    assert_close(gx, conv_input_grad_reference(case.x_shape, w, dy, **kw))
    gw = cm.conv_weight_grad(x, case.w_shape, dy, **kw, backend=backend)
    assert gw.dtype == np.complex128
    assert_close(gw, conv_weight_grad_reference(x, case.w_shape, dy, **kw))


@pytest.mark.parametrize("backend", BACKENDS)
def test_array_likes(backend, rng):
    case = Case((1, 2, 4, 3), (2, 2, 2, 2), 1, (1, 0), 1, 1, "replicate")
    kw = case.kwargs
    x, w, b, dy = case_data(case)
    y = cm.conv(x.tolist(), w.tolist(), b.tolist(), **kw, backend=backend)
    assert isinstance(y, np.ndarray)
    assert_close(y, conv_reference(x, w, b, **kw))
    gx = cm.conv_input_grad(list(case.x_shape), w.tolist(), dy.tolist(), **kw, backend=backend)
    assert_close(gx, conv_input_grad_reference(case.x_shape, w, dy, **kw))
    gw = cm.conv_weight_grad(x.tolist(), list(case.w_shape), dy.tolist(), **kw, backend=backend)
    assert_close(gw, conv_weight_grad_reference(x, case.w_shape, dy, **kw))
    W = cm.conv_matrix(w.tolist(), list(case.x_shape[1:]), **kw)
    assert_close(W.toarray(), conv_matrix_reference(w, case.x_shape[1:], **kw))
    assert_close(cm.im2col(x.tolist(), 2), unfold_reference(x, 2))
    # numpy integer scalars are fine for stride/padding/dilation/groups
    y = cm.conv(x, w, stride=np.int64(1), padding=(np.int32(1), 0), dilation=np.int64(1), backend=backend)
    assert_close(y, conv_reference(x, w, padding=(1, 0)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_views(backend, rng):
    kw = {"stride": (2, 1), "padding": (1, 2), "dilation": (1, 2), "groups": 2, "padding_mode": "reflect"}
    base = random_array(rng, (2, 4, 6, 12))
    views = {
        "reversed": base[..., ::-1],
        "every-other": base[:, :, :, ::2],
        "fortran": np.asfortranarray(base),
        "channel-slice": random_array(rng, (2, 8, 6, 6))[:, 1::2],
    }
    w_base = random_array(rng, (2, 6, 3, 3))  # (C_in//groups, C_out, kh, kw)
    w_view = w_base.transpose(1, 0, 2, 3)[:, :, ::-1]
    w = np.ascontiguousarray(w_view)
    for name, xv in views.items():
        assert not xv.flags.c_contiguous or name == "channel-slice"
        xc = np.ascontiguousarray(xv)
        expected = conv_reference(xc, w, **kw)
        assert_close(cm.conv(xv, w_view, **kw, backend=backend), expected)
        assert_close(cm.conv(xv, w_view, **kw, backend=backend), cm.conv(xc, w, **kw, backend=backend))
        dy_base = random_array(rng, (*expected.shape[:-1], 2 * expected.shape[-1]))
        dy_view = dy_base[..., ::-2]
        dy = np.ascontiguousarray(dy_view)
        gx = cm.conv_input_grad(xc.shape, w_view, dy_view, **kw, backend=backend)
        assert_close(gx, conv_input_grad_reference(xc.shape, w, dy, **kw))
        gw = cm.conv_weight_grad(xv, w.shape, dy_view, **kw, backend=backend)
        assert_close(gw, conv_weight_grad_reference(xc, w.shape, dy, **kw))
    W = cm.conv_matrix(w_view, (4, 6, 6), **kw)
    assert_close(W.toarray(), conv_matrix_reference(w, (4, 6, 6), **kw))
    assert_close(cm.im2col(base[..., ::-1], (2, 3)), unfold_reference(np.ascontiguousarray(base[..., ::-1]), (2, 3)))


def test_inputs_not_modified(rng):
    x, w, b, dy = case_data(GRID[5])
    copies = [a.copy() for a in (x, w, b, dy)]
    case = GRID[5]
    for backend in BACKENDS:
        cm.conv(x, w, b, **case.kwargs, backend=backend)
        cm.conv_input_grad(case.x_shape, w, dy, **case.kwargs, backend=backend)
        cm.conv_weight_grad(x, case.w_shape, dy, **case.kwargs, backend=backend)
    cm.conv_matrix(w, case.x_shape[1:], **case.kwargs)
    for a, c in zip((x, w, b, dy), copies, strict=True):
        np.testing.assert_array_equal(a, c)


# ---------------------------------------------------------------------------
# NaN and inf propagate like numbers
# ---------------------------------------------------------------------------


NAN_PARAMS = [pytest.param(i, id=GRID_IDS[i]) for i in range(len(GRID)) if GRID[i].x_shape[0] > 0][::2]


@pytest.mark.parametrize("backend", LOCAL_BACKENDS)
@pytest.mark.parametrize("index", NAN_PARAMS)
def test_nan_propagates_to_exactly_the_covering_windows(index, backend):
    case = GRID[index]
    x, w, b, _ = case_data(case, seed=3)
    w[w == 0] = 0.5  # every tap counts
    rng = np.random.default_rng(index)
    pos = tuple(int(rng.integers(0, s)) for s in x.shape)
    x[pos] = np.nan
    y = cm.conv(x, w, b, **case.kwargs, backend=backend)
    expected = conv_reference(x, w, b, **case.kwargs)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(expected))
    assert_close(y, expected)


@pytest.mark.parametrize("backend", LOCAL_BACKENDS)
def test_nan_only_in_its_group_and_sample(backend):
    x = np.ones((2, 4, 5, 5))
    x[1, 3, 2, 2] = np.nan
    w = np.ones((4, 2, 3, 3))
    y = cm.conv(x, w, groups=2, backend=backend)
    nan = np.isnan(y)
    assert not nan[0].any()
    assert not nan[1, :2].any()
    assert nan[1, 2:].all()  # the 3x3 output sees x[.., 2, 2] in every window
    y = cm.conv(x, w, groups=2, padding=1, backend=backend)
    expected = np.zeros((2, 4, 5, 5), dtype=bool)
    expected[1, 2:, 1:4, 1:4] = True
    np.testing.assert_array_equal(np.isnan(y), expected)


INF_PARAMS = [
    pytest.param(i, backend, id=f"{GRID_IDS[i]}-{backend}")
    for i in range(len(GRID))
    if GRID[i].x_shape[0] > 0
    for backend in LOCAL_BACKENDS
    # W sums taps that read the same padded element, so in the sparse backend
    # inf*(w1 + w2) need not equal inf*w1 + inf*w2: compare modes without repeats only
    if backend != "sparse" or GRID[i].padding_mode == "zeros" or GRID[i].padding == "valid"
][::3]


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize(("index", "backend"), INF_PARAMS)
def test_inf_propagates(index, backend):
    case = GRID[index]
    x, w, b, _ = case_data(case, seed=4)
    rng = np.random.default_rng(100 + index)
    x[tuple(int(rng.integers(0, s)) for s in x.shape)] = np.inf
    x[tuple(int(rng.integers(0, s)) for s in x.shape)] = -np.inf
    y = cm.conv(x, w, b, **case.kwargs, backend=backend)
    assert_close(y, conv_reference(x, w, b, **case.kwargs))


@pytest.mark.parametrize("backend", LOCAL_BACKENDS)
def test_nan_in_grad_output_propagates(backend):
    case = Case((1, 2, 6), (2, 2, 3), 2, 1, 1, 1, "zeros")
    x, w, _, dy = case_data(case)
    dy[0, 1, 1] = np.nan
    gx = cm.conv_input_grad(case.x_shape, w, dy, **case.kwargs, backend=backend)
    assert_close(gx, conv_input_grad_reference(case.x_shape, w, dy, **case.kwargs))
    gw = cm.conv_weight_grad(x, case.w_shape, dy, **case.kwargs, backend=backend)
    assert_close(gw, conv_weight_grad_reference(x, case.w_shape, dy, **case.kwargs))


def test_fft_route_spreads_a_nan_over_its_plane_and_auto_avoids_it():
    """A NaN enters every frequency, so the FFT route gives NaN on the whole plane of every output channel
    that reads it; "auto", which would take the FFT route for this large kernel, takes the im2col route."""
    x, w = np.ones((1, 2, 40, 40)), np.ones((2, 1, 31, 31))
    for op in ("forward", "input_grad"):
        assert cm.choose_backend(x.shape, w.shape, padding=15, groups=2, op=op, dtype=x.dtype) == "fft"
    x[0, 0, 0, 0] = np.nan
    assert np.isnan(cm.conv(x, w, padding=15, groups=2, backend="fft")[0, 0]).all()
    y = cm.conv(x, w, padding=15, groups=2)
    expected = np.zeros(y.shape, dtype=bool)
    expected[0, 0, :16, :16] = True
    np.testing.assert_array_equal(np.isnan(y), expected)
    dy = np.ones(y.shape)
    dy[0, 1, 5, 5] = np.inf
    gx = cm.conv_input_grad(x.shape, w, dy, padding=15, groups=2)
    assert np.isinf(gx[0, 1]).sum() == 21 * 21
    assert not np.isnan(gx[0, 0]).any()


def test_grid_is_deterministic():
    from conftest import make_grid

    assert make_grid() == make_grid()
    assert all(isinstance(c, Case) for c in GRID)
    assert len(set(GRID_IDS)) == len(GRID_IDS)
    assert len(GRID) >= 40
