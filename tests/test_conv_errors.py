"""Bad input raises ``ValueError`` (or ``TypeError`` for a wrong type) naming the argument.

Only the exception type and the argument's name in the message are pinned; the
rest of the wording is the implementation's business. ``pytest.raises`` with a
specific type also makes sure no bare ``IndexError``/``AssertionError`` escapes.
"""

from __future__ import annotations

import numpy as np
import pytest

import convmat as cm

RNG = np.random.default_rng(7)
X = RNG.standard_normal((2, 4, 6, 6))  # (N, C_in, H, W)
W = RNG.standard_normal((6, 2, 3, 3))  # groups=2
B = RNG.standard_normal(6)
DY = RNG.standard_normal((2, 6, 4, 4))  # conv(X, W, groups=2) output shape
X_SHAPE, W_SHAPE = X.shape, W.shape
G = {"groups": 2}

# argument names as regexes (word boundaries so that "x" does not match inside other words)
NAME_X = r"\bx\b"


def _conv(**kw):
    args = {"x": X, "weight": W, "bias": None, **G, **kw}
    return lambda: cm.conv(**args)


def _input_grad(**kw):
    args = {"input_shape": X_SHAPE, "weight": W, "grad_output": DY, **G, **kw}
    return lambda: cm.conv_input_grad(**args)


def _weight_grad(**kw):
    args = {"x": X, "weight_shape": W_SHAPE, "grad_output": DY, **G, **kw}
    return lambda: cm.conv_weight_grad(**args)


def _matrix(**kw):
    args = {"weight": W, "input_shape": X_SHAPE[1:], **G, **kw}
    return lambda: cm.conv_matrix(**args)


def _bad(id_, call, exc, match):
    return pytest.param(call, exc, match, id=id_)


# geometry errors shared by every function that takes a convolution geometry
GEOMETRY_ERRORS = [
    ("stride-0", {"stride": 0}, ValueError, "stride"),
    ("stride-negative", {"stride": -1}, ValueError, "stride"),
    ("stride-tuple-with-0", {"stride": (1, 0)}, ValueError, "stride"),
    ("stride-wrong-length", {"stride": (1, 1, 1)}, ValueError, "stride"),
    ("stride-float", {"stride": 1.5}, TypeError, "stride"),
    ("stride-str", {"stride": "2"}, TypeError, "stride"),
    ("dilation-0", {"dilation": 0}, ValueError, "dilation"),
    ("dilation-negative", {"dilation": (1, -2)}, ValueError, "dilation"),
    ("dilation-wrong-length", {"dilation": (1,)}, ValueError, "dilation"),
    ("dilation-float", {"dilation": 2.0}, TypeError, "dilation"),
    ("padding-negative", {"padding": -1}, ValueError, "padding"),
    ("padding-tuple-negative", {"padding": (1, -1)}, ValueError, "padding"),
    ("padding-wrong-length", {"padding": (1, 1, 1)}, ValueError, "padding"),
    ("padding-float", {"padding": 0.5}, TypeError, "padding"),
    ("padding-unknown-string", {"padding": "full"}, ValueError, "padding"),
    ("padding-same-stride-2", {"padding": "same", "stride": 2}, ValueError, "padding|stride"),
    ("padding-same-stride-tuple", {"padding": "same", "stride": (1, 2)}, ValueError, "padding|stride"),
    ("padding_mode-unknown", {"padding_mode": "mirror"}, ValueError, "padding_mode"),
    ("padding_mode-None", {"padding_mode": None}, (ValueError, TypeError), "padding_mode"),
    ("reflect-pad-equal-dim", {"padding": (6, 1), "padding_mode": "reflect"}, ValueError, "padding"),
    ("reflect-same-pad-too-large", {"padding": 6, "padding_mode": "reflect"}, ValueError, "padding"),
    ("circular-pad-larger-than-dim", {"padding": (1, 7), "padding_mode": "circular"}, ValueError, "padding"),
    ("groups-0", {"groups": 0}, ValueError, "groups"),
    ("groups-negative", {"groups": -2}, ValueError, "groups"),
    ("groups-float", {"groups": 2.5}, TypeError, "groups"),
    ("groups-mismatch", {"groups": 1}, ValueError, "groups"),
    ("groups-not-dividing-C_out", {"groups": 4}, ValueError, "groups"),
]

