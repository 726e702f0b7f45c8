"""Adaptive pooling as sparse matrices: the fixed averaging matrix ``A`` and the max-pooling selection ``S``.

Adaptive average pooling looks only at the sizes: its windows follow from the
input and output sizes, so it is one fixed matrix ``A`` per plane, whatever the
values (:func:`adaptive_avg_pool_matrix`). Adaptive max pooling selects, like
max pooling: ``y = S·x`` with one 1 per row of ``S``, at the window's switch
(:func:`adaptive_max_pool_matrix`), and its gradient is ``Sᵀ·dy``.
"""

from __future__ import annotations

from collections.abc import Sequence

import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array
from .adaptive_geometry import OutputSize, adaptive_pool_geometry, adaptive_pool_problem
from .adaptive_patterns import (
    adaptive_avg_geometry_size,
    adaptive_avg_plane_matrix,
    adaptive_max_geometry_size,
    adaptive_max_switches,
)
from .pool_matrices import selection_matrix
from .sizes import check_matrix_size, matrix_dtype

__all__ = ["adaptive_avg_pool_matrix", "adaptive_max_pool_matrix"]


def adaptive_avg_pool_matrix(
    input_spatial: Sequence[int], output_size: OutputSize, max_bytes: int | None = None
) -> sp.csr_array:
    """The fixed averaging matrix ``A`` of adaptive average pooling of one plane: ``y_plane = A·x_plane``.

    Adaptive pooling chooses its windows from the input and output sizes alone
    (PyTorch's rule: along an axis of ``n`` pooled to ``m``, window ``i`` covers
    ``[floor(i·n/m), ceil((i+1)·n/m))``), so it is a fixed linear map, the same
    for every plane of every sample. Row ``o`` holds ``1 / divisor`` at the
    input elements of window ``o``, the divisor being the window's number of
    elements. ``A`` is the Kronecker product of one such matrix per axis.

    Parameters
    ----------
    input_spatial : sequence of int
        Spatial shape of one plane (1 to 3 non-empty dims).
    output_size : int or sequence of int or None
        The output's spatial shape, an int for every dim or one entry per dim;
        ``None`` keeps that dim's input size.
    max_bytes : int, optional
        Refuse an ``A`` larger than this many bytes; by default
        :func:`convmat.get_matrix_limit` (see :func:`convmat.adaptive_avg_pool_matrix_size`).

    Returns
    -------
    scipy.sparse.csr_array, shape (prod(out), prod(input_spatial)), float64
        ``A @ x[n, c].ravel() == adaptive_avg_pool(x, output_size)[n, c].ravel()``,
        and ``A.T`` gives :func:`convmat.adaptive_avg_pool_backward`.

    Raises
    ------
    convmat.MatrixTooLargeError
        If ``A`` would take more than ``max_bytes``, before building it.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> cm.adaptive_avg_pool_matrix((5,), 3).toarray()  # windows [0, 2), [1, 4), [3, 5) overlap
    array([[0.5       , 0.5       , 0.        , 0.        , 0.        ],
           [0.        , 0.33333333, 0.33333333, 0.33333333, 0.        ],
           [0.        , 0.        , 0.        , 0.5       , 0.5       ]])
    >>> x = np.arange(20.0).reshape(1, 1, 4, 5)
    >>> A = cm.adaptive_avg_pool_matrix((4, 5), (2, 3))
    >>> bool(np.allclose(A @ x.ravel(), cm.adaptive_avg_pool(x, (2, 3)).ravel()))
    True
    """
    geom = adaptive_pool_geometry(input_spatial, output_size)
    check_matrix_size(adaptive_avg_geometry_size(geom), "adaptive_avg_pool_matrix: A", max_bytes)
    return adaptive_avg_plane_matrix(geom).copy()


def adaptive_max_pool_matrix(x: ArrayLike, output_size: OutputSize, max_bytes: int | None = None) -> sp.csr_array:
    """The 0/1 selection matrix ``S`` of adaptive max pooling ``x``: ``y = S·x``, ``dx = Sᵀ·dy``.

    Row ``r`` of ``S`` (the ``r``-th element of the flattened output) has a
    single 1, in the column of its window's switch, as
    :func:`convmat.adaptive_max_pool` finds it (ties to the first maximum in the
    window's row-major scan). Built directly in CSR form from the switches.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Real input, 1 to 3 spatial dims (complex raises ``TypeError``).
    output_size : int or sequence of int or None
        As in :func:`convmat.adaptive_max_pool`.
    max_bytes : int, optional
        Refuse an ``S`` larger than this many bytes (data + indices + indptr);
        by default :func:`convmat.get_matrix_limit`. Its size, one entry per
        output element, is :func:`convmat.adaptive_max_pool_matrix_size`.

    Returns
    -------
    scipy.sparse.csr_array, shape (N*C*prod(out), N*C*prod(spatial))
        Entries of the input's dtype (float32 stays float32, float16 becomes
        float32, integers give float64); int32 indices unless they overflow.

    Raises
    ------
    convmat.MatrixTooLargeError
        If ``S`` would take more than ``max_bytes``, before pooling.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[3.0, 1.0, 4.0, 1.0, 5.0]]])
    >>> S = cm.adaptive_max_pool_matrix(x, 3)  # windows [0, 2), [1, 4), [3, 5)
    >>> S.toarray()
    array([[1., 0., 0., 0., 0.],
           [0., 0., 1., 0., 0.],
           [0., 0., 0., 0., 1.]])
    >>> S @ x.ravel(), S.T @ np.ones(3)
    (array([3., 4., 5.]), array([1., 0., 1., 0., 1.]))
    """
    xa = as_array(x, "x", allow_complex=False)
    geom = adaptive_pool_problem(xa.shape, output_size)
    planes = xa.shape[0] * xa.shape[1]
    dtype = matrix_dtype(xa.dtype)
    check_matrix_size(adaptive_max_geometry_size(geom, planes, dtype), "adaptive_max_pool_matrix: S", max_bytes)
    _, switches = adaptive_max_switches(xa, geom)
    return selection_matrix(switches, geom.input_size, dtype)
