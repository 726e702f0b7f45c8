"""Padding as a linear map: ``pad`` (PyTorch's ``F.pad``), its matrix ``P`` and its adjoint ``Pᵀ``.

A naive reference written from the definition, index by index, over a grid of
generated cases (1 to 3 padded dims, leading dims, negative pads, every mode,
odd sizes); ``pad_matrix`` against ``pad``; the adjoint identity and finite
differences for ``pad_adjoint``; the folded padding of ``conv_matrix`` as
``W_valid · P``; bad input and the matrix limit. Parity with PyTorch itself is
in ``test_pad_torch.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import assert_close
from pad_reference import GRID, GRID_IDS, MODES, pad_adjoint_reference, pad_reference, reference_valid

import convmat as cm
from convmat.pad import pad, pad_adjoint, pad_matrix
from convmat.patterns import padding_source_index


def test_the_reference_on_hand_worked_cases():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert pad_reference(x, (2, 1), "reflect").tolist() == [3, 2, 1, 2, 3, 4, 3]
    assert pad_reference(x, (2, 1), "replicate").tolist() == [1, 1, 1, 2, 3, 4, 4]
    assert pad_reference(x, (2, 1), "circular").tolist() == [3, 4, 1, 2, 3, 4, 1]
    assert pad_reference(x, (2, 1), value=9.0).tolist() == [9, 9, 1, 2, 3, 4, 9]
    assert pad_reference(x, (-1, 1), "circular").tolist() == [2, 3, 4, 2]  # crop, then wrap the rest
    assert pad_reference(x, (2, -1), "reflect").tolist() == [3, 2, 1, 2, 3]
    assert pad_reference(x[:3], (2, -1), "reflect").tolist() == [3, 2, 1, 2]  # copies the 3 that the crop removes
    assert pad_reference(x, (-3, 2), "replicate").tolist() == [4, 4, 4]
    assert pad_reference(np.arange(4.0).reshape(2, 2), (0, 0, 1, 0)).tolist() == [[0, 0], [0, 1], [2, 3]]


PLANES = [c for c in GRID if 1 <= len(c[1]) // 2 <= 3]


def _data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(("shape", "pads_flat", "mode"), GRID, ids=GRID_IDS)
def test_pad_is_the_reference(shape, pads_flat, mode):
    x = _data(shape)
    value = 2.5 if mode == "constant" else 0.0
    y = pad(x, pads_flat, mode, value=value)
    expected = pad_reference(x, pads_flat, mode, value)
    assert y.shape == expected.shape
    assert np.array_equal(y, expected)  # padding copies: exactly
    assert y.flags.c_contiguous
    assert not np.may_share_memory(y, x)


@pytest.mark.parametrize(("shape", "pads_flat", "mode"), GRID, ids=GRID_IDS)
def test_pad_adjoint_is_the_reference(shape, pads_flat, mode):
    x = _data(shape)
    g = _data(pad(x, pads_flat, mode).shape, seed=1)
    k = len(pads_flat) // 2
    spatial = shape[len(shape) - max(k, 1) :]
    assert_close(pad_adjoint(g, spatial, pads_flat, mode), pad_adjoint_reference(g, spatial, pads_flat, mode))
    assert pad_adjoint(g, shape, pads_flat, mode).shape == shape  # input_spatial may be the whole shape


@pytest.mark.parametrize(("shape", "pads_flat", "mode"), PLANES, ids=[GRID_IDS[GRID.index(c)] for c in PLANES])
def test_pad_matrix_is_pad_on_every_plane(shape, pads_flat, mode):
    k = len(pads_flat) // 2
    plane = shape[len(shape) - k :]
    x = _data(shape)
    y = pad(x, pads_flat, mode)
    P = pad_matrix(plane, pads_flat, mode)
    assert isinstance(P, sp.csr_array)
    assert P.shape == (int(np.prod(y.shape[len(shape) - k :])), int(np.prod(plane)))
    assert P.dtype == np.float64
    planes = x.reshape(-1, int(np.prod(plane)))
    assert np.array_equal((P @ planes.T).T.reshape(y.shape), y)
    dense = P.toarray()
    assert set(np.unique(dense)) <= {0.0, 1.0}
    assert (dense.sum(axis=1) <= 1).all()  # at most one 1 per row
    constant_rows = dense.sum(axis=1) == 0
    assert not constant_rows.any() or mode == "constant"


@pytest.mark.parametrize(("shape", "pads_flat", "mode"), PLANES, ids=[GRID_IDS[GRID.index(c)] for c in PLANES])
def test_adjoint_identity(shape, pads_flat, mode):
    """``<P a, h> == <a, Pᵀ h>`` and ``pad_adjoint`` is ``P.T @`` plane by plane."""
    k = len(pads_flat) // 2
    plane = shape[len(shape) - k :]
    P = pad_matrix(plane, pads_flat, mode)
    a = _data(shape, seed=2)
    h = _data(pad(a, pads_flat, mode).shape, seed=3)
    back = pad_adjoint(h, plane, pads_flat, mode)
    assert np.isclose(np.vdot(pad(a, pads_flat, mode), h), np.vdot(a, back), rtol=1e-12, atol=1e-12)
    planes = h.reshape(int(np.prod(shape[: len(shape) - k])), P.shape[0])
    assert_close((P.T @ planes.T).T.reshape(shape), back)


def test_a_plane_with_unpadded_dims():
    x = _data((2, 3, 4, 5))
    P = pad_matrix((3, 4, 5), (1, 2), "reflect")  # pads only the last of the plane's three dims
    y = pad_reference(x, (1, 2), "reflect")  # F.pad refuses a 4-d x with one padded dim; the plane map is fine
    assert np.array_equal((P @ x.reshape(2, -1).T).T.reshape(y.shape), y)
    h = _data(y.shape, seed=1)
    assert_close(pad_adjoint(h, (3, 4, 5), (1, 2), "reflect"), (P.T @ h.reshape(2, -1).T).T.reshape(x.shape))


@pytest.mark.parametrize("mode", MODES)
def test_pad_adjoint_is_the_gradient_by_finite_differences(mode):
    """``pad_adjoint(h)`` is the gradient of ``f(x) = sum(h * pad(x))`` (central differences, every element)."""
    pads_flat = (2, -1, 1, 2) if mode != "circular" else (2, -1, 1, 1)
    x = _data((1, 2, 3, 4))
    h = _data(pad(x, pads_flat, mode).shape, seed=1)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        numeric[index] = (np.sum(h * pad(x + step, pads_flat, mode)) - np.sum(h * pad(x - step, pads_flat, mode))) / (
            2 * eps
        )
    assert_close(pad_adjoint(h, x.shape[2:], pads_flat, mode), numeric, rtol=1e-8)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_folded_padding_of_w_is_w_valid_times_p(mode):
    """The convolution's folded padding is this ``P``: ``W(padding=p, mode) == W_valid(padded) @ P``."""
    w = _data((2, 3, 3, 2))
    P = pad_matrix((5, 4), (1, 1, 2, 2), mode)
    blocks = sp.block_diag([P] * 3, format="csr")  # P on each of the 3 input channels
    W_valid = cm.conv_matrix(w, (3, 9, 6))
    W_mode = cm.conv_matrix(w, (3, 5, 4), padding=(2, 1), padding_mode=mode)
    assert_close((W_valid @ blocks).toarray(), W_mode.toarray())