CONV_ERRORS = [
    _bad("x-rank-2", _conv(x=X[0, 0]), ValueError, NAME_X),
    _bad("x-rank-3-vs-2d-weight", _conv(x=X[0]), ValueError, NAME_X),
    _bad("x-rank-5-vs-2d-weight", _conv(x=X[..., None]), ValueError, NAME_X),
    _bad("weight-rank-2", _conv(weight=W[:, :, 0, 0]), ValueError, "weight"),
    _bad("weight-rank-6", _conv(weight=W[..., None, None]), ValueError, "weight"),
    _bad("weight-empty-kernel", _conv(weight=W[:, :, :0]), ValueError, "weight"),
    _bad("channels-not-matching-groups", _conv(x=X[:, :3]), ValueError, "groups"),
    _bad("C_out-not-divisible", _conv(weight=W[:5]), ValueError, "groups"),
    _bad("kernel-larger-than-input", _conv(weight=RNG.standard_normal((6, 2, 7, 3))), ValueError, "kernel|weight"),
    _bad(
        "kernel-larger-than-padded",
        _conv(weight=RNG.standard_normal((6, 2, 9, 3)), padding=1),
        ValueError,
        "kernel|weight",
    ),
    _bad("dilated-kernel-larger", _conv(dilation=(3, 1)), ValueError, "kernel|weight|dilation"),
    _bad("bias-wrong-length", _conv(bias=B[:5]), ValueError, "bias"),
    _bad("bias-2d", _conv(bias=B[:, None]), ValueError, "bias"),
    _bad("bias-str", _conv(bias="bias"), TypeError, "bias"),
    _bad("backend-unknown", _conv(backend="dense"), ValueError, "backend"),
    _bad("x-str", _conv(x="not an array"), TypeError, NAME_X),
    _bad("weight-str", _conv(weight="not an array"), TypeError, "weight"),
    _bad("x-object", _conv(x=np.array([None] * 4, dtype=object).reshape(1, 4, 1, 1)), TypeError, NAME_X),
    *(_bad(id_, _conv(**kw), exc, match) for id_, kw, exc, match in GEOMETRY_ERRORS),
]

INPUT_GRAD_ERRORS = [
    _bad("grad_output-spatial", _input_grad(grad_output=DY[..., :3]), ValueError, "grad_output"),
    _bad("grad_output-channels", _input_grad(grad_output=DY[:, :5]), ValueError, "grad_output"),
    _bad("grad_output-batch", _input_grad(grad_output=DY[:1]), ValueError, "grad_output"),
    _bad("grad_output-rank", _input_grad(grad_output=DY[0]), ValueError, "grad_output"),
    _bad("grad_output-for-other-stride", _input_grad(stride=2), ValueError, "grad_output"),
    _bad("grad_output-str", _input_grad(grad_output="dy"), TypeError, "grad_output"),
    _bad("input_shape-without-batch", _input_grad(input_shape=X_SHAPE[1:]), ValueError, "input_shape"),
    _bad("input_shape-too-long", _input_grad(input_shape=(*X_SHAPE, 1)), ValueError, "input_shape"),
    _bad("input_shape-channels", _input_grad(input_shape=(2, 3, 6, 6)), ValueError, "input_shape|groups"),
    _bad("input_shape-negative", _input_grad(input_shape=(2, 4, -6, 6)), ValueError, "input_shape"),
    _bad("input_shape-float", _input_grad(input_shape=(2, 4, 6.5, 6)), TypeError, "input_shape"),
    _bad("input_shape-str", _input_grad(input_shape="2x4x6x6"), TypeError, "input_shape"),
    _bad(
        "input_shape-kernel-too-large", _input_grad(input_shape=(2, 4, 2, 6)), ValueError, "kernel|weight|input_shape"
    ),
    _bad("weight-rank", _input_grad(weight=W[..., 0]), ValueError, "weight"),
    _bad("weight-str", _input_grad(weight="w"), TypeError, "weight"),
    _bad("backend-unknown", _input_grad(backend="winograd"), ValueError, "backend"),
    *(_bad(id_, _input_grad(**kw), exc, match) for id_, kw, exc, match in GEOMETRY_ERRORS),
]

