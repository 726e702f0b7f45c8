"""Pooling's raw material: the window patterns of a geometry, and the max-pool switch kernel that reads through them.

Max pooling needs, for every window, where its taps sit in the input plane and
which tap is the first one that reads a real input element (the switch of a
window whose every element is ``-inf``): :func:`max_pool_pattern`. Average
pooling is a fixed linear map: its plane matrix depends on the geometry and the
divisor rule only (:func:`avg_pool_plane_matrix`). Both are computed once per
geometry and cached, read-only; callers must not mutate them.

:func:`max_pool_switches` pools a batch and finds the switches (the argmax of
every window) through the pattern; it is what both max-pooling routes start
from, the direct one (:func:`convmat.max_pool`) and the matrix one
(:func:`convmat.max_pool_matrix`).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

import numpy as np
import scipy.sparse as sp

from .cache import cached_pattern
from .geometry import PoolGeometry
from .padding import pad_spatial
from .parallel import map_plane_blocks
from .windows import window_view

__all__ = ["POOL_BLOCK_BYTES", "MaxPoolPattern", "avg_pool_plane_matrix", "max_pool_pattern", "max_pool_switches"]


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


def _plane_strides(spatial: tuple[int, ...]) -> tuple[int, ...]:
    """C-order strides, in elements, of an array of shape ``spatial``."""
    return tuple(prod(spatial[d + 1 :]) for d in range(len(spatial)))


@dataclass(frozen=True, eq=False)
class MaxPoolPattern:
    """Where the taps of every max-pooling window sit in the unpadded input plane.

    Tap ``t`` (row-major over the kernel) of window ``o`` (row-major over the
    output) reads input element ``window_origin[o] + tap_offset[t]`` of the
    flattened plane, whenever that tap is not in the padding.

    Attributes
    ----------
    window_origin : ndarray of int64, shape out_spatial
        Flat plane position of tap 0 of each window; negative or out-of-row
        values are fine, only sums for taps inside the input are used.
    tap_offset : ndarray of int64, shape (prod(kernel),)
        Flat offset of each (dilated) tap from tap 0.
    first_tap : ndarray of intp, shape out_spatial
        The first tap of each window, in row-major scan, that reads an input element.
    """

    window_origin: np.ndarray
    tap_offset: np.ndarray
    first_tap: np.ndarray


@cached_pattern
def max_pool_pattern(geom: PoolGeometry) -> MaxPoolPattern:
    """The cached :class:`MaxPoolPattern` of a geometry (one small table per spatial dim).

    Examples
    --------
    >>> from convmat.geometry import pool_geometry
    >>> pat = max_pool_pattern(pool_geometry((5,), 3, stride=2, padding=1))
    >>> pat.window_origin.tolist(), pat.tap_offset.tolist(), pat.first_tap.tolist()
    ([-1, 1, 3], [0, 1, 2], [1, 0, 0])
    """
    n = geom.ndim
    plane_strides = _plane_strides(geom.input_spatial)
    kernel_strides = _plane_strides(geom.kernel_size)
    origin = np.zeros((1,) * n, dtype=np.int64)
    offset = np.zeros((1,) * n, dtype=np.int64)
    first = np.zeros((1,) * n, dtype=np.intp)
    for d in range(n):
        shape = [1] * n
        shape[d] = -1
        start = np.arange(geom.output_spatial[d], dtype=np.int64) * geom.stride[d] - geom.padding[d]
        taps = np.arange(geom.kernel_size[d], dtype=np.int64) * geom.dilation[d]
        # first tap at or past position 0: ceil(-start / dilation), 0 for windows starting inside
        first_d = np.maximum(-(start // geom.dilation[d]), 0)
        origin = origin + (start * plane_strides[d]).reshape(shape)
        offset = offset + (taps * plane_strides[d]).reshape(shape)
        first = first + (first_d * kernel_strides[d]).astype(np.intp).reshape(shape)
    offset = offset.ravel()
    _readonly(origin, offset, first)
    return MaxPoolPattern(origin, offset, first)


def _window_rows_1d(
    size: int, out: int, kernel: int, stride: int, pad: int, count_include_pad: bool
) -> tuple[sp.csr_array, np.ndarray]:
    """One axis of average pooling: the real input range and the divisor of each window.

    PyTorch's rule: a window covers ``[start, start + kernel)`` clipped to the
    padded input ``[-pad, size + pad)`` (never the ceil-mode overhang beyond it);
    ``count_include_pad`` divides by that length, otherwise by the number of
    input elements in the window.
    """
    start = np.arange(out, dtype=np.int64) * stride - pad
    stop = start + kernel
    lo, hi = np.maximum(start, 0), np.minimum(stop, size)
    divisor = np.minimum(stop, size + pad) - start if count_include_pad else hi - lo
    counts = hi - lo
    indptr = np.zeros(out + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.arange(indptr[-1], dtype=np.int64) - np.repeat(indptr[:-1] - lo, counts)
    ones = np.ones(indices.size, dtype=np.int8)
    return sp.csr_array((ones, indices, indptr), shape=(out, size)), divisor


@cached_pattern
def avg_pool_plane_matrix(
    geom: PoolGeometry, count_include_pad: bool, divisor_override: int | None = None
) -> sp.csr_array:
    """The cached float64 averaging matrix ``A`` of one plane, ``(prod(out), prod(in))``.

    Averaging is separable: the 0/1 window structure of a plane is the Kronecker
    product of the 1-D structures of its axes (C-order flattening), and PyTorch's
    divisor is the product of the per-axis divisors. Row ``o`` holds
    ``1 / divisor[o]`` at the input elements of window ``o``; with a
    ``divisor_override`` (validated, non-zero) every row holds
    ``1 / divisor_override`` instead, whatever ``count_include_pad``. The arrays
    are read-only; copy before mutating.

    Examples
    --------
    >>> from convmat.geometry import pool_geometry
    >>> avg_pool_plane_matrix(pool_geometry((3,), 2, stride=1), True).toarray().tolist()
    [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    >>> avg_pool_plane_matrix(pool_geometry((3,), 2, stride=1), True, 4).toarray().tolist()
    [[0.25, 0.25, 0.0], [0.0, 0.25, 0.25]]
    """
    structure = sp.csr_array(np.ones((1, 1), dtype=np.int8))
    divisor = np.ones(1, dtype=np.int64)
    for d in range(geom.ndim):
        rows_d, divisor_d = _window_rows_1d(
            geom.input_spatial[d],
            geom.output_spatial[d],
            geom.kernel_size[d],
            geom.stride[d],
            geom.padding[d],
            count_include_pad,
        )
        structure = sp.kron(structure, rows_d, format="csr")
        divisor = np.multiply.outer(divisor, divisor_d).ravel()
    structure.sort_indices()
    nnz = structure.indptr[-1]
    index_dtype = sp.get_index_dtype(maxval=max(nnz, *structure.shape))
    indptr = structure.indptr.astype(index_dtype)
    indices = structure.indices.astype(index_dtype)
    if divisor_override is not None:
        divisor = np.full(divisor.size, float(divisor_override))
    data = np.repeat(1.0 / divisor, np.diff(indptr))
    _readonly(indptr, indices, data)
    matrix = sp.csr_array((data, indices, indptr), shape=structure.shape, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


# ---------------------------------------------------------------------------
# The max-pool switch kernel: the argmax of every window, through the pattern
# ---------------------------------------------------------------------------


#: Input bytes of the planes that one step of max pooling handles. Every step makes about a dozen passes over
#: its kernel taps, which then read from cache instead of memory: on a layer-C pool (16 MiB in float64) blocks
#: of 1-4 MiB measured 2x faster than passes over the whole batch; much smaller blocks pay NumPy's per-call cost.
POOL_BLOCK_BYTES = 1 << 21

#: Input bytes below which a further thread does not pay for itself (starting one costs about 0.1 ms).
POOL_MIN_BYTES_PER_THREAD = 1 << 20


def max_pool_switches(x: np.ndarray, geom: PoolGeometry) -> tuple[np.ndarray, np.ndarray]:
    """Max pooling of a real ``(N, C, *spatial)`` array, with its switches.

    PyTorch's rule: scan the taps of every window in row-major order, and let a
    tap take over when it is greater than the running maximum or is NaN. So ties
    go to the first maximum, a NaN propagates and names the *last* NaN of its
    window, and a window whose input elements are all ``-inf`` names its first
    input element (the ``-inf`` padding never wins).

    Without NaN the same answer comes cheaper, with one pass per kernel tap:
    the maximum first (an order-free reduction), then the switch as the first
    tap equal to it. The planes go in blocks of about :data:`POOL_BLOCK_BYTES`,
    each block's passes in cache, the blocks split over
    :func:`convmat.get_num_threads` threads (NumPy's loops release the GIL).

    Returns
    -------
    values : ndarray, shape (N, C, *out_spatial), dtype of ``x``
    switches : ndarray of int64, same shape
        Flat position of each maximum inside its unpadded input plane.
    """
    pattern = max_pool_pattern(geom)
    planes = x.shape[0] * x.shape[1]
    flat = x.reshape(planes, *geom.input_spatial)
    pads = tuple(zip(geom.padding, geom.high_padding, strict=True))
    xp = pad_spatial(flat, pads, "zeros", value=-np.inf)
    # windows[p, *o, *k] == xp[p, o * stride + k * dilation]; one view per tap, sliced per block below
    windows = window_view(xp, geom.kernel_size, geom.stride, geom.dilation, geom.output_spatial)
    taps = [windows[(..., *offset)] for offset in np.ndindex(*geom.kernel_size)]
    tap_dtype = np.min_scalar_type(len(taps) - 1)
    first_tap = pattern.first_tap.astype(tap_dtype)
    padding_can_tie = bool(first_tap.any())  # some windows start in the padding
    values = np.empty((planes, *geom.output_spatial), dtype=x.dtype)
    switches = np.empty(values.shape, dtype=np.int64)

    def pool(block: slice) -> None:
        block_taps = [view[block] for view in taps]
        if np.isnan(flat[block]).any():
            tap = _scan_taps(block_taps, first_tap, values[block])
        else:
            tap = _max_then_first_tap(block_taps, tap_dtype, values[block])
            if padding_can_tie:
                # All-(-inf) windows: every tap equals the maximum, the padding too; name the first input element.
                np.copyto(tap, first_tap, where=values[block] == -np.inf)
        np.take(pattern.tap_offset, tap, out=switches[block])
        switches[block] += pattern.window_origin

    plane_bytes = x.itemsize * prod(geom.input_spatial)
    map_plane_blocks(pool, planes, plane_bytes, POOL_BLOCK_BYTES, POOL_MIN_BYTES_PER_THREAD)
    out_shape = (*x.shape[:2], *geom.output_spatial)
    return values.reshape(out_shape), switches.reshape(out_shape)


def _max_then_first_tap(taps: list[np.ndarray], tap_dtype: np.dtype, best: np.ndarray) -> np.ndarray:
    """The maximum over the taps (no NaN among them) into ``best``, and the first tap holding it."""
    np.copyto(best, taps[0])
    for value in taps[1:]:
        np.maximum(best, value, out=best)
    # The first tap holding the maximum is the number of taps before it, which all differ from it: count,
    # per window, the taps for which every tap so far differs (plain arithmetic; masked writes cost 3x more).
    tap = np.zeros(best.shape, dtype=tap_dtype)
    all_differ = np.ones(best.shape, dtype=bool)
    differs = np.empty(best.shape, dtype=bool)
    for value in taps[:-1]:
        np.not_equal(value, best, out=differs)
        all_differ &= differs
        tap += all_differ
    return tap


def _scan_taps(taps: list[np.ndarray], first_tap: np.ndarray, best: np.ndarray) -> np.ndarray:
    """PyTorch's scan, literally, into ``best``: a tap takes over when greater than the running maximum or NaN."""
    best.fill(-np.inf)
    tap = np.array(np.broadcast_to(first_tap, best.shape))
    take = np.empty(best.shape, dtype=bool)
    for t, value in enumerate(taps):
        np.greater(value, best, out=take)
        take |= np.isnan(value)
        np.copyto(best, value, where=take)
        np.copyto(tap, t, where=take)
    return tap
