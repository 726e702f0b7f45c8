"""The gradient identities: each a second route to the gradients, and worked examples by hand."""

import numpy as np
import pytest
from conftest import GRID, GRID_IDS, assert_close, case_data
from reference import conv_input_grad_reference, conv_matrix_reference, conv_weight_grad_reference

import convmat as cm
from convmat.identities import input_grad_by_full_conv, insert_zeros, weight_grad_by_dilated_conv
from convmat.padding import pad_or_crop

ZERO_PADDED = [c for c in GRID if c.padding_mode == "zeros"]
ZERO_IDS = [i for c, i in zip(GRID, GRID_IDS, strict=True) if c.padding_mode == "zeros"]


def _geometry(case):
    return {"stride": case.stride, "padding": case.padding, "dilation": case.dilation, "groups": case.groups}


@pytest.mark.parametrize("case", ZERO_PADDED, ids=ZERO_IDS)
def test_input_grad_by_full_conv_matches_reference_and_matrix_route(case):
    x, w, _, dy = case_data(case)
    got = input_grad_by_full_conv(dy, w, x.shape, **_geometry(case))
    assert_close(got, conv_input_grad_reference(x.shape, w, dy, **case.kwargs))
    matrix = cm.conv_matrix(w, x.shape[1:], **_geometry(case))
    assert_close(got, (matrix.T @ dy.reshape(x.shape[0], matrix.shape[0]).T).T.reshape(x.shape))


@pytest.mark.parametrize("case", ZERO_PADDED, ids=ZERO_IDS)
def test_weight_grad_by_dilated_conv_matches_reference(case):
    x, w, _, dy = case_data(case)
    got = weight_grad_by_dilated_conv(x, dy, w.shape, **_geometry(case))
    assert_close(got, conv_weight_grad_reference(x, w.shape, dy, **case.kwargs))


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_identities_keep_dtype(dtype, rng):
    x = rng.standard_normal((2, 2, 6, 5)).astype(dtype)
    w = rng.standard_normal((3, 2, 3, 2)).astype(dtype)
    dy = rng.standard_normal((2, 3, 2, 2)).astype(dtype)
    dx = input_grad_by_full_conv(dy, w, x.shape, stride=2)
    dw = weight_grad_by_dilated_conv(x, dy, w.shape, stride=2)
    assert dx.dtype == dtype
    assert dw.dtype == dtype
    assert_close(dx, conv_input_grad_reference(x.shape, w, dy, stride=2), dtype)
    assert_close(dw, conv_weight_grad_reference(x, w.shape, dy, stride=2), dtype)


def test_insert_zeros_and_pad_or_crop():
    a = np.arange(1.0, 5.0).reshape(2, 2)
    assert insert_zeros(a, (2, 3)).tolist() == [[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]]
    assert pad_or_crop(np.arange(5.0), [(-2, 1)]).tolist() == [2, 3, 4, 0]
    assert pad_or_crop(np.ones((1, 2)), [(1, 0)]).shape == (1, 3)


def test_identity_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="grad_output"):
        input_grad_by_full_conv(np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), (1, 1, 4, 4))
    with pytest.raises(ValueError, match="grad_output"):
        weight_grad_by_dilated_conv(np.ones((1, 1, 4, 4)), np.ones((1, 2, 2, 2)), (1, 1, 3, 3))


def test_weight_grad_by_dilated_conv_empty_batch():
    dw = weight_grad_by_dilated_conv(np.ones((0, 2, 4)), np.ones((0, 3, 2)), (3, 2, 3))
    assert dw.shape == (3, 2, 3)
    assert not dw.any()


# --- worked examples by hand, entry by entry ------------------------------------------------------

W_4x4_3x3 = [
    "k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0 0 0 0 0",
    "0 k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0 0 0 0",
    "0 0 0 0 k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0",
    "0 0 0 0 0 k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33",
]
W_5x5_3x3_STRIDE2 = [
    "k11 k12 k13 0 0 k21 k22 k23 0 0 k31 k32 k33 0 0 0 0 0 0 0 0 0 0 0 0",
    "0 0 k11 k12 k13 0 0 k21 k22 k23 0 0 k31 k32 k33 0 0 0 0 0 0 0 0 0 0",
    "0 0 0 0 0 0 0 0 0 0 k11 k12 k13 0 0 k21 k22 k23 0 0 k31 k32 k33 0 0",
    "0 0 0 0 0 0 0 0 0 0 0 0 k11 k12 k13 0 0 k21 k22 k23 0 0 k31 k32 k33",
]


@pytest.mark.parametrize(
    ("size", "stride", "rows"), [(4, 1, W_4x4_3x3), (5, 2, W_5x5_3x3_STRIDE2)], ids=["4x4-s1", "5x5-s2"]
)
def test_worked_example_symbolic_matrix(size, stride, rows):
    symbols = cm.symbolic_conv_matrix((size, size), (3, 3), stride=stride)
    assert symbols.tolist() == [row.split() for row in rows]


@pytest.mark.parametrize(("size", "stride"), [(4, 1), (5, 2)], ids=["4x4-s1", "5x5-s2"])
def test_worked_example_numbers(size, stride, rng):
    kernel = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    labels = {f"k{r}{c}": kernel[0, 0, r - 1, c - 1] for r in (1, 2, 3) for c in (1, 2, 3)}
    symbols = cm.symbolic_conv_matrix((size, size), 3, stride=stride)
    expected = np.vectorize(lambda s: labels.get(s, 0.0))(symbols)
    matrix = cm.conv_matrix(kernel, (1, size, size), stride=stride)
    assert matrix.shape == (4, size * size)
    np.testing.assert_array_equal(matrix.toarray(), expected)
    # the input gradient: full conv of the zero-inserted gradient, padded by k-1 = 2, with the flipped kernel
    dy = rng.standard_normal((1, 1, 2, 2))
    padded = np.pad(insert_zeros(dy, (stride, stride))[0, 0], 2)
    assert padded.shape == (size + 2, size + 2)
    flipped = kernel[0, 0, ::-1, ::-1]
    by_hand = np.array([[np.sum(padded[i : i + 3, j : j + 3] * flipped) for j in range(size)] for i in range(size)])
    assert_close(by_hand, (matrix.T @ dy.ravel()).reshape(size, size))
    assert_close(by_hand, cm.conv_input_grad((1, 1, size, size), kernel, dy, stride=stride)[0, 0])


def test_conv_is_sparse_connections_and_shared_weights(rng):
    w = rng.standard_normal((1, 1, 3, 3))
    matrix = cm.conv_matrix(w, (1, 4, 4))
    assert matrix.nnz == 36
    assert set(np.round(matrix.data, 12)) == set(np.round(w.ravel(), 12))
    assert_close(matrix.toarray(), conv_matrix_reference(w, (1, 4, 4)))