WEIGHT_GRAD_ERRORS = [
    _bad("grad_output-spatial", _weight_grad(grad_output=DY[:, :, :3]), ValueError, "grad_output"),
    _bad("grad_output-channels", _weight_grad(grad_output=DY[:, :4]), ValueError, "grad_output"),
    _bad("grad_output-batch", _weight_grad(grad_output=DY[:1]), ValueError, "grad_output"),
    _bad("grad_output-rank", _weight_grad(grad_output=DY[..., None]), ValueError, "grad_output"),
    _bad("grad_output-for-other-padding", _weight_grad(padding=1), ValueError, "grad_output"),
    _bad("weight_shape-rank", _weight_grad(weight_shape=W_SHAPE[:3]), ValueError, "weight_shape"),
    _bad("weight_shape-too-long", _weight_grad(weight_shape=(*W_SHAPE, 1)), ValueError, r"weight_shape|\bx\b"),
    _bad("weight_shape-channels", _weight_grad(weight_shape=(6, 3, 3, 3)), ValueError, "weight_shape|groups"),
    _bad("weight_shape-C_out", _weight_grad(weight_shape=(5, 2, 3, 3)), ValueError, "weight_shape|groups"),
    _bad("weight_shape-zero", _weight_grad(weight_shape=(6, 2, 0, 3)), ValueError, "weight_shape"),
    _bad("weight_shape-negative", _weight_grad(weight_shape=(6, 2, -3, 3)), ValueError, "weight_shape"),
    _bad("weight_shape-float", _weight_grad(weight_shape=(6, 2, 3.0, 3)), TypeError, "weight_shape"),
    _bad("weight_shape-kernel-too-large", _weight_grad(weight_shape=(6, 2, 7, 3)), ValueError, "kernel|weight_shape"),
    _bad("x-rank", _weight_grad(x=X[0]), ValueError, NAME_X),
    _bad("x-str", _weight_grad(x="x"), TypeError, NAME_X),
    _bad("x-channels", _weight_grad(x=X[:, :2]), ValueError, r"\bx\b|groups"),
    _bad("backend-unknown", _weight_grad(backend=None), (ValueError, TypeError), "backend"),
    *(_bad(id_, _weight_grad(**kw), exc, match) for id_, kw, exc, match in GEOMETRY_ERRORS),
]

MATRIX_ERRORS = [
    _bad("input_shape-with-batch", _matrix(input_shape=X_SHAPE), ValueError, "input_shape"),
    _bad("input_shape-too-short", _matrix(input_shape=(4, 6)), ValueError, "input_shape"),
    _bad("input_shape-channels", _matrix(input_shape=(3, 6, 6)), ValueError, "input_shape|groups"),
    _bad("input_shape-str", _matrix(input_shape="4,6,6"), TypeError, "input_shape"),
    _bad("input_shape-float", _matrix(input_shape=(4, 6.0, 6)), TypeError, "input_shape"),
    _bad("kernel-too-large", _matrix(input_shape=(4, 6, 2)), ValueError, "kernel|weight"),
    _bad("weight-rank", _matrix(weight=W[0]), ValueError, "weight"),
    _bad("weight-str", _matrix(weight="w"), TypeError, "weight"),
    *(_bad(id_, _matrix(**kw), exc, match) for id_, kw, exc, match in GEOMETRY_ERRORS),
]

