"""Scale-out: convmat's operations on dask arrays chunked along the batch axis.

Every function here has the signature of the NumPy function of the same name
(:func:`convmat.conv`, :func:`convmat.max_pool`, …) and takes a
``dask.array.Array`` where that one takes a batch ``(N, C, *spatial)``; it
returns dask arrays with the right ``chunks``, ``dtype`` and ``meta``, and
nothing runs until they are computed, on whatever scheduler is active (a
``distributed.Client`` sends the work to its cluster). The top-level functions
hand a dask array here themselves, so ``cm.conv(x, w)`` is the call on NumPy
and on dask alike.

How a call is mapped:

* **Samples are independent**, so each block of the batch is one task: the
  NumPy function on that block, unchanged (its route choice, ``backend="auto"``,
  is made per block, from the block's own size). The other axes must be one
  chunk each; an input chunked along them is rechunked to one chunk there, with
  a :class:`RechunkWarning` that names the axes and the chunks. One sample never
  spans two tasks, and so never two workers.
* **The weight is shipped once.** ``weight``, ``bias`` and a prebuilt sparse
  ``W`` (``matrix=``) become one key each in the task graph, which every task
  refers to: a worker fetches each once, whatever the number of blocks it
  computes. They never become dask collections (dask's ``tensordot`` on
  ``scipy.sparse`` chunks would take matrix semantics).
* **The kernel gradient is a sum over the batch**: :func:`conv_weight_grad`
  computes one partial gradient per block and adds them by a tree reduction
  (dask's own, ``split_every`` of ``dask.config``: 4 by default), so no task
  holds more than a few partial gradients and the adds run in parallel.
* **Bad calls fail when they are made**, not when computed: every argument
  is checked from the shapes and dtypes up front, with the ``ValueError`` or
  ``TypeError`` the NumPy function raises. Only what depends on values is
  checked at compute time (the range of max-pooling switches given as a dask
  array).

The batch axis must have known chunk sizes; blocks must be NumPy arrays.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from math import isnan, prod
from types import FrameType
from typing import Any

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from dask.array.core import PerformanceWarning
from dask.base import tokenize
from numpy.typing import ArrayLike, DTypeLike

from ._arrays import check_array_shape, check_host, coerced_dtype, compute_dtype
from .adaptive_geometry import OutputSize, adaptive_pool_geometry, adaptive_pool_problem
from .adaptive_pooling import adaptive_avg_pool as _np_adaptive_avg_pool
from .adaptive_pooling import adaptive_avg_pool_backward as _np_adaptive_avg_pool_backward
from .adaptive_pooling import adaptive_max_pool as _np_adaptive_max_pool
from .conv import Backend, _check_backend, _prebuilt_matrix
from .conv import conv as _np_conv
from .conv import conv_input_grad as _np_conv_input_grad
from .conv import conv_transpose as _np_conv_transpose
from .conv import conv_weight_grad as _np_conv_weight_grad
from .geometry import (
    IntOrTuple,
    Padding,
    PaddingMode,
    batched_input_dims,
    check_channels,
    check_shape,
    conv_problem,
    conv_transpose_problem,
    fold_problem,
    pool_problem,
    unfold_problem,
    unpool_output_spatial,
)
from .im2col import col2im as _np_col2im
from .im2col import im2col as _np_im2col
from .lp_pooling import _norm_type
from .lp_pooling import _problem as _lp_problem
from .lp_pooling import lp_pool as _np_lp_pool
from .lp_pooling import lp_pool_backward as _np_lp_pool_backward
from .pool_matrices import averaging_matrix
from .pooling import _check_switch_range
from .pooling import avg_pool as _np_avg_pool
from .pooling import avg_pool_backward as _np_avg_pool_backward
from .pooling import max_pool as _np_max_pool
from .pooling import max_pool_backward as _np_max_pool_backward
from .pooling import max_unpool as _np_max_unpool

__all__ = [
    "RechunkWarning",
    "adaptive_avg_pool",
    "adaptive_avg_pool_backward",
    "adaptive_max_pool",
    "avg_pool",
    "avg_pool_backward",
    "col2im",
    "conv",
    "conv_input_grad",
    "conv_transpose",
    "conv_weight_grad",
    "im2col",
    "lp_pool",
    "lp_pool_backward",
    "max_pool",
    "max_pool_backward",
    "max_unpool",
]

Operand = da.Array | np.ndarray


class RechunkWarning(PerformanceWarning):
    """An input of :mod:`convmat.dask` was chunked along an axis other than the batch axis, and was rechunked.

    convmat maps whole samples, so every axis but the batch axis must be one
    chunk; the message names the axes and the chunks before and after. A
    subclass of dask's ``PerformanceWarning``: chunk the batch axis only (e.g.
    ``x.rechunk({0: 64, 1: -1, 2: -1, 3: -1})``) and it does not arise.

    Examples
    --------
    >>> import warnings, dask.array as da, numpy as np, convmat as cm
    >>> x = da.ones((4, 2, 6, 6), chunks=(2, 1, 6, 6))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     y = cm.dask.max_pool(x, 2)
    >>> print(caught[0].message)
    max_pool: x is chunked along axis 1 (chunks ((1, 1),)); convmat.dask maps whole samples, ...
    """


# ---------------------------------------------------------------------------
# Operands: dask arrays checked and chunked by samples, everything else shipped once
# ---------------------------------------------------------------------------


def _operand(value: object, name: str) -> Operand:
    """An array argument as it came: a dask array (of NumPy blocks, sizes known) or a host ndarray."""
    if isinstance(value, da.Array):
        meta = getattr(value, "_meta", None)
        if not isinstance(meta, np.ndarray):
            kind = type(meta)
            raise TypeError(
                f"{name} is a dask array of {kind.__module__}.{kind.__qualname__} blocks: convmat.dask takes dask "
                f"arrays of NumPy arrays (in host memory); convert its blocks with {name}.map_blocks(...) first"
            )
        if value.ndim and any(isnan(c) for c in value.chunks[0]):
            raise ValueError(
                f"{name} has unknown chunk sizes along the batch axis ({name}.chunks[0] holds NaN): convmat.dask "
                f"checks shapes before it builds the graph; call {name}.compute_chunk_sizes() first"
            )
        if any(isnan(s) for s in value.shape):
            raise ValueError(f"{name} has an unknown shape {value.shape}: call {name}.compute_chunk_sizes() first")
        return value
    check_host(value, name)
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like with a numeric dtype: {exc}") from exc


def _shape(value: Operand) -> tuple[int, ...]:
    """The shape of an operand whose sizes are known (checked by :func:`_operand`)."""
    return tuple(int(size) for size in value.shape)


def _dtype(value: Operand, name: str, allow_complex: bool = True) -> np.dtype:
    """The dtype the NumPy functions compute ``value`` in (integers as float64), or their ``TypeError``."""
    return coerced_dtype(value.dtype, name, _shape(value), allow_complex=allow_complex)


def _user_stacklevel() -> int:
    """The ``stacklevel`` for a warning raised by this function's caller: the first frame outside convmat."""
    level = 1
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "convmat":
        level, frame = level + 1, frame.f_back
    return level


