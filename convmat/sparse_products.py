"""Products with the explicit ``W`` on several threads: ``W @ X`` and ``Wᵀ @ Y`` by row blocks of ``W``.

scipy.sparse multiplies a CSR matrix by a dense block on one thread, and releases
the GIL while it does. Splitting the rows of ``W`` into blocks of equal ``nnz``
(views of its arrays, nothing copied) lets the blocks run side by side:

* ``W @ X``: each block computes its own rows of the result, exactly as the
  whole product would;
* ``Wᵀ @ Y``: each block ``b`` gives ``W_bᵀ @ Y_b`` over its rows of ``Y``, and
  the partial products are summed.

The number of threads is :func:`convmat.get_num_threads` (the pool of
:mod:`convmat.parallel`); products too small to pay for a thread run on one.
"""

from __future__ import annotations

import itertools

import numpy as np
import scipy.sparse as sp

from .parallel import map_blocks, thread_count

__all__ = ["MIN_WORK_PER_THREAD", "matmul", "rmatmul"]

#: Multiply-adds (``nnz`` times the columns of the dense block) below which a further thread does not pay for
#: itself (starting one costs about 0.1 ms).
MIN_WORK_PER_THREAD = 2_000_000


def _parts(matrix: sp.csr_array, columns: int) -> int:
    return thread_count(matrix.shape[0], matrix.nnz * columns, MIN_WORK_PER_THREAD)


def _row_blocks(matrix: sp.csr_array, parts: int) -> list[tuple[slice, sp.csr_array]]:
    """``parts`` row blocks of ``matrix`` with about equal ``nnz``, as CSR views of its arrays."""
    indptr = matrix.indptr
    targets = np.linspace(0, matrix.nnz, parts + 1)[1:-1]
    bounds = [0, *np.searchsorted(indptr, targets).tolist(), matrix.shape[0]]
    blocks = []
    for r0, r1 in itertools.pairwise(bounds):
        if r1 <= r0:
            continue
        a, b = indptr[r0], indptr[r1]
        block = sp.csr_array(
            (matrix.data[a:b], matrix.indices[a:b], indptr[r0 : r1 + 1] - a),
            shape=(r1 - r0, matrix.shape[1]),
            copy=False,
        )
        block.has_sorted_indices = matrix.has_sorted_indices
        blocks.append((slice(r0, r1), block))
    return blocks


def matmul(matrix: sp.csr_array, dense: np.ndarray) -> np.ndarray:
    """``matrix @ dense`` for a 2-D ``dense``, the row blocks of ``matrix`` on several threads.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_array(np.arange(6.0).reshape(2, 3))
    >>> matmul(W, np.ones((3, 2)))
    array([[ 3.,  3.],
           [12., 12.]])
    """
    parts = _parts(matrix, dense.shape[1])
    if parts == 1:
        return matrix @ dense
    dense = np.ascontiguousarray(dense)  # once here, not once per block inside scipy
    blocks = _row_blocks(matrix, parts)
    out = np.empty((matrix.shape[0], dense.shape[1]), dtype=np.result_type(matrix.dtype, dense.dtype))

    def run(rows: slice, block: sp.csr_array) -> None:
        out[rows] = block @ dense

    map_blocks(run, blocks)
    return out


def rmatmul(matrix: sp.csr_array, dense: np.ndarray) -> np.ndarray:
    """``matrix.T @ dense`` for a 2-D ``dense``: the row blocks' partial products, summed.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> W = sp.csr_array(np.arange(6.0).reshape(2, 3))
    >>> rmatmul(W, np.ones((2, 1)))
    array([[3.],
           [5.],
           [7.]])
    """
    parts = _parts(matrix, dense.shape[1])
    if parts == 1:
        return matrix.T @ dense
    dense = np.ascontiguousarray(dense)
    blocks = _row_blocks(matrix, parts)
    partials = map_blocks(lambda rows, block: block.T @ dense[rows], blocks)
    total = partials[0]
    for partial in partials[1:]:
        total += partial
    return total
