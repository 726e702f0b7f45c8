"""Adaptive pooling, each forward beside its way back: the output size is given, the windows follow.

PyTorch's ``F.adaptive_avg_pool{1,2,3}d`` and ``F.adaptive_max_pool{1,2,3}d``.
Along an axis of ``n`` input elements pooled to ``m``, window ``i`` covers
``[floor(i·n/m), ceil((i+1)·n/m))``: the windows depend on the sizes only, and
overlap where ``m`` does not divide ``n``.

So adaptive average pooling is one fixed linear map ``A`` per plane
(:func:`convmat.adaptive_avg_pool_matrix`), ``y = A·x`` and ``dx = Aᵀ·dy``
(:func:`adaptive_avg_pool_backward`); ``A`` is the Kronecker product of one
small matrix per axis, and is applied that way, axis by axis. Adaptive max
pooling selects, ``y = S·x`` (:func:`convmat.adaptive_max_pool_matrix`); its
switches follow max pooling's convention, so :func:`convmat.max_pool_backward`
(``Sᵀ·dy``) and :func:`convmat.max_unpool` take them as they are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from math import prod

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array, compute_dtype
from ._dask_dispatch import on_dask
from ._rank import pool_examples, rank_specific
from .adaptive_geometry import OutputSize, adaptive_pool_geometry, adaptive_pool_problem
from .adaptive_patterns import adaptive_axis_dense, adaptive_axis_matrix, adaptive_max_switches
from .geometry import batched_input_dims, check_shape

__all__ = [
    "adaptive_avg_pool",
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_avg_pool_backward",
    "adaptive_max_pool",
    "adaptive_max_pool1d",
    "adaptive_max_pool2d",
    "adaptive_max_pool3d",
]

#: Entries of a per-axis averaging matrix up to which it is applied dense (BLAS); a longer axis (a long 1-d
#: signal) uses the sparse matrix, whose entries grow with the axis, not with its square.
DENSE_AXIS_ENTRIES = 1 << 18


def _axis_operator(size: int, out: int, dtype: np.dtype, transpose: bool) -> np.ndarray | sp.csr_array:
    """The averaging matrix of one axis (or its transpose), dense in ``dtype``'s real type when it is small."""
    if size * out <= DENSE_AXIS_ENTRIES:
        dense = adaptive_axis_dense(size, out)
        dense = dense.T if transpose else dense
        return dense.astype(np.finfo(dtype).dtype, copy=False)
    matrix = adaptive_axis_matrix(size, out)
    return sp.csr_array(matrix.T) if transpose else matrix


def _contract(y: np.ndarray, axis: int, matrix: np.ndarray | sp.csr_array) -> np.ndarray:
    """``matrix`` applied along ``axis`` of the C-contiguous ``y``: that axis's length becomes ``matrix.shape[0]``."""
    lead = int(np.prod(y.shape[:axis]))
    rest = int(np.prod(y.shape[axis + 1 :]))
    size, out = y.shape[axis], matrix.shape[0]
    shape = (*y.shape[:axis], out, *y.shape[axis + 1 :])
    if isinstance(matrix, np.ndarray):
        if rest == 1:  # the last axis (or only ones after it): one GEMM over every row
            return (y.reshape(lead, size) @ matrix.T).reshape(shape)
        return np.matmul(matrix, y.reshape(lead, size, rest)).reshape(shape)  # one small GEMM per leading index
    # sparse (a long axis): bring the axis to the front, one sparse product, and back
    front = np.moveaxis(y.reshape(lead, size, rest), 1, 0).reshape(size, lead * rest)
    result = np.asarray(matrix @ front)
    return np.ascontiguousarray(np.moveaxis(result.reshape(out, lead, rest), 0, 1)).reshape(shape)


def _separable(arr: np.ndarray, source: tuple[int, ...], target: tuple[int, ...], transpose: bool) -> np.ndarray:
    """``A`` (or ``Aᵀ``) applied to every plane of ``arr`` ``(N, C, *source)``, one axis at a time.

    ``A`` maps planes of ``source`` to planes of ``target`` (swapped for
    ``Aᵀ``); float16 computes in float32 and is rounded once at the end.
    """
    work = arr.astype(compute_dtype(arr.dtype), copy=False)
    shapes = (source, target)
    if all(o == 1 for o in shapes[not transpose]):  # one window, the whole plane: a single axis
        shapes = ((prod(source),), (prod(target),))
    y = np.ascontiguousarray(work.reshape(arr.shape[0] * arr.shape[1], *shapes[0]))
    for d in reversed(range(len(shapes[0]))):
        size, out = (shapes[1][d], shapes[0][d]) if transpose else (shapes[0][d], shapes[1][d])
        y = _contract(y, 1 + d, _axis_operator(size, out, y.dtype, transpose))
    return y.reshape(*arr.shape[:2], *target).astype(arr.dtype, copy=False)