def _by_samples(value: da.Array, name: str, function: str) -> da.Array:
    """``value`` with one chunk along every axis but the batch axis: rechunked, with a warning, if it had more."""
    axes = [axis for axis in range(1, value.ndim) if len(value.chunks[axis]) > 1]
    if not axes:
        return value
    before = tuple(value.chunks[axis] for axis in axes)
    result = value.rechunk({axis: -1 for axis in axes})
    where = f"axis {axes[0]}" if len(axes) == 1 else f"axes {', '.join(map(str, axes))}"
    warnings.warn(
        f"{function}: {name} is chunked along {where} (chunks {before}); convmat.dask maps whole samples, so it "
        f"rechunks {name} to one chunk there: chunks {result.chunks}. Chunk the batch axis only to avoid the copy.",
        RechunkWarning,
        stacklevel=_user_stacklevel(),
    )
    return result


def _blocks(function: str, **operands: Operand) -> list[da.Array]:
    """The batched operands as dask arrays chunked by samples, the NumPy ones chunked like the first dask one.

    Their shapes have been checked to agree along the batch axis; blockwise
    aligns differing batch chunks of two dask arrays.
    """
    batch = next((v.chunks[0] for v in operands.values() if isinstance(v, da.Array)), None)
    result = []
    for name, value in operands.items():
        if not isinstance(value, da.Array):
            value = da.from_array(value, chunks=(batch or "auto", *value.shape[1:]))
        result.append(_by_samples(value, name, function))
    return result


def _whole(value: np.ndarray) -> np.ndarray:
    return value


def _shipped(value: object, name: str) -> Any:
    """``value`` as one key of the task graph, ``"<name>-<token>"``, so that each worker fetches it once.

    A NumPy array or sparse matrix is that key's data (``dask.delayed``); a dask
    array (a weight computed by dask) is gathered into it from its chunks.
    ``None`` stays ``None``.
    """
    if value is None:
        return None
    key = f"{name}-{tokenize(value)}"
    if isinstance(value, da.Array):
        return dask.delayed(_whole, pure=True)(value, dask_key_name=key)
    return dask.delayed(value, name=key)


def _meta(ndim: int, dtype: DTypeLike) -> np.ndarray:
    return np.empty((0,) * ndim, dtype=dtype)


def _map_samples(
    block: Callable[..., Any],
    arrays: Sequence[da.Array],
    out_tail: tuple[int, ...],
    dtype: DTypeLike,
    token: str,
    **kwargs: Any,
) -> da.Array:
    """``block(*blocks, **kwargs)`` for every block of the batch: a dask array ``(N, *out_tail)`` chunked like them.

    The arrays' batch axes (index 0) are aligned; their other axes (one chunk
    each) are contracted, so ``block`` gets whole samples, and ``out_tail`` is
    one chunk per axis.
    """
    out_ind = tuple(range(1 + len(out_tail)))
    args: list[Any] = []
    for i, array in enumerate(arrays):
        base = 1000 * (i + 1)
        args += [array, (0, *range(base + 1, base + array.ndim))]
    return da.blockwise(
        block,
        out_ind,
        *args,
        new_axes={axis + 1: size for axis, size in enumerate(out_tail)},
        concatenate=True,
        dtype=dtype,
        meta=_meta(len(out_ind), dtype),
        token=token,
        **kwargs,
    )


def _part(pair: tuple[np.ndarray, np.ndarray], i: int) -> np.ndarray:
    return pair[i]


def _split_pair(pairs: da.Array, dtypes: tuple[np.dtype, np.dtype], token: str) -> tuple[da.Array, da.Array]:
    """The two arrays of ``pairs``, whose blocks are pairs ``(values, indices)`` (declared as ``values``)."""
    values, indices = (
        da.map_blocks(_part, pairs, i, dtype=dt, meta=_meta(pairs.ndim, dt), token=f"{token}-{part}")
        for i, (dt, part) in enumerate(zip(dtypes, ("values", "indices"), strict=True))
    )
    return values, indices


def _check_indices(indices: Operand, shape: tuple[int, ...], what: str, plane_size: int) -> None:
    """max pooling's switches: integers of ``shape``; a NumPy array's range is checked here, a dask array's later."""
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array (the switches of max_pool), got dtype {indices.dtype}")
    check_array_shape(indices, shape, "indices", f"(the shape of {what})")
    if isinstance(indices, np.ndarray):
        _check_switch_range(indices, plane_size, indices)


