"""Geometry-only index patterns, computed once per geometry and cached.

A convolution's matrix ``W`` depends on the kernel only through its values: which
kernel tap lands at which ``(row, column)`` is fixed by the geometry. This module
computes that structure, so that a builder turns *pattern + kernel* into a matrix
with one gather (``W.data = w.ravel()[index]``) and never recomputes indices.

Everything returned here is cached and read-only; callers must not mutate it.

Vocabulary
----------
tap
    One (output position ``o``, kernel offset ``k``) pair whose input position,
    after the padding is folded in, is a real input element ``i``. A tap means
    ``y[o] += w[k] * x[i]``. In zero padding, taps that read padding are dropped.
entry
    One stored element of the plane matrix, a distinct ``(o, i)`` pair. With
    zero padding each entry is one tap; with circular, reflect or replicate
    padding several taps may read the same input element and share an entry
    (their kernel values add up: the padding is *folded* into ``W``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .cache import cached_pattern
from .geometry import PADDING_MODES, ConvGeometry, Pads, check_choice, tap_output_range

__all__ = [
    "ConvMatrixPattern",
    "ConvPlanePattern",
    "PadPlanePattern",
    "TapBlock",
    "axis_reads",
    "conv_matrix_pattern",
    "conv_plane_pattern",
    "pad_plane_pattern",
    "padding_source_index",
    "patch_selection_matrix",
    "tap_blocks",
]


def _readonly(*arrays: np.ndarray) -> None:
    for a in arrays:
        a.flags.writeable = False


#: The modes :func:`padding_source_index` knows: the convolutions' and ``F.pad``'s ``"constant"`` (zeros).
_INDEX_MODES = (*PADDING_MODES, "constant")


@cached_pattern
def padding_source_index(size: int, low: int, high: int, mode: str) -> np.ndarray:
    """Input index read by each position of a padded axis (``-1`` for a zero).

    This is PyTorch's ``F.pad`` along one axis, as an index map: position ``j``
    of the padded axis holds ``x[source[j]]`` (or 0 where ``source[j] == -1``).
    ``"constant"`` (``F.pad``'s name) is ``"zeros"``.

    A negative ``low`` or ``high`` crops: the padded axis is then positions
    ``-low … size + high - 1`` of the input, through the mode's rule (reflect
    and replicate may read a cropped element). Circular padding crops first and
    wraps around what is left (PyTorch's order). The pads must be valid for the
    mode (:func:`convmat.geometry.padded_length`).

    Examples
    --------
    >>> padding_source_index(3, 2, 1, "reflect").tolist()
    [2, 1, 0, 1, 2, 1]
    >>> padding_source_index(3, 1, 1, "zeros").tolist()
    [-1, 0, 1, 2, -1]
    >>> padding_source_index(4, 2, -1, "reflect").tolist(), padding_source_index(4, 2, -1, "circular").tolist()
    ([2, 1, 0, 1, 2], [1, 2, 0, 1, 2])
    """
    check_choice(mode, "padding_mode", _INDEX_MODES)
    i = np.arange(-low, size + high)
    if mode in ("zeros", "constant"):
        src = np.where((i >= 0) & (i < size), i, -1)
    elif mode == "circular":
        start, kept = max(-low, 0), size + min(low, 0) + min(high, 0)  # the crops first, then wrap around the rest
        src = start + np.mod(i - start, kept) if kept > 0 else np.full(i.size, -1)
    elif mode == "reflect":
        src = np.abs(i)
        src = np.where(src >= size, 2 * (size - 1) - src, src)
    else:  # replicate
        src = np.clip(i, 0, size - 1)
    _readonly(src)
    return src


@dataclass(frozen=True)
class TapBlock:
    """One kernel tap of a :class:`ConvGeometry` and the boxes it connects (see :func:`tap_blocks`).

    Attributes
    ----------
    tap : tuple of int
        Kernel offset, one entry per spatial dim.
    out : tuple of slice
        Output positions at which the tap reads real input (contiguous per dim).
    inp : tuple of slice
        The input positions they read, in the same order (strided by the stride).
    """

    tap: tuple[int, ...]
    out: tuple[slice, ...]
    inp: tuple[slice, ...]


@cached_pattern
def tap_blocks(geom: ConvGeometry) -> tuple[TapBlock, ...]:
    """Each kernel tap with the block of output positions at which it reads the unpadded input.

    Output position ``o`` reads input position ``o * stride + tap * dilation - pad_low`` (per dim):
    for each tap, the positions where that lies inside the input form one box of the output
    (:func:`convmat.geometry.tap_output_range` per axis), and the input positions it reads one
    strided box of the input. Outside its box a tap reads padding; taps that read only padding
    are left out. With zero padding this is the whole convolution: ``y[out] += w[tap] * x[inp]``
    over the blocks.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> tap_blocks(conv_geometry((4,), 3, padding=1))[0]
    TapBlock(tap=(0,), out=(slice(1, 4, None),), inp=(slice(0, 3, 1),))
    """
    per_dim = []
    for n, o, k, s, d, (lo, _) in zip(
        geom.input_spatial, geom.output_spatial, geom.kernel_size, geom.stride, geom.dilation, geom.padding, strict=True
    ):
        ranges = []
        for t in range(k):
            shift = t * d - lo  # input position read by output position 0
            first, last = tap_output_range(n, o, s, shift)
            ranges.append((t, first, last, first * s + shift))
        per_dim.append(ranges)
    blocks = []
    for combo in itertools.product(*per_dim):
        if any(last <= first for _, first, last, _ in combo):
            continue
        tap = tuple(t for t, _, _, _ in combo)
        out = tuple(slice(first, last) for _, first, last, _ in combo)
        inp = tuple(
            slice(start, start + (last - first - 1) * s + 1, s)
            for (_, first, last, start), s in zip(combo, geom.stride, strict=True)
        )
        blocks.append(TapBlock(tap, out, inp))
    return tuple(blocks)


def axis_reads(geom: ConvGeometry, d: int, positions: np.ndarray | None = None) -> np.ndarray:
    """Along axis ``d``: the input position each (output position, kernel tap) reads, ``-1`` for zero padding.

    The per-axis window table every index computation of ``W`` starts from:
    row ``i`` is output position ``positions[i]`` (all of them by default),
    column ``k`` the tap ``k``; the padded position ``o * stride + k * dilation``
    goes through the padding mode's index map (:func:`padding_source_index`).

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> axis_reads(conv_geometry((4,), 3, padding=1, padding_mode="reflect"), 0).tolist()
    [[1, 0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 2]]
    """
    source = padding_source_index(geom.input_spatial[d], *geom.padding[d], geom.padding_mode)
    out = np.arange(geom.output_spatial[d]) if positions is None else np.asarray(positions)
    return source[out[:, None] * geom.stride[d] + np.arange(geom.kernel_size[d]) * geom.dilation[d]]


@dataclass(frozen=True, eq=False)
class ConvPlanePattern:
    """Index structure of one ``(C_out=1, C_in=1)`` plane of ``W``.

    Attributes
    ----------
    geometry : ConvGeometry
    tap_out, tap_in, tap_kernel : ndarray of intp
        Output position, input position and kernel tap of every tap, in
        ``(o, k)`` C order.
    tap_entry : ndarray of intp
        The plane-matrix entry each tap adds to.
    indptr, indices : ndarray of intp
        CSR structure of the plane matrix, shape ``(prod(out), prod(in))``,
        columns sorted within each row.
    entry_kernel : ndarray of intp or None
        Kernel tap of each entry when every entry is exactly one tap (zero
        padding always); ``None`` when the padding is folded and entries sum taps.
    """

    geometry: ConvGeometry
    tap_out: np.ndarray
    tap_in: np.ndarray
    tap_kernel: np.ndarray
    tap_entry: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    entry_kernel: np.ndarray | None

    @property
    def nnz(self) -> int:
        """Number of entries of the plane matrix."""
        return int(self.indices.size)

    @property
    def row_lengths(self) -> np.ndarray:
        """Entries per output position."""
        return np.diff(self.indptr)

    def fold_matrix(self) -> sp.csr_array:
        """Sparse ``(nnz, prod(kernel))`` 0/1 map from kernel values to entry values."""
        ones = np.ones(self.tap_entry.size, dtype=np.int8)
        return sp.csr_array((ones, (self.tap_entry, self.tap_kernel)), shape=(self.nnz, self.geometry.kernel_numel))


@cached_pattern
def conv_plane_pattern(geom: ConvGeometry) -> ConvPlanePattern:
    """The cached :class:`ConvPlanePattern` of a geometry.

    Built by broadcasting one small ``(out_d, k_d)`` table per spatial dim, so
    the cost is linear in the number of taps, with no Python loop over positions.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> p = conv_plane_pattern(conv_geometry((4, 4), 3))
    >>> p.nnz, p.indices[:9].tolist()
    (36, [0, 1, 2, 4, 5, 6, 8, 9, 10])
    """
    n = geom.ndim
    out = geom.output_spatial
    in_strides = np.array([int(np.prod(geom.input_spatial[d + 1 :])) for d in range(n)], dtype=np.intp)
    # Table shape [o_1 .. o_n, k_1 .. k_n]: dim d's table (out_d, k_d) sits on axes d and n + d.
    flat_in = np.zeros((1,) * (2 * n), dtype=np.intp)
    valid = np.ones((1,) * (2 * n), dtype=bool)
    for d in range(n):
        src = axis_reads(geom, d)
        shape = [1] * (2 * n)
        shape[d], shape[n + d] = out[d], geom.kernel_size[d]
        flat_in = flat_in + src.reshape(shape) * in_strides[d]
        valid = valid & (src >= 0).reshape(shape)
    full = out + geom.kernel_size
    flat_in = np.broadcast_to(flat_in, full).ravel()
    valid = np.broadcast_to(valid, full).ravel()
    k_size = geom.kernel_numel
    tap_pos = np.flatnonzero(valid)
    tap_out, tap_kernel = np.divmod(tap_pos, k_size)
    tap_in = flat_in[tap_pos]

    key = tap_out * geom.input_size + tap_in
    if key.size < 2 or bool(np.all(key[1:] > key[:-1])):
        # Each entry is one tap, already in CSR order (always so for zero padding).
        tap_entry = np.arange(key.size, dtype=np.intp)
        entry_key = key
        entry_kernel: np.ndarray | None = tap_kernel
    else:
        entry_key, tap_entry = np.unique(key, return_inverse=True)
        entry_kernel = None
    entry_out, indices = np.divmod(entry_key, geom.input_size)
    indptr = np.zeros(geom.output_size + 1, dtype=np.intp)
    np.cumsum(np.bincount(entry_out, minlength=geom.output_size), out=indptr[1:])
    arrays = [tap_out, tap_in, tap_kernel, tap_entry, indptr, indices]
    if entry_kernel is not None and entry_kernel is not tap_kernel:
        arrays.append(entry_kernel)
    _readonly(*arrays)
    return ConvPlanePattern(geom, tap_out, tap_in, tap_kernel, tap_entry, indptr, indices, entry_kernel)


@dataclass(frozen=True, eq=False)
class ConvMatrixPattern:
    """CSR structure of the whole ``W`` (all channels and groups) plus its data gather.

    ``W.data = source.take(data_index, axis=1).ravel()``, where ``source`` is the
    weight as ``(C_out, C_in/groups * prod(kernel))`` (no folding), or the folded
    entry values as ``(C_out, C_in/groups * plane_nnz)``.

    Row ``co * prod(out) + o`` holds, for each input channel of ``co``'s group in
    turn, the entries of plane row ``o``: column indices are sorted.
    """

    plane: ConvPlanePattern
    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray
    data_index: np.ndarray
    c_out: int
    c_in_per_group: int

    @property
    def folded(self) -> bool:
        """Whether entries sum several kernel taps (non-zero padding modes)."""
        return self.plane.entry_kernel is None


@cached_pattern
def conv_matrix_pattern(geom: ConvGeometry, c_in: int, c_out: int, groups: int) -> ConvMatrixPattern:
    """The cached :class:`ConvMatrixPattern` for a geometry and channel layout.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> pat = conv_matrix_pattern(conv_geometry((4, 4), 3), 2, 4, 2)
    >>> pat.shape, int(pat.indptr[-1])
    ((16, 32), 144)
    """
    plane = conv_plane_pattern(geom)
    cin_g, cout_g = c_in // groups, c_out // groups
    size_in, size_out = geom.input_size, geom.output_size
    shape = (c_out * size_out, c_in * size_in)
    nnz = c_out * cin_g * plane.nnz
    index_dtype = sp.get_index_dtype(maxval=max(nnz, shape[0], shape[1]))

    # Order one row block of the template as (o, ci, j): entry e of plane row o,
    # for input channel ci, goes to cin_g * indptr[o] + ci * len(row o) + (e - indptr[o]).
    row_of_entry = np.repeat(np.arange(size_out), plane.row_lengths)
    offset_in_row = np.arange(plane.nnz) - plane.indptr[row_of_entry]
    ci = np.arange(cin_g)[:, None]
    position = (cin_g * plane.indptr[row_of_entry] + offset_in_row)[None, :] + ci * plane.row_lengths[row_of_entry]
    template_ci = np.empty(cin_g * plane.nnz, dtype=np.intp)
    template_entry = np.empty(cin_g * plane.nnz, dtype=np.intp)
    template_ci[position.ravel()] = np.repeat(np.arange(cin_g), plane.nnz)
    template_entry[position.ravel()] = np.tile(np.arange(plane.nnz), cin_g)

    if plane.entry_kernel is not None:
        data_index = template_ci * geom.kernel_numel + plane.entry_kernel[template_entry]
    else:
        data_index = template_ci * plane.nnz + template_entry
    template_cols = (template_ci * size_in + plane.indices[template_entry]).astype(index_dtype)
    # [G, 1, M] + [G, 1, 1] -> broadcast over the C_out/G rows of each group -> [C_out, M]
    group_offset = (np.arange(groups, dtype=index_dtype) * (cin_g * size_in)).reshape(groups, 1, 1)
    indices = np.broadcast_to(template_cols + group_offset, (groups, cout_g, template_cols.size)).ravel()
    lengths = np.tile(cin_g * plane.row_lengths, c_out)
    indptr = np.zeros(shape[0] + 1, dtype=index_dtype)
    np.cumsum(lengths, out=indptr[1:])
    indices = np.ascontiguousarray(indices)
    _readonly(indptr, indices, data_index)
    return ConvMatrixPattern(plane, shape, indptr, indices, data_index, c_out, cin_g)


@cached_pattern
def patch_selection_matrix(geom: ConvGeometry) -> sp.csr_array:
    """The 0/1 matrix ``U`` that maps one input plane to its patches (im2col as a matrix).

    Shape ``(prod(kernel) * prod(out), prod(in))``; row ``k * prod(out) + o`` picks
    the input element under kernel tap ``k`` of window ``o`` (an empty row where
    that tap reads zero padding). ``U @ x_plane`` reshaped to ``(prod(kernel), prod(out))``
    is one channel's block of :func:`convmat.im2col`.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> patch_selection_matrix(conv_geometry((3,), 2)).toarray().tolist()
    [[1, 0, 0], [0, 1, 0], [0, 1, 0], [0, 0, 1]]
    """
    plane = conv_plane_pattern(geom)
    rows = plane.tap_kernel * geom.output_size + plane.tap_out  # distinct: one tap per (k, o)
    shape = (geom.kernel_numel * geom.output_size, geom.input_size)
    index_dtype = sp.get_index_dtype(maxval=max(rows.size, *shape))
    order = np.argsort(rows, kind="stable")
    indptr = np.zeros(shape[0] + 1, dtype=index_dtype)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    indices = plane.tap_in[order].astype(index_dtype)
    ones = np.ones(rows.size, dtype=np.int8)
    _readonly(ones, indices, indptr)
    matrix = sp.csr_array((ones, indices, indptr), shape=shape, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


@dataclass(frozen=True, eq=False)
class PadPlanePattern:
    """CSR structure of the padding matrix ``P`` of one plane (see :func:`pad_plane_pattern`).

    Attributes
    ----------
    shape : tuple of int
        ``(prod(padded), prod(input_spatial))``.
    indptr, indices : ndarray
        Row ``r`` (padded position ``r`` in C order) holds its one column, the
        flat input position it copies, or nothing where constant padding is written.
    """

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray


@cached_pattern
def pad_plane_pattern(input_spatial: tuple[int, ...], padding: Pads, mode: str) -> PadPlanePattern:
    """The cached :class:`PadPlanePattern` of padding a plane by ``padding`` in ``mode`` (pads validated).

    ``padding`` holds the ``(low, high)`` pairs of the trailing dims of
    ``input_spatial``. Built by broadcasting the per-dim index maps of
    :func:`padding_source_index`: the padded position ``(j_1, …, j_n)`` copies
    input element ``(source_1[j_1], …, source_n[j_n])``, none where one of them
    is constant padding. Index dtype as :func:`convmat.sizes.csr_size` says.

    Examples
    --------
    >>> pat = pad_plane_pattern((3,), ((1, 1),), "replicate")
    >>> pat.shape, pat.indptr.tolist(), pat.indices.tolist()
    ((5, 3), [0, 1, 2, 3, 4, 5], [0, 0, 1, 2, 2])
    """
    n = len(input_spatial)
    pads = ((0, 0),) * (n - len(padding)) + tuple(padding)
    strides = [int(np.prod(input_spatial[d + 1 :])) for d in range(n)]
    flat = np.zeros((1,) * n, dtype=np.intp)
    reads = np.ones((1,) * n, dtype=bool)
    for d, (size, (lo, hi)) in enumerate(zip(input_spatial, pads, strict=True)):
        source = padding_source_index(size, lo, hi, mode)
        shape = [1] * n
        shape[d] = source.size
        flat = flat + (source * strides[d]).reshape(shape)
        reads = reads & (source >= 0).reshape(shape)
    padded = tuple(size + lo + hi for size, (lo, hi) in zip(input_spatial, pads, strict=True))
    flat = np.broadcast_to(flat, padded).ravel()
    reads = np.broadcast_to(reads, padded).ravel()
    rows, cols = int(np.prod(padded)), int(np.prod(input_spatial))
    nnz = int(np.count_nonzero(reads))
    index_dtype = sp.get_index_dtype(maxval=max(nnz, rows, cols))
    indices = flat[reads].astype(index_dtype)
    indptr = np.zeros(rows + 1, dtype=index_dtype)
    np.cumsum(reads, out=indptr[1:])
    _readonly(indptr, indices)
    return PadPlanePattern((rows, cols), indptr, indices)
