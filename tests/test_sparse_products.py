"""The sparse route's products on several threads: the same numbers as scipy.sparse's one-thread product."""

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import GRID, GRID_IDS, assert_close, case_data
from reference import conv_input_grad_reference, conv_reference, conv_weight_grad_reference

import convmat as cm
from convmat import sparse_products


@pytest.fixture
def every_product_threaded(monkeypatch):
    """Split even the smallest product: no work threshold."""
    monkeypatch.setattr(sparse_products, "MIN_WORK_PER_THREAD", 1)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_products_match_scipy(threads, every_product_threaded, rng):
    matrix = sp.random_array((50, 40), density=0.2, format="csr", rng=rng)
    matrix.data[:] = rng.standard_normal(matrix.nnz)
    x, y = rng.standard_normal((40, 6)), rng.standard_normal((50, 6))
    with cm.num_threads(threads):
        blocks = sparse_products._row_blocks(matrix, threads)
        got_x = sparse_products.matmul(matrix, x.T.copy().T)  # an F-ordered operand, as the route passes
        got_y = sparse_products.rmatmul(matrix, y)
    assert len(blocks) == threads
    assert sum(block.shape[0] for _, block in blocks) == matrix.shape[0]
    assert sum(block.nnz for _, block in blocks) == matrix.nnz
    np.testing.assert_array_equal(got_x, matrix @ x)  # row blocks: exactly the same sums
    np.testing.assert_allclose(got_y, matrix.T @ y, rtol=1e-13, atol=1e-13)


def test_more_threads_than_rows(every_product_threaded, rng):
    matrix = sp.csr_array(rng.standard_normal((2, 3)))
    with cm.num_threads(8):
        np.testing.assert_array_equal(sparse_products.matmul(matrix, np.eye(3)), matrix.toarray())
        np.testing.assert_allclose(sparse_products.rmatmul(matrix, np.eye(2)), matrix.T.toarray())


def test_small_products_stay_on_one_thread(rng):
    matrix = sp.csr_array(rng.standard_normal((4, 4)))
    with cm.num_threads(4):
        assert sparse_products._parts(matrix, 3) == 1


@pytest.mark.parametrize("index", range(0, len(GRID), 3), ids=GRID_IDS[::3])
def test_sparse_route_on_threads_matches_reference(index, every_product_threaded):
    case = GRID[index]
    x, w, b, dy = case_data(case, np.float64)
    with cm.num_threads(3):
        y = cm.conv(x, w, b, **case.kwargs, backend="sparse")
        gx = cm.conv_input_grad(case.x_shape, w, dy, **case.kwargs, backend="sparse")
        gw = cm.conv_weight_grad(x, case.w_shape, dy, **case.kwargs, backend="sparse")
    assert_close(y, conv_reference(x, w, b, **case.kwargs))
    assert_close(gx, conv_input_grad_reference(case.x_shape, w, dy, **case.kwargs))
    assert_close(gw, conv_weight_grad_reference(x, case.w_shape, dy, **case.kwargs))


def test_num_threads_setting():
    previous = cm.get_num_threads()
    assert previous >= 1
    with cm.num_threads(3):
        assert cm.get_num_threads() == 3
    assert cm.get_num_threads() == previous
    for bad, error in ((0, ValueError), (-2, ValueError), (2.0, TypeError), (True, TypeError), ("2", TypeError)):
        with pytest.raises(error, match=r"\bn\b"):
            cm.set_num_threads(bad)
    assert cm.get_num_threads() == previous
