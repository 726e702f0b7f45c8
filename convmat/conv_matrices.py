"""The convolution matrix ``W``: kernel values poured into a cached index pattern.

``W`` maps one flattened input sample to its flattened output,
``y[n].ravel() == W @ x[n].ravel()``. For zero padding it is doubly (triply)
block-Toeplitz; for circular padding and stride 1 it is block-circulant; reflect
and replicate padding fold extra kernel values into the border columns. In every
mode ``W`` is the exact Jacobian of the convolution with respect to its input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array
from .geometry import ConvGeometry, IntOrTuple, Padding, PaddingMode, check_shape, conv_problem
from .patterns import axis_reads, conv_matrix_pattern
from .sizes import check_matrix_size, geometry_matrix_size, matrix_dtype

__all__ = ["conv_matrix", "conv_matrix_block", "matrix_for_geometry"]


#: Ways on, in the refusal of a ``W`` over the bound, for the routes that would build it.
ROUTE_WAYS = "backend='im2col' computes the same numbers without W; "


def matrix_for_geometry(
    weight: np.ndarray,
    geom: ConvGeometry,
    groups: int,
    max_bytes: int | None = None,
    what: str = "conv_matrix: W",
    ways: str = "",
) -> sp.csr_array:
    """Build ``W`` for an already validated geometry (see :func:`conv_matrix`).

    Its size is computed from the geometry first: a ``W`` over ``max_bytes`` (or
    the matrix limit) raises :class:`convmat.MatrixTooLargeError` naming ``what``
    before anything is allocated. The cached pattern supplies
    ``indptr``/``indices``; only ``data`` is computed, by one gather from the
    kernel (plus one small sparse product that sums the folded taps for non-zero
    padding modes). float16 kernels give float32 entries (scipy.sparse holds no
    float16).
    """
    c_out, cin_g = weight.shape[:2]
    dtype = matrix_dtype(weight.dtype)
    check_matrix_size(geometry_matrix_size(geom, cin_g * groups, c_out, groups, dtype), what, max_bytes, ways=ways)
    weight = weight.astype(dtype, copy=False)
    pattern = conv_matrix_pattern(geom, cin_g * groups, c_out, groups)
    if pattern.folded:
        # [plane_nnz, K] @ [K, C_out * cin_g] -> entry values of every (co, ci) plane
        entry_values = pattern.plane.fold_matrix() @ weight.reshape(c_out * cin_g, -1).T
        source = entry_values.T.reshape(c_out, cin_g * pattern.plane.nnz)
    else:
        source = weight.reshape(c_out, cin_g * geom.kernel_numel)
    data = np.take(source, pattern.data_index, axis=1).ravel()
    indices, indptr = pattern.indices, pattern.indptr
    # data only repeats values of the (small) source: look for zeros there, not in all nnz entries
    if np.count_nonzero(source) != source.size and np.count_nonzero(data) != data.size:
        # A kernel value that is exactly zero (or folded taps that cancel): drop those entries.
        keep = data != 0
        row_of_entry = np.repeat(np.arange(pattern.shape[0]), np.diff(indptr))
        indptr = np.zeros_like(indptr)
        np.cumsum(np.bincount(row_of_entry[keep], minlength=pattern.shape[0]), out=indptr[1:])
        data, indices = data[keep], indices[keep]
    matrix = sp.csr_array((data, indices, indptr), shape=pattern.shape, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def conv_matrix(
    weight: ArrayLike,
    input_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    max_bytes: int | None = None,
) -> sp.csr_array:
    """The sparse convolution matrix ``W`` of one sample.

    ``W`` stores ``C_out · C_in/groups · ∏_d pairs_d`` entries, where ``pairs_d``
    counts, along spatial axis ``d``, the (output, input) position pairs some
    kernel tap connects; with zero padding and no tap in the padding that is
    ``C_out · C_in/groups · prod(kernel) · prod(out)``. It grows with the product
    of the channels and the plane: one ResNet layer, 256 → 256 channels, 3×3 on
    56×56, has 1.7 billion entries (19 GiB in float64).
    :func:`conv_matrix_size` gives the exact size without building anything,
    and a ``W`` over ``max_bytes`` (by default :func:`get_matrix_limit`, 2 GiB)
    is refused with :class:`MatrixTooLargeError` before it is allocated; for
    layers that large, :func:`conv_operator` applies the same map without
    building it.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        Kernel, 1 to 3 spatial dims.
    input_shape : sequence of int
        ``(C_in, *spatial)`` of one sample.
    stride, dilation : int or tuple of int
    padding : int, tuple of int, "valid" or "same"
    groups : int
    padding_mode : {"zeros", "circular", "reflect", "replicate"}
        Non-zero modes are folded into ``W`` (taps that read the same input
        element are summed), so ``W`` is the exact Jacobian in every mode.
    max_bytes : int, optional
        Refuse a ``W`` whose data, indices and index pointer take more bytes
        than this; by default the process-wide :func:`get_matrix_limit`.

    Returns
    -------
    scipy.sparse.csr_array, shape (C_out * prod(out), C_in * prod(spatial))
        ``y[n].ravel() == W @ x[n].ravel()`` (bias excluded). Column indices are
        sorted; no explicit zeros are stored. Index arrays are int32 unless that
        would overflow. They are read-only views of a cached pattern shared by
        every ``W`` of the same geometry, so a new kernel costs one gather:
        use ``W.copy()`` before changing the structure in place. Entries have
        the kernel's dtype (float16 is held as float32, integers as float64).

    Raises
    ------
    MatrixTooLargeError
        If ``W`` would take more than ``max_bytes`` (a ``ValueError`` and a
        ``MemoryError``); nothing large has been allocated then.

    See Also
    --------
    conv_matrix_size : the shape, nnz and bytes of ``W`` from the geometry alone.
    conv_operator : ``W`` as a matrix-free operator, for layers too large to build.
    conv : the same map applied to a batch (``backend="sparse"`` uses this matrix).

    Notes
    -----
    Memory: ``W.data`` belongs to ``W``; ``W.indices`` and ``W.indptr`` are
    shared with the index-pattern cache (:func:`cache_info`). ``del W`` frees
    the data at once, and the indices once the cache drops the pattern too
    (:func:`clear_cache`, or when newer patterns push it out of the cache's
    bound).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> W = cm.conv_matrix(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), (1, 4, 4))
    >>> W.shape
    (4, 16)
    >>> W.toarray()[0]
    array([1., 2., 3., 0., 4., 5., 6., 0., 7., 8., 9., 0., 0., 0., 0., 0.])
    """
    w = as_array(weight, "weight")
    geom, groups = conv_problem(
        input_shape, w.shape, stride, padding, dilation, groups, padding_mode, batched=False, input_name="input_shape"
    )
    return matrix_for_geometry(w, geom, groups, max_bytes)


def conv_matrix_block(
    weight: ArrayLike | Callable[[np.ndarray, np.ndarray, np.ndarray], ArrayLike],
    geom: ConvGeometry,
    groups: int,
    rows: Sequence[int] | np.ndarray,
    cols: Sequence[int] | np.ndarray,
    *,
    weight_shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Dense values of chosen rows and columns of ``W``, without building ``W``.

    ``conv_matrix_block(w, geom, groups, rows, cols)`` equals
    ``conv_matrix(w, ...).toarray()[np.ix_(rows, cols)]``, but its time and
    memory grow only with ``len(rows) * len(cols) * prod(kernel)``: not with the
    channel counts, nor with the size of the plane. Each (row, column) pair is
    decoded to (output channel, output position) and (input channel, input
    position); the kernel taps that connect the two positions are found one
    spatial axis at a time through the padding mode's index map, and summed
    (folded padding modes) into the entry.

    Parameters
    ----------
    weight : array_like of shape (C_out, C_in // groups, *kernel), or callable
        The kernel; or a function ``weight(co, ci, k)`` of three integer arrays
        of one shape (output channel, input channel within the group, flat
        C-order kernel tap) returning the kernel values there, so that a large
        kernel that is a formula need not be built. A callable needs
        ``weight_shape``.
    geom : ConvGeometry
        The validated geometry (:func:`convmat.geometry.conv_problem`).
    groups : int
    rows, cols : sequence of int
        Row and column indices of ``W`` (negative ones count from the end).
    weight_shape : sequence of int, optional
        ``(C_out, C_in // groups, *kernel)``; required with a callable ``weight``.

    Returns
    -------
    ndarray, shape (len(rows), len(cols))
        The entries of ``W`` there, in the dtype ``conv_matrix`` gives ``W``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.geometry import conv_geometry
    >>> geom = conv_geometry((4, 4), 3)
    >>> conv_matrix_block(np.arange(1.0, 10.0).reshape(1, 1, 3, 3), geom, 1, [0, 3], range(6))
    array([[1., 2., 3., 0., 4., 5.],
           [0., 0., 0., 0., 0., 1.]])
    >>> # 256 -> 256 channels on 56x56: W would be 802816 x 802816; two of its rows, four columns
    >>> geom = conv_geometry((56, 56), 3, padding=1)
    >>> numbered = lambda co, ci, k: 1.0 + (co * 256 + ci) * 9 + k
    >>> block = conv_matrix_block(numbered, geom, 1, [0, -1], [0, 1, -2, -1], weight_shape=(256, 256, 3, 3))
    >>> block.tolist()
    [[5.0, 6.0, 0.0, 0.0], [0.0, 0.0, 589819.0, 589820.0]]
    """
    if callable(weight):
        if weight_shape is None:
            raise TypeError("conv_matrix_block: a callable weight needs weight_shape=(C_out, C_in // groups, *kernel)")
        shape = check_shape("weight_shape", weight_shape)
        values_at = weight
    else:
        w = as_array(weight, "weight")
        shape = w.shape
        if weight_shape is not None and check_shape("weight_shape", weight_shape) != shape:
            raise ValueError(f"weight has shape {shape} but weight_shape is {tuple(weight_shape)}")
        flat = w.reshape(*shape[:2], -1)

        def values_at(co: np.ndarray, ci: np.ndarray, k: np.ndarray) -> np.ndarray:
            return flat[co, ci, k]

    if len(shape) != 2 + geom.ndim or tuple(shape[2:]) != geom.kernel_size or min(shape[:2], default=0) < 1:
        raise ValueError(
            f"weight shape {shape} does not fit the geometry: expected (C_out, C_in // groups, "
            f"*{geom.kernel_size}) with C_out, C_in // groups >= 1"
        )
    c_out, cin_g = shape[:2]
    if groups < 1 or c_out % groups:
        raise ValueError(f"groups={groups} must be a positive divisor of C_out={c_out}")
    row_index = _block_index(rows, c_out * geom.output_size, "rows")
    col_index = _block_index(cols, cin_g * groups * geom.input_size, "cols")
    co, out_pos = np.divmod(row_index, geom.output_size)
    c_in, in_pos = np.divmod(col_index, geom.input_size)
    # input channel within co's group, for every (row, column); outside [0, cin_g) the cell is zero
    ci = c_in[None, :] - ((co // (c_out // groups)) * cin_g)[:, None]
    reads = _block_reads(geom, out_pos, in_pos)
    reads &= ((ci >= 0) & (ci < cin_g))[:, :, None]
    r, c, k = np.nonzero(reads)
    values = np.asarray(values_at(co[r], ci[r, c], k))
    block = np.zeros((row_index.size, col_index.size), dtype=matrix_dtype(values.dtype))
    np.add.at(block, (r, c), values)  # a folded entry sums its taps, in kernel order
    return block


def _block_index(index: Sequence[int] | np.ndarray, n: int, name: str) -> np.ndarray:
    """``index`` as a 1-d intp array within ``[0, n)`` (negative entries count from the end)."""
    idx = np.asarray(index)
    if idx.size == 0:
        idx = idx.astype(np.intp)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise TypeError(f"{name} must be a 1-d sequence of ints, got {idx.dtype} of shape {idx.shape}")
    idx = idx.astype(np.intp)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        bad = idx[(idx < -n) | (idx >= n)][0]
        raise IndexError(f"{name} index {bad} is out of bounds for W with {n} {name}")
    return np.where(idx < 0, idx + n, idx)


def _block_reads(geom: ConvGeometry, out_pos: np.ndarray, in_pos: np.ndarray) -> np.ndarray:
    """Which kernel taps connect each of some output positions to each of some input positions of one plane.

    Returns a bool array of shape ``(len(out_pos), len(in_pos), prod(kernel))``:
    ``[r, c, k]`` is true when kernel tap ``k`` (C order) of output position
    ``out_pos[r]`` reads input position ``in_pos[c]`` (flat indices), through the
    padding mode's index map (a zero-padding tap reads nothing). The plane's
    entry ``(out_pos[r], in_pos[c])`` is the sum of the kernel values of those
    taps. Built one spatial axis at a time, so the cost is the size of the
    result, whatever the size of the plane.
    """
    n_out, n_in = out_pos.size, in_pos.size
    out_idx = np.unravel_index(out_pos, geom.output_spatial)
    in_idx = np.unravel_index(in_pos, geom.input_spatial)
    reads = np.ones((n_out, n_in, 1), dtype=bool)
    taps = 1
    for d in range(geom.ndim):
        taps_d = geom.kernel_size[d]
        read = axis_reads(geom, d, out_idx[d])
        match = read[:, None, :] == in_idx[d][None, :, None]  # [R, C, K_d]
        taps *= taps_d
        reads = (reads[:, :, :, None] & match[:, :, None, :]).reshape(n_out, n_in, taps)
    return reads
