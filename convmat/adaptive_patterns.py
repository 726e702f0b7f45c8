"""Adaptive pooling's raw material: per-axis window tables and matrices, the plane matrix, sizes, the switch kernel.

Adaptive windows are separable: a window of a plane is the product of one
window per axis (:func:`convmat.adaptive_geometry.adaptive_window`). So the
averaging matrix of a plane is the Kronecker product of one small matrix per
axis, row ``i`` of axis ``d`` holding ``1 / length`` on window ``i``
(:func:`adaptive_axis_matrix`, :func:`adaptive_avg_plane_matrix`), and the
maximum of a window is the maximum, along the first axis, of the maxima along
the later axes (:func:`adaptive_max_switches`). Everything geometry-only is
computed once per geometry and cached, read-only; callers must not mutate it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import prod

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike

from .adaptive_geometry import AdaptiveGeometry, OutputSize, adaptive_pool_geometry, adaptive_pool_problem
from .cache import cached_pattern
from .geometry import check_shape
from .parallel import map_plane_blocks
from .sizes import MatrixSize, csr_size, matrix_dtype

__all__ = [
    "AxisWindows",
    "adaptive_avg_geometry_size",
    "adaptive_avg_plane_matrix",
    "adaptive_avg_pool_matrix_size",
    "adaptive_axis_dense",
    "adaptive_axis_matrix",
    "adaptive_axis_windows",
    "adaptive_max_geometry_size",
    "adaptive_max_pool_matrix_size",
    "adaptive_max_switches",
]

#: Input bytes of the planes that one step of adaptive max pooling handles. Each step runs a few dozen NumPy
#: calls per axis, many on output-sized arrays, whose fixed cost larger blocks amortise: measured on
#: (8, 64, 56, 56) pooled to 7 and 5 and (32, 64, 112, 112) pooled to 7, on one and two threads, blocks of
#: 4-8 MiB ran up to 1.5x faster than blocks of 2 MiB, and blocks of 16 MiB up to 2x slower than 8 MiB.
ADAPTIVE_BLOCK_BYTES = 1 << 23

#: Input bytes below which a further thread does not pay for itself in adaptive max pooling.
ADAPTIVE_MIN_BYTES_PER_THREAD = 1 << 20


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


@dataclass(frozen=True, eq=False)
class AxisWindows:
    """The adaptive windows along one axis of ``size`` input elements pooled to ``out``.

    Attributes
    ----------
    start, length : ndarray of int64, shape (out,)
        Window ``i`` covers ``[start[i], start[i] + length[i])``.
    taps : ndarray of intp, shape (max(length), out)
        ``taps[t, i]``: the input position that tap ``t`` of window ``i`` reads,
        ``start[i] + min(t, length[i] - 1)``: a window shorter than the longest
        reads its last element again, which changes neither its maximum nor
        where that maximum first (or its NaN last) occurs.
    step : int
        When every window has the same length and the starts are ``0, step,
        2·step, …`` (``out`` divides ``size``, or as for 56 pooled to 5: windows
        of 12 every 11), tap ``t`` reads ``t, t + step, t + 2·step, …``, a
        strided slice; else 0.
    uniform : bool
        Whether the windows sit side by side (``out`` divides ``size``,
        ``step`` is the length).
    """

    start: np.ndarray
    length: np.ndarray
    taps: np.ndarray
    step: int
    uniform: bool


@cached_pattern
def adaptive_axis_windows(size: int, out: int) -> AxisWindows:
    """The cached :class:`AxisWindows` of an axis of ``size`` pooled to ``out`` (PyTorch's windows).

    Examples
    --------
    >>> w = adaptive_axis_windows(5, 3)
    >>> w.start.tolist(), w.length.tolist(), w.taps.tolist(), w.step
    ([0, 1, 3], [2, 3, 2], [[0, 1, 3], [1, 2, 4], [1, 3, 4]], 0)
    >>> adaptive_axis_windows(56, 5).step, adaptive_axis_windows(56, 7).step
    (11, 8)
    """
    i = np.arange(out, dtype=np.int64)
    start = (i * size) // out
    stop = -((-(i + 1) * size) // out)
    length = stop - start
    taps = start + np.minimum(np.arange(int(length.max()), dtype=np.int64)[:, None], length - 1)
    taps = taps.astype(np.intp)
    _readonly(start, length, taps)
    steps = np.diff(start)
    step = int(steps[0]) if out > 1 else 1
    if (length != length[0]).any() or (steps != step).any() or step == 0:
        step = 0
    return AxisWindows(start, length, taps, step, size % out == 0)


@cached_pattern
def adaptive_axis_matrix(size: int, out: int) -> sp.csr_array:
    """The cached float64 ``(out, size)`` averaging matrix of one axis: ``1 / length`` on each window.

    The plane matrix is the Kronecker product of these (C order), and a plane
    is averaged by applying them axis by axis. The arrays are read-only.

    Examples
    --------
    >>> adaptive_axis_matrix(3, 2).toarray().tolist()
    [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    """
    windows = adaptive_axis_windows(size, out)
    structure = _axis_structure(windows, size)
    data = np.repeat(1.0 / windows.length, windows.length)
    matrix = sp.csr_array((data, structure.indices, structure.indptr), shape=(out, size), copy=False)
    _readonly(matrix.data, matrix.indices, matrix.indptr)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


@cached_pattern
def adaptive_axis_dense(size: int, out: int) -> np.ndarray:
    """:func:`adaptive_axis_matrix` as a read-only dense ndarray (for BLAS), cached.

    Examples
    --------
    >>> adaptive_axis_dense(3, 2).tolist()
    [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    """
    dense = adaptive_axis_matrix(size, out).toarray()
    _readonly(dense)
    return dense


def _axis_structure(windows: AxisWindows, size: int) -> sp.csr_array:
    """The 0/1 int8 window structure of one axis, ``(out, size)``."""
    out = windows.start.size
    indptr = np.zeros(out + 1, dtype=np.int64)
    np.cumsum(windows.length, out=indptr[1:])
    indices = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1] - windows.start, windows.length)
    return sp.csr_array((np.ones(indices.size, dtype=np.int8), indices, indptr), shape=(out, size))


@cached_pattern
def adaptive_avg_plane_matrix(geom: AdaptiveGeometry) -> sp.csr_array:
    """The cached float64 averaging matrix ``A`` of one plane, ``(prod(out), prod(in))``.

    The Kronecker product of the per-axis window structures (C-order
    flattening); row ``o`` holds ``1 / divisor[o]`` at the input elements of
    window ``o``, the divisor being the window's number of elements, as in
    PyTorch. The arrays are read-only; copy before mutating.

    Examples
    --------
    >>> from convmat.adaptive_geometry import adaptive_pool_geometry
    >>> adaptive_avg_plane_matrix(adaptive_pool_geometry((3,), 2)).toarray().tolist()
    [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    """
    structure = sp.csr_array(np.ones((1, 1), dtype=np.int8))
    divisor = np.ones(1, dtype=np.int64)
    for size, out in zip(geom.input_spatial, geom.output_spatial, strict=True):
        windows = adaptive_axis_windows(size, out)
        structure = sp.kron(structure, _axis_structure(windows, size), format="csr")
        divisor = np.multiply.outer(divisor, windows.length).ravel()
    structure.sort_indices()
    nnz = structure.indptr[-1]
    index_dtype = sp.get_index_dtype(maxval=max(nnz, *structure.shape))
    indptr = structure.indptr.astype(index_dtype)
    indices = structure.indices.astype(index_dtype)
    data = np.repeat(1.0 / divisor, np.diff(indptr))
    _readonly(indptr, indices, data)
    matrix = sp.csr_array((data, indices, indptr), shape=structure.shape, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


# ---------------------------------------------------------------------------
# Sizes before building
# ---------------------------------------------------------------------------


def adaptive_avg_geometry_size(geom: AdaptiveGeometry) -> MatrixSize:
    """The :class:`~convmat.MatrixSize` of the float64 averaging matrix of a validated geometry.

    Its entries are the window elements: per axis the window lengths add up,
    and the plane's count is their product over the axes.
    """
    nnz = prod(
        int(adaptive_axis_windows(n, m).length.sum())
        for n, m in zip(geom.input_spatial, geom.output_spatial, strict=True)
    )
    return csr_size((geom.output_size, geom.input_size), nnz, np.float64)


def adaptive_max_geometry_size(geom: AdaptiveGeometry, planes: int, dtype: DTypeLike) -> MatrixSize:
    """The :class:`~convmat.MatrixSize` of the adaptive max-pooling selection ``S`` of ``planes`` planes."""
    rows, cols = planes * geom.output_size, planes * geom.input_size
    return csr_size((rows, cols), rows, dtype, index_maxval=max(rows, cols))


def adaptive_avg_pool_matrix_size(input_spatial: Sequence[int], output_size: OutputSize) -> MatrixSize:
    """Shape, stored entries and bytes of :func:`convmat.adaptive_avg_pool_matrix`'s ``A``, without building it.

    Row ``o`` of ``A`` holds the input elements of window ``o``; the count
    factors over the axes like the windows do: ``nnz = ∏_d Σ_i length_d[i]``.

    Parameters
    ----------
    input_spatial : sequence of int
        Spatial shape of one plane (1 to 3 dims).
    output_size : int or sequence of int or None
        As for :func:`convmat.adaptive_avg_pool`.

    Returns
    -------
    MatrixSize

    Examples
    --------
    >>> import convmat as cm
    >>> cm.adaptive_avg_pool_matrix_size((56, 56), 7)
    MatrixSize(shape=(49, 3136), nnz=3136, nbytes=37832)
    >>> cm.adaptive_avg_pool_matrix_size((56, 56), 5).nnz  # overlapping windows: 60 of 56 per axis
    3600
    """
    return adaptive_avg_geometry_size(adaptive_pool_geometry(input_spatial, output_size))


def adaptive_max_pool_matrix_size(
    input_shape: Sequence[int], output_size: OutputSize, dtype: DTypeLike = "float64"
) -> MatrixSize:
    """Shape, stored entries and bytes of :func:`convmat.adaptive_max_pool_matrix`'s ``S``, without building it.

    ``S`` has one entry per output element: ``nnz = N · C · prod(out)``.

    Parameters
    ----------
    input_shape : sequence of int
        The input's full shape ``(N, C, *spatial)``.
    output_size : int or sequence of int or None
        As for :func:`convmat.adaptive_max_pool`.
    dtype : dtype, default "float64"
        The input's dtype (float16 is held as float32).

    Returns
    -------
    MatrixSize

    Examples
    --------
    >>> import convmat as cm
    >>> cm.adaptive_max_pool_matrix_size((8, 512, 7, 7), 1)
    MatrixSize(shape=(4096, 200704), nnz=4096, nbytes=65540)
    """
    shape = check_shape("input_shape", input_shape)
    geom = adaptive_pool_problem(shape, output_size, input_name="input_shape")
    return adaptive_max_geometry_size(geom, shape[0] * shape[1], matrix_dtype(dtype))


# ---------------------------------------------------------------------------
# The switch kernel: maxima and their positions, one axis at a time
# ---------------------------------------------------------------------------


def adaptive_max_switches(x: np.ndarray, geom: AdaptiveGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive max pooling of a real ``(N, C, *spatial)`` array, with its switches.

    PyTorch's rule, as in max pooling: scan a window's elements in row-major
    order and let one take over when it is greater than the running maximum or
    is NaN. So ties go to the first maximum, a NaN propagates and names the
    last NaN of its window, and a window of ``-inf`` names its first element.

    Both halves are separable. The maxima: reduce the last axis over its
    windows, then the one before, and so on (``np.maximum`` propagates NaN),
    keeping each partial reduction. The switches, top down: the first maximum
    in row-major order lies in the first row (along the first axis) whose
    maximum over the later axes is the window's; within that row, in the first
    sub-row whose maximum is, and so on (for a NaN, the last row holding one).
    Per axis the tap is either searched at the rows found (a gather per tap
    and output) or tracked while reducing that axis (passes over the partial
    reduction): tracked where the earlier axes reduce little, and by
    ``argmax`` over gathered windows when windows are long
    (:data:`LONG_WINDOW` taps or more). The planes go in blocks of about
    :data:`ADAPTIVE_BLOCK_BYTES`, split over
    :func:`convmat.get_num_threads` threads when the input is large.

    Returns
    -------
    values : ndarray, shape (N, C, *out_spatial), dtype of ``x``
    switches : ndarray of int64, same shape
        Flat position of each maximum inside its input plane.
    """
    planes = x.shape[0] * x.shape[1]
    n = geom.ndim
    flat = np.ascontiguousarray(x.reshape(planes, *geom.input_spatial))
    tables = [adaptive_axis_windows(i, o) for i, o in zip(geom.input_spatial, geom.output_spatial, strict=True)]
    modes = [_axis_mode(geom, k, tables[k]) for k in range(n)]
    values = np.empty((planes, *geom.output_spatial), dtype=x.dtype)
    switches = np.empty(values.shape, dtype=np.int64)

    def pool(block: slice) -> None:
        # maxima[k]: the block reduced over the windows of axes k, k+1, ... (maxima[n] is the block itself)
        maxima = [flat[block]]
        tracked: dict[int, np.ndarray] = {}
        pending: dict[int, list[np.ndarray]] = {}
        for d in reversed(range(n)):
            if modes[d] == "argmax":
                reduced, tracked[d] = _argmax_axis(maxima[0], 1 + d, tables[d])
            else:
                taps = _axis_taps(maxima[0], 1 + d, tables[d])
                reduced = _maximum(taps)
                if modes[d] == "track":
                    pending[d] = taps
            maxima.insert(0, reduced)
        best = maxima[0]
        has_nan = bool(np.isnan(best).any())  # every element is in some window: a NaN anywhere shows in best
        for d, taps in pending.items():
            tracked[d] = _first_tap(taps, maxima[d], np.isnan(maxima[d]) if has_nan else None)
        values[block] = best
        switches[block] = _search_switches(maxima, tables, np.isnan(best) if has_nan else None, tracked)

    plane_bytes = x.itemsize * geom.input_size
    map_plane_blocks(pool, planes, plane_bytes, ADAPTIVE_BLOCK_BYTES, ADAPTIVE_MIN_BYTES_PER_THREAD)
    out_shape = (*x.shape[:2], *geom.output_spatial)
    return values.reshape(out_shape), switches.reshape(out_shape)


#: Windows of this many taps or more are reduced by ``argmax`` over the gathered windows, which then pays for
#: its copy: measured on 2 MiB blocks, the tap-by-tap passes were faster up to 16-24 taps, argmax from 32 on.
LONG_WINDOW = 32


def _axis_mode(geom: AdaptiveGeometry, k: int, windows: AxisWindows) -> str:
    """How axis ``k`` finds its taps: ``"argmax"`` (long windows), ``"track"`` or ``"search"`` (see above).

    A search gathers ``max(length)`` elements per output; tracking makes as
    many passes over the reduction of the axes from ``k`` on, which is larger
    than the output by what the axes before ``k`` reduce. Along the first axis
    a search is tracking (nothing before it).
    """
    if windows.taps.shape[0] >= LONG_WINDOW:
        return "argmax"
    if k > 0 and prod(geom.input_spatial[:k]) <= 2 * prod(geom.output_spatial[:k]):
        return "track"
    return "search"


def _argmax_axis(values: np.ndarray, axis: int, windows: AxisWindows) -> tuple[np.ndarray, np.ndarray]:
    """Maximum and tap of every window along ``axis``, by ``argmax`` over the windows (first maximum, last NaN)."""
    out, length = windows.start.size, windows.taps.shape[0]
    if windows.uniform:  # the windows side by side: split the axis, a view
        gathered = values.reshape(*values.shape[:axis], out, length, *values.shape[axis + 1 :])
    else:
        gathered = np.take(values, windows.taps.T, axis=axis)
    tap = gathered.argmax(axis=axis + 1)
    best = np.take_along_axis(gathered, np.expand_dims(tap, axis + 1), axis + 1).squeeze(axis + 1)
    nan = np.isnan(best)
    if nan.any():  # argmax names the first NaN; the rule wants the last
        last = length - 1 - np.flip(np.isnan(gathered), axis + 1).argmax(axis=axis + 1)
        tap = np.where(nan, last, tap)
    return np.ascontiguousarray(best), tap


def _axis_taps(values: np.ndarray, axis: int, windows: AxisWindows) -> list[np.ndarray]:
    """Per tap ``t``: the element that tap ``t`` of every window reads along ``axis`` (views where strided)."""
    out, step = windows.start.size, windows.step
    if step:
        index: list[slice] = [slice(None)] * values.ndim
        taps = []
        for t in range(windows.taps.shape[0]):
            index[axis] = slice(t, t + (out - 1) * step + 1, step)
            taps.append(values[tuple(index)])
        return taps
    return [np.take(values, row, axis=axis) for row in windows.taps]


def _maximum(taps: list[np.ndarray]) -> np.ndarray:
    """The elementwise maximum of the taps, NaN where one is NaN (a new C-contiguous array)."""
    best = np.array(taps[0])
    for value in taps[1:]:
        np.maximum(best, value, out=best)
    return best


def _search_switches(
    maxima: list[np.ndarray], tables: list[AxisWindows], nan: np.ndarray | None, tracked: dict[int, np.ndarray]
) -> np.ndarray:
    """The flat plane position of every window's switch, found axis by axis from the first through the maxima.

    ``maxima[k]`` is the block ``(B, *spatial)`` reduced over the windows of
    axes ``k`` and later, C-contiguous. Along axis ``k`` the switch's position
    is the window's first tap at which ``maxima[k + 1]`` (reduced over the
    later axes only), read at the positions already found along the earlier
    axes, equals the window's maximum; where that maximum is NaN (``nan``), the
    last tap at which it is NaN. ``tracked[k]``, where given, holds that tap
    at every element of ``maxima[k]``: it is read at the positions found.
    """
    best = maxima[0]
    n = len(tables)
    outs = best.shape[1:]
    # block plane and output coordinates, each broadcastable
    index: tuple[np.ndarray, ...] = tuple(np.indices(best.shape, sparse=True))
    position = np.zeros((), dtype=np.int64)  # row-major position over the axes searched so far
    for k, windows in enumerate(tables):
        window = index[1 + k]
        if k == 0 and k in tracked:
            tap = tracked[0]
        elif k == 0:  # no position found yet: the taps of maxima[1] along axis 0 line up with the output
            tap = _first_tap(_axis_taps(maxima[1], 1, windows), best, nan)
        else:
            source = maxima[k] if k in tracked else maxima[k + 1]
            # flat index in source of (plane, positions found, position along axis k, later outputs)
            after = prod(outs[k + 1 :])
            rest = sum(index[1 + j] * prod(outs[j + 1 :]) for j in range(k + 1, n))
            prefix = (index[0] * prod(source.shape[1 : 1 + k]) + position) * (source.shape[1 + k] * after) + rest
            if k in tracked:
                tap = np.take(tracked[k], prefix + window * after)
            else:
                read = source.reshape(-1)
                tap = _first_tap([np.take(read, prefix + row[window] * after) for row in windows.taps], best, nan)
        position = position * maxima[k + 1].shape[1 + k] + windows.taps[tap, window]
    return position


def _first_tap(taps: list[np.ndarray], best: np.ndarray, nan: np.ndarray | None) -> np.ndarray:
    """Per window: the first tap equal to ``best``; where ``nan``, the last tap that is NaN."""
    tap_dtype = np.min_scalar_type(len(taps))
    tap = np.zeros(best.shape, dtype=tap_dtype)
    all_differ = np.ones(best.shape, dtype=bool)
    differs = np.empty(best.shape, dtype=bool)
    for value in taps[:-1]:  # the number of taps before the first equal one (plain arithmetic, no masked writes)
        np.not_equal(value, best, out=differs)
        all_differ &= differs
        tap += all_differ
    if nan is not None:
        for t, value in enumerate(taps):
            np.copyto(tap, t, where=nan & np.isnan(value))
    return tap