def test_constant_is_the_zeros_of_the_index_maps():
    for size, low, high in [(4, 2, 1), (3, -1, 2), (5, -2, -2), (2, 0, 3)]:
        expected = padding_source_index(size, low, high, "zeros")
        assert np.array_equal(padding_source_index(size, low, high, "constant"), expected)


# ---------------------------------------------------------------------------
# dtypes, values and what is returned
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.complex64, np.complex128])
def test_dtype_is_kept(dtype):
    x = (_data((2, 3, 4)) + (1j if np.dtype(dtype).kind == "c" else 0)).astype(dtype)
    for mode in MODES:
        y = pad(x, (1, 2, 1, 1), mode)
        assert y.dtype == dtype
        assert np.array_equal(y, pad_reference(x, (1, 2, 1, 1), mode))
        assert pad_adjoint(y, x.shape[1:], (1, 2, 1, 1), mode).dtype == dtype


def test_integers_promote_to_float64_and_value_is_written():
    y = pad(np.arange(3), (1, 1), value=-1)
    assert y.dtype == np.float64
    assert y.tolist() == [-1.0, 0.0, 1.0, 2.0, -1.0]
    assert pad(np.ones(2), (1, 0), value=np.nan)[0] != pad(np.ones(2), (1, 0), value=np.nan)[0]
    assert pad(np.ones(2), (1, 0), value=True).tolist() == [1.0, 1.0, 1.0]
    assert pad(np.ones(2), (1, 0), value=None).tolist() == [0.0, 1.0, 1.0]  # None is 0, as in PyTorch
    assert pad(np.ones((1, 2)), (1, 0), "reflect", value=0).tolist() == [[1.0, 1.0, 1.0]]  # 0 is no value
    assert pad(np.ones((1, 2)), (1, 0), "replicate", value=None).tolist() == [[1.0, 1.0, 1.0]]