X1 = RNG.standard_normal((2, 3, 5, 4))
COLS = RNG.standard_normal((2, 3 * 6, 4 * 2))  # im2col(X1, (2, 3)).shape

IM2COL_ERRORS = [
    _bad("im2col-x-rank-2", lambda: cm.im2col(X1[0, 0], 2), ValueError, NAME_X),
    _bad("im2col-x-rank-6", lambda: cm.im2col(X1[..., None, None], 2), ValueError, NAME_X),
    _bad("im2col-x-str", lambda: cm.im2col("x", 2), TypeError, NAME_X),
    _bad("im2col-kernel_size-0", lambda: cm.im2col(X1, 0), ValueError, "kernel_size"),
    _bad("im2col-kernel_size-wrong-length", lambda: cm.im2col(X1, (2, 2, 2)), ValueError, "kernel_size"),
    _bad("im2col-kernel_size-float", lambda: cm.im2col(X1, 2.5), TypeError, "kernel_size"),
    _bad("im2col-kernel-too-large", lambda: cm.im2col(X1, (6, 2)), ValueError, "kernel"),
    _bad("im2col-stride-0", lambda: cm.im2col(X1, 2, stride=0), ValueError, "stride"),
    _bad("im2col-padding-negative", lambda: cm.im2col(X1, 2, padding=-1), ValueError, "padding"),
    _bad("im2col-dilation-0", lambda: cm.im2col(X1, 2, dilation=(1, 0)), ValueError, "dilation"),
    _bad("col2im-cols-rank-2", lambda: cm.col2im(COLS[0], (5, 4), (2, 3)), ValueError, "cols"),
    _bad("col2im-cols-rank-4", lambda: cm.col2im(COLS[..., None], (5, 4), (2, 3)), ValueError, "cols"),
    _bad("col2im-cols-C*K-mismatch", lambda: cm.col2im(COLS[:, :17], (5, 4), (2, 3)), ValueError, "cols"),
    _bad("col2im-cols-L-mismatch", lambda: cm.col2im(COLS[:, :, :7], (5, 4), (2, 3)), ValueError, "cols"),
    _bad("col2im-output_size-wrong-for-cols", lambda: cm.col2im(COLS, (6, 4), (2, 3)), ValueError, "cols|output_size"),
    _bad("col2im-kernel-wrong-for-cols", lambda: cm.col2im(COLS, (5, 4), (3, 2)), ValueError, "cols|kernel_size"),
    _bad("col2im-stride-wrong-for-cols", lambda: cm.col2im(COLS, (5, 4), (2, 3), stride=2), ValueError, "cols"),
    _bad("col2im-output_size-negative", lambda: cm.col2im(COLS, (5, -4), (2, 3)), ValueError, "output_size"),
    _bad("col2im-output_size-4d", lambda: cm.col2im(COLS, (5, 4, 1, 1), (2, 3)), ValueError, "output_size"),
    _bad("col2im-output_size-str", lambda: cm.col2im(COLS, "5x4", (2, 3)), TypeError, "output_size"),
    _bad("col2im-kernel_size-wrong-length", lambda: cm.col2im(COLS, (5, 4), (2, 3, 1)), ValueError, "kernel_size"),
    _bad("col2im-kernel-too-large", lambda: cm.col2im(COLS, (5, 4), (6, 3)), ValueError, "kernel"),
    _bad("col2im-cols-str", lambda: cm.col2im("cols", (5, 4), (2, 3)), TypeError, "cols"),
]