# ---------------------------------------------------------------------------
# The blocks: the NumPy functions on whole samples
# ---------------------------------------------------------------------------


def _conv_block(x: np.ndarray, *, weight: Any, bias: Any, matrix: Any, options: dict[str, Any]) -> np.ndarray:
    return _np_conv(x, weight, bias, matrix=matrix, **options)


def _conv_input_grad_block(dy: np.ndarray, *, tail: tuple[int, ...], weight: Any, matrix: Any, options: dict) -> Any:
    return _np_conv_input_grad((dy.shape[0], *tail), weight, dy, matrix=matrix, **options)


def _conv_weight_grad_block(
    x: np.ndarray, dy: np.ndarray, *, weight_shape: tuple[int, ...], work: np.dtype | None, options: dict
) -> np.ndarray:
    if work is not None:  # float16: each partial in float32, rounded once after the sum
        x, dy = x.astype(work), dy.astype(work)
    return _np_conv_weight_grad(x, weight_shape, dy, **options)[np.newaxis]


def _conv_transpose_block(x: np.ndarray, *, weight: Any, bias: Any, matrix: Any, options: dict) -> np.ndarray:
    return _np_conv_transpose(x, weight, bias, matrix=matrix, **options)


def _call_block(*blocks: np.ndarray, function: Callable[..., Any], options: dict) -> Any:
    """``function(*blocks, **options)``: the operations whose arguments are the blocks and fixed options."""
    return function(*blocks, **options)


def _with_shape_block(
    *blocks: np.ndarray, function: Callable[..., Any], tail: tuple[int, ...], position: int, options: dict
) -> Any:
    """``function`` with the block's full input shape ``(n, *tail)`` inserted at argument ``position``."""
    args: list[Any] = list(blocks)
    args.insert(position, (blocks[0].shape[0], *tail))
    return function(*args, **options)


def _pair_block(x: np.ndarray, *, function: Callable[..., Any], options: dict) -> tuple[np.ndarray, np.ndarray]:
    return function(x, return_indices=True, **options)


# ---------------------------------------------------------------------------
# Convolution: forward, both gradients, transposed
# ---------------------------------------------------------------------------


def _conv_options(
    stride: IntOrTuple, padding: Padding, dilation: IntOrTuple, groups: int, padding_mode: str, backend: str
) -> dict[str, Any]:
    """The keywords every block's call of a convolution map repeats."""
    return {
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "groups": groups,
        "padding_mode": padding_mode,
        "backend": backend,
    }


def conv(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    backend: Backend = "auto",
    *,
    matrix: sp.csr_array | None = None,
) -> da.Array:
    """:func:`convmat.conv` on a dask array: ``y = W·x + b``, block by block along the batch axis.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C_in, *spatial)
        Chunked along the batch axis (any other chunking is undone, with a
        :class:`RechunkWarning`). A NumPy ``x`` becomes a dask array first.
    weight, bias, stride, padding, dilation, groups, padding_mode, backend, matrix
        As in :func:`convmat.conv`. ``weight``, ``bias`` and ``matrix`` are
        one key each of the task graph: each worker fetches them once.
        ``backend="auto"`` chooses per block.

    Returns
    -------
    dask.array.Array, shape (N, C_out, *out_spatial)
        Chunked like ``x`` along the batch axis, one chunk along the others.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(32.0).reshape(2, 1, 4, 4), chunks=(1, 1, 4, 4))
    >>> y = cm.dask.conv(x, np.ones((1, 1, 3, 3)))
    >>> y.chunks
    ((1, 1), (1,), (2,), (2,))
    >>> y.compute()[1, 0]
    array([[189., 198.],
           [225., 234.]])
    """
    _check_backend(backend)
    xo = _operand(x, "x")
    w = _operand(weight, "weight")
    b = None if bias is None else _operand(bias, "bias")
    dtypes = [_dtype(xo, "x"), _dtype(w, "weight")] + ([] if b is None else [_dtype(b, "bias")])
    x_shape, w_shape = _shape(xo), _shape(w)
    geom, groups = conv_problem(x_shape, w_shape, stride, padding, dilation, groups, padding_mode, function="conv")
    if b is not None:
        check_array_shape(b, (w_shape[0],), "bias", f"(C_out,) for weight of shape {w_shape}")
    prebuilt = _prebuilt_matrix(matrix, backend, geom, x_shape[1], w_shape[0])
    options = _conv_options(stride, padding, dilation, groups, padding_mode, backend)
    (xd,) = _blocks("conv", x=xo)
    return _map_samples(
        _conv_block,
        [xd],
        (w_shape[0], *geom.output_spatial),
        np.result_type(*dtypes),
        "conv",
        weight=_shipped(w, "weight"),
        bias=_shipped(b, "bias"),
        matrix=_shipped(prebuilt, "matrix"),
        options=options,
    )