def test_nothing_padded_or_only_cropped_is_a_new_array():
    x = _data((2, 3, 4))
    for pads_flat in [(), (0, 0), (0, 0, 0, 0), (-1, 0, 0, -1), (0, 0, -1, 0)]:
        y = pad(x, pads_flat)
        assert not np.may_share_memory(y, x)
        assert y.flags.c_contiguous
        assert np.array_equal(y, pad_reference(x, pads_flat))
    assert pad_matrix((3, 4), ()).toarray().tolist() == np.eye(12).tolist()
    assert not np.may_share_memory(pad_adjoint(x, (4,), (0, 0)), x)


def test_empty_results_and_batches():
    assert pad(np.ones((2, 3)), (-2, -1)).shape == (2, 0)
    assert pad(np.ones((2, 0, 3)), (1, 1), "circular").shape == (2, 0, 5)  # circular allows empty dims
    assert pad(np.ones((0, 2, 3)), (1, 1), "reflect").shape == (0, 2, 5)  # an empty batch is fine
    assert pad(np.ones((2, 0)), (1, 1)).tolist() == [[0.0, 0.0], [0.0, 0.0]]  # constant pads an empty dim
    assert pad(np.ones((1, 2, 4, 3)), (-3, 0, 0, 0), "reflect").shape == (1, 2, 4, 0)  # one of two dims empty
    assert pad_matrix((3,), (-3, 0), "circular").shape == (0, 3)
    assert pad_adjoint(np.ones((2, 0)), (3,), (-3, 0), "circular").tolist() == [[0.0] * 3] * 2


def test_pad_matrix_index_pattern_is_cached_and_read_only():
    cm.clear_cache()
    P1 = pad_matrix((6, 7), (1, 2, 3, 0), "reflect")
    P2 = pad_matrix((6, 7), (1, 2, 3, 0), "reflect")
    assert np.shares_memory(P1.indices, P2.indices)
    assert not P1.indices.flags.writeable
    assert not np.shares_memory(P1.data, P2.data)  # the values are the matrix's own
    assert cm.cache_info().patterns > 0


# ---------------------------------------------------------------------------
# bad input: the argument named, ValueError or TypeError
# ---------------------------------------------------------------------------