WRAPPER_ERRORS = [
    _bad("conv1d-2d-arrays", lambda: cm.conv1d(X, W, groups=2), ValueError, r"\bx\b|weight"),
    _bad("conv3d-2d-arrays", lambda: cm.conv3d(X, W, groups=2), ValueError, r"\bx\b|weight"),
    _bad("conv2d-1d-arrays", lambda: cm.conv2d(X[..., 0], W[..., 0], groups=2), ValueError, r"\bx\b|weight"),
    _bad("conv2d-x-rank-2", lambda: cm.conv2d(X[0, 0], W, groups=2), ValueError, r"conv2d needs x\b"),
    _bad("conv2d-x-rank-5", lambda: cm.conv2d(X[..., None], W, groups=2), ValueError, r"conv2d needs x\b"),
    _bad("conv2d-unbatched-channels", lambda: cm.conv2d(X[0, :3], W, groups=2), ValueError, r"\bx\b.*channels"),
    _bad("transpose2d-x-rank-2", lambda: cm.conv_transpose2d(X[0, 0], W), ValueError, r"conv_transpose2d needs x\b"),
]

ALL_ERRORS = CONV_ERRORS + INPUT_GRAD_ERRORS + WEIGHT_GRAD_ERRORS + MATRIX_ERRORS + IM2COL_ERRORS + WRAPPER_ERRORS


def _prefixed(params, prefix):
    return [pytest.param(*p.values, id=f"{prefix}-{p.id}") for p in params]


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    _prefixed(CONV_ERRORS, "conv")
    + _prefixed(INPUT_GRAD_ERRORS, "input_grad")
    + _prefixed(WEIGHT_GRAD_ERRORS, "weight_grad")
    + _prefixed(MATRIX_ERRORS, "matrix")
    + IM2COL_ERRORS
    + WRAPPER_ERRORS,
)
def test_bad_input_raises_naming_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_the_good_calls_work():
    """The fixtures the error cases perturb are themselves valid (so each error is caused by its perturbation)."""
    assert cm.conv(X, W, B, groups=2).shape == DY.shape
    assert cm.conv_input_grad(X_SHAPE, W, DY, groups=2).shape == X_SHAPE
    assert cm.conv_weight_grad(X, W_SHAPE, DY, groups=2).shape == W_SHAPE
    assert cm.conv_matrix(W, X_SHAPE[1:], groups=2).shape == (6 * 16, 4 * 36)
    assert cm.im2col(X1, (2, 3)).shape == COLS.shape
    assert cm.col2im(COLS, (5, 4), (2, 3)).shape == X1.shape
    assert cm.conv2d(X, W, groups=2).shape == DY.shape
    # the geometry perturbations that are legal at the boundary
    assert cm.conv(X, W, padding=(5, 1), padding_mode="reflect", groups=2).shape == (2, 6, 14, 6)
    assert cm.conv(X, W, padding=(1, 6), padding_mode="circular", groups=2).shape == (2, 6, 6, 16)
    assert cm.conv(X, W, padding="same", stride=1, groups=2).shape == (2, 6, 6, 6)
    assert cm.conv(X, W[:, :, :1], dilation=(3, 1), groups=2).shape == (2, 6, 6, 4)


@pytest.mark.parametrize("fn", [cm.conv_output_shape, cm.conv_transpose_output_shape])
@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "match"),
    [
        (((5, 5), 0), {}, ValueError, "kernel_size"),
        (((5, 5), (3, 3, 3)), {}, ValueError, "kernel_size"),
        (((5, 5), 3), {"stride": 0}, ValueError, "stride"),
        (((5, 5), 3), {"padding": -1}, ValueError, "padding"),
        (((5, 5), 3), {"dilation": 0}, ValueError, "dilation"),
        (((5, 5), 3), {"stride": 1.5}, TypeError, "stride"),
    ],
)
def test_geometry_function_errors(fn, args, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        fn(*args, **kwargs)


def test_error_list_is_complete():
    """Every error case above is collected once (guards against a case silently dropped from the list)."""
    assert len(ALL_ERRORS) == len({id(p) for p in ALL_ERRORS})
    assert len(ALL_ERRORS) > 150
