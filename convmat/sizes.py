"""Size before you build: the shape, stored entries and bytes of every matrix convmat builds.

A convolution matrix grows with the product of the channels and the plane
sizes: the ``W`` of one ResNet layer (256 → 256 channels, 3×3, 56×56) holds
1.7 billion entries, about 19 GiB in float64. Every count here comes from the
geometry alone, one axis at a time, so it costs microseconds whatever the size
of the matrix; the builders ask it first and refuse, with
:class:`MatrixTooLargeError`, a matrix over the bound of
:func:`convmat.get_matrix_limit` (or their ``max_bytes``) before allocating it.

Counting
--------
An entry of one ``(C_out=1, C_in=1)`` plane of ``W`` is a pair (output position,
input position) that some kernel tap connects. The pairs factor over the
spatial axes: along axis ``d`` a pair ``(o_d, i_d)`` is connected when some tap
``k_d`` reads input ``i_d`` from output ``o_d`` (through the padding mode's index
map), and a plane entry is one connected pair per axis. So

``nnz(W) = C_out · C_in/groups · ∏_d pairs_d``

where ``pairs_d`` counts the distinct connected ``(o_d, i_d)`` along axis ``d``:
with zero padding, the ``(o_d, k_d)`` whose tap lands inside the input (taps that
read padding store nothing); with a folded mode (circular, reflect, replicate),
the distinct input positions each output position reads (taps that read the
same element share an entry: their kernel values add up).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from math import prod
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from numpy.typing import DTypeLike

from .config import get_matrix_limit
from .geometry import (
    ConvGeometry,
    IntOrTuple,
    Padding,
    PaddingMode,
    Pads,
    PoolGeometry,
    check_positive_int,
    check_shape,
    conv_problem,
    pool_geometry,
    pool_problem,
    tap_output_range,
)
from .patterns import axis_reads

__all__ = [
    "MatrixSize",
    "MatrixTooLargeError",
    "avg_pool_geometry_size",
    "avg_pool_matrix_size",
    "avg_pool_plane_nnz",
    "check_matrix_size",
    "conv_matrix_size",
    "csr_size",
    "geometry_matrix_size",
    "matrix_dtype",
    "max_pool_matrix_size",
    "pad_plane_size",
    "patch_selection_size",
    "plane_nnz",
    "pool_geometry_size",
]

GIB = 2**30


class MatrixSize(NamedTuple):
    """Shape, stored entries and bytes of a sparse matrix, known before it is built.

    Attributes
    ----------
    shape : tuple of int
        ``(rows, columns)``.
    nnz : int
        Stored entries.
    nbytes : int
        Bytes of the CSR array: ``data`` + ``indices`` + ``indptr``.

    Examples
    --------
    >>> import convmat as cm
    >>> size = cm.conv_matrix_size((64, 64, 3, 3), (64, 56, 56))
    >>> size.nnz, round(size.gib, 2)
    (107495424, 1.2)
    """

    shape: tuple[int, int]
    nnz: int
    nbytes: int

    @property
    def gib(self) -> float:
        """``nbytes`` in GiB (2**30 bytes)."""
        return self.nbytes / GIB


class MatrixTooLargeError(ValueError, MemoryError):
    """A matrix convmat was asked to build is larger than the matrix limit.

    Raised before anything large is allocated. It is a ``ValueError`` (the
    arguments ask for too much) and a ``MemoryError`` (code that guards against
    running out of memory catches it too). The message gives the shape, the
    stored entries, the size in GiB, the bound, and the ways on:
    :func:`convmat.conv_operator` (the same map, never built),
    :func:`convmat.matrix_limit` / :func:`convmat.set_matrix_limit`, or the
    builder's ``max_bytes=``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> try:
    ...     cm.conv_matrix(np.ones((256, 256, 3, 3)), (256, 56, 56))
    ... except cm.MatrixTooLargeError as error:
    ...     print(str(error)[:81])
    conv_matrix: W would be 746496 x 802816 with 1719926784 stored entries, 19.22 GiB
    """


def csr_size(shape: tuple[int, int], nnz: int, dtype: DTypeLike, index_maxval: int | None = None) -> MatrixSize:
    """The :class:`MatrixSize` of a CSR array of this shape, ``nnz`` and data dtype.

    The index dtype is scipy's choice (:func:`scipy.sparse.get_index_dtype`):
    int32 unless ``index_maxval`` (by default the largest of ``nnz`` and the
    shape) needs int64.

    Examples
    --------
    >>> csr_size((4, 16), 36, "float64")
    MatrixSize(shape=(4, 16), nnz=36, nbytes=452)
    """
    maxval = max(nnz, *shape) if index_maxval is None else index_maxval
    index_bytes = np.dtype(sp.get_index_dtype(maxval=maxval)).itemsize
    nbytes = nnz * (np.dtype(dtype).itemsize + index_bytes) + (shape[0] + 1) * index_bytes
    return MatrixSize((int(shape[0]), int(shape[1])), int(nnz), int(nbytes))


@lru_cache(maxsize=4096)
def _axis_counts(
    size: int, out: int, kernel: int, stride: int, dilation: int, low: int, high: int, mode: str
) -> tuple[int, int]:
    """Along one axis: ``(taps, pairs)``, the ``(o, k)`` reading an input element and the distinct ``(o, i)``."""
    if mode == "zeros":
        ranges = (tap_output_range(size, out, stride, k * dilation - low) for k in range(kernel))
        taps = sum(last - first for first, last in ranges)
        return taps, taps  # distinct taps of one output read distinct inputs
    axis = ConvGeometry((size,), (kernel,), (stride,), ((low, high),), (dilation,), mode)
    read = np.sort(axis_reads(axis, 0), axis=1)
    return out * kernel, out + int(np.count_nonzero(np.diff(read, axis=1)))


def _axes(geom: ConvGeometry) -> list[tuple[int, int]]:
    return [
        _axis_counts(n, o, k, s, d, lo, hi, geom.padding_mode)
        for n, o, k, s, d, (lo, hi) in zip(
            geom.input_spatial,
            geom.output_spatial,
            geom.kernel_size,
            geom.stride,
            geom.dilation,
            geom.padding,
            strict=True,
        )
    ]


def plane_nnz(geom: ConvGeometry) -> int:
    """Entries of one ``(C_out=1, C_in=1)`` plane of ``W``: the product of the per-axis pair counts.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> plane_nnz(conv_geometry((4, 4), 3)), plane_nnz(conv_geometry((4, 4), 3, padding=1))
    (36, 100)
    """
    return prod(pairs for _, pairs in _axes(geom))


def geometry_matrix_size(geom: ConvGeometry, c_in: int, c_out: int, groups: int, dtype: DTypeLike) -> MatrixSize:
    """The :class:`MatrixSize` of ``W`` for a validated geometry and channel layout."""
    nnz = c_out * (c_in // groups) * plane_nnz(geom)
    return csr_size((c_out * geom.output_size, c_in * geom.input_size), nnz, dtype)


def patch_selection_size(geom: ConvGeometry) -> MatrixSize:
    """The :class:`MatrixSize` of the int8 patch-selection matrix ``U`` of one plane (one entry per tap)."""
    taps = prod(t for t, _ in _axes(geom))
    return csr_size((geom.kernel_numel * geom.output_size, geom.input_size), taps, np.int8)


def matrix_dtype(dtype: DTypeLike) -> np.dtype:
    """The dtype of a matrix's entries for inputs of ``dtype`` (scipy.sparse holds no float16).

    Examples
    --------
    >>> matrix_dtype("float16"), matrix_dtype("int32"), matrix_dtype("complex64")
    (dtype('float32'), dtype('float64'), dtype('complex64'))
    """
    d = np.dtype(dtype)
    if d.kind in "biu":
        return np.dtype(np.float64)
    if d.kind not in "fc":
        raise TypeError(f"dtype must be a real or complex floating dtype, got {d}")
    return np.promote_types(d, np.float32)


def conv_matrix_size(
    weight_shape: Sequence[int],
    input_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    dtype: DTypeLike = "float64",
) -> MatrixSize:
    """Shape, stored entries and bytes of :func:`convmat.conv_matrix`'s ``W``, without building it.

    ``nnz = C_out · C_in/groups · ∏_d pairs_d``: per spatial axis, the
    (output, input) position pairs some kernel tap connects (taps reading zero
    padding store nothing; with a folded padding mode, taps that read the same
    element share one entry). Counted per axis from the geometry alone, in
    microseconds, whatever the size of ``W``.

    Parameters
    ----------
    weight_shape : sequence of int
        ``(C_out, C_in // groups, *kernel)``.
    input_shape : sequence of int
        ``(C_in, *spatial)`` of one sample, as for :func:`convmat.conv_matrix`.
    stride, padding, dilation, groups, padding_mode
        As for :func:`convmat.conv_matrix`.
    dtype : dtype, default "float64"
        The kernel's dtype. ``W`` holds float16 as float32 (scipy.sparse has
        no float16) and integers as float64.

    Returns
    -------
    MatrixSize
        ``shape`` and ``nnz`` exactly as ``conv_matrix(...)`` gives them for a
        kernel without zero values (``conv_matrix`` stores no explicit zeros,
        so a kernel with zeros gives fewer), ``nbytes`` its ``data`` +
        ``indices`` + ``indptr`` bytes.

    See Also
    --------
    convmat.conv_matrix : builds ``W``, refusing it past :func:`convmat.get_matrix_limit`.
    convmat.conv_operator : the same map without building it.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.conv_matrix_size((1, 1, 3, 3), (1, 4, 4))
    MatrixSize(shape=(4, 16), nnz=36, nbytes=452)
    >>> size = cm.conv_matrix_size((256, 256, 3, 3), (256, 56, 56), padding=1, dtype="float32")
    >>> size.nnz, round(size.gib, 1)
    (1805910016, 13.5)
    """
    wshape = check_shape("weight_shape", weight_shape)
    geom, groups = conv_problem(
        input_shape,
        wshape,
        stride,
        padding,
        dilation,
        groups,
        padding_mode,
        batched=False,
        input_name="input_shape",
        weight_name="weight_shape",
    )
    return geometry_matrix_size(geom, wshape[1] * groups, wshape[0], groups, matrix_dtype(dtype))


def pool_geometry_size(geom: PoolGeometry, planes: int, dtype: DTypeLike) -> MatrixSize:
    """The :class:`MatrixSize` of the max-pooling selection ``S`` of ``planes`` planes of a validated geometry."""
    rows, cols = planes * prod(geom.output_spatial), planes * prod(geom.input_spatial)
    return csr_size((rows, cols), rows, dtype, index_maxval=max(rows, cols))


def max_pool_matrix_size(
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    dtype: DTypeLike = "float64",
) -> MatrixSize:
    """Shape, stored entries and bytes of :func:`convmat.max_pool_matrix`'s ``S``, without building it.

    ``S`` has one entry per output element: ``nnz = N · C · prod(out)``.

    Parameters
    ----------
    input_shape : sequence of int
        The input's full shape ``(N, C, *spatial)``.
    kernel_size, stride, padding, dilation, ceil_mode
        As for :func:`convmat.max_pool`.
    dtype : dtype, default "float64"
        The input's dtype (float16 is held as float32).

    Returns
    -------
    MatrixSize

    Examples
    --------
    >>> import convmat as cm
    >>> cm.max_pool_matrix_size((8, 64, 112, 112), 3, stride=2, padding=1).nnz
    1605632
    """
    shape = check_shape("input_shape", input_shape)
    geom = pool_problem(shape, kernel_size, stride, padding, dilation, ceil_mode, input_name="input_shape")
    return pool_geometry_size(geom, shape[0] * shape[1], matrix_dtype(dtype))


def avg_pool_plane_nnz(geom: PoolGeometry) -> int:
    """Entries of the averaging matrix of one plane: per axis, the input elements of every window, multiplied."""
    total = 1
    for n, o, k, s, p in zip(
        geom.input_spatial, geom.output_spatial, geom.kernel_size, geom.stride, geom.padding, strict=True
    ):
        start = np.arange(o, dtype=np.int64) * s - p
        total *= int(np.sum(np.minimum(start + k, n) - np.maximum(start, 0)))
    return total


def avg_pool_matrix_size(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    ceil_mode: bool = False,
) -> MatrixSize:
    """Shape, stored entries and bytes of :func:`convmat.avg_pool_matrix`'s ``A``, without building it.

    ``A`` holds, in row ``o``, the input elements of window ``o``; the count
    factors over the axes like the windows do.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.avg_pool_matrix_size((4, 4), 2)
    MatrixSize(shape=(4, 16), nnz=16, nbytes=212)
    """
    geom = pool_geometry(input_spatial, kernel_size, stride, padding, 1, ceil_mode)
    return avg_pool_geometry_size(geom)


def avg_pool_geometry_size(geom: PoolGeometry) -> MatrixSize:
    """The :class:`MatrixSize` of the float64 averaging matrix of a validated geometry."""
    return csr_size((prod(geom.output_spatial), prod(geom.input_spatial)), avg_pool_plane_nnz(geom), np.float64)


def pad_plane_size(input_spatial: tuple[int, ...], padding: Pads, mode: str) -> MatrixSize:
    """The :class:`MatrixSize` of the float64 padding matrix ``P`` of a plane, its pads validated.

    ``padding`` holds the ``(low, high)`` pairs of the trailing dims of
    ``input_spatial``. ``P`` has a row per padded position and a 1 in each row
    that copies an input element: along a dim, every position in the copying
    modes, the positions inside the input with constant padding; the rows with a
    1 are those that copy along every dim.

    Examples
    --------
    >>> pad_plane_size((4, 4), ((1, 1), (1, 1)), "constant")
    MatrixSize(shape=(36, 16), nnz=16, nbytes=340)
    """
    lead = len(input_spatial) - len(padding)
    rows, nnz = prod(input_spatial[:lead]), prod(input_spatial[:lead])
    for size, (lo, hi) in zip(input_spatial[lead:], padding, strict=True):
        length = size + lo + hi
        rows *= length
        nnz *= max(size + min(lo, 0) + min(hi, 0), 0) if mode in ("zeros", "constant") else length
    return csr_size((rows, prod(input_spatial)), nnz, np.float64)


def _readable(nbytes: int) -> str:
    """Bytes in GiB from 1 GiB on, else in MiB (or KiB): ``19.22 GiB``, ``24.00 MiB``."""
    for unit, name in ((GIB, "GiB"), (2**20, "MiB")):
        if nbytes >= unit:
            return f"{nbytes / unit:.2f} {name}"
    return f"{nbytes / 1024:.2f} KiB"


def check_matrix_size(size: MatrixSize, what: str, max_bytes: int | None = None, *, ways: str = "") -> None:
    """Raise :class:`MatrixTooLargeError` when ``size`` is over ``max_bytes`` (default: the matrix limit).

    ``what`` names the matrix in the message (``"conv_matrix: W"``); ``ways``
    adds ways on that fit the caller, before the generic ones.

    Examples
    --------
    >>> check_matrix_size(csr_size((4, 16), 36, "float64"), "W", max_bytes=1000)
    >>> check_matrix_size(csr_size((4, 16), 36, "float64"), "W", max_bytes=100)
    Traceback (most recent call last):
    ...
    convmat.sizes.MatrixTooLargeError: W would be 4 x 16 with 36 stored entries, 0.44 KiB (452 bytes), ...
    """
    if max_bytes is None:
        bound = get_matrix_limit()
        source = "the matrix limit"
    else:
        bound = check_positive_int(max_bytes, "max_bytes")
        source = "max_bytes"
    if size.nbytes <= bound:
        return
    rows, cols = size.shape
    raise MatrixTooLargeError(
        f"{what} would be {rows} x {cols} with {size.nnz} stored entries, {_readable(size.nbytes)} "
        f"({size.nbytes} bytes), over {source} of {_readable(bound)} ({bound} bytes). Nothing was allocated. Ways on: "
        f"{ways}convmat.conv_operator applies the same map without building it; "
        f"convmat.matrix_limit(nbytes) (a context manager) or convmat.set_matrix_limit(nbytes) raise the bound; "
        f"max_bytes= raises it for one call of a builder."
    )