def conv_input_grad(
    input_shape: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    backend: Backend = "auto",
    *,
    matrix: sp.csr_array | None = None,
) -> da.Array:
    """:func:`convmat.conv_input_grad` on a dask ``grad_output``: ``dx = Wᵀ·dy``, block by block.

    Parameters
    ----------
    input_shape : sequence of int
        The full input shape ``(N, C_in, *spatial)``.
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        Shipped to each worker once.
    grad_output : dask.array.Array, shape (N, C_out, *out_spatial)
        Chunked along the batch axis.
    stride, padding, dilation, groups, padding_mode, backend, matrix
        As in :func:`convmat.conv_input_grad`.

    Returns
    -------
    dask.array.Array, shape ``input_shape``
        Chunked like ``grad_output`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> dy = da.ones((3, 1, 2, 2), chunks=(2, 1, 2, 2))
    >>> dx = cm.dask.conv_input_grad((3, 1, 3, 3), np.ones((1, 1, 2, 2)), dy)
    >>> dx.chunks
    ((2, 1), (1,), (3,), (3,))
    >>> dx.compute()[2, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    """
    _check_backend(backend)
    shape = check_shape("input_shape", input_shape)
    w = _operand(weight, "weight")
    w_dtype, c_out = _dtype(w, "weight"), _shape(w)[0]
    geom, groups = conv_problem(
        shape, _shape(w), stride, padding, dilation, groups, padding_mode, input_name="input_shape"
    )
    dy = _operand(grad_output, "grad_output")
    dy_dtype = _dtype(dy, "grad_output")
    check_array_shape(dy, (shape[0], c_out, *geom.output_spatial), "grad_output", "(N, C_out, *out_spatial)")
    prebuilt = _prebuilt_matrix(matrix, backend, geom, shape[1], c_out)
    options = _conv_options(stride, padding, dilation, groups, padding_mode, backend)
    (dyd,) = _blocks("conv_input_grad", grad_output=dy)
    return _map_samples(
        _conv_input_grad_block,
        [dyd],
        shape[1:],
        np.result_type(dy_dtype, w_dtype),
        "conv_input_grad",
        tail=shape[1:],
        weight=_shipped(w, "weight"),
        matrix=_shipped(prebuilt, "matrix"),
        options=options,
    )


def conv_weight_grad(
    x: ArrayLike,
    weight_shape: Sequence[int],
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    backend: Backend = "auto",
) -> da.Array:
    """:func:`convmat.conv_weight_grad` on dask arrays: partial kernel gradients per block, summed by a tree.

    The kernel gradient is a sum over the samples. Each block of the batch
    gives its own (the NumPy function on the block, computed in float32 for
    float16 inputs); dask's tree reduction adds them, ``split_every`` at a
    time (``dask.config``'s ``split_every``, 4 by default), so the sum takes
    ``log(blocks)`` rounds of adds that run side by side. The sum is taken
    in another order than the NumPy function's, so the result can differ from
    it in the last bits.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C_in, *spatial)
        Chunked along the batch axis.
    weight_shape : sequence of int
        ``(C_out, C_in // groups, *kernel)``.
    grad_output : dask.array.Array, shape (N, C_out, *out_spatial)
        Chunked along the batch axis (aligned with ``x``'s chunks by dask if
        they differ).
    stride, padding, dilation, groups, padding_mode, backend
        As in :func:`convmat.conv_weight_grad`.

    Returns
    -------
    dask.array.Array, shape ``weight_shape``
        One chunk.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(36.0).reshape(4, 1, 3, 3), chunks=(1, 1, 3, 3))
    >>> dw = cm.dask.conv_weight_grad(x, (1, 1, 2, 2), da.ones((4, 1, 2, 2), chunks=(1, 1, 2, 2)))
    >>> dw.compute()[0, 0]
    array([[248., 264.],
           [296., 312.]])
    """
    _check_backend(backend)
    xo = _operand(x, "x")
    x_dtype = _dtype(xo, "x")
    wshape = check_shape("weight_shape", weight_shape)
    geom, groups = conv_problem(
        _shape(xo), wshape, stride, padding, dilation, groups, padding_mode, weight_name="weight_shape"
    )
    dy = _operand(grad_output, "grad_output")
    dy_dtype = _dtype(dy, "grad_output")
    check_array_shape(dy, (_shape(xo)[0], wshape[0], *geom.output_spatial), "grad_output", "(N, C_out, *out_spatial)")
    dtype = np.result_type(x_dtype, dy_dtype)
    work = compute_dtype(dtype)
    options = _conv_options(stride, padding, dilation, groups, padding_mode, backend)
    xd, dyd = _blocks("conv_weight_grad", x=xo, grad_output=dy)
    out_ind = (0, *range(2001, 2001 + len(wshape)))
    partials = da.blockwise(
        _conv_weight_grad_block,
        out_ind,
        xd,
        (0, *range(1001, 1000 + xd.ndim)),
        dyd,
        (0, *range(3001, 3000 + dyd.ndim)),
        new_axes={index: size for index, size in zip(out_ind[1:], wshape, strict=True)},
        adjust_chunks={0: 1},
        concatenate=True,
        dtype=work,
        meta=_meta(len(out_ind), work),
        token="conv_weight_grad",
        weight_shape=wshape,
        work=work if work != dtype else None,
        options=options,
    )
    total = partials.sum(axis=0, dtype=work)
    return total if work == dtype else total.astype(dtype)


