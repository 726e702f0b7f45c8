"""Unbatched input ``(C, *spatial)`` in the rank-specific functions, zero channels, and rank disagreements.

The rank-specific functions (``conv2d``, ``max_pool3d``, …) and ``max_unpool``
take one sample without its batch axis where PyTorch's ``torch.nn.functional``
counterpart does, and then return an unbatched result: ``f(x)`` equals
``f(x[None])[0]``. The generic functions keep ``(N, C, *spatial)`` and say so
when a tuple argument disagrees with the rank they read. No channels (``C == 0``)
is an error everywhere, as in PyTorch; no samples (``N == 0``) is not.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest

import convmat as cm

RANKS = [1, 2, 3]
SIZES = {1: (7,), 2: (6, 5), 3: (5, 4, 5)}


def _x(n, channels=4, dtype=np.float64, seed=0):
    """One sample ``(C, *spatial)``."""
    return np.random.default_rng(seed + n).standard_normal((channels, *SIZES[n])).astype(dtype)


def _weight(n, c_out, c_in, seed=1):
    return np.random.default_rng(seed + n).standard_normal((c_out, c_in, *(3,) * n))


def _conv_calls(n):
    """``(function, kwargs)`` of every rank-specific convolution, on a 4-channel sample."""
    return [
        (getattr(cm, f"conv{n}d"), {"weight": _weight(n, 6, 2), "bias": np.arange(6.0), "groups": 2, "padding": 1}),
        (getattr(cm, f"conv{n}d"), {"weight": _weight(n, 3, 4), "stride": 2, "dilation": 1, "padding": "valid"}),
        (getattr(cm, f"conv{n}d"), {"weight": _weight(n, 3, 4), "padding": "same", "padding_mode": "circular"}),
        (getattr(cm, f"conv_transpose{n}d"), {"weight": _weight(n, 4, 3), "bias": np.ones(3), "stride": 2}),
        (
            getattr(cm, f"conv_transpose{n}d"),
            {"weight": _weight(n, 4, 1), "groups": 2, "output_padding": 1, "stride": 2},
        ),
    ]


def _pool_calls(n):
    """``(function, kwargs)`` of every rank-specific pooling."""
    return [
        (getattr(cm, f"max_pool{n}d"), {"kernel_size": 2}),
        (getattr(cm, f"max_pool{n}d"), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
        (getattr(cm, f"max_pool{n}d"), {"kernel_size": 2, "stride": 1, "dilation": 2, "return_indices": True}),
        (getattr(cm, f"avg_pool{n}d"), {"kernel_size": 2}),
        (getattr(cm, f"avg_pool{n}d"), {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}),
        (getattr(cm, f"avg_pool{n}d"), {"kernel_size": 2, "ceil_mode": True}),
    ]


def _calls(n):
    return [pytest.param(f, kw, id=f"{f.__name__}-{i}") for i, (f, kw) in enumerate(_conv_calls(n) + _pool_calls(n))]


ALL_CALLS = [p for n in RANKS for p in _calls(n)]


def _as_tuple(result):
    return result if isinstance(result, tuple) else (result,)


# ---------------------------------------------------------------------------
# Unbatched equals batched
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "kwargs"), ALL_CALLS)
def test_unbatched_result_is_the_batched_result_of_the_sample(function, kwargs):
    n = int(function.__name__[-2])
    x = _x(n)
    unbatched = _as_tuple(function(x, **kwargs))
    batched = _as_tuple(function(x[None], **kwargs))
    assert len(unbatched) == len(batched)
    for u, b in zip(unbatched, batched, strict=True):
        assert u.shape == b.shape[1:]
        assert u.dtype == b.dtype
        np.testing.assert_array_equal(u, b[0])


@pytest.mark.parametrize(("function", "kwargs"), ALL_CALLS)
def test_unbatched_samples_agree_with_a_batch_of_them(function, kwargs):
    n = int(function.__name__[-2])
    batch = np.stack([_x(n, seed=s) for s in range(3)])
    together = _as_tuple(function(batch, **kwargs))
    for i in range(3):
        for u, b in zip(_as_tuple(function(batch[i], **kwargs)), together, strict=True):
            np.testing.assert_allclose(u, b[i], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", RANKS)
def test_unbatched_keeps_float32(n):
    x = _x(n, dtype=np.float32)
    assert cm.max_pool(x[None], 2).dtype == np.float32
    assert getattr(cm, f"max_pool{n}d")(x, 2).dtype == np.float32
    assert getattr(cm, f"avg_pool{n}d")(x, 2).dtype == np.float32
    w = _weight(n, 2, 4).astype(np.float32)
    assert getattr(cm, f"conv{n}d")(x, w).dtype == np.float32


@pytest.mark.parametrize("n", RANKS)
def test_arguments_by_keyword_and_position(n):
    x, w = _x(n), _weight(n, 3, 4)
    conv_nd = getattr(cm, f"conv{n}d")
    expected = cm.conv(x[None], w, None, 1, 1)[0]
    np.testing.assert_array_equal(conv_nd(x, w, None, 1, 1), expected)
    np.testing.assert_array_equal(conv_nd(x=x, weight=w, padding=1), expected)
    pool_nd = getattr(cm, f"max_pool{n}d")
    np.testing.assert_array_equal(pool_nd(x=x, kernel_size=2), cm.max_pool(x[None], 2)[0])


@pytest.mark.parametrize("n", RANKS)
def test_max_unpool_takes_an_unbatched_sample(n):
    x = _x(n)
    y, idx = cm.max_pool(x[None], 2, return_indices=True)
    spatial = SIZES[n]
    unbatched = cm.max_unpool(y[0], idx[0], spatial)
    assert unbatched.shape == x.shape
    np.testing.assert_array_equal(unbatched, cm.max_unpool(y, idx, spatial)[0])
    # ...and the switches of an unbatched max_pool{n}d feed it directly
    y_u, idx_u = getattr(cm, f"max_pool{n}d")(x, 2, return_indices=True)
    np.testing.assert_array_equal(cm.max_unpool(y_u, idx_u, spatial), unbatched)
    # the full (N, C, *spatial) form of output_size stays for a batched x
    np.testing.assert_array_equal(cm.max_unpool(y, idx, (1, *x.shape)), unbatched[None])


def test_max_unpool_unbatched_checks_the_indices_shape():
    y, idx = cm.max_pool(_x(2)[None], 2, return_indices=True)
    with pytest.raises(ValueError, match=r"indices has shape"):
        cm.max_unpool(y[0], idx[0, :, :1], SIZES[2])


@pytest.mark.parametrize("n", RANKS)
def test_batched_input_is_unchanged(n):
    x = np.stack([_x(n, seed=s) for s in range(2)])
    np.testing.assert_array_equal(getattr(cm, f"max_pool{n}d")(x, 2), cm.max_pool(x, 2))
    np.testing.assert_array_equal(getattr(cm, f"avg_pool{n}d")(x, 2), cm.avg_pool(x, 2))
    w = _weight(n, 3, 4)
    np.testing.assert_array_equal(getattr(cm, f"conv{n}d")(x, w), cm.conv(x, w))
    np.testing.assert_array_equal(
        getattr(cm, f"conv_transpose{n}d")(x, w.swapaxes(0, 1)), cm.conv_transpose(x, w.swapaxes(0, 1))
    )


@pytest.mark.parametrize("generic", ["conv", "conv_transpose", "max_pool", "avg_pool"])
@pytest.mark.parametrize("n", RANKS)
def test_rank_specific_functions_keep_name_signature_and_docs(generic, n):
    function = getattr(cm, f"{generic}{n}d")
    assert function.__name__ == f"{generic}{n}d"
    assert function.__module__ == getattr(cm, generic).__module__
    assert inspect.signature(function) == inspect.signature(getattr(cm, generic))
    doc = function.__doc__
    assert "Examples" in doc
    assert "# unbatched" in doc  # a runnable unbatched example


# ---------------------------------------------------------------------------
# PyTorch parity of unbatched calls
# ---------------------------------------------------------------------------


def _torch_close(actual, expected):
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", RANKS)
def test_unbatched_convolutions_match_torch(n):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for function, kwargs in _conv_calls(n):
        if kwargs.get("padding_mode", "zeros") != "zeros":
            continue  # F.conv*d has no padding_mode; nn.Conv*d pads first (covered by the batched parity tests)
        x = _x(n)
        args = {k: torch.from_numpy(np.asarray(v)) if k in ("weight", "bias") else v for k, v in kwargs.items()}
        torch_function = getattr(F, function.__name__)
        _torch_close(function(x, **kwargs), torch_function(torch.from_numpy(x), **args))


@pytest.mark.parametrize("n", RANKS)
def test_unbatched_pooling_matches_torch(n):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for function, kwargs in _pool_calls(n):
        x = _x(n)
        expected = getattr(F, function.__name__)(torch.from_numpy(x), **kwargs)
        for actual, wanted in zip(_as_tuple(function(x, **kwargs)), _as_tuple(expected), strict=True):
            if actual.dtype.kind == "i":
                np.testing.assert_array_equal(actual, wanted.numpy())
            else:
                _torch_close(actual, wanted)


@pytest.mark.parametrize("n", RANKS)
def test_unbatched_max_unpool_matches_torch(n):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _x(n)
    y, idx = getattr(cm, f"max_pool{n}d")(x, 2, return_indices=True)
    expected = getattr(F, f"max_unpool{n}d")(torch.from_numpy(y), torch.from_numpy(idx), 2, output_size=SIZES[n])
    _torch_close(cm.max_unpool(y, idx, SIZES[n]), expected)


# ---------------------------------------------------------------------------
# Zero channels
# ---------------------------------------------------------------------------

X0 = np.ones((2, 0, 4, 4))
DY0 = np.ones((2, 0, 2, 2))
IDX0 = np.zeros((2, 0, 2, 2), dtype=np.int64)

ZERO_CHANNELS = {
    "max_pool": lambda: cm.max_pool(X0, 2),
    "max_pool return_indices": lambda: cm.max_pool(X0, 2, return_indices=True),
    "avg_pool": lambda: cm.avg_pool(X0, 2),
    "max_pool_backward": lambda: cm.max_pool_backward(DY0, IDX0, X0.shape),
    "avg_pool_backward": lambda: cm.avg_pool_backward(DY0, X0.shape, 2),
    "max_unpool": lambda: cm.max_unpool(DY0, IDX0, (4, 4)),
    "max_unpool unbatched": lambda: cm.max_unpool(DY0[0], IDX0[0], (4, 4)),
    "max_pool_matrix": lambda: cm.max_pool_matrix(X0, 2),
    "im2col": lambda: cm.im2col(X0, 2),
    "col2im": lambda: cm.col2im(np.ones((2, 0, 9)), (4, 4), 2),
    "conv": lambda: cm.conv(X0, np.ones((1, 1, 2, 2))),
    "conv_input_grad": lambda: cm.conv_input_grad(X0.shape, np.ones((1, 1, 2, 2)), np.ones((2, 1, 3, 3))),
    "conv_weight_grad": lambda: cm.conv_weight_grad(X0, (1, 1, 2, 2), np.ones((2, 1, 3, 3))),
    "conv_weight_grad empty weight_shape": lambda: cm.conv_weight_grad(X0, (1, 0, 2, 2), np.ones((2, 1, 3, 3))),
    "conv_transpose": lambda: cm.conv_transpose(X0, np.ones((1, 1, 2, 2))),
    "max_pool2d unbatched": lambda: cm.max_pool2d(X0[0], 2),
    "avg_pool2d unbatched": lambda: cm.avg_pool2d(X0[0], 2),
    "conv2d unbatched": lambda: cm.conv2d(X0[0], np.ones((1, 1, 2, 2))),
    "conv_transpose2d unbatched": lambda: cm.conv_transpose2d(X0[0], np.ones((1, 1, 2, 2))),
}


@pytest.mark.parametrize("name", list(ZERO_CHANNELS))
def test_zero_channels_raise(name):
    argument = r"\b(x|input_shape|cols|weight_shape)\b"
    with pytest.raises(ValueError, match=argument):
        ZERO_CHANNELS[name]()


@pytest.mark.parametrize(
    "name", ["max_pool", "avg_pool", "max_pool_backward", "avg_pool_backward", "max_unpool", "im2col", "col2im"]
)
def test_zero_channel_message_gives_the_shape(name):
    with pytest.raises(ValueError, match=r"at least one channel.*\(2, 0, "):
        ZERO_CHANNELS[name]()


def test_an_empty_batch_stays_allowed():
    x = np.ones((0, 2, 4, 4))
    assert cm.max_pool(x, 2).shape == (0, 2, 2, 2)
    assert cm.avg_pool(x, 2).shape == (0, 2, 2, 2)
    assert cm.max_pool_backward(np.ones((0, 2, 2, 2)), np.zeros((0, 2, 2, 2), int), x.shape).shape == x.shape
    assert cm.avg_pool_backward(np.ones((0, 2, 2, 2)), x.shape, 2).shape == x.shape
    assert cm.max_unpool(np.ones((0, 2, 2, 2)), np.zeros((0, 2, 2, 2), int), (4, 4)).shape == x.shape
    assert cm.im2col(x, 2).shape == (0, 8, 9)
    assert cm.col2im(np.ones((0, 8, 9)), (4, 4), 2).shape == x.shape
    assert cm.conv(x, np.ones((3, 2, 3, 3))).shape == (0, 3, 2, 2)
    assert cm.max_pool2d(x, 2).shape == (0, 2, 2, 2)


# ---------------------------------------------------------------------------
# Rank disagreements in the generic functions, wrong ranks in the specific ones
# ---------------------------------------------------------------------------

READ_AS = r"x of shape \(3, 4, 4\) is read as \(N, C, \*spatial\) with 1 spatial dim"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        pytest.param(
            lambda: cm.max_pool(np.ones((3, 4, 4)), (2, 2)),
            rf"kernel_size has 2 entries \(2, 2\) but {READ_AS}.*use max_pool2d, or add a batch axis \(x\[None\]\)",
            id="max_pool-kernel_size",
        ),
        pytest.param(
            lambda: cm.max_pool(np.ones((3, 4, 4)), 2, stride=(1, 1)),
            rf"stride has 2 entries.*{READ_AS}.*max_pool2d.*x\[None\]",
            id="max_pool-stride",
        ),
        pytest.param(
            lambda: cm.avg_pool(np.ones((3, 4, 4)), 2, padding=(1, 1)),
            rf"padding has 2 entries.*{READ_AS}.*avg_pool2d.*x\[None\]",
            id="avg_pool-padding",
        ),
        pytest.param(
            lambda: cm.max_pool_matrix(np.ones((3, 4, 4)), (2, 2)),
            rf"kernel_size has 2 entries.*{READ_AS}.*x\[None\]",
            id="max_pool_matrix",
        ),
        pytest.param(
            lambda: cm.im2col(np.ones((3, 4, 4)), (2, 2)),
            rf"kernel_size has 2 entries.*{READ_AS}.*add a batch axis \(x\[None\]\)",
            id="im2col",
        ),
        pytest.param(
            lambda: cm.im2col(np.ones((3, 4, 4)), 2, dilation=(1, 1)),
            rf"dilation has 2 entries.*{READ_AS}",
            id="im2col-dilation",
        ),
        pytest.param(
            lambda: cm.avg_pool_backward(np.ones((3, 2, 2)), (3, 4, 4), (2, 2)),
            r"kernel_size has 2 entries.*input_shape of shape \(3, 4, 4\) is read as \(N, C, \*spatial\).*full shape",
            id="avg_pool_backward",
        ),
        pytest.param(
            lambda: cm.max_pool(np.ones((2, 3, 4, 4)), (2, 2, 2)),
            r"kernel_size has 3 entries.*x of shape \(2, 3, 4, 4\) is read as \(N, C, \*spatial\) with 2 spatial dim",
            id="max_pool-too-many",
        ),
        pytest.param(
            lambda: cm.max_pool(np.ones((3, 8)), 2),
            r"x must have shape \(N, C, \*spatial\).*rank 2.*use max_pool1d, or add a batch axis",
            id="max_pool-rank-2",
        ),
        pytest.param(
            lambda: cm.conv(np.ones((3, 4, 4)), np.ones((2, 3, 2, 2))),
            r"x must have shape \(N, C_in, \*spatial\) with 2 spatial dim.*use conv2d, or add a batch axis",
            id="conv",
        ),
        pytest.param(
            lambda: cm.conv_transpose(np.ones((3, 4, 4)), np.ones((3, 2, 2, 2))),
            r"x must have shape \(N, C_in, \*spatial\) with 2 spatial dim.*use conv_transpose2d, or add a batch axis",
            id="conv_transpose",
        ),
    ],
)
def test_rank_disagreement_names_the_reading_and_the_ways_on(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_rank_specific_function_suggested_takes_the_input():
    x = np.arange(48.0).reshape(3, 4, 4)
    np.testing.assert_array_equal(cm.max_pool2d(x, (2, 2)), cm.max_pool(x[None], (2, 2))[0])


def _bad_ranks():
    for n in RANKS:
        w = _weight(n, 2, 4)
        for rank in (n, n + 3):
            x = np.ones((4,) * rank)
            yield pytest.param(getattr(cm, f"conv{n}d"), x, (w,), id=f"conv{n}d-rank{rank}")
            yield pytest.param(getattr(cm, f"conv_transpose{n}d"), x, (w.swapaxes(0, 1),), id=f"ct{n}d-rank{rank}")
            yield pytest.param(getattr(cm, f"max_pool{n}d"), x, (1,), id=f"max_pool{n}d-rank{rank}")
            yield pytest.param(getattr(cm, f"avg_pool{n}d"), x, (1,), id=f"avg_pool{n}d-rank{rank}")


@pytest.mark.parametrize(("function", "x", "args"), list(_bad_ranks()))
def test_a_wrong_rank_still_raises_naming_x(function, x, args):
    match = (
        rf"{function.__name__} needs x of shape \(N, C, .*\) or, unbatched, .*got x of shape {re.escape(str(x.shape))}"
    )
    with pytest.raises(ValueError, match=match):
        function(x, *args)


@pytest.mark.parametrize("n", RANKS)
def test_a_wrong_weight_rank_still_raises_naming_weight(n):
    w = _weight(n % 3 + 1, 2, 4)
    with pytest.raises(ValueError, match=rf"conv{n}d needs weight"):
        getattr(cm, f"conv{n}d")(_x(n), w)
    with pytest.raises(ValueError, match=rf"conv_transpose{n}d needs weight"):
        getattr(cm, f"conv_transpose{n}d")(_x(n), w)
