"""Bad input to pooling raises ValueError/TypeError naming the argument, never an error from inside."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convmat as cm

X = np.arange(32.0).reshape(1, 2, 4, 4)
Y, IDX = cm.max_pool(X, 2, return_indices=True)
DY = np.ones_like(Y)

CASES = {
    # geometry
    "kernel zero": (lambda: cm.max_pool(X, 0), ValueError, r"kernel_size must be positive"),
    "kernel negative": (lambda: cm.avg_pool(X, (2, -1)), ValueError, r"kernel_size must be positive"),
    "kernel wrong length": (
        lambda: cm.max_pool(X, (2, 2, 2)),
        ValueError,
        r"kernel_size must be an int or a tuple of 2",
    ),
    "kernel float": (lambda: cm.max_pool(X, 2.5), TypeError, r"kernel_size must be an int"),
    "stride zero": (lambda: cm.max_pool(X, 2, stride=0), ValueError, r"stride must be positive"),
    "dilation zero": (lambda: cm.max_pool(X, 2, dilation=(1, 0)), ValueError, r"dilation must be positive"),
    "padding negative": (lambda: cm.avg_pool(X, 2, padding=-1), ValueError, r"padding must be >= 0"),
    "padding over half the kernel": (
        lambda: cm.max_pool(X, 3, padding=2),
        ValueError,
        r"padding should be at most half",
    ),
    "avg padding over half": (lambda: cm.avg_pool(X, (2, 4), padding=(2, 1)), ValueError, r"padding.*kernel_size"),
    "kernel larger than padded input": (lambda: cm.max_pool(X, 7, padding=1), ValueError, r"kernel is larger"),
    "dilated kernel larger": (lambda: cm.max_pool(X, 3, dilation=2), ValueError, r"dilation \(2, 2\)"),
    "window only padding": (
        lambda: cm.max_pool(np.ones((1, 1, 1)), 2, stride=1, padding=1, dilation=2),
        ValueError,
        r"window reads only padding.*padding \(1,\)",
    ),
    "ceil_mode not bool": (lambda: cm.max_pool(X, 2, ceil_mode="yes"), TypeError, r"ceil_mode"),
    "empty spatial dim": (lambda: cm.avg_pool(np.ones((1, 1, 0, 3)), 1), ValueError, r"input spatial shape \(0, 3\)"),
    # x
    "x rank too small": (lambda: cm.max_pool(np.ones((4, 4)), 2), ValueError, r"x must have shape \(N, C, \*spatial\)"),
    "x rank too large": (lambda: cm.avg_pool(np.ones((1,) * 6), 1), ValueError, r"x must have shape.*rank 6"),
    "x complex (max_pool)": (lambda: cm.max_pool(X + 1j, 2), TypeError, r"x must be real, got complex"),
    "x complex (max_pool_matrix)": (lambda: cm.max_pool_matrix(X + 1j, 2), TypeError, r"x must be real"),
    "x complex (max_pool2d)": (lambda: cm.max_pool2d(X + 1j, 2), TypeError, r"x must be real"),
    "x complex (max_unpool)": (lambda: cm.max_unpool(Y + 1j, IDX, (4, 4)), TypeError, r"x must be real"),
    "x strings": (lambda: cm.avg_pool(np.array([[["a", "b"]]]), 1), TypeError, r"x must have a numeric dtype"),
    "wrapper rank 1d": (lambda: cm.max_pool1d(X, 2), ValueError, r"max_pool1d needs x of shape \(N, C, L\)"),
    "wrapper rank 2d": (lambda: cm.avg_pool2d(np.ones((1, 4)), 2), ValueError, r"avg_pool2d needs x.*\(1, 4\)"),
    "wrapper rank 3d": (lambda: cm.max_pool3d(X[0], 2), ValueError, r"max_pool3d needs x of shape \(N, C, D, H, W\)"),
    # max_pool_backward
    "backward grad shape": (
        lambda: cm.max_pool_backward(np.ones((1, 2, 2, 3)), IDX, X.shape),
        ValueError,
        r"indices has shape \(1, 2, 2, 2\), expected \(1, 2, 2, 3\)",
    ),
    "backward grad channels": (
        lambda: cm.max_pool_backward(np.ones((1, 3, 2, 2)), IDX, X.shape),
        ValueError,
        r"grad_output has shape \(1, 3, 2, 2\).*input_shape \(1, 2, 4, 4\)",
    ),
    "backward grad rank": (lambda: cm.max_pool_backward(DY[0], IDX, X.shape), ValueError, r"grad_output has shape"),
    "backward grad complex": (
        lambda: cm.max_pool_backward(DY + 1j, IDX, X.shape),
        TypeError,
        r"grad_output must be real",
    ),
    "backward indices float": (
        lambda: cm.max_pool_backward(DY, IDX.astype(float), X.shape),
        TypeError,
        r"indices must be an integer array",
    ),
    "backward indices out of range": (
        lambda: cm.max_pool_backward(DY, IDX + 16, X.shape),
        ValueError,
        r"indices must lie in \[0, 16\)",
    ),
    "backward indices negative": (lambda: cm.max_pool_backward(DY, IDX - 6, X.shape), ValueError, r"indices must lie"),
    "backward input_shape rank": (lambda: cm.max_pool_backward(DY, IDX, (4, 4)), ValueError, r"input_shape must have"),
    "backward input_shape type": (lambda: cm.max_pool_backward(DY, IDX, 16), TypeError, r"input_shape must be a tuple"),
    # max_unpool
    "unpool indices shape": (lambda: cm.max_unpool(Y, IDX[..., :1], (4, 4)), ValueError, r"indices has shape"),
    "unpool indices beyond output_size": (
        lambda: cm.max_unpool(Y, IDX, (3, 3)),
        ValueError,
        r"indices must lie in \[0, 9\)",
    ),
    "unpool output_size too small": (
        lambda: cm.max_unpool(Y, IDX, (4, 0)),
        ValueError,
        r"output_size \(4, 0\) cannot be",
    ),
    "unpool index outside a small output_size": (
        lambda: cm.max_unpool(np.ones((1, 1, 5, 5)), np.full((1, 1, 5, 5), 15), (3, 5)),
        ValueError,
        r"indices must lie in \[0, 15\)",
    ),
    "unpool output_size length": (lambda: cm.max_unpool(Y, IDX, (4,)), ValueError, r"output_size must have 2"),
    "unpool output_size N, C": (lambda: cm.max_unpool(Y, IDX, (1, 3, 4, 4)), ValueError, r"output_size \(1, 3, 4, 4\)"),
    "unpool output_size negative": (
        lambda: cm.max_unpool(Y, IDX, (4, -4)),
        ValueError,
        r"output_size must have non-neg",
    ),
    "unpool output_size type": (lambda: cm.max_unpool(Y, IDX, "4x4"), TypeError, r"output_size must be a tuple"),
    "unpool x rank": (lambda: cm.max_unpool(Y[0, 0, 0], IDX[0, 0, 0], (4,)), ValueError, r"x must have shape"),
    # average pooling
    "avg backward grad shape": (
        lambda: cm.avg_pool_backward(np.ones((1, 2, 3, 3)), X.shape, 2),
        ValueError,
        r"grad_output has shape \(1, 2, 3, 3\), expected \(1, 2, 2, 2\)",
    ),
    "avg backward input_shape rank": (
        lambda: cm.avg_pool_backward(DY, (4, 4), 2),
        ValueError,
        r"input_shape must have",
    ),
    "avg matrix spatial rank": (lambda: cm.avg_pool_matrix((2, 2, 2, 2), 1), ValueError, r"input spatial shape"),
    "avg matrix kernel": (lambda: cm.avg_pool_matrix((4, 4), (5, 1)), ValueError, r"kernel is larger"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_names_the_argument(name):
    call, error, message = CASES[name]
    with pytest.raises(error, match=message):
        call()


def _outcome(call) -> str:
    """``"ok"``, or the message of a ValueError/TypeError; any other exception propagates and fails the test."""
    try:
        call()
    except (ValueError, TypeError) as exc:
        return str(exc)
    return "ok"


# Random (often invalid) arguments: the only acceptable failures are ValueError/TypeError with a message.
_small = st.integers(-1, 4)
_arg = st.one_of(_small, st.tuples(_small, _small))


@settings(max_examples=150, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=5),
    kernel=_arg,
    stride=st.one_of(st.none(), _arg),
    padding=_arg,
    dilation=_arg,
    ceil_mode=st.booleans(),
)
def test_random_arguments_fail_only_with_value_or_type_errors(shape, kernel, stride, padding, dilation, ceil_mode):
    x = np.ones(shape)
    for call in (
        lambda: cm.max_pool(x, kernel, stride, padding, dilation, ceil_mode, return_indices=True),
        lambda: cm.max_pool_matrix(x, kernel, stride, padding, dilation, ceil_mode),
        lambda: cm.avg_pool(x, kernel, stride, padding, ceil_mode),
        lambda: cm.avg_pool_matrix(shape[2:], kernel, stride, padding, ceil_mode),
    ):
        assert _outcome(call)


@settings(max_examples=100, deadline=None)
@given(
    grad_shape=st.lists(st.integers(0, 3), min_size=1, max_size=5),
    index_value=st.integers(-3, 20),
    input_shape=st.lists(st.integers(0, 4), min_size=1, max_size=5),
)
def test_random_backward_and_unpool_arguments_fail_cleanly(grad_shape, index_value, input_shape):
    dy = np.ones(grad_shape)
    idx = np.full(grad_shape, index_value)
    for call in (
        lambda: cm.max_pool_backward(dy, idx, input_shape),
        lambda: cm.max_unpool(dy, idx, input_shape),
        lambda: cm.max_unpool(dy, idx, input_shape[2:]),
    ):
        assert _outcome(call)