def conv_transpose(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    padding_mode: PaddingMode = "zeros",
    output_size: Sequence[int] | None = None,
    backend: Backend = "auto",
    *,
    matrix: sp.csr_array | None = None,
) -> da.Array:
    """:func:`convmat.conv_transpose` on a dask array: ``y = Wᵀ·x + b``, block by block along the batch axis.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C_in, *spatial)
        Chunked along the batch axis.
    weight : array_like, shape (C_in, C_out // groups, *kernel)
        Shipped to each worker once, as are ``bias`` and ``matrix``.
    bias, stride, padding, output_padding, groups, dilation, padding_mode, output_size, backend, matrix
        As in :func:`convmat.conv_transpose`.

    Returns
    -------
    dask.array.Array, shape (N, C_out, *out_spatial)
        Chunked like ``x`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.ones((4, 1, 2, 2), chunks=(2, 1, 2, 2))
    >>> y = cm.dask.conv_transpose(x, np.ones((1, 1, 3, 3)), stride=2)
    >>> y.shape, y.chunks[0]
    ((4, 1, 5, 5), (2, 2))
    >>> y.compute()[3, 0, 2]
    array([2., 2., 4., 2., 2.])
    """
    _check_backend(backend)
    xo = _operand(x, "x")
    w = _operand(weight, "weight")
    b = None if bias is None else _operand(bias, "bias")
    dtypes = [_dtype(xo, "x"), _dtype(w, "weight")] + ([] if b is None else [_dtype(b, "bias")])
    x_shape, w_shape = _shape(xo), _shape(w)
    geom, zero_tail, groups = conv_transpose_problem(
        x_shape, w_shape, stride, padding, output_padding, groups, dilation, padding_mode, output_size
    )
    c_out = w_shape[1] * groups
    if b is not None:
        check_array_shape(b, (c_out,), "bias", f"(C_out,) for weight of shape {w_shape} and groups={groups}")
    if geom is None:
        if matrix is not None:
            raise ValueError(f"matrix: this transposed convolution reads no input (output zeros of shape {zero_tail})")
        spatial = zero_tail
        prebuilt = None
    else:
        prebuilt = _prebuilt_matrix(matrix, backend, geom, c_out, x_shape[1])
        spatial = tuple(size + tail for size, tail in zip(geom.input_spatial, zero_tail, strict=True))
    options: dict[str, Any] = {"stride": stride, "padding": padding, "output_padding": output_padding, "groups": groups}
    options |= {"dilation": dilation, "padding_mode": padding_mode, "output_size": output_size, "backend": backend}
    (xd,) = _blocks("conv_transpose", x=xo)
    return _map_samples(
        _conv_transpose_block,
        [xd],
        (c_out, *spatial),
        np.result_type(*dtypes),
        "conv_transpose",
        weight=_shipped(w, "weight"),
        bias=_shipped(b, "bias"),
        matrix=_shipped(prebuilt, "matrix"),
        options=options,
    )


# ---------------------------------------------------------------------------
# im2col and col2im
# ---------------------------------------------------------------------------


def im2col(
    x: ArrayLike,
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> da.Array:
    """:func:`convmat.im2col` on a dask array: the patch matrices of each block of the batch.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *spatial)
        Chunked along the batch axis.
    kernel_size, stride, padding, dilation
        As in :func:`convmat.im2col`.

    Returns
    -------
    dask.array.Array, shape (N, C * prod(kernel_size), L)
        Chunked like ``x`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(18.0).reshape(2, 1, 3, 3), chunks=(1, 1, 3, 3))
    >>> cols = cm.dask.im2col(x, 2)
    >>> cols.chunks
    ((1, 1), (4,), (4,))
    >>> cols.compute()[1, 0]
    array([ 9., 10., 12., 13.])
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x")
    geom = unfold_problem(_shape(xo), kernel_size, stride, padding, dilation)
    options: dict[str, Any] = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "dilation": dilation}
    (xd,) = _blocks("im2col", x=xo)
    tail = (_shape(xo)[1] * geom.kernel_numel, geom.output_size)
    return _map_samples(_call_block, [xd], tail, dtype, "im2col", function=_np_im2col, options=options)


def col2im(
    cols: ArrayLike,
    output_size: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> da.Array:
    """:func:`convmat.col2im` on a dask array: the patch matrices of each block folded back, overlaps summed.

    Parameters
    ----------
    cols : dask.array.Array, shape (N, C * prod(kernel_size), L)
        Chunked along the batch axis.
    output_size, kernel_size, stride, padding, dilation
        As in :func:`convmat.col2im`.

    Returns
    -------
    dask.array.Array, shape (N, C, *output_size)
        Chunked like ``cols`` along the batch axis.

    Examples
    --------
    >>> import dask.array as da, convmat as cm
    >>> image = cm.dask.col2im(da.ones((3, 4, 4), chunks=(1, 4, 4)), (3, 3), 2)
    >>> image.chunks[0], image.compute()[2, 0]
    ((1, 1, 1), array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]]))
    """
    co = _operand(cols, "cols")
    dtype = _dtype(co, "cols")
    geom, channels = fold_problem(_shape(co), output_size, kernel_size, stride, padding, dilation)
    options: dict[str, Any] = {
        "output_size": output_size,
        "kernel_size": kernel_size,
        "stride": stride,
        "padding": padding,
    }
    options["dilation"] = dilation
    (cd,) = _blocks("col2im", cols=co)
    tail = (channels, *geom.input_spatial)
    return _map_samples(_call_block, [cd], tail, dtype, "col2im", function=_np_col2im, options=options)


# ---------------------------------------------------------------------------
# Max pooling: forward (with the switches), backward, unpooling
# ---------------------------------------------------------------------------


def _pooled(
    function: Callable[..., Any],
    x: da.Array,
    tail: tuple[int, ...],
    dtype: np.dtype,
    return_indices: bool,
    token: str,
    options: dict[str, Any],
) -> da.Array | tuple[da.Array, da.Array]:
    """A pooling of ``x`` block by block, with its switches as a second dask array if ``return_indices``."""
    if not return_indices:
        return _map_samples(_call_block, [x], tail, dtype, token, function=function, options=options)
    pairs = _map_samples(_pair_block, [x], tail, dtype, token, function=function, options=options)
    return _split_pair(pairs, (dtype, np.dtype(np.int64)), token)


def max_pool(
    x: ArrayLike,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> da.Array | tuple[da.Array, da.Array]:
    """:func:`convmat.max_pool` on a dask array, optionally with the switches (a second dask array).

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *spatial)
        Real, chunked along the batch axis.
    kernel_size, stride, padding, dilation, ceil_mode, return_indices
        As in :func:`convmat.max_pool`.

    Returns
    -------
    y : dask.array.Array, shape (N, C, *out_spatial)
        Chunked like ``x`` along the batch axis.
    indices : dask.array.Array of int64, same shape and chunks
        Only with ``return_indices``: the switches, computed by the same
        tasks as ``y``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(32.0).reshape(2, 1, 4, 4), chunks=(1, 1, 4, 4))
    >>> y, idx = cm.dask.max_pool(x, 2, return_indices=True)
    >>> y.compute()[1, 0], idx.compute()[1, 0]
    (array([[21., 23.],
           [29., 31.]]), array([[ 5,  7],
           [13, 15]]))
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x", allow_complex=False)
    geom = pool_problem(_shape(xo), kernel_size, stride, padding, dilation, ceil_mode, function="max_pool")
    options: dict[str, Any] = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "dilation": dilation}
    options["ceil_mode"] = ceil_mode
    (xd,) = _blocks("max_pool", x=xo)
    tail = (_shape(xo)[1], *geom.output_spatial)
    return _pooled(_np_max_pool, xd, tail, dtype, bool(return_indices), "max_pool", options)


