"""The convolution matrix ``W``: kernel values poured into a cached index pattern.

``W`` maps one flattened input sample to its flattened output,
``y[n].ravel() == W @ x[n].ravel()``. For zero padding it is doubly (triply)
block-Toeplitz; for circular padding and stride 1 it is block-circulant; reflect
and replicate padding fold extra kernel values into the border columns. In every
mode ``W`` is the exact Jacobian of the convolution with respect to its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array
from .geometry import ConvGeometry, IntOrTuple, Padding, conv_problem
from .patterns import conv_matrix_pattern

__all__ = ["conv_matrix", "matrix_for_geometry"]


def matrix_for_geometry(weight: np.ndarray, geom: ConvGeometry, groups: int) -> sp.csr_array:
    """Build ``W`` for an already validated geometry (see :func:`conv_matrix`).

    The cached pattern supplies ``indptr``/``indices``; only ``data`` is computed,
    by one gather from the kernel (plus one small sparse product that sums the
    folded taps for non-zero padding modes).
    """
    c_out, cin_g = weight.shape[:2]
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
    padding_mode: str = "zeros",
) -> sp.csr_array:
    """The sparse convolution matrix ``W`` of one sample.

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

    Returns
    -------
    scipy.sparse.csr_array, shape (C_out * prod(out), C_in * prod(spatial))
        ``y[n].ravel() == W @ x[n].ravel()`` (bias excluded). Column indices are
        sorted; no explicit zeros are stored. Index arrays are int32 unless that
        would overflow. They are read-only views of a cached pattern shared by
        every ``W`` of the same geometry, so a new kernel costs one gather:
        use ``W.copy()`` before changing the structure in place.

    See Also
    --------
    conv : the same map applied to a batch (``backend="sparse"`` uses this matrix).

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
    return matrix_for_geometry(w, geom, groups)