BAD_PAD = {
    "pad an int": (lambda: pad(np.ones((2, 3)), 1), TypeError, r"^pad must be a tuple of ints"),
    "pad a string": (lambda: pad(np.ones((2, 3)), "11"), TypeError, r"^pad must be a tuple of ints"),
    "pad an array": (lambda: pad(np.ones((2, 3)), np.array([1, 1])), TypeError, r"^pad must be a tuple"),
    "pad float entry": (lambda: pad(np.ones((2, 3)), (1.0, 1)), TypeError, r"^pad must be a tuple of ints.*float"),
    "pad bool entry": (lambda: pad(np.ones((2, 3)), (True, 0)), TypeError, r"^pad .*bool"),
    "pad odd": (lambda: pad(np.ones((2, 3)), (1, 1, 1)), ValueError, r"^pad must have an even number"),
    "pad too long": (lambda: pad(np.ones(3), (1, 1, 1, 1)), ValueError, r"^pad has 4 entries .* x of shape \(3,\)"),
    "mode unknown": (lambda: pad(np.ones((2, 3)), (1, 1), "zeros"), ValueError, r"^mode must be one of 'constant'"),
    "mode not str": (lambda: pad(np.ones((2, 3)), (1, 1), None), TypeError, r"^mode must be one of"),
    "value complex": (lambda: pad(np.ones((2, 3)), (1, 1), value=1j), TypeError, r"^value must be a real number"),
    "value str": (lambda: pad(np.ones((2, 3)), (1, 1), value="1"), TypeError, r"^value must be a real number"),
    "value with reflect": (lambda: pad(np.ones((2, 3)), (1, 1), "reflect", 1.0), ValueError, r"^value=1.0 .*'reflect'"),
    "value nan with circular": (
        lambda: pad(np.ones((2, 3)), (1, 1), "circular", np.nan),
        ValueError,
        r"^value=nan",
    ),
    "x not numeric": (lambda: pad(np.array(["a"]), (1, 1)), TypeError, r"^x must have a numeric dtype"),
    "reflect pad = size": (
        lambda: pad(np.ones((1, 3)), (3, 0), "reflect"),
        ValueError,
        r"^pad \(3, 0\) of dim 1 of x of shape \(1, 3\): reflect padding must be smaller",
    ),
    "reflect negative side too": (lambda: pad(np.ones((1, 3)), (-1, 3), "reflect"), ValueError, r"smaller than"),
    "circular twice": (
        lambda: pad(np.ones((1, 3)), (4, 0), "circular"),
        ValueError,
        r"^pad \(4, 0\) of dim 1 of x of shape \(1, 3\): circular padding wraps around at most once",
    ),
    "circular past the crop": (lambda: pad(np.ones((1, 3)), (-2, 2), "circular"), ValueError, r"at most the 1"),
    "constant over-crop": (
        lambda: pad(np.ones((1, 3)), (1, -4)),
        ValueError,
        r"^pad \(1, -4\) of dim 1 of x of shape \(1, 3\) crops 4 elements, but the dim has only 3",
    ),
    "negative result": (lambda: pad(np.ones((1, 4)), (-5, 0), "replicate"), ValueError, r"leaves -1 elements"),
    "replicate 1-d empty": (
        lambda: pad(np.ones((1, 4)), (-4, 0), "replicate"),
        ValueError,
        r"leaves every padded dim empty \(0,\); mode 'replicate'",
    ),
    "reflect all empty": (
        lambda: pad(np.ones((1, 4, 4)), (-2, -2, -4, 0), "reflect"),
        ValueError,
        r"every padded dim empty \(0, 0\)",
    ),
    "reflect empty dim": (lambda: pad(np.ones((1, 0)), (0, 0), "reflect"), ValueError, r"needs every dim of x non-"),
    "replicate empty channel": (
        lambda: pad(np.ones((2, 0, 3)), (1, 1), "replicate"),
        ValueError,
        r"needs every dim of x non-empty but a leading batch dim",
    ),
    "reflect 1-d x": (
        lambda: pad(np.ones(3), (1, 1), "reflect"),
        ValueError,
        r"^mode 'reflect' pads the last 1 to 3 dims .* got 2 pad entries for x of shape \(3,\)",
    ),
    "circular 4-d x one dim": (lambda: pad(np.ones((1, 1, 2, 3)), (1, 1), "circular"), ValueError, r"1 to 3 dims"),
    "replicate four dims": (
        lambda: pad(np.ones((1, 1, 2, 2, 2, 2)), (1,) * 8, "replicate"),
        ValueError,
        r"got 8 pad entries",
    ),
    "reflect no pad": (lambda: pad(np.ones((2, 3)), (), "reflect"), ValueError, r"got 0 pad entries"),
}

BAD_MATRIX = {
    "input_spatial rank 0": (lambda: pad_matrix((), ()), ValueError, r"^input_spatial must have 1 to 3 spatial dims"),
    "input_spatial rank 4": (lambda: pad_matrix((2,) * 4, (1, 1)), ValueError, r"^input_spatial must have 1 to 3"),
    "input_spatial negative": (lambda: pad_matrix((-2, 3), (1, 1)), ValueError, r"^input_spatial must have non-neg"),
    "input_spatial floats": (lambda: pad_matrix((2.0, 3), (1, 1)), TypeError, r"^input_spatial must be a tuple"),
    "pad too long": (lambda: pad_matrix((3,), (1, 1, 1, 1)), ValueError, r"input_spatial \(3,\) has 1 dim"),
    "mode unknown": (lambda: pad_matrix((3,), (1, 1), "wrap"), ValueError, r"^mode must be one of"),
    "reflect too far": (lambda: pad_matrix((3, 2), (2, 0), "reflect"), ValueError, r"input_spatial \(3, 2\): reflect"),
    "replicate empty dim": (lambda: pad_matrix((0,), (1, 1), "replicate"), ValueError, r"cannot pad an empty dim"),
    "max_bytes float": (lambda: pad_matrix((3,), (1, 1), max_bytes=1.5e9), TypeError, r"^max_bytes must be an int"),
    "max_bytes zero": (lambda: pad_matrix((3,), (1, 1), max_bytes=0), ValueError, r"^max_bytes must be positive"),
}

