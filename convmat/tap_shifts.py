"""Convolution tap by tap on the flattened padded input: every kernel tap reads one shifted slice.

Flatten a padded input plane in C order, ``P_i`` its flat stride along axis ``i``. With stride 1,
kernel tap ``t`` reads at output position ``o`` the flat element ``q(o) + off(t)``, where
``q(o) = Σ o_i P_i`` and ``off(t) = Σ t_i d_i P_i``. Along a row of the output ``q`` steps by 1 and
from one row to the next by the row pitch ``P_{n-2}``, so over a block of whole rows every tap reads
*one contiguous slice* of the flat plane, shifted by ``off(t)``. A block of the patch matrix (rows:
taps times channels, columns: positions) is then one copy of a lattice of slices instead of an N-d
gather, and the convolution is one GEMM per block. The price is a *virtual* output grid with the
plane's pitch: a row holds ``P_{n-2}`` columns of which the first ``out[-1]`` are output positions;
the rest (the kernel hanging over the row's end) are computed and dropped.

A stride ``s`` along the last axis only spaces the reads: column ``q`` of a tap reads flat
element ``off(t) + s·q`` (rows padded to a multiple of ``s``). A stride along another axis
would leave ``s - 1`` of every ``s`` rows unread, so there it comes back to stride 1 by
splitting the padded input into its phases (polyphase): element ``s·m + r`` of the axis is
element ``m`` of phase ``r``, and tap ``t`` reads phase ``(t·d) mod s`` at ``m = o + (t·d) div s``.
The phases a kernel reads are stored one after the other in each channel's flat row, so a
tap's offset selects its phase too.

The input gradient ``Wᵀ·dy`` splits over the phases of the *input*: input position ``s·m + r``
(padded coordinates) receives from the taps with ``t·d ≡ r (mod s)``, each reading ``dy`` at
``m - e(t)``, ``e(t) = (t·d - r) / s``. Per phase that is a stride-1 correlation of the
zero-padded ``dy`` with those taps' transposed kernels: a GEMM per block again, and no scatter-add.

Shapes, with ``G`` groups: a source buffer is ``[n, C, length]`` (the flat rows, see
:class:`Source`); patches are ``[G, K, c, n, columns]`` (tap-major inside a group, ``c`` channels
of the source per group), weights ``[G, c_out, K * c]`` in the same tap order.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from math import gcd, prod

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .cache import cached_pattern
from .geometry import ConvGeometry, Pads
from .padding import pad_spatial

__all__ = [
    "Block",
    "Lattice",
    "PhaseGrid",
    "Source",
    "TapGrid",
    "blocks",
    "correlate",
    "correlate_weight_grad",
    "fill_source",
    "forward_grid",
    "gather",
    "input_grad_grids",
    "tap_major",
]


@dataclass(frozen=True)
class Source:
    """The flat rows the taps read: per channel, the stored phases of the padded input, then slack.

    Attributes
    ----------
    spatial : tuple of int
        Spatial shape of the (unpadded) input.
    padding : tuple of (int, int)
        ``(low, high)`` padding per axis.
    mode : str
        Padding mode.
    stride : tuple of int
        Phase step per axis (1: the padded input itself is the one phase). The
        last axis is never split: its stride is ``step``.
    phases : tuple of tuple of int
        The residues ``r`` of the stored phases, in storage order.
    shape : tuple of int
        Spatial shape of one stored phase; its last entry a multiple of ``step``.
    step : int
        Elements between the reads of consecutive output positions of a row
        (the stride of the last axis).
    length : int
        Elements of a channel's flat row: the phases, then zeros that the last
        row's overhang reads.
    """

    spatial: tuple[int, ...]
    padding: Pads
    mode: str
    stride: tuple[int, ...]
    phases: tuple[tuple[int, ...], ...]
    shape: tuple[int, ...]
    step: int
    length: int

    @property
    def pitches(self) -> tuple[int, ...]:
        """Flat stride of each axis of a stored phase."""
        return tuple(prod(self.shape[i + 1 :]) for i in range(len(self.shape)))


@dataclass(frozen=True)
class Lattice:
    """Taps whose flat offsets form a lattice: ``offset + Σ j_i strides[i]`` for ``j`` in ``shape``.

    ``first`` is the patch row (within a group's ``K``) of its first tap; the
    lattice's taps fill the rows after it in C order.
    """

    first: int
    shape: tuple[int, ...]
    offset: int
    strides: tuple[int, ...]


@dataclass(frozen=True)
class TapGrid:
    """A stride-1 correlation on the flat rows of a :class:`Source`.

    Attributes
    ----------
    source : Source
    output : tuple of int
        Spatial shape of the output.
    taps : tuple of int
        Kernel taps (flat C-order indices) in the order of the patch rows.
    lattices : tuple of Lattice
        The taps' flat offsets, as lattices covering the patch rows in order.
    """

    source: Source
    output: tuple[int, ...]
    taps: tuple[int, ...]
    lattices: tuple[Lattice, ...]

    @property
    def pitches(self) -> tuple[int, ...]:
        """Columns of the virtual output grid per step along each axis: output ``o`` is column ``Σ o_i pitches[i]``.

        Column ``q`` of tap ``t`` reads flat element ``off(t) + step · q``.
        """
        step = self.source.step
        return (*(p // step for p in self.source.pitches[:-1]), 1)

    @property
    def row_pitch(self) -> int:
        """Columns of a row of the virtual grid: the output positions of the row, then its overhang."""
        return self.source.shape[-1] // self.source.step if len(self.output) > 1 else self.output[-1]

    @property
    def reach(self) -> int:
        """One past the last flat element a block of whole rows can read (before slack is added)."""
        out = self.output
        last_row = sum((o - 1) * p for o, p in zip(out[:-1], self.pitches[:-1], strict=True))
        far = max(
            lat.offset + sum((n - 1) * s for n, s in zip(lat.shape, lat.strides, strict=True)) for lat in self.lattices
        )
        return far + self.source.step * (last_row + self.row_pitch - 1) + 1


@dataclass(frozen=True)
class PhaseGrid:
    """One phase of the input gradient: where it writes, and the correlation that computes it.

    ``index`` selects the phase's positions in the gradient (strided slices);
    ``grid`` is ``None`` when no tap reaches the phase (its gradient is zero).
    """

    index: tuple[slice, ...]
    grid: TapGrid | None


@dataclass(frozen=True)
class Block:
    """A block of output positions whose columns every tap reads as one slice per channel.

    ``index`` selects the block in the output's spatial axes; its first column is flat
    position ``start`` of the virtual grid, and it spans ``rows`` rows of ``pitch``
    columns, of which the first ``width`` are output positions.
    """

    index: tuple[int | slice, ...]
    start: int
    rows: int
    pitch: int
    width: int

    @property
    def columns(self) -> int:
        """Columns of the block's products, overhang included."""
        return self.rows * self.pitch


def _progression(k: int, d: int, s: int, residue: int) -> tuple[int, int, int] | None:
    """Taps ``t < k`` with ``t·d ≡ residue (mod s)``: ``(first, step, count)``, or ``None`` if there are none."""
    step = s // gcd(s, d)
    first = next((t for t in range(min(k, step)) if (t * d - residue) % s == 0), None)
    if first is None:
        return None
    return first, step, (k - 1 - first) // step + 1


def _flat_tap(tap: tuple[int, ...], kernel: tuple[int, ...]) -> int:
    return sum(t * prod(kernel[i + 1 :]) for i, t in enumerate(tap))


def _lattice_taps(axes: list[tuple[int, int, int]], kernel: tuple[int, ...]) -> list[int]:
    """Flat kernel taps of a lattice, in C order; ``axes`` holds ``(first, step, count)`` per axis (step may be < 0)."""
    ranges = [range(first, first + step * count, step) if step else [first] for first, step, count in axes]
    return [_flat_tap(tap, kernel) for tap in itertools.product(*ranges)]


@cached_pattern
def forward_grid(geom: ConvGeometry) -> TapGrid:
    """The forward convolution (and its kernel gradient) as a correlation over the phases of the padded input.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> g = forward_grid(conv_geometry((5,), 3, padding=1))
    >>> g.source.shape, g.output, g.lattices[0].strides
    ((7,), (5,), (1,))
    >>> g = forward_grid(conv_geometry((6, 6), 3, stride=2))  # rows in two phases, columns read every other
    >>> g.source.phases, g.source.shape, g.source.step
    (((0, 0), (1, 0)), (3, 6), 2)
    """
    last = geom.ndim - 1
    phase_step = (*geom.stride[:last], 1)  # the last axis is read with a stride instead
    per_axis = []  # per axis: {residue: (first tap, tap step, count, first phase element, its step)}
    for k, d, s in zip(geom.kernel_size, geom.dilation, phase_step, strict=True):
        found = {}
        for residue in sorted({t * d % s for t in range(k)}):
            progression = _progression(k, d, s, residue)
            assert progression is not None
            first, step, count = progression
            found[residue] = (first, step, count, first * d // s, step * d // s)
        per_axis.append(found)
    step = geom.stride[last]
    leading = zip(geom.output_spatial, geom.kernel_size, geom.dilation, geom.stride[:last], strict=False)
    shape = (
        *(o + max((t * d) // s for t in range(k)) for o, k, d, s in leading),  # a phase: as far as the taps read
        -(-geom.padded_spatial[last] // step) * step,  # whole padded rows, to a multiple of the step
    )
    phases = tuple(itertools.product(*(sorted(found) for found in per_axis)))
    pitches = tuple(prod(shape[i + 1 :]) for i in range(len(shape)))
    taps: list[int] = []
    lattices = []
    for number, phase in enumerate(phases):
        axes = [found[r] for found, r in zip(per_axis, phase, strict=True)]
        offset = number * prod(shape) + sum(a[3] * p for a, p in zip(axes, pitches, strict=True))
        counts = tuple(a[2] for a in axes)
        strides = tuple(a[4] * p for a, p in zip(axes, pitches, strict=True))
        lattices.append(Lattice(len(taps), counts, offset, strides))
        taps += _lattice_taps([(a[0], a[1], a[2]) for a in axes], geom.kernel_size)
    source = Source(geom.input_spatial, geom.padding, geom.padding_mode, phase_step, phases, shape, step, 0)
    grid = TapGrid(source, geom.output_spatial, tuple(taps), tuple(lattices))
    return _with_length(grid, len(phases) * prod(shape))


def _with_length(grid: TapGrid, stored: int) -> TapGrid:
    """``grid`` with its source's row length: the stored phases, or more where the last row's overhang reads on."""
    old = grid.source
    length = max(stored, grid.reach)
    source = Source(old.spatial, old.padding, old.mode, old.stride, old.phases, old.shape, old.step, length)
    return TapGrid(source, grid.output, grid.taps, grid.lattices)


@cached_pattern
def input_grad_grids(geom: ConvGeometry) -> tuple[PhaseGrid, ...]:
    """The input gradient as one stride-1 correlation of the zero-padded ``dy`` per phase of the input.

    The phases cover the input positions (zero padding) or the padded input
    positions (other modes, whose gradient then goes through the padding's
    adjoint): ``index`` selects a phase's positions there. All grids read the
    same :class:`Source`, ``dy`` padded by ``source.padding``.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> phases = input_grad_grids(conv_geometry((6,), 4, stride=2, padding=1))
    >>> [(p.index, p.grid.taps) for p in phases]
    [((slice(0, 5, 2),), (3, 1)), ((slice(1, 6, 2),), (2, 0))]
    """
    zeros = geom.padding_mode == "zeros"
    per_axis = []  # per axis: (positions slice, phase length, (last tap, -step, count, e(last), e(first)) or None)
    for n, k, d, s, (lo, hi) in zip(
        geom.input_spatial, geom.kernel_size, geom.dilation, geom.stride, geom.padding, strict=True
    ):
        start, size = (lo, n) if zeros else (0, n + lo + hi)
        phases: list[tuple[slice, int, tuple[int, int, int, int, int] | None]] = []
        for r in range(min(s, size)):
            count = (size - r + s - 1) // s
            found = _progression(k, d, s, (start + r) % s)
            reading = None
            if found is not None:
                first, step, many = found
                last = first + step * (many - 1)
                # e(t) = (t·d - start - r) / s: the dy index o = m - e(t) feeds input position start + r + s·m
                reading = (last, -step, many, (last * d - start - r) // s, (first * d - start - r) // s)
            phases.append((slice(r, r + s * (count - 1) + 1, s), count, reading))
        per_axis.append(phases)
    reached = [[p for p in axis if p[2] is not None] for axis in per_axis]
    pad_lo = [max([0] + [p[2][3] for p in axis if p[2]]) for axis in reached]
    pad_hi = [
        max([0] + [p[1] - 1 - p[2][4] - (o - 1) for p in axis if p[2]])
        for axis, o in zip(reached, geom.output_spatial, strict=True)
    ]
    shape = tuple(o + lo + hi for o, lo, hi in zip(geom.output_spatial, pad_lo, pad_hi, strict=True))
    ones = (1,) * geom.ndim
    pads = tuple(zip(pad_lo, pad_hi, strict=True))
    source = Source(geom.output_spatial, pads, "zeros", ones, ((0,) * geom.ndim,), shape, 1, 0)
    pitches = source.pitches
    grids: list[tuple[tuple[slice, ...], TapGrid | None]] = []
    for combo in itertools.product(*per_axis):
        index = tuple(c[0] for c in combo)
        if any(c[2] is None for c in combo):
            grids.append((index, None))
            continue
        axes = [c[2] for c in combo if c[2] is not None]
        # taps in decreasing order along each axis: their offsets lo - e(t) then increase by step·d/s
        offset = sum((lo - a[3]) * p for a, lo, p in zip(axes, pad_lo, pitches, strict=True))
        strides = tuple(
            -a[1] * d // s * p for a, d, s, p in zip(axes, geom.dilation, geom.stride, pitches, strict=True)
        )
        lattice = Lattice(0, tuple(a[2] for a in axes), offset, strides)
        taps = _lattice_taps([(a[0], a[1], a[2]) for a in axes], geom.kernel_size)
        grids.append((index, TapGrid(source, tuple(c[1] for c in combo), tuple(taps), (lattice,))))
    length = max([prod(shape)] + [g.reach for _, g in grids if g is not None])
    full = Source(source.spatial, pads, "zeros", ones, source.phases, shape, 1, length)
    return tuple(
        PhaseGrid(index, None if g is None else TapGrid(full, g.output, g.taps, g.lattices)) for index, g in grids
    )


def tap_major(w: np.ndarray, groups: int, taps: tuple[int, ...], transpose: bool = False) -> np.ndarray:
    """The kernel as the GEMM's left factor ``[G, rows, len(taps) * c]``, columns in the patch rows' order.

    ``w`` is ``[G*co, ci, *kernel]``. Forward: ``rows = co``, ``c = ci``, entry
    ``[g, o, (j, i)] = w[g*co + o, i, taps[j]]``. With ``transpose`` (the input
    gradient, whose patches are of ``dy``): ``rows = ci``, ``c = co``, entry
    ``[g, i, (j, o)] = w[g*co + o, i, taps[j]]``.

    Examples
    --------
    >>> tap_major(np.arange(6.0).reshape(1, 2, 3), 1, (2, 0)).tolist()  # [c_out, c_in, K] = [1, 2, 3]
    [[[2.0, 5.0, 0.0, 3.0]]]
    """
    c_out, cin_g = w.shape[:2]
    flat = w.reshape(groups, c_out // groups, cin_g, -1)[..., list(taps)]  # [G, co, ci, K']
    result = (
        flat.transpose(0, 2, 3, 1) if transpose else flat.transpose(0, 1, 3, 2)
    )  # [G, ci, K', co] or [G, co, K', ci]
    return np.ascontiguousarray(result).reshape(groups, result.shape[1], -1)


def fill_source(rows: np.ndarray, x: np.ndarray, source: Source) -> None:
    """Write the stored phases of padded ``x`` ``[n, C, *spatial]`` into the flat rows ``rows`` ``[n, C, length]``.

    With zero padding only the elements of ``x`` are written: the padding and the
    slack must hold zeros already (a buffer made by ``np.zeros`` and filled by
    this function alone keeps them).
    """
    n, channels = x.shape[:2]
    size = prod(source.shape)
    padded = None if source.mode == "zeros" else pad_spatial(x, source.padding, source.mode)
    for index, residue in enumerate(source.phases):
        phase = rows[:, :, index * size : (index + 1) * size].reshape(n, channels, *source.shape)
        if padded is None:
            target, read = [], []
            for r, s, (lo, _), length, q in zip(
                residue, source.stride, source.padding, source.spatial, source.shape, strict=True
            ):
                first = max(0, -((r - lo) // s))  # the first m with s·m + r >= lo
                last = min(q, (lo + length - 1 - r) // s + 1)  # past the last m with s·m + r < lo + length
                begin = s * first + r - lo
                target.append(slice(first, max(first, last)))
                read.append(slice(begin, begin + s * max(0, last - first - 1) + 1, s))
            if all(t.stop > t.start for t in target):
                phase[(slice(None), slice(None), *target)] = x[(slice(None), slice(None), *read)]
        else:
            part = padded[
                (slice(None), slice(None), *(slice(r, None, s) for r, s in zip(residue, source.stride, strict=True)))
            ]
            kept = tuple(slice(0, min(q, m)) for q, m in zip(source.shape, part.shape[2:], strict=True))
            phase[(slice(None), slice(None), *kept)] = part[(slice(None), slice(None), *kept)]


@cached_pattern
def blocks(grid: TapGrid, columns: int) -> tuple[Block, ...]:
    """The output positions of ``grid`` in blocks of about ``columns`` product columns (at least one position).

    Whole rows where a row fits, else parts of a row. A block of rows stays
    within one row of the axes before the last two (its rows must be evenly
    spaced in the flat rows).

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> grid = forward_grid(conv_geometry((3, 4), 3, padding=1))  # rows of pitch 6, 4 output positions each
    >>> [(b.index[0], b.start, b.columns) for b in blocks(grid, 12)]
    [(slice(0, 1, None), 0, 6), (slice(1, 3, None), 6, 12)]
    """
    out, pitches = grid.output, grid.pitches
    if len(out) == 1:
        return tuple(Block((p,), p.start, 1, p.stop - p.start, p.stop - p.start) for p in _split(out[0], columns))
    pitch, width = grid.row_pitch, out[-1]
    result = []
    for outer in itertools.product(*(range(o) for o in out[:-2])):
        base = sum(o * p for o, p in zip(outer, pitches, strict=False))
        if pitch <= columns:
            for part in _split(out[-2], columns // pitch):
                index: tuple[int | slice, ...] = (*outer, part, slice(None))
                result.append(Block(index, base + part.start * pitch, part.stop - part.start, pitch, width))
        else:
            for row in range(out[-2]):
                for part in _split(width, columns):
                    start, wide = base + row * pitch + part.start, part.stop - part.start
                    result.append(Block((*outer, slice(row, row + 1), part), start, 1, wide, wide))
    return tuple(result)


def _split(n: int, most: int) -> list[slice]:
    """``range(n)`` in near-equal contiguous parts of at most ``most`` (at least 1) elements."""
    parts = -(-n // max(most, 1))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]


def gather(patches: np.ndarray, rows: np.ndarray, grid: TapGrid, block: Block, lines: bool = False) -> None:
    """``patches[g, j, i, b, :] = `` the block's columns of tap ``taps[j]`` on source channel ``g*c + i``, sample ``b``.

    ``rows`` may be any view of flat rows ``[n, channels, length]`` whose last axis is
    contiguous. One strided copy per lattice of taps: its source view steps
    through the taps by the lattice's strides and through the block's columns by
    the source's ``step``. With ``lines``, only the first tap along the last axis
    of each lattice is copied (``j`` counts those), for as many columns as
    ``patches`` holds.
    """
    groups, _, per_group, samples, columns = patches.shape
    item, step = rows.itemsize, grid.source.step
    sample_stride, channel_stride = rows.strides[:2]
    for lat in grid.lattices:
        shape, strides = (lat.shape[:-1], lat.strides[:-1]) if lines else (lat.shape, lat.strides)
        first = lat.first // lat.shape[-1] if lines else lat.first
        target = patches[:, first : first + prod(shape)].reshape(groups, *shape, per_group, samples, columns)
        view = as_strided(
            rows[:, :, lat.offset + step * block.start :],
            shape=target.shape,
            strides=(
                per_group * channel_stride,
                *(s * item for s in strides),
                channel_stride,
                sample_stride,
                step * item,
            ),
            writeable=False,
        )
        np.copyto(target, view)


def _product_view(product: np.ndarray, block: Block, samples: int, nd: int) -> np.ndarray:
    """``product`` ``[..., samples * columns]`` as ``[samples, channels, *block]``: the overhang dropped."""
    view = product.reshape(-1, samples, block.rows, block.pitch)[..., : block.width]
    if nd == 1:
        view = view[:, :, 0]
    return view.swapaxes(0, 1)


#: Columns of a block at most. More make the products slower (measured on 2-d and 3-d layers with 8 to 128
#: output channels per group: 512 to 1024 columns were fastest) and the gather no faster.
MAX_COLUMNS = 1024
#: Columns of a block at most when a group has one output channel (depthwise): its product is a matrix-vector
#: product, which streams its patches once, so longer blocks only save calls (3x3 and 7x7 depthwise layers ran
#: 1.2-1.4x faster than with 1024 columns).
MAX_VECTOR_COLUMNS = 4096


@dataclass(frozen=True)
class _Cut:
    """How a call cuts its work: the blocks, samples side by side in a product, groups at a time."""

    plan: tuple[Block, ...]
    samples: int
    groups: int
    columns: int  # product columns at most: samples times the widest block


def _cut(
    grid: TapGrid,
    batch: int,
    groups: int,
    rows: tuple[int, int],
    itemsize: int,
    block_bytes: int,
    thin: bool,
    overhang: int = 0,
) -> _Cut:
    """Blocks of at most :data:`MAX_COLUMNS` columns whose patches and products take about ``block_bytes``.

    ``rows`` are a group's rows of patches and of the product (or of ``dy``), of
    ``overhang`` more columns than the block per sample. Small blocks put several
    samples side by side; groups go a few at a time where one block of every
    group would not fit.
    """
    group_column_bytes = sum(rows) * itemsize
    most = MAX_VECTOR_COLUMNS if thin else MAX_COLUMNS
    columns = max(1, min(most, block_bytes // group_column_bytes - overhang))
    plan = blocks(grid, columns)
    widest = max(b.columns for b in plan)
    samples = max(1, min(batch, columns // widest))
    at_once = max(1, min(groups, block_bytes // (samples * (widest + overhang) * group_column_bytes)))
    return _Cut(plan, samples, at_once, samples * widest)


def _row_taps(grid: TapGrid, per_group: int, c_out: int) -> tuple[int, int] | None:
    """``(count, spacing)`` of the taps along the last axis where :func:`_correlate_rows` moves fewer values.

    Those taps must be the same in every lattice and read at step 1. Per column,
    the plain gather copies ``lines · count · c`` values (``lines`` taps along the
    other axes, ``c`` channels per group); gathering only the lines copies
    ``lines · c`` and adds ``count`` product rows per output channel, summed in
    ``count - 1`` shifted passes: worth it where ``(count - 1) · lines · c >
    2 · count · c_out`` (measured: 1.2x on a 3x3x3 layer of 32 channels, 1.8-2.3x
    on 7x7 depthwise; 3x3 depthwise and 1-d layers ran up to 10 % slower split).
    """
    ends = {(lat.shape[-1], lat.strides[-1]) for lat in grid.lattices}
    if grid.source.step != 1 or len(ends) != 1:
        return None
    count, spacing = ends.pop()
    lines = len(grid.taps) // count
    return (count, spacing) if (count - 1) * lines * per_group > 2 * count * c_out else None


def _gathered(
    rows: np.ndarray, grid: TapGrid, cut: _Cut, groups: int, depth: int
) -> Iterator[tuple[slice, Block, int, np.ndarray]]:
    """``(samples, block, first group, patches)`` for every piece of ``cut``, its patches gathered into one buffer.

    ``patches`` is ``[gs, K, c, n, columns]`` (``gs`` groups from the first, ``c``
    channels of ``rows`` per group); the buffer is overwritten by the next piece.
    """
    n, channels = rows.shape[:2]
    per_group = channels // groups
    store = np.empty(cut.groups * depth * cut.columns, dtype=rows.dtype)
    for first in range(0, n, cut.samples):
        part = slice(first, min(first + cut.samples, n))
        samples = part.stop - part.start
        for block in cut.plan:
            size = samples * block.columns
            for g in range(0, groups, cut.groups):
                gs = min(cut.groups, groups - g)
                patches = store[: gs * depth * size].reshape(gs, -1, per_group, samples, block.columns)
                gather(patches, rows[part, g * per_group : (g + gs) * per_group], grid, block)
                yield part, block, g, patches


def correlate(rows: np.ndarray, grid: TapGrid, weight: np.ndarray, out: np.ndarray, block_bytes: int) -> None:
    """``out = Σ_t weight_t · (tap t's slices of rows)``, block by block: one gather and one GEMM per block.

    ``rows`` ``[n, C, length]`` (filled by :func:`fill_source`), ``weight``
    ``[G, c_out, K * C/G]`` in the grid's tap order (:func:`tap_major`), ``out``
    ``[n, G * c_out, *grid.output]`` (any strides). A block's patches and products
    take about ``block_bytes``.
    """
    groups, c_out, depth = weight.shape
    n, channels = rows.shape[:2]
    per_group, nd = channels // groups, len(grid.output)
    along = _row_taps(grid, per_group, c_out)
    if along is not None:
        _correlate_rows(rows, grid, weight, out, block_bytes, along)
        return
    cut = _cut(grid, n, groups, (depth, c_out), rows.itemsize, block_bytes, c_out == 1)
    product_store = np.empty(cut.groups * c_out * cut.columns, dtype=rows.dtype)
    for part, block, g, patches in _gathered(rows, grid, cut, groups, depth):
        gs, samples = patches.shape[0], part.stop - part.start
        size = samples * block.columns
        product = product_store[: gs * c_out * size].reshape(gs, c_out, size)
        # [g, c_out, K*c] @ [g, K*c, n*columns] -> [g, c_out, n*columns]
        np.matmul(weight[g : g + gs], patches.reshape(gs, depth, size), out=product)
        target = (part, slice(g * c_out, (g + gs) * c_out), *block.index)
        out[target] = _product_view(product, block, samples, nd)


def _correlate_rows(
    rows: np.ndarray, grid: TapGrid, weight: np.ndarray, out: np.ndarray, block_bytes: int, along: tuple[int, int]
) -> None:
    """:func:`correlate` with the taps along the last axis applied after the GEMM, as shifted sums.

    Split a tap into its line ``i`` (the taps along the other axes) and its
    position ``j`` along the last axis, whose reads lie ``j · spacing`` apart:
    ``y[q] = Σ_j Σ_i W_ij x_i[q + j·spacing] = Σ_j z_j[q + j·spacing]`` with
    ``z_j = Σ_i W_ij x_i``. So only the lines are gathered, over the block's
    columns and the ``(count - 1) · spacing`` after them; one GEMM gives every
    ``z_j`` (``count`` times the output rows), and ``count`` shifted slices of it
    add up to the block.
    """
    groups, c_out = weight.shape[:2]
    n, channels = rows.shape[:2]
    per_group, nd = channels // groups, len(grid.output)
    count, spacing = along
    lines = len(grid.taps) // count
    # [G, co, (i, j, c)] -> [G, (j, co), (i, c)]: the GEMM's left factor, one block of rows per position j
    split = weight.reshape(groups, c_out, lines, count, per_group).transpose(0, 3, 1, 2, 4)
    split = np.ascontiguousarray(split).reshape(groups, count * c_out, lines * per_group)
    overhang = (count - 1) * spacing
    rows_of = (lines * per_group, (count + 1) * c_out)  # lines; the z_j and their sum
    cut = _cut(grid, n, groups, rows_of, rows.itemsize, block_bytes, c_out == 1, overhang)
    wide = cut.columns + cut.samples * overhang
    line_store = np.empty(cut.groups * lines * per_group * wide, dtype=rows.dtype)
    product_store = np.empty(cut.groups * count * c_out * wide, dtype=rows.dtype)
    sum_store = np.empty(cut.groups * c_out * cut.columns, dtype=rows.dtype)
    for first in range(0, n, cut.samples):
        part = slice(first, min(first + cut.samples, n))
        samples = part.stop - part.start
        for block in cut.plan:
            ext = block.columns + overhang
            for g in range(0, groups, cut.groups):
                gs = min(cut.groups, groups - g)
                patches = line_store[: gs * lines * per_group * samples * ext].reshape(
                    gs, lines, per_group, samples, ext
                )
                gather(patches, rows[part, g * per_group : (g + gs) * per_group], grid, block, lines=True)
                product = product_store[: gs * count * c_out * samples * ext].reshape(gs, count * c_out, samples * ext)
                # [g, count*c_out, lines*c] @ [g, lines*c, n*ext] -> z_j for every j, [g, count*c_out, n*ext]
                np.matmul(split[g : g + gs], patches.reshape(gs, lines * per_group, samples * ext), out=product)
                # y = Σ_j z_j shifted by j·spacing: z_j[q + j·spacing] lies (c_out·n·ext + spacing)·j elements on
                z = product.reshape(gs, count, c_out, samples, ext)
                step_j = z.strides[1] + spacing * z.strides[4]
                shape = (gs, count, c_out, samples, block.columns)
                shifted = as_strided(z, shape=shape, strides=(z.strides[0], step_j, *z.strides[2:]), writeable=False)
                total = sum_store[: gs * c_out * samples * block.columns].reshape(gs, c_out, samples, block.columns)
                np.sum(shifted, axis=1, out=total)
                target = (part, slice(g * c_out, (g + gs) * c_out), *block.index)
                out[target] = _product_view(total.reshape(gs, c_out, -1), block, samples, nd)


def correlate_weight_grad(
    rows: np.ndarray, grid: TapGrid, dy: np.ndarray, groups: int, block_bytes: int, finite: bool = False
) -> np.ndarray:
    """The kernel gradient ``[G, c_out, K * C/G]`` (grid's tap order): ``Σ dy · patchesᵀ`` over the blocks.

    ``dy`` is zero in the overhang columns, so what the kernel reads there past a
    row's end adds nothing; unless ``finite`` (the rows hold no NaN or inf), the
    patches are zeroed there too, since ``0 · inf`` would add NaN.
    """
    n, channels = rows.shape[:2]
    c_out, nd = dy.shape[1] // groups, len(grid.output)
    depth = len(grid.taps) * (channels // groups)
    cut = _cut(grid, n, groups, (depth, c_out), rows.itemsize, block_bytes, c_out == 1)
    dy_store = np.empty(cut.groups * c_out * cut.columns, dtype=rows.dtype)
    dw_t = np.zeros((groups, depth, c_out), dtype=rows.dtype)
    for part, block, g, patches in _gathered(rows, grid, cut, groups, depth):
        gs, samples = patches.shape[0], part.stop - part.start
        size = samples * block.columns
        dy_block = dy_store[: gs * c_out * size]
        _product_view(dy_block, block, samples, nd)[...] = dy[(part, slice(g * c_out, (g + gs) * c_out), *block.index)]
        if block.width < block.pitch:
            dy_block.reshape(-1, block.rows, block.pitch)[..., block.width :] = 0
            if not finite:
                patches.reshape(-1, block.rows, block.pitch)[..., block.width :] = 0
        # [g, K*c, n*columns] @ [g, n*columns, c_out] -> [g, K*c, c_out], summed over the block's positions
        # (this order runs faster in OpenBLAS than dy @ patchesᵀ when c_out is small)
        dw_t[g : g + gs] += np.matmul(
            patches.reshape(gs, depth, size), dy_block.reshape(gs, c_out, size).swapaxes(1, 2)
        )
    return dw_t.swapaxes(1, 2)
