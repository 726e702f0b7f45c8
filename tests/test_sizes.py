"""Size before you build: every size computed from the geometry equals the built matrix's.

``conv_matrix_size`` against ``conv_matrix`` over the whole geometry grid (every
padding mode, groups, dilation, stride, 1-3 d) and a generated grid of larger
folded geometries; the pooling sizes against ``max_pool_matrix`` /
``avg_pool_matrix``; the patch-selection size against the matrix itself.
"""

import itertools

import numpy as np
import pool_reference as pr
import pytest
from conftest import GRID, GRID_IDS, MODES, case_data

import convmat as cm
from convmat.geometry import conv_problem
from convmat.patterns import patch_selection_matrix
from convmat.sizes import csr_size, patch_selection_size, plane_nnz


def _bytes(matrix):
    return matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes


def _assert_size(size, matrix):
    assert size.shape == matrix.shape
    assert size.nnz == matrix.nnz
    assert size.nbytes == _bytes(matrix)


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_conv_matrix_size_equals_the_built_matrix(case, dtype):
    _, w, _, _ = case_data(case, dtype, bias=False)
    size = cm.conv_matrix_size(w.shape, case.x_shape[1:], **case.kwargs, dtype=dtype)
    _assert_size(size, cm.conv_matrix(w, case.x_shape[1:], **case.kwargs))


def _folded_grid():
    """Larger geometries than the main grid, where folded padding makes taps share entries in many ways."""
    rng = np.random.default_rng(5)
    cases = []
    for ndim, mode in itertools.product((1, 2, 3), MODES):
        for _ in range(3):
            spatial = tuple(int(v) for v in rng.integers(3, {1: 40, 2: 12, 3: 6}[ndim], size=ndim))
            kernel = tuple(int(v) for v in rng.integers(1, min(spatial) + 1, size=ndim))
            dilation = tuple(int(v) for v in rng.integers(1, 3, size=ndim))
            stride = tuple(int(v) for v in rng.integers(1, 4, size=ndim))
            pad_max = [s - 1 if mode == "reflect" else s for s in spatial]
            padding = tuple(int(rng.integers(0, p + 1)) for p in pad_max)
            try:
                conv_problem((1, 2, *spatial), (3, 2, *kernel), stride, padding, dilation, 1, mode)
            except ValueError:
                continue
            cases.append((spatial, kernel, stride, padding, dilation, mode))
    return cases


@pytest.mark.parametrize(("spatial", "kernel", "stride", "padding", "dilation", "mode"), _folded_grid())
def test_conv_matrix_size_of_folded_geometries(spatial, kernel, stride, padding, dilation, mode):
    w = np.random.default_rng(0).uniform(1, 2, (3, 2, *kernel))  # no zeros, no cancelling folded sums
    kwargs = {"stride": stride, "padding": padding, "dilation": dilation, "padding_mode": mode}
    size = cm.conv_matrix_size(w.shape, (2, *spatial), **kwargs)
    _assert_size(size, cm.conv_matrix(w, (2, *spatial), **kwargs))


def test_conv_matrix_size_counts_structure_not_kernel_zeros():
    """A kernel with zeros stores fewer entries: the size is then an upper bound."""
    w = np.ones((2, 2, 3, 3))
    w[:, :, 1, 1] = 0.0
    size = cm.conv_matrix_size(w.shape, (2, 6, 6))
    assert cm.conv_matrix(w, (2, 6, 6)).nnz == size.nnz - 2 * 2 * 16


def test_conv_matrix_size_dtypes_and_index_width():
    shape = (4, 4, 3, 3)
    f64 = cm.conv_matrix_size(shape, (4, 8, 8))
    f32 = cm.conv_matrix_size(shape, (4, 8, 8), dtype=np.float32)
    f16 = cm.conv_matrix_size(shape, (4, 8, 8), dtype="float16")
    integer = cm.conv_matrix_size(shape, (4, 8, 8), dtype=np.int16)
    assert f64.nnz == f32.nnz == f16.nnz
    assert f64.nbytes - f32.nbytes == 4 * f64.nnz
    assert f16 == f32  # scipy.sparse holds float16 as float32, as conv_matrix does
    assert integer == f64
    assert cm.conv_matrix(np.ones(shape, np.float16), (4, 8, 8)).dtype == np.float32
    # past int32, the indices widen, as scipy's get_index_dtype says
    big = cm.conv_matrix_size((512, 512, 3, 3), (512, 56, 56), padding=1)
    assert big.nnz > np.iinfo(np.int32).max
    assert big.nbytes == csr_size(big.shape, big.nnz, np.float64).nbytes
    assert big.nbytes == big.nnz * 16 + (big.shape[0] + 1) * 8
    with pytest.raises(TypeError, match="dtype"):
        cm.conv_matrix_size(shape, (4, 8, 8), dtype="U3")


def test_conv_matrix_size_of_a_real_layer():
    """ResNet's 256-channel 3x3 layer on 56x56, as a user would ask before building it."""
    size = cm.conv_matrix_size((256, 256, 3, 3), (256, 56, 56), padding=1)
    assert size.shape == (256 * 56 * 56, 256 * 56 * 56)
    assert size.nnz == 256 * 256 * (3 * 56 - 2) ** 2
    assert size.gib == pytest.approx(size.nbytes / 2**30)


def test_conv_matrix_size_validates_like_conv_matrix():
    with pytest.raises(ValueError, match="input_shape"):
        cm.conv_matrix_size((4, 2, 3, 3), (3, 8, 8))
    with pytest.raises(ValueError, match="groups"):
        cm.conv_matrix_size((4, 2, 3, 3), (4, 8, 8), groups=3)
    with pytest.raises(ValueError, match="padding_mode"):
        cm.conv_matrix_size((4, 2, 3, 3), (2, 8, 8), padding_mode="mirror")
    with pytest.raises(TypeError, match="weight_shape"):
        cm.conv_matrix_size("4x2x3x3", (2, 8, 8))


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_plane_and_patch_selection_sizes(case):
    geom, _ = conv_problem(case.x_shape, case.w_shape, **case.kwargs)
    w = np.ones((1, 1, *case.w_shape[2:]))
    assert plane_nnz(geom) == cm.conv_matrix(w, (1, *case.x_shape[2:]), **{**case.kwargs, "groups": 1}).nnz
    _assert_size(patch_selection_size(geom), patch_selection_matrix(geom))


NONEMPTY = [(c, i) for c, i in zip(pr.GRID, pr.GRID_IDS, strict=True) if 0 not in c.x_shape]


@pytest.mark.parametrize("case", [c for c, _ in NONEMPTY], ids=[i for _, i in NONEMPTY])
def test_max_pool_matrix_size_equals_the_built_matrix(case):
    x = pr.case_data(case)[0]
    for dtype in (np.float64, np.float32, np.float16):
        size = cm.max_pool_matrix_size(case.x_shape, **case.kwargs, dtype=dtype)
        _assert_size(size, cm.max_pool_matrix(x.astype(dtype), **case.kwargs))


@pytest.mark.parametrize("case", pr.AVG_GRID, ids=pr.AVG_IDS)
def test_avg_pool_matrix_size_equals_the_built_matrix(case):
    spatial = case.x_shape[2:]
    for include in (True, False):
        matrix = cm.avg_pool_matrix(spatial, **case.avg_kwargs, count_include_pad=include)
        _assert_size(cm.avg_pool_matrix_size(spatial, **case.avg_kwargs), matrix)