BAD_ADJOINT = {
    "grad shape": (
        lambda: pad_adjoint(np.ones((2, 5)), (4,), (1, 1)),
        ValueError,
        r"^grad has shape \(2, 5\), expected \(\*leading, \*\(6,\)\)",
    ),
    "grad too few dims": (lambda: pad_adjoint(np.ones(6), (2, 4), (1, 1)), ValueError, r"^grad has shape \(6,\)"),
    "grad not numeric": (lambda: pad_adjoint(np.array(["a"]), (1,), ()), TypeError, r"^grad must have a numeric"),
    "input_spatial empty": (lambda: pad_adjoint(np.ones(3), (), ()), ValueError, r"^input_spatial must have at least"),
    "input_spatial a number": (lambda: pad_adjoint(np.ones(3), 3, ()), TypeError, r"^input_spatial must be a tuple"),
    "pad odd": (lambda: pad_adjoint(np.ones(3), (3,), (1,)), ValueError, r"^pad must have an even number"),
    "reflect empty dim": (lambda: pad_adjoint(np.ones(2), (0,), (1, 1), "reflect"), ValueError, r"^pad \(1, 1\)"),
    "circular wraps": (lambda: pad_adjoint(np.ones(10), (3,), (4, 3), "circular"), ValueError, r"wraps around"),
}


@pytest.mark.parametrize("name", sorted(BAD_PAD))
def test_bad_pad_calls(name):
    call, error, message = BAD_PAD[name]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name", sorted(BAD_MATRIX))
def test_bad_pad_matrix_calls(name):
    call, error, message = BAD_MATRIX[name]
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name", sorted(BAD_ADJOINT))
def test_bad_pad_adjoint_calls(name):
    call, error, message = BAD_ADJOINT[name]
    with pytest.raises(error, match=message):
        call()


def test_convmat_accepts_exactly_the_reference_rules():
    """Over random calls, valid or not: convmat raises ValueError exactly where the written-out rules refuse."""
    rng = np.random.default_rng(5)
    for _ in range(3000):
        mode = MODES[int(rng.integers(0, 4))]
        shape = tuple(int(s) for s in rng.integers(0, 5, int(rng.integers(1, 6))))
        pads_flat = tuple(int(v) for v in rng.integers(-5, 6, 2 * int(rng.integers(0, 4))))
        if reference_valid(shape, pads_flat, mode):
            y = pad(np.ones(shape), pads_flat, mode)
            assert y.shape == pad_reference(np.ones(shape), pads_flat, mode).shape
        else:
            with pytest.raises(ValueError, match=r"pad|mode"):
                pad(np.ones(shape), pads_flat, mode)


# ---------------------------------------------------------------------------
# the matrix limit
# ---------------------------------------------------------------------------


def test_pad_matrix_size_is_exact_and_refused_past_the_limit():
    P = pad_matrix((20, 30), (2, 3, 1, 1), "reflect")
    nbytes = P.data.nbytes + P.indices.nbytes + P.indptr.nbytes
    assert pad_matrix((20, 30), (2, 3, 1, 1), "reflect", max_bytes=nbytes).nnz == P.nnz
    with pytest.raises(cm.MatrixTooLargeError, match=r"^pad_matrix: P would be 770 x 600 with 770 stored entries"):
        pad_matrix((20, 30), (2, 3, 1, 1), "reflect", max_bytes=nbytes - 1)
    Z = pad_matrix((20, 30), (2, 3, 1, 1))  # constant: no entries in the padded rows
    assert Z.nnz == 600
    assert pad_matrix((20, 30), (2, 3, 1, 1), max_bytes=Z.data.nbytes + Z.indices.nbytes + Z.indptr.nbytes).nnz == 600


def test_pad_matrix_refuses_before_allocating():
    with cm.matrix_limit(2**20), pytest.raises(cm.MatrixTooLargeError, match=r"pad_matrix: P .* over the matrix limit"):
        pad_matrix((512, 512), (1, 1, 1, 1), "replicate")
    with pytest.raises(MemoryError, match=r"convmat.pad and convmat.pad_adjoint apply P"):
        pad_matrix((4096, 4096), (1, 1, 1, 1), "circular", max_bytes=2**20)