def adaptive_avg_pool(x: ArrayLike, output_size: OutputSize) -> np.ndarray:
    """N-d adaptive average pooling (PyTorch's ``F.adaptive_avg_pool{1,2,3}d``): ``y = A·x`` on every plane.

    The output size is given; along an axis of ``n`` input elements pooled to
    ``m``, output ``i`` is the mean of the input elements
    ``[floor(i·n/m), ceil((i+1)·n/m))``. The windows overlap where ``m`` does not
    divide ``n``, and ``m`` may exceed ``n``.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Input with 1 to 3 non-empty spatial dims and ``C > 0``; complex is fine
        (the map is linear).
    output_size : int or sequence of int or None
        The output's spatial shape: an int for every dim, or one entry per dim,
        ``None`` keeping that dim's input size. Entries are positive.

    Returns
    -------
    ndarray, shape (N, C, *out_spatial)
        dtype of ``x`` (integers and bool promote to float64).

    See Also
    --------
    adaptive_avg_pool_backward : the adjoint ``Aᵀ·dy``.
    convmat.adaptive_avg_pool_matrix : the matrix ``A``.

    Notes
    -----
    ``A`` is the Kronecker product of one small averaging matrix per axis, and
    it is applied that way: one matrix product per axis (BLAS), never the
    plane matrix itself. PyTorch's ``adaptive_avg_pool1d/2d`` return an empty
    result for zero channels or an ``output_size`` of 0; convmat refuses both
    (``ValueError``), like the rest of its pooling. ``None`` entries are taken
    in every rank (PyTorch's ``adaptive_avg_pool1d`` does not take them).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    >>> cm.adaptive_avg_pool(x, 3)  # windows [0, 2), [1, 4), [3, 5)
    array([[[1.5, 3. , 4.5]]])
    >>> cm.adaptive_avg_pool(np.ones((2, 3, 7, 5)), (2, None)).shape
    (2, 3, 2, 5)
    """
    if (on_dask_array := on_dask("adaptive_avg_pool", x=x)) is not None:
        return on_dask_array(x, output_size)
    xa = as_array(x, "x")
    geom = adaptive_pool_problem(xa.shape, output_size, function="adaptive_avg_pool")
    return _separable(xa, geom.input_spatial, geom.output_spatial, transpose=False)


def adaptive_avg_pool_backward(grad_output: ArrayLike, input_shape: Sequence[int]) -> np.ndarray:
    """Gradient of adaptive average pooling with respect to its input: ``dx = Aᵀ·dy`` on every plane.

    Each output gradient is spread evenly over its window's input elements
    (divided by the window's number of elements); overlapping windows add up.
    The output size is that of ``grad_output``.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, *out_spatial)
        Gradient of the pooled output; complex is fine.
    input_shape : sequence of int
        The pooled input's full shape ``(N, C, *spatial)``.

    Returns
    -------
    ndarray, shape ``input_shape``, dtype of ``grad_output``

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> cm.adaptive_avg_pool_backward(np.ones((1, 1, 3)), (1, 1, 5))  # windows [0, 2), [1, 4), [3, 5)
    array([[[0.5       , 0.83333333, 0.33333333, 0.83333333, 0.5       ]]])
    """
    if (on_dask_array := on_dask("adaptive_avg_pool_backward", grad_output=grad_output)) is not None:
        return on_dask_array(grad_output, input_shape)
    shape = check_shape("input_shape", input_shape)
    n = batched_input_dims(shape, "input_shape")
    dy = as_array(grad_output, "grad_output")
    if dy.ndim != n + 2 or dy.shape[:2] != shape[:2]:
        raise ValueError(
            f"grad_output has shape {dy.shape}, expected (N, C, *out_spatial) with (N, C) = {shape[:2]} and "
            f"{n} spatial dim(s) for input_shape {shape}"
        )
    if 0 in dy.shape[2:]:
        raise ValueError(f"grad_output must have non-empty spatial dims (the output size), got shape {dy.shape}")
    geom = adaptive_pool_geometry(shape[2:], dy.shape[2:])
    return _separable(dy, geom.output_spatial, geom.input_spatial, transpose=True)


