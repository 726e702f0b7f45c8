"""Max and average pooling, each forward beside its adjoint.

Max pooling selects and does not alter: ``y = S·x`` with the 0/1 selection
matrix ``S`` of :func:`convmat.max_pool_matrix`, so its backward is a selection
too, ``dx = Sᵀ·dy``: :func:`max_pool_backward` routes every gradient to its
window's switch (the argmax), adding where overlapping windows share one.
:func:`max_unpool` also puts values back at the switches, but *places* them:
where windows overlap, a shared switch keeps one value instead of the sum.

Average pooling is the fixed linear map ``A`` of :func:`convmat.avg_pool_matrix`,
applied to every plane: ``y = A·x`` and ``dx = Aᵀ·dy``.

All functions take channels-first batches ``(N, C, *spatial)`` with 1 to 3
spatial dims and ``C > 0`` and return PyTorch's numbers (``F.max_pool{1,2,3}d``,
``F.max_unpool{1,2,3}d``, ``F.avg_pool{1,2,3}d`` and their autograd gradients).
The rank-specific ``max_pool2d``, … and :func:`max_unpool` also take one
sample without the batch axis, ``(C, *spatial)``, as PyTorch's do.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from math import prod

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array, check_array_shape
from ._dask_dispatch import on_dask
from ._rank import pool_examples, rank_specific
from .cache import cached_pattern
from .geometry import IntOrTuple, batched_input_dims, check_channels, check_shape, pool_problem, unpool_output_spatial
from .parallel import map_plane_blocks
from .pool_matrices import averaging_matrix, sparse_dtype
from .pool_patterns import max_pool_switches

__all__ = [
    "avg_pool",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "avg_pool_backward",
    "max_pool",
    "max_pool1d",
    "max_pool2d",
    "max_pool3d",
    "max_pool_backward",
    "max_unpool",
]


def _switch_array(indices: ArrayLike, shape: tuple[int, ...], what: str) -> np.ndarray:
    """Switch indices as an integer array of ``shape`` (their range unchecked)."""
    idx = np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer array (the switches of max_pool), got dtype {idx.dtype}")
    check_array_shape(idx, shape, "indices", f"(the shape of {what})")
    return idx


def _check_switch_range(part: np.ndarray, plane_size: int, idx: np.ndarray) -> None:
    """Raise ``ValueError`` unless every switch of ``part`` (a part of ``idx``) lies in a plane of ``plane_size``."""
    if part.size and _largest_unsigned(part) >= plane_size:
        raise ValueError(
            f"indices must lie in [0, {plane_size}) (flat positions in a plane of the input), "
            f"got values from {idx.min()} to {idx.max()}"
        )


def _switches(indices: ArrayLike, shape: tuple[int, ...], plane_size: int, what: str) -> np.ndarray:
    """Validate switch indices: integers of ``shape``, each inside a plane of ``plane_size``, as int64."""
    idx = _switch_array(indices, shape, what)
    _check_switch_range(idx, plane_size, idx)
    return idx.astype(np.int64, copy=False)


def _largest_unsigned(idx: np.ndarray) -> int:
    """The largest index read as unsigned: a negative index is then huge, so one maximum checks both ends."""
    return int(idx.view(idx.dtype.str.replace("i", "u")).max())


#: Bytes of the result that max_pool_backward fills per scatter on one thread: one scipy.sparse array of that
#: many planes, whose block is zeroed and then added into while it is in cache, so that the result goes to
#: memory once. Measured on layer B's pool (3.1-6.3 MiB, one thread): 1.2-1.4x faster with blocks of
#: 200-800 KiB than in one block, the arrays of each block set on a copy of an empty template.
BACKWARD_BLOCK_BYTES = 1 << 19

#: The same on several threads, where every further block costs its thread a turn at the GIL: layer C's pool
#: (8-16 MiB) on two threads ran 1.2-2x slower in 512 KiB-2 MiB blocks than in one block per thread.
BACKWARD_THREAD_BLOCK_BYTES = 1 << 23

#: Result bytes below which a second thread does not pay for itself in max_pool_backward (measured: the
#: 3-6 MiB of layer B's pool ran slower on two threads, the 8-16 MiB of layer C's faster).
BACKWARD_MIN_BYTES_PER_THREAD = 1 << 22

#: Switches handled per step of max_unpool's placement: each step adds plane offsets to them in a reused
#: buffer (a fresh array of all N·C·L global positions cost more in page faults than the scatter itself),
#: zeroes its part of the result and scatters into it while that part is in cache (measured best between
#: 8 K and 32 K switches).
SCATTER_BLOCK = 1 << 14

_scatter_buffers = threading.local()


@cached_pattern
def _plane_offsets(planes: int, length: int, plane_size: int) -> np.ndarray:
    """``[0]*length + [plane_size]*length + ...``: where each of ``planes`` planes starts, per switch (read-only)."""
    offsets = np.repeat(np.arange(planes, dtype=np.int64) * plane_size, length)
    offsets.flags.writeable = False
    return offsets


def _scatter_blocks(idx: np.ndarray, plane_size: int) -> Iterator[tuple[slice, slice, np.ndarray]]:
    """Switches per plane ``[N, C, *out]``, block by block of planes, as flat positions in their block.

    Yields ``(switches, targets, positions)``: the block's slice of the flattened
    switches, its slice of the flattened ``[N, C, *spatial]`` array, and the
    positions inside that slice, in this thread's buffer (the next block
    overwrites it). A block's positions are its switches plus the same plane
    offsets every block has (cached per shape).
    """
    planes = idx.shape[0] * idx.shape[1]
    length = prod(idx.shape[2:])
    per_block = max(1, min(SCATTER_BLOCK // max(length, 1), planes))
    flat = idx.reshape(-1)
    offsets = _plane_offsets(per_block, length, plane_size)
    buffer = getattr(_scatter_buffers, "buffer", None)
    if buffer is None or buffer.size < offsets.size:
        buffer = _scatter_buffers.buffer = np.empty(max(offsets.size, SCATTER_BLOCK), dtype=np.int64)
    for start in range(0, planes, per_block):
        stop = min(start + per_block, planes)
        m = (stop - start) * length
        switches = slice(start * length, stop * length)
        np.add(flat[switches], offsets[:m], out=buffer[:m])
        yield switches, slice(start * plane_size, stop * plane_size), buffer[:m]


# ---------------------------------------------------------------------------
# Max pooling: y = S·x, dx = Sᵀ·dy, unpooling places values at the switches
# ---------------------------------------------------------------------------


def max_pool(
    x: ArrayLike,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """N-d max pooling, optionally with the switches (PyTorch's ``F.max_pool{1,2,3}d``).

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Real input with 1 to 3 spatial dims; complex raises ``TypeError``.
    kernel_size : int or tuple of int
    stride : int or tuple of int, optional
        Defaults to ``kernel_size``.
    padding : int or tuple of int
        Implicit ``-inf`` padding on both sides, at most half the kernel.
    dilation : int or tuple of int
        Spacing between the elements of a window.
    ceil_mode : bool
        Round the output size up, keeping only windows that start inside the
        input or its low padding.
    return_indices : bool
        Also return the switches.

    Returns
    -------
    y : ndarray, shape (N, C, *out_spatial)
        dtype of ``x`` (integers and bool promote to float64).
    indices : ndarray of int64, same shape
        Only with ``return_indices``: the flat position of each maximum in its
        unpadded input plane. Ties go to the first maximum in the window's
        row-major scan. A NaN propagates and its index is the window's last
        NaN (PyTorch's CPU rule); a window of ``-inf`` names its first input
        element.

    See Also
    --------
    max_pool_backward, max_unpool : the two ways back.
    convmat.max_pool_matrix : the same pooling as the matrix ``S``.

    Notes
    -----
    A geometry in which a dilated window reads only padding raises
    ``ValueError``: PyTorch returns ``-inf`` there with an index outside the
    input plane, which no switch can represent.

    The planes are pooled in cache-sized blocks, split over
    :func:`convmat.get_num_threads` threads when the input is large (1 MiB or
    more per thread). The result does not depend on the number of threads.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[[1.0, 2.0, 5.0, 1.0],
    ...                 [7.0, 0.0, 3.0, 2.0],
    ...                 [9.0, 4.0, 1.0, 0.0],
    ...                 [2.0, 3.0, 8.0, 6.0]]]])
    >>> y, idx = cm.max_pool(x, 2, return_indices=True)
    >>> y[0, 0]
    array([[7., 5.],
           [9., 8.]])
    >>> idx[0, 0]
    array([[ 4,  2],
           [ 8, 14]])
    """
    if (on_dask_array := on_dask("max_pool", x=x)) is not None:
        return on_dask_array(x, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    xa = as_array(x, "x", allow_complex=False)
    geom = pool_problem(xa.shape, kernel_size, stride, padding, dilation, ceil_mode, function="max_pool")
    values, switches = max_pool_switches(xa, geom)
    return (values, switches) if return_indices else values


def max_pool_backward(grad_output: ArrayLike, indices: ArrayLike, input_shape: Sequence[int]) -> np.ndarray:
    """Gradient of max pooling with respect to its input: ``dx = Sᵀ·dy``.

    Each output gradient goes to its window's switch; everything else gets
    zero. Where windows overlap and share a switch, their gradients add up
    (unlike :func:`max_unpool`, which places one of them).

    Parameters
    ----------
    grad_output : array_like, shape (N, C, *out_spatial)
        Real gradient of the pooled output.
    indices : array_like of int, same shape
        The switches from ``max_pool(..., return_indices=True)``.
    input_shape : sequence of int
        The pooled input's full shape ``(N, C, *spatial)``.

    Returns
    -------
    ndarray, shape ``input_shape``
        dtype of ``grad_output`` (integers promote to float64).

    Notes
    -----
    Each plane's gradients are added at their switches in the row-major order
    of ``grad_output``, the order PyTorch adds them in. float16 gradients
    (a dtype scipy.sparse does not hold) are added in float32 and rounded once.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[1.0, 5.0, 2.0, 0.0]]])
    >>> y, idx = cm.max_pool(x, 3, stride=1, return_indices=True)
    >>> idx
    array([[[1, 1]]])
    >>> cm.max_pool_backward(np.ones((1, 1, 2)), idx, x.shape)
    array([[[0., 2., 0., 0.]]])
    """
    if (on_dask_array := on_dask("max_pool_backward", grad_output=grad_output, indices=indices)) is not None:
        return on_dask_array(grad_output, indices, input_shape)
    shape = check_shape("input_shape", input_shape)
    n = batched_input_dims(shape, "input_shape")
    dy = as_array(grad_output, "grad_output", allow_complex=False)
    if dy.ndim != n + 2 or dy.shape[:2] != shape[:2]:
        raise ValueError(
            f"grad_output has shape {dy.shape}, expected (N, C, *out_spatial) with (N, C) = {shape[:2]} and "
            f"{n} spatial dim(s) for input_shape {shape}"
        )
    planes, length, plane_size = shape[0] * shape[1], prod(dy.shape[2:]), prod(shape[2:])
    idx = _switch_array(indices, dy.shape, "grad_output").reshape(-1)
    # Sᵀ·dy plane by plane: row p of a CSR array holds plane p's gradients at its switches, and scipy's toarray
    # zeroes its output and adds them in (duplicates adding up in row-major order, as PyTorch does), in compiled
    # code free of the GIL. float16, which scipy.sparse does not hold, adds in float32, rounded once at the end.
    work = dy.astype(sparse_dtype(dy.dtype), copy=False)
    values = work.reshape(-1)
    dx = np.empty((planes, plane_size), dtype=work.dtype)

    # int64 switches (max_pool's) are used as they are; other dtypes become int32 where it holds them
    fits_int32 = max(plane_size, idx.size) <= np.iinfo(np.int32).max
    index_dtype = np.dtype(np.int32 if fits_int32 and idx.dtype != np.int64 else np.int64)

    def scatter(block: slice) -> None:
        entries = slice(block.start * length, block.stop * length)
        switches = idx[entries]
        _check_switch_range(switches, plane_size, idx)
        n_rows = block.stop - block.start
        # The arrays are set on a copy of an empty CSR array, not passed to the constructor, which would scan
        # int64 columns (twice) for whether int32 holds them and copy them, and costs 10-20 µs a block.
        rows = copy.copy(_empty_rows(n_rows, plane_size, values.dtype))
        rows.data = values[entries]
        rows.indices = switches.astype(index_dtype, copy=False)
        rows.indptr = _row_starts(n_rows, length, index_dtype)
        rows.toarray(out=dx[block])

    map_plane_blocks(
        scatter,
        planes,
        plane_size * dx.itemsize,
        BACKWARD_BLOCK_BYTES,
        BACKWARD_MIN_BYTES_PER_THREAD,
        threaded_block_bytes=BACKWARD_THREAD_BLOCK_BYTES,
    )
    return dx.reshape(shape).astype(dy.dtype, copy=False)


@cached_pattern
def _empty_rows(rows: int, columns: int, dtype: np.dtype) -> sp.csr_array:
    """An empty ``rows × columns`` CSR array: a template to copy (a copy's arrays are then set, not this one's)."""
    return sp.csr_array((rows, columns), dtype=dtype)


@cached_pattern
def _row_starts(rows: int, length: int, dtype: np.dtype) -> np.ndarray:
    """``[0, length, 2·length, ...]``: the CSR row pointer of ``rows`` rows of ``length`` entries (read-only)."""
    starts = np.arange(rows + 1, dtype=dtype) * dtype.type(length)
    starts.flags.writeable = False
    return starts


def max_unpool(x: ArrayLike, indices: ArrayLike, output_size: Sequence[int]) -> np.ndarray:
    """PyTorch's max unpooling: values back at their switches, zeros elsewhere.

    The partial inverse of max pooling (``F.max_unpool{1,2,3}d``). Where windows
    overlap, several pooled values can name the same switch; unpooling *places*,
    so that position keeps one of them: the last in row-major order of ``x``.
    After pooling these are equal (the same input element), so unpooling a
    pooled output is exact; for gradients use :func:`max_pool_backward`, which
    *adds*. (PyTorch's CPU kernel writes shared switches from several threads,
    so there the kept value is not defined.)

    Parameters
    ----------
    x : array_like, shape (N, C, *pooled_spatial) or (C, *pooled_spatial)
        Real values to put back, typically a max-pooled output. With one axis
        more than ``output_size`` has entries, ``x`` is one sample without the
        batch axis (as ``F.max_unpool{1,2,3}d`` accepts).
    indices : array_like of int, same shape
        The switches from ``max_pool(..., return_indices=True)``.
    output_size : sequence of int
        The spatial size ``(*spatial)`` of the result or, for a batched ``x``,
        its full shape ``(N, C, *spatial)`` (as PyTorch also accepts). Every
        dim must be positive and every index must lie inside it (adaptive
        pooling's switches may name fewer input elements than there are
        pooled values).

    Returns
    -------
    ndarray, shape (N, C, *output_size) or, unbatched, (C, *output_size)
        dtype of ``x``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[[1.0, 2.0, 5.0, 1.0],
    ...                 [7.0, 0.0, 3.0, 2.0],
    ...                 [9.0, 4.0, 1.0, 0.0],
    ...                 [2.0, 3.0, 8.0, 6.0]]]])
    >>> y, idx = cm.max_pool(x, 2, return_indices=True)
    >>> cm.max_unpool(y, idx, (4, 4))[0, 0]
    array([[0., 0., 5., 0.],
           [7., 0., 0., 0.],
           [9., 0., 0., 0.],
           [0., 0., 8., 0.]])
    >>> cm.max_unpool(y[0], idx[0], (4, 4)).shape  # unbatched (C, H, W)
    (1, 4, 4)
    """
    if (on_dask_array := on_dask("max_unpool", x=x, indices=indices)) is not None:
        return on_dask_array(x, indices, output_size)
    xa = as_array(x, "x", allow_complex=False)
    size = check_shape("output_size", output_size)
    if xa.ndim == len(size) + 1 and len(size) in (1, 2, 3):  # one sample (C, *pooled), as F.max_unpool{n}d takes
        check_channels(xa.shape, "x", axis=0)
        idx = _switch_array(indices, xa.shape, "x")
        return max_unpool(xa[np.newaxis], idx[np.newaxis], size)[0]
    spatial = unpool_output_spatial(xa.shape, size)
    shape = (*xa.shape[:2], *spatial)
    plane_size = prod(spatial)
    idx = _switches(indices, xa.shape, plane_size, "x")
    out = np.zeros(prod(shape), dtype=xa.dtype)
    values = xa.ravel()
    for switches, targets, positions in _scatter_blocks(idx, plane_size):
        _place_last(out[targets], positions, values[switches])
    return out.reshape(shape)


def _place_last(out: np.ndarray, positions: np.ndarray, values: np.ndarray) -> None:
    """``out[positions[i]] = values[i]`` for every ``i``, a position named more than once keeping its last value.

    NumPy's fancy assignment does not promise an order among repeated positions,
    but the result can only depend on it where one position gets *different*
    values: there what was stored differs from some value written to it. Those
    positions (rare: after pooling, a shared switch gets equal values) are then
    given their last value explicitly.
    """
    out[positions] = values
    stored = out[positions]
    if values.dtype.itemsize in (1, 2, 4, 8):  # compare bits: NaN equals itself, -0.0 differs from 0.0
        unsigned = np.dtype(f"u{values.dtype.itemsize}")
        differs = stored.view(unsigned) != values.view(unsigned)
    else:
        differs = (stored != values) & ~(np.isnan(stored) & np.isnan(values))
        differs |= np.signbit(stored) != np.signbit(values)
    if not differs.any():
        return
    contested = np.flatnonzero(np.isin(positions, positions[differs]))[::-1]  # latest first
    _, latest = np.unique(positions[contested], return_index=True)
    last = contested[latest]
    out[positions[last]] = values[last]


# ---------------------------------------------------------------------------
# Average pooling: y = A·x and dx = Aᵀ·dy, one fixed matrix A per plane
# ---------------------------------------------------------------------------


def _apply_per_plane(matrix: sp.sparray, planes: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """``matrix @ plane`` for every plane of ``planes`` ``[N, C, *in]``, in one sparse product."""
    batch, channels = planes.shape[:2]
    work = planes.astype(np.promote_types(planes.dtype, sparse_dtype(planes.dtype)), copy=False)
    # [M, P] @ [P, N*C] -> [M, N*C]
    result = matrix @ work.reshape(batch * channels, matrix.shape[1]).T
    return result.T.astype(planes.dtype, copy=False).reshape(out_shape)


def avg_pool(
    x: ArrayLike,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """N-d average pooling (PyTorch's ``F.avg_pool{1,2,3}d``): ``y = A·x`` on every plane.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Input with 1 to 3 spatial dims; complex is fine (the map is linear).
    kernel_size : int or tuple of int
    stride : int or tuple of int, optional
        Defaults to ``kernel_size``.
    padding : int or tuple of int
        Implicit zero padding on both sides, at most half the kernel.
    ceil_mode : bool
        Round the output size up, keeping only windows that start inside the
        input or its low padding.
    count_include_pad : bool
        Whether the zero padding counts in the divisor (the ceil-mode overhang
        beyond the padding never does).
    divisor_override : int, optional
        PyTorch's ``divisor_override``: a non-zero int (negative is fine) that
        every window's sum is divided by instead of its size, whatever
        ``count_include_pad`` and ``ceil_mode``.

    Returns
    -------
    ndarray, shape (N, C, *out_spatial)
        dtype of ``x`` (integers and bool promote to float64).

    See Also
    --------
    avg_pool_backward : the adjoint ``Aᵀ·dy``.
    convmat.avg_pool_matrix : the matrix ``A``.

    Notes
    -----
    PyTorch's ``avg_pool3d`` (unlike its 1-d and 2-d versions) refuses an input
    dim smaller than the kernel even when the padding makes room; convmat
    applies the 1-d/2-d rule in every rank. PyTorch's ``avg_pool1d`` has no
    ``divisor_override``; convmat takes it in every rank (in 1-d it is
    ``avg_pool2d`` of a plane one row high).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.arange(1.0, 6.0).reshape(1, 1, 5)
    >>> cm.avg_pool(x, 2)
    array([[[1.5, 3.5]]])
    >>> cm.avg_pool(x, 2, ceil_mode=True)
    array([[[1.5, 3.5, 5. ]]])
    >>> cm.avg_pool(x, 2, padding=1, count_include_pad=False)
    array([[[1. , 2.5, 4.5]]])
    >>> cm.avg_pool(x, 2, divisor_override=1)  # window sums
    array([[[3., 7.]]])
    """
    if (on_dask_array := on_dask("avg_pool", x=x)) is not None:
        return on_dask_array(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
    xa = as_array(x, "x")
    geom = pool_problem(xa.shape, kernel_size, stride, padding, 1, ceil_mode, function="avg_pool")
    matrix = averaging_matrix(geom, count_include_pad, xa.dtype, divisor_override=divisor_override)
    return _apply_per_plane(matrix, xa, (*xa.shape[:2], *geom.output_spatial))


def avg_pool_backward(
    grad_output: ArrayLike,
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """Gradient of average pooling with respect to its input: ``dx = Aᵀ·dy`` on every plane.

    Each output gradient is spread over its window's input elements, divided
    by the same divisor as the forward; overlapping windows add up.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, *out_spatial)
    input_shape : sequence of int
        The pooled input's full shape ``(N, C, *spatial)``.
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As in :func:`avg_pool`.

    Returns
    -------
    ndarray, shape ``input_shape``, dtype of ``grad_output``

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> cm.avg_pool_backward(np.ones((1, 1, 2)), (1, 1, 4), 2)
    array([[[0.5, 0.5, 0.5, 0.5]]])
    >>> cm.avg_pool_backward(np.ones((1, 1, 3)), (1, 1, 5), 3, stride=2, padding=1)
    array([[[0.33333333, 0.66666667, 0.33333333, 0.66666667, 0.33333333]]])
    >>> cm.avg_pool_backward(np.ones((1, 1, 3)), (1, 1, 5), 3, stride=2, padding=1, divisor_override=2)
    array([[[0.5, 1. , 0.5, 1. , 0.5]]])
    """
    if (on_dask_array := on_dask("avg_pool_backward", grad_output=grad_output)) is not None:
        options = {"ceil_mode": ceil_mode, "count_include_pad": count_include_pad, "divisor_override": divisor_override}
        return on_dask_array(grad_output, input_shape, kernel_size, stride, padding, **options)
    shape = check_shape("input_shape", input_shape)
    geom = pool_problem(shape, kernel_size, stride, padding, 1, ceil_mode, input_name="input_shape")
    dy = as_array(grad_output, "grad_output")
    check_array_shape(dy, (*shape[:2], *geom.output_spatial), "grad_output", "(N, C, *out_spatial)")
    matrix = averaging_matrix(geom, count_include_pad, dy.dtype, divisor_override=divisor_override)
    return _apply_per_plane(matrix.T, dy, shape)


# ---------------------------------------------------------------------------
# Rank-specific variants, batched or unbatched
# ---------------------------------------------------------------------------


def _pool_nd(op: Callable[..., np.ndarray | tuple[np.ndarray, np.ndarray]], n: int) -> Callable[..., object]:
    examples = pool_examples(f"{op.__name__}{n}d", n, size=4, args="2", out=2, with_indices=op is max_pool)
    what = {"max_pool": "max pooling", "avg_pool": "average pooling"}[op.__name__]
    returns = "ndarray or tuple of ndarray" if op is max_pool else "ndarray"
    return rank_specific(op, n, what=what, examples=examples, allow_complex=op is avg_pool, returns=returns)


max_pool1d = _pool_nd(max_pool, 1)
max_pool2d = _pool_nd(max_pool, 2)
max_pool3d = _pool_nd(max_pool, 3)
avg_pool1d = _pool_nd(avg_pool, 1)
avg_pool2d = _pool_nd(avg_pool, 2)
avg_pool3d = _pool_nd(avg_pool, 3)
