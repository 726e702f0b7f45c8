"""Padding parity with PyTorch's ``F.pad`` and its autograd (skipped when torch is not installed).

First the reference of ``pad_reference.py`` (values and which calls are valid) is
checked against torch, then convmat: ``pad`` forward, ``pad_adjoint`` against
autograd, the errors, the ``value`` rule and the types of ``pad``'s entries.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close
from pad_reference import GRID, GRID_IDS, MODES, pad_reference, reference_valid

from convmat.pad import pad, pad_adjoint

torch = pytest.importorskip("torch")
F = torch.nn.functional

#: torch accepts these but returns uninitialised memory or fails inside, so there is no number to match:
#: circular padding larger than what the crops leave.
NOT_COMPARED = "circular pad larger than the elements the crops leave"


def _torch_pad(x, pads_flat, mode, value=None):
    return F.pad(torch.from_numpy(x), pads_flat, mode=mode, value=value).numpy()


def _random_calls(seed, count):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        mode = MODES[int(rng.integers(0, 4))]
        shape = tuple(int(s) for s in rng.integers(0, 5, int(rng.integers(1, 6))))
        pads_flat = tuple(int(v) for v in rng.integers(-5, 6, 2 * int(rng.integers(0, 4))))
        yield shape, pads_flat, mode


def _torch_undefined(shape, pads_flat, mode):
    """The circular calls PyTorch takes without a defined result: a pad over what the crops leave."""
    if mode != "circular" or len(pads_flat) % 2 or len(pads_flat) > 2 * len(shape):
        return False
    k = len(pads_flat) // 2
    for d in range(k):
        low, high = pads_flat[2 * (k - 1 - d)], pads_flat[2 * (k - 1 - d) + 1]
        size = shape[len(shape) - k + d]
        kept = size + min(low, 0) + min(high, 0)
        if max(low, high) > kept:
            return True
    return False


@pytest.mark.parametrize(("shape", "pads_flat", "mode"), GRID, ids=GRID_IDS)
def test_the_reference_is_torch(shape, pads_flat, mode):
    x = np.random.default_rng(0).standard_normal(shape)
    value = 2.5 if mode == "constant" else None
    assert np.array_equal(pad_reference(x, pads_flat, mode, value or 0.0), _torch_pad(x, pads_flat, mode, value))


def test_the_reference_rules_are_torch_rules():
    """Where torch raises the reference refuses, and where it returns the reference accepts (bar NOT_COMPARED)."""
    for shape, pads_flat, mode in _random_calls(seed=11, count=4000):
        try:
            _torch_pad(np.ones(shape), pads_flat, mode)
            torch_ok = True
        except (RuntimeError, NotImplementedError, ValueError):
            torch_ok = False
        if _torch_undefined(shape, pads_flat, mode):
            continue  # NOT_COMPARED
        assert reference_valid(shape, pads_flat, mode) == torch_ok, (shape, pads_flat, mode)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("shape", "pads_flat", "mode"), GRID, ids=GRID_IDS)
def test_pad_is_torch(shape, pads_flat, mode, dtype):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    value = -1.5 if mode == "constant" else None
    y = pad(x, pads_flat, mode, value)
    expected = _torch_pad(x, pads_flat, mode, value)
    assert y.dtype == expected.dtype
    assert np.array_equal(y, expected)


@pytest.mark.parametrize(("shape", "pads_flat", "mode"), GRID, ids=GRID_IDS)
def test_pad_adjoint_is_autograd(shape, pads_flat, mode):
    x = np.random.default_rng(2).standard_normal(shape)
    xt = torch.from_numpy(x).requires_grad_()
    yt = F.pad(xt, pads_flat, mode=mode, value=3.0 if mode == "constant" else None)
    g = np.random.default_rng(3).standard_normal(tuple(yt.shape))
    if yt.numel() == 0:
        # torch's reflect/replicate backward of an empty result leaves its gradient uninitialised; it is zero
        assert not pad_adjoint(g, shape, pads_flat, mode).any()
        return
    yt.backward(torch.from_numpy(g))
    k = len(pads_flat) // 2
    assert_close(pad_adjoint(g, shape[len(shape) - max(k, 1) :], pads_flat, mode), xt.grad.numpy())
    assert_close(pad_adjoint(g, shape, pads_flat, mode), xt.grad.numpy())


def test_convmat_raises_where_torch_does():
    """Every call torch refuses convmat refuses with ValueError naming ``pad`` or ``mode``; every call torch
    computes convmat computes with the same numbers, except NOT_COMPARED (refused)."""
    rng = np.random.default_rng(12)
    for shape, pads_flat, mode in _random_calls(seed=13, count=4000):
        x = rng.standard_normal(shape)
        try:
            expected = _torch_pad(x, pads_flat, mode)
        except (RuntimeError, NotImplementedError, ValueError):
            expected = None
        if _torch_undefined(shape, pads_flat, mode):
            if expected is None or expected.size == 0:
                continue  # no number either way (convmat returns the empty result torch sometimes fails on)
            with pytest.raises(ValueError, match=r"^pad \(.*circular padding wraps around at most once"):
                pad(x, pads_flat, mode)
            continue
        if expected is None:
            with pytest.raises(ValueError, match=r"pad|mode"):
                pad(x, pads_flat, mode)
        else:
            assert np.array_equal(pad(x, pads_flat, mode), expected), (shape, pads_flat, mode)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("value", [0, 0.0, -0.0, False, None, 1.0, True, float("nan"), 2])
def test_value_rule_of_the_copying_modes(mode, value):
    x = np.ones((1, 3))
    try:
        expected = _torch_pad(x, (1, 1), mode, value)
    except RuntimeError:
        with pytest.raises(ValueError, match=rf"^value=.* mode {mode!r}"):
            pad(x, (1, 1), mode, value)
        return
    assert np.array_equal(pad(x, (1, 1), mode, value), expected)


@pytest.mark.parametrize("value", [1.5, -2, True, float("nan"), float("-inf")])
def test_constant_value_is_torch(value):
    x = np.arange(6.0).reshape(2, 3)
    assert_close(pad(x, (2, -1, 1, 0), value=value), _torch_pad(x, (2, -1, 1, 0), "constant", value))


@pytest.mark.parametrize("entries", [(1.0, 1), (True, 0), (1, "1"), (1, None)])
def test_pad_entries_must_be_ints_as_in_torch(entries):
    with pytest.raises(TypeError):
        _torch_pad(np.ones((1, 3)), entries, "constant")
    with pytest.raises(TypeError, match=r"^pad must be a tuple of ints"):
        pad(np.ones((1, 3)), entries)
    good = (np.int64(1), np.int32(2))  # any integer type, as torch takes
    assert np.array_equal(pad(np.ones((1, 3)), good), _torch_pad(np.ones((1, 3)), good, "constant"))