def adaptive_max_pool(
    x: ArrayLike, output_size: OutputSize, return_indices: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """N-d adaptive max pooling, optionally with the switches (PyTorch's ``F.adaptive_max_pool{1,2,3}d``).

    The output size is given; along an axis of ``n`` input elements pooled to
    ``m``, output ``i`` is the maximum of the input elements
    ``[floor(i·n/m), ceil((i+1)·n/m))`` (overlapping where ``m`` does not divide
    ``n``; ``m`` may exceed ``n``).

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Real input with 1 to 3 non-empty spatial dims and ``C > 0``; complex
        raises ``TypeError``.
    output_size : int or sequence of int or None
        The output's spatial shape: an int for every dim, or one entry per dim,
        ``None`` keeping that dim's input size. Entries are positive.
    return_indices : bool
        Also return the switches.

    Returns
    -------
    y : ndarray, shape (N, C, *out_spatial)
        dtype of ``x`` (integers and bool promote to float64).
    indices : ndarray of int64, same shape
        Only with ``return_indices``: the flat position of each maximum in its
        input plane, max pooling's convention. Ties go to the first maximum in
        the window's row-major scan; a NaN propagates and its index is the
        window's last NaN; a window of ``-inf`` names its first element.

    See Also
    --------
    convmat.max_pool_backward : the gradient ``Sᵀ·dy``, from these switches.
    convmat.max_unpool : the values back at their switches.
    convmat.adaptive_max_pool_matrix : the selection matrix ``S``.

    Notes
    -----
    The windows are reduced one axis at a time (the first maximum in row-major
    order is the first maximum of the first row holding the window's maximum).
    ``None`` entries are taken in every rank (PyTorch's ``adaptive_max_pool1d``
    does not take them); an ``output_size`` of 0, which PyTorch answers with an
    empty result, raises ``ValueError``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[3.0, 1.0, 4.0, 1.0, 5.0]]])
    >>> y, idx = cm.adaptive_max_pool(x, 3, return_indices=True)  # windows [0, 2), [1, 4), [3, 5)
    >>> y, idx
    (array([[[3., 4., 5.]]]), array([[[0, 2, 4]]]))
    >>> cm.max_pool_backward(np.ones((1, 1, 3)), idx, x.shape)
    array([[[1., 0., 1., 0., 1.]]])
    """
    if (on_dask_array := on_dask("adaptive_max_pool", x=x)) is not None:
        return on_dask_array(x, output_size, return_indices)
    xa = as_array(x, "x", allow_complex=False)
    geom = adaptive_pool_problem(xa.shape, output_size, function="adaptive_max_pool")
    values, switches = adaptive_max_switches(xa, geom)
    return (values, switches) if return_indices else values


# ---------------------------------------------------------------------------
# Rank-specific variants, batched or unbatched
# ---------------------------------------------------------------------------


def _adaptive_nd(op: Callable[..., np.ndarray | tuple[np.ndarray, np.ndarray]], n: int) -> Callable[..., object]:
    examples = pool_examples(
        f"{op.__name__}{n}d",
        n,
        size=5,
        args="3",
        out=3,
        unbatched_args="2",
        unbatched_out=2,
        with_indices=op is adaptive_max_pool,
    )
    what = {"adaptive_max_pool": "adaptive max pooling", "adaptive_avg_pool": "adaptive average pooling"}[op.__name__]
    returns = "ndarray or tuple of ndarray" if op is adaptive_max_pool else "ndarray"
    return rank_specific(op, n, what=what, examples=examples, allow_complex=op is adaptive_avg_pool, returns=returns)


adaptive_avg_pool1d = _adaptive_nd(adaptive_avg_pool, 1)
adaptive_avg_pool2d = _adaptive_nd(adaptive_avg_pool, 2)
adaptive_avg_pool3d = _adaptive_nd(adaptive_avg_pool, 3)
adaptive_max_pool1d = _adaptive_nd(adaptive_max_pool, 1)
adaptive_max_pool2d = _adaptive_nd(adaptive_max_pool, 2)
adaptive_max_pool3d = _adaptive_nd(adaptive_max_pool, 3)
