"""Pooling as sparse matrices: the max-pooling selection ``S`` and the averaging matrix ``A``.

Max pooling *selects*: once the switches (the argmax of every window) are
known, the pooled output is ``y = S·x`` with a 0/1 matrix ``S`` that has one 1
per row, and the input gradient is ``dx = Sᵀ·dy``. ``S`` depends on the values
of ``x`` only through the switches. Average pooling is linear from the start:
one fixed matrix ``A`` of a plane, independent of the values, applied to every
plane; its gradient is ``Aᵀ``.

The switches come from :func:`convmat.pool_patterns.max_pool_switches`, the raw
material of both max-pooling routes: the direct one (:func:`convmat.max_pool`)
and the matrix one (:func:`max_pool_matrix`).
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array
from .geometry import IntOrTuple, PoolGeometry, check_divisor_override, pool_geometry, pool_problem
from .pool_patterns import avg_pool_plane_matrix, max_pool_switches
from .sizes import avg_pool_geometry_size, check_matrix_size, pool_geometry_size

__all__ = ["averaging_matrix", "avg_pool_matrix", "max_pool_matrix", "selection_matrix", "sparse_dtype"]


def sparse_dtype(dtype: np.dtype) -> np.dtype:
    """The real dtype a pooling matrix needs to keep ``dtype`` (scipy.sparse has no float16).

    Examples
    --------
    >>> sparse_dtype(np.dtype(np.complex64)), sparse_dtype(np.dtype(np.float16))
    (dtype('float32'), dtype('float32'))
    """
    return np.promote_types(np.finfo(dtype).dtype, np.float32)


def max_pool_matrix(
    x: ArrayLike,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    max_bytes: int | None = None,
) -> sp.csr_array:
    """The 0/1 selection matrix ``S`` of max pooling ``x``: ``y = S·x``, ``dx = Sᵀ·dy``.

    Row ``r`` of ``S`` (the ``r``-th element of the flattened output) has a
    single 1, in the column of the input element that is the maximum of that
    window: its switch. Built directly in CSR form from the switches.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Real input, 1 to 3 spatial dims (complex raises ``TypeError``).
    kernel_size, stride, padding, dilation, ceil_mode
        As in :func:`convmat.max_pool`.
    max_bytes : int, optional
        Refuse an ``S`` larger than this many bytes (data + indices + indptr);
        by default :func:`convmat.get_matrix_limit`. Its size, one entry per
        output element, is :func:`convmat.max_pool_matrix_size`.

    Returns
    -------
    scipy.sparse.csr_array, shape (N*C*prod(out), N*C*prod(spatial))
        Entries of the input's dtype (float32 stays float32, float16 becomes
        float32, integers give float64); int32 indices unless they overflow.

    Raises
    ------
    convmat.MatrixTooLargeError
        If ``S`` would take more than ``max_bytes``, before pooling.

    See Also
    --------
    convmat.max_pool, convmat.max_pool_backward : the direct routes.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[3.0, 1.0, 4.0, 1.0, 5.0]]])
    >>> S = cm.max_pool_matrix(x, 2, stride=1)
    >>> S.toarray()
    array([[1., 0., 0., 0., 0.],
           [0., 0., 1., 0., 0.],
           [0., 0., 1., 0., 0.],
           [0., 0., 0., 0., 1.]])
    >>> S @ x.ravel()
    array([3., 4., 4., 5.])
    >>> S.T @ np.ones(4)
    array([1., 0., 2., 0., 1.])
    """
    xa = as_array(x, "x", allow_complex=False)
    geom = pool_problem(xa.shape, kernel_size, stride, padding, dilation, ceil_mode)
    size = pool_geometry_size(geom, xa.shape[0] * xa.shape[1], sparse_dtype(xa.dtype))
    check_matrix_size(size, "max_pool_matrix: S", max_bytes)
    _, switches = max_pool_switches(xa, geom)
    return selection_matrix(switches, prod(geom.input_spatial), sparse_dtype(xa.dtype))


def selection_matrix(switches: np.ndarray, plane_size: int, dtype: np.dtype) -> sp.csr_array:
    """The 0/1 selection ``S`` of switches ``(N, C, *out)`` into planes of ``plane_size`` elements.

    Row ``r`` (the ``r``-th switch, C order) has its one 1 in the column of that
    switch's plane offset plus the switch. Built directly in CSR form; shared by
    max pooling and adaptive max pooling.

    Examples
    --------
    >>> selection_matrix(np.array([[[2, 0]]]), 3, np.dtype(np.float64)).toarray()
    array([[0., 0., 1.],
           [1., 0., 0.]])
    """
    planes = switches.shape[0] * switches.shape[1]
    rows, cols = switches.size, planes * plane_size
    index_dtype = sp.get_index_dtype(maxval=max(rows, cols))
    # [N*C, L] switches + [N*C, 1] plane offsets -> one global column per row
    offsets = np.arange(planes, dtype=np.int64)[:, None] * plane_size
    indices = (switches.reshape(planes, prod(switches.shape[2:])) + offsets).ravel().astype(index_dtype)
    indptr = np.arange(rows + 1, dtype=index_dtype)
    matrix = sp.csr_array((np.ones(rows, dtype=dtype), indices, indptr), shape=(rows, cols), copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def averaging_matrix(
    geom: PoolGeometry,
    count_include_pad: bool,
    dtype: np.dtype,
    max_bytes: int | None = None,
    what: str = "average pooling's plane matrix A",
    divisor_override: int | None = None,
) -> sp.csr_array:
    """The plane averaging matrix of a validated geometry, with entries of ``sparse_dtype(dtype)``.

    Shares the cached, read-only index arrays (and, for float64, the data).
    Refuses, like the builders, a matrix over ``max_bytes`` (default: the matrix limit).
    ``divisor_override`` (checked here) replaces every window's divisor; the
    divisor rule keys the cache, so ``count_include_pad`` is dropped from the key with it.
    """
    divisor = check_divisor_override(divisor_override)
    check_matrix_size(avg_pool_geometry_size(geom), what, max_bytes)
    include = True if divisor is not None else bool(count_include_pad)
    matrix = avg_pool_plane_matrix(geom, include, divisor)
    return matrix.astype(sparse_dtype(dtype), copy=False)


def avg_pool_matrix(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
    max_bytes: int | None = None,
) -> sp.csr_array:
    """The fixed averaging matrix ``A`` of one plane: ``y_plane = A·x_plane``, ``dx_plane = Aᵀ·dy_plane``.

    Average pooling does not depend on the values, so one matrix serves every
    plane of every sample. Row ``o`` holds ``1 / divisor`` at the input elements
    of window ``o``, with PyTorch's divisor: with ``count_include_pad`` the
    window's length within the padded input (padding counts, the ceil-mode
    overhang beyond the padding does not); without it, the number of input
    elements in the window; ``divisor_override`` for every window when given.

    Parameters
    ----------
    input_spatial : sequence of int
        Spatial shape of one plane (1 to 3 dims).
    kernel_size, stride, padding : int or tuple of int
        ``stride`` defaults to ``kernel_size``; padding at most half the kernel.
    ceil_mode : bool
        PyTorch's ceil mode: an extra window where the last one would start
        inside the input or its low padding.
    count_include_pad : bool
        Whether zero padding counts in the divisor.
    divisor_override : int, optional
        PyTorch's ``divisor_override``: a non-zero int (negative is fine) that
        every window divides by instead (``count_include_pad`` then plays no part).
    max_bytes : int, optional
        Refuse an ``A`` larger than this many bytes; by default
        :func:`convmat.get_matrix_limit` (see :func:`convmat.avg_pool_matrix_size`,
        the same for every divisor).

    Returns
    -------
    scipy.sparse.csr_array, shape (prod(out), prod(input_spatial)), float64

    Examples
    --------
    >>> import convmat as cm
    >>> cm.avg_pool_matrix((4,), 2).toarray()
    array([[0.5, 0.5, 0. , 0. ],
           [0. , 0. , 0.5, 0.5]])
    >>> cm.avg_pool_matrix((3,), 2, padding=1, count_include_pad=False).toarray()
    array([[1. , 0. , 0. ],
           [0. , 0.5, 0.5]])
    >>> cm.avg_pool_matrix((3,), 2, padding=1, divisor_override=4).toarray()
    array([[0.25, 0.  , 0.  ],
           [0.  , 0.25, 0.25]])
    """
    geom = pool_geometry(input_spatial, kernel_size, stride, padding, 1, ceil_mode)
    float64 = np.dtype(np.float64)
    return averaging_matrix(geom, count_include_pad, float64, max_bytes, "avg_pool_matrix: A", divisor_override).copy()