def max_pool_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int]) -> da.Array:
    """:func:`convmat.max_pool_backward` on dask arrays: ``dx = Sᵀ·dy``, block by block along the batch axis.

    Parameters
    ----------
    grad_output : dask.array.Array, shape (N, C, *out_spatial)
        Real, chunked along the batch axis.
    indices : dask.array.Array or array_like of int, same shape
        The switches of :func:`max_pool`. Their range is checked when the
        blocks are computed (up front for a NumPy array).
    input_shape : sequence of int
        The pooled input's full shape ``(N, C, *spatial)``.

    Returns
    -------
    dask.array.Array, shape ``input_shape``
        Chunked like ``grad_output`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.array([[[1.0, 5.0, 2.0, 0.0]], [[3.0, 0.0, 0.0, 4.0]]]), chunks=(1, 1, 4))
    >>> y, idx = cm.dask.max_pool(x, 3, stride=1, return_indices=True)
    >>> cm.dask.max_pool_backward(da.ones_like(y), idx, x.shape).compute()
    array([[[0., 2., 0., 0.]],
    <BLANKLINE>
           [[1., 0., 0., 1.]]])
    """
    shape = check_shape("input_shape", input_shape)
    n = batched_input_dims(shape, "input_shape")
    dy = _operand(grad_output, "grad_output")
    dtype = _dtype(dy, "grad_output", allow_complex=False)
    if dy.ndim != n + 2 or _shape(dy)[:2] != shape[:2]:
        raise ValueError(
            f"grad_output has shape {_shape(dy)}, expected (N, C, *out_spatial) with (N, C) = {shape[:2]} and "
            f"{n} spatial dim(s) for input_shape {shape}"
        )
    idx = _operand(indices, "indices")
    _check_indices(idx, _shape(dy), "grad_output", prod(shape[2:]))
    dyd, idxd = _blocks("max_pool_backward", grad_output=dy, indices=idx)
    options: dict[str, Any] = {"function": _np_max_pool_backward, "tail": shape[1:], "position": 2, "options": {}}
    return _map_samples(_with_shape_block, [dyd, idxd], shape[1:], dtype, "max_pool_backward", **options)


def max_unpool(x: ArrayLike, indices: ArrayLike, output_size: Sequence[int]) -> da.Array:
    """:func:`convmat.max_unpool` on dask arrays: values back at their switches, block by block.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *pooled_spatial) or (C, *pooled_spatial)
        Real values, chunked along the batch axis (unbatched: one chunk).
    indices : dask.array.Array or array_like of int, same shape
        The switches of :func:`max_pool`; their range is checked when the
        blocks are computed (up front for a NumPy array).
    output_size : sequence of int
        As in :func:`convmat.max_unpool`.

    Returns
    -------
    dask.array.Array, shape (N, C, *output_size) or, unbatched, (C, *output_size)
        Chunked like ``x`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(32.0).reshape(2, 1, 4, 4), chunks=(1, 1, 4, 4))
    >>> y, idx = cm.dask.max_pool(x, 2, return_indices=True)
    >>> cm.dask.max_unpool(y, idx, (4, 4)).compute()[1, 0]
    array([[ 0.,  0.,  0.,  0.],
           [ 0., 21.,  0., 23.],
           [ 0.,  0.,  0.,  0.],
           [ 0., 29.,  0., 31.]])
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x", allow_complex=False)
    size = check_shape("output_size", output_size)
    if xo.ndim == len(size) + 1 and len(size) in (1, 2, 3):  # one sample (C, *pooled), as F.max_unpool{n}d takes
        check_channels(_shape(xo), "x", axis=0)
        idx = _operand(indices, "indices")
        if idx.dtype.kind not in "iu":
            raise TypeError(f"indices must be an integer array (the switches of max_pool), got dtype {idx.dtype}")
        check_array_shape(idx, _shape(xo), "indices", "(the shape of x)")
        return max_unpool(xo[np.newaxis], idx[np.newaxis], size)[0]
    spatial = unpool_output_spatial(_shape(xo), size)
    idx = _operand(indices, "indices")
    _check_indices(idx, _shape(xo), "x", prod(spatial))
    xd, idxd = _blocks("max_unpool", x=xo, indices=idx)
    options: dict[str, Any] = {"output_size": spatial}
    tail = (_shape(xo)[1], *spatial)
    return _map_samples(_call_block, [xd, idxd], tail, dtype, "max_unpool", function=_np_max_unpool, options=options)


# ---------------------------------------------------------------------------
# Average pooling
# ---------------------------------------------------------------------------


def avg_pool(
    x: ArrayLike,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> da.Array:
    """:func:`convmat.avg_pool` on a dask array: ``y = A·x`` on every plane, block by block.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *spatial)
        Chunked along the batch axis.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As in :func:`convmat.avg_pool`.

    Returns
    -------
    dask.array.Array, shape (N, C, *out_spatial)
        Chunked like ``x`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(1.0, 11.0).reshape(2, 1, 5), chunks=(1, 1, 5))
    >>> cm.dask.avg_pool(x, 2, ceil_mode=True).compute()
    array([[[ 1.5,  3.5,  5. ]],
    <BLANKLINE>
           [[ 6.5,  8.5, 10. ]]])
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x")
    geom = pool_problem(_shape(xo), kernel_size, stride, padding, 1, ceil_mode, function="avg_pool")
    averaging_matrix(geom, count_include_pad, dtype, divisor_override=divisor_override)  # its checks, up front
    options: dict[str, Any] = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    options |= {"count_include_pad": count_include_pad, "divisor_override": divisor_override}
    (xd,) = _blocks("avg_pool", x=xo)
    tail = (_shape(xo)[1], *geom.output_spatial)
    return _map_samples(_call_block, [xd], tail, dtype, "avg_pool", function=_np_avg_pool, options=options)


def avg_pool_backward(
    grad_output: ArrayLike,
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> da.Array:
    """:func:`convmat.avg_pool_backward` on a dask array: ``dx = Aᵀ·dy`` on every plane, block by block.

    Parameters
    ----------
    grad_output : dask.array.Array, shape (N, C, *out_spatial)
        Chunked along the batch axis.
    input_shape : sequence of int
        The pooled input's full shape ``(N, C, *spatial)``.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As in :func:`convmat.avg_pool_backward`.

    Returns
    -------
    dask.array.Array, shape ``input_shape``
        Chunked like ``grad_output`` along the batch axis.

    Examples
    --------
    >>> import dask.array as da, convmat as cm
    >>> dy = da.ones((3, 1, 2), chunks=(2, 1, 2))
    >>> cm.dask.avg_pool_backward(dy, (3, 1, 4), 2).compute()[2]
    array([[0.5, 0.5, 0.5, 0.5]])
    """
    shape = check_shape("input_shape", input_shape)
    geom = pool_problem(shape, kernel_size, stride, padding, 1, ceil_mode, input_name="input_shape")
    dy = _operand(grad_output, "grad_output")
    dtype = _dtype(dy, "grad_output")
    check_array_shape(dy, (*shape[:2], *geom.output_spatial), "grad_output", "(N, C, *out_spatial)")
    averaging_matrix(geom, count_include_pad, dtype, divisor_override=divisor_override)  # its checks, up front
    options: dict[str, Any] = {"kernel_size": kernel_size, "stride": stride, "padding": padding, "ceil_mode": ceil_mode}
    options |= {"count_include_pad": count_include_pad, "divisor_override": divisor_override}
    (dyd,) = _blocks("avg_pool_backward", grad_output=dy)
    block = {"function": _np_avg_pool_backward, "tail": shape[1:], "position": 1, "options": options}
    return _map_samples(_with_shape_block, [dyd], shape[1:], dtype, "avg_pool_backward", **block)


# ---------------------------------------------------------------------------
# Adaptive and LP pooling (per sample too)
# ---------------------------------------------------------------------------


def adaptive_avg_pool(x: ArrayLike, output_size: OutputSize) -> da.Array:
    """:func:`convmat.adaptive_avg_pool` on a dask array, block by block along the batch axis.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *spatial)
        Chunked along the batch axis.
    output_size : int or sequence of int or None
        As in :func:`convmat.adaptive_avg_pool`.

    Returns
    -------
    dask.array.Array, shape (N, C, *out_spatial)
        Chunked like ``x`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.arange(1.0, 11.0).reshape(2, 1, 5), chunks=(1, 1, 5))
    >>> cm.dask.adaptive_avg_pool(x, 3).compute()
    array([[[1.5, 3. , 4.5]],
    <BLANKLINE>
           [[6.5, 8. , 9.5]]])
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x")
    geom = adaptive_pool_problem(_shape(xo), output_size, function="adaptive_avg_pool")
    (xd,) = _blocks("adaptive_avg_pool", x=xo)
    tail = (_shape(xo)[1], *geom.output_spatial)
    options: dict[str, Any] = {"output_size": geom.output_spatial}
    return _map_samples(
        _call_block, [xd], tail, dtype, "adaptive_avg_pool", function=_np_adaptive_avg_pool, options=options
    )


def adaptive_avg_pool_backward(grad_output: ArrayLike, input_shape: Sequence[int]) -> da.Array:
    """:func:`convmat.adaptive_avg_pool_backward` on a dask array: ``dx = Aᵀ·dy``, block by block.

    Parameters
    ----------
    grad_output : dask.array.Array, shape (N, C, *out_spatial)
        Chunked along the batch axis.
    input_shape : sequence of int
        The pooled input's full shape ``(N, C, *spatial)``.

    Returns
    -------
    dask.array.Array, shape ``input_shape``
        Chunked like ``grad_output`` along the batch axis.

    Examples
    --------
    >>> import dask.array as da, convmat as cm
    >>> dy = da.ones((2, 1, 3), chunks=(1, 1, 3))
    >>> cm.dask.adaptive_avg_pool_backward(dy, (2, 1, 5)).compute()[1]
    array([[0.5       , 0.83333333, 0.33333333, 0.83333333, 0.5       ]])
    """
    shape = check_shape("input_shape", input_shape)
    n = batched_input_dims(shape, "input_shape")
    dy = _operand(grad_output, "grad_output")
    dtype = _dtype(dy, "grad_output")
    if dy.ndim != n + 2 or _shape(dy)[:2] != shape[:2]:
        raise ValueError(
            f"grad_output has shape {_shape(dy)}, expected (N, C, *out_spatial) with (N, C) = {shape[:2]} and "
            f"{n} spatial dim(s) for input_shape {shape}"
        )
    if 0 in _shape(dy)[2:]:
        raise ValueError(f"grad_output must have non-empty spatial dims (the output size), got shape {_shape(dy)}")
    adaptive_pool_geometry(shape[2:], _shape(dy)[2:])
    (dyd,) = _blocks("adaptive_avg_pool_backward", grad_output=dy)
    block = {"function": _np_adaptive_avg_pool_backward, "tail": shape[1:], "position": 1, "options": {}}
    return _map_samples(_with_shape_block, [dyd], shape[1:], dtype, "adaptive_avg_pool_backward", **block)


def adaptive_max_pool(
    x: ArrayLike, output_size: OutputSize, return_indices: bool = False
) -> da.Array | tuple[da.Array, da.Array]:
    """:func:`convmat.adaptive_max_pool` on a dask array, optionally with the switches (a second dask array).

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *spatial)
        Real, chunked along the batch axis.
    output_size, return_indices
        As in :func:`convmat.adaptive_max_pool`.

    Returns
    -------
    y : dask.array.Array, shape (N, C, *out_spatial)
        Chunked like ``x`` along the batch axis.
    indices : dask.array.Array of int64, same shape and chunks
        Only with ``return_indices``.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.array([[[3.0, 1.0, 4.0, 1.0, 5.0]], [[9.0, 2.0, 6.0, 5.0, 3.0]]]), chunks=(1, 1, 5))
    >>> y, idx = cm.dask.adaptive_max_pool(x, 3, return_indices=True)
    >>> idx.compute()
    array([[[0, 2, 4]],
    <BLANKLINE>
           [[0, 2, 3]]])
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x", allow_complex=False)
    geom = adaptive_pool_problem(_shape(xo), output_size, function="adaptive_max_pool")
    (xd,) = _blocks("adaptive_max_pool", x=xo)
    tail = (_shape(xo)[1], *geom.output_spatial)
    options: dict[str, Any] = {"output_size": geom.output_spatial}
    return _pooled(_np_adaptive_max_pool, xd, tail, dtype, bool(return_indices), "adaptive_max_pool", options)


def lp_pool(
    x: ArrayLike,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> da.Array:
    """:func:`convmat.lp_pool` on a dask array: the ``p``-norm of every window, block by block.

    Parameters
    ----------
    x : dask.array.Array, shape (N, C, *spatial)
        Real, chunked along the batch axis.
    norm_type, kernel_size, stride, ceil_mode
        As in :func:`convmat.lp_pool`.

    Returns
    -------
    dask.array.Array, shape (N, C, *out_spatial)
        Chunked like ``x`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.array([[[3.0, 4.0, 1.0, 2.0]], [[6.0, 8.0, 0.0, 0.0]]]), chunks=(1, 1, 4))
    >>> cm.dask.lp_pool(x, 2, 2).compute()
    array([[[ 5.        ,  2.23606798]],
    <BLANKLINE>
           [[10.        ,  0.        ]]])
    """
    xo = _operand(x, "x")
    dtype = _dtype(xo, "x", allow_complex=False)
    _norm_type(norm_type)
    geom = _lp_problem(_shape(xo), kernel_size, stride, ceil_mode)
    options: dict[str, Any] = {
        "norm_type": norm_type,
        "kernel_size": kernel_size,
        "stride": stride,
        "ceil_mode": ceil_mode,
    }
    (xd,) = _blocks("lp_pool", x=xo)
    tail = (_shape(xo)[1], *geom.output_spatial)
    return _map_samples(_call_block, [xd], tail, dtype, "lp_pool", function=_np_lp_pool, options=options)


def lp_pool_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> da.Array:
    """:func:`convmat.lp_pool_backward` on dask arrays, block by block along the batch axis.

    Parameters
    ----------
    grad_output : dask.array.Array, shape (N, C, *out_spatial)
        Real, chunked along the batch axis.
    x : dask.array.Array, shape (N, C, *spatial)
        The pooled input, chunked along the batch axis (aligned with
        ``grad_output``'s chunks by dask if they differ).
    norm_type, kernel_size, stride, ceil_mode
        As in :func:`convmat.lp_pool`.

    Returns
    -------
    dask.array.Array, shape of ``x``
        Chunked like ``grad_output`` along the batch axis.

    Examples
    --------
    >>> import numpy as np, dask.array as da, convmat as cm
    >>> x = da.from_array(np.array([[[3.0, 4.0, 0.0, 0.0]], [[0.0, 0.0, 8.0, 6.0]]]), chunks=(1, 1, 4))
    >>> cm.dask.lp_pool_backward(da.ones((2, 1, 2), chunks=(1, 1, 2)), x, 2, 2).compute()
    array([[[0.6, 0.8, 0. , 0. ]],
    <BLANKLINE>
           [[0. , 0. , 0.8, 0.6]]])
    """
    xo = _operand(x, "x")
    x_dtype = _dtype(xo, "x", allow_complex=False)
    dy = _operand(grad_output, "grad_output")
    dy_dtype = _dtype(dy, "grad_output", allow_complex=False)
    _norm_type(norm_type)
    geom = _lp_problem(_shape(xo), kernel_size, stride, ceil_mode)
    check_array_shape(dy, (*_shape(xo)[:2], *geom.output_spatial), "grad_output", "(N, C, *out_spatial)")
    options: dict[str, Any] = {
        "norm_type": norm_type,
        "kernel_size": kernel_size,
        "stride": stride,
        "ceil_mode": ceil_mode,
    }
    dyd, xd = _blocks("lp_pool_backward", grad_output=dy, x=xo)
    dtype = np.result_type(x_dtype, dy_dtype)
    return _map_samples(
        _call_block,
        [dyd, xd],
        _shape(xo)[1:],
        dtype,
        "lp_pool_backward",
        function=_np_lp_pool_backward,
        options=options,
    )
