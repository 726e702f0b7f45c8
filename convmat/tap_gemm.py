"""The im2col route's tap-by-tap way: grouped, depthwise, 1-d and 3-d layers.

The batch goes through in chunks of flat rows (:func:`convmat.tap_shifts.fill_source`:
each channel flattened with its padding, split into phases for a stride), one
chunk per thread's block of samples; :mod:`convmat.tap_shifts` gathers each
block of output rows as one shifted slice per kernel tap and multiplies it by
the kernel in one batched GEMM over the groups. The input gradient is one such
correlation of the padded ``dy`` per phase of the input; the kernel gradient
sums the blocks' products. A 1 x 1 kernel at stride 1 on an unpadded input
needs no patches at all: its product is with the samples themselves. Dense 2-d
layers take the patch-matrix way of :mod:`convmat.patch_gemm` instead.

Shapes: ``x [N, G*ci, *spatial]``, ``w [G*co, ci, *kernel]``, ``y, dy [N, G*co, *out]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .batch_blocks import map_flops, over_batch, summed
from .config import chunk_size, get_workspace_limit
from .geometry import ConvGeometry
from .padding import unpad_adjoint
from .tap_shifts import Source, correlate, correlate_weight_grad, fill_source, forward_grid, input_grad_grids, tap_major

__all__ = ["BLOCK_BYTES", "VECTOR_BLOCK_BYTES", "forward", "input_grad", "weight_grad"]


#: Bytes of a block's patches and products, about (:mod:`convmat.tap_shifts`): the gather writes them and the
#: GEMM reads them straight after, from the core's cache (2-d and 3-d layers ran fastest with 1-4 MiB).
BLOCK_BYTES = 2 << 20
#: The same where each group has one output channel (depthwise): every group's product is a matrix-vector
#: product that streams its patches once, so a block takes more groups at a time and the calls get fewer
#: (on two threads, 3x3 and 7x7 depthwise layers ran 1.2-1.9x faster than with 2 MiB blocks, and with 8 MiB
#: no faster).
VECTOR_BLOCK_BYTES = 4 << 20


def _pointwise(geom: ConvGeometry) -> bool:
    """A 1x1 kernel at stride 1 on an unpadded input: the patch matrix of a sample is the sample itself."""
    return geom.kernel_numel == 1 and not geom.is_padded and all(s == 1 for s in geom.stride)


def _column_bytes(taps: int, channels: int, out_channels: int, itemsize: int) -> int:
    """One column of a block (all groups): ``taps * channels`` patch values and ``out_channels`` product values."""
    return (taps * channels + out_channels) * itemsize


def _sample_bytes(channels: int, source: Source, column_bytes: int, itemsize: int) -> int:
    """The least workspace of a thread: one sample's flat rows and one column of a block."""
    return channels * source.length * itemsize + column_bytes


def _source_chunks(
    x: np.ndarray, source: Source, column_bytes: int, threads: int, vector: bool = False
) -> Iterator[tuple[slice, np.ndarray, int]]:
    """``(samples, rows, block_bytes)``: the batch chunk by chunk as flat rows (:func:`fill_source`), in one buffer.

    A chunk's rows and the blocks of ``block_bytes`` that the caller gathers from
    them share this thread's part of the workspace limit, half each. ``vector``:
    the products have one output channel per group.
    """
    batch, channels = x.shape[:2]
    target = VECTOR_BLOCK_BYTES if vector else BLOCK_BYTES
    block = max(column_bytes, min(target, get_workspace_limit() // threads // 2))
    step = chunk_size(batch, channels * source.length * x.itemsize, threads=2 * threads)
    rows = np.zeros((min(step, batch), channels, source.length), dtype=x.dtype)  # the padding and slack stay zero
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        fill_source(rows[: stop - start], x[start:stop], source)
        yield slice(start, stop), rows[: stop - start], block


def forward(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    """``y = W x`` of validated arrays, block by block of output rows: one gather and one GEMM per block."""
    batch, c_in, c_out = x.shape[0], x.shape[1], w.shape[0]
    flops = map_flops(batch, c_out, w.shape[1] * geom.kernel_numel, geom.output_size)
    y = np.empty((batch, c_out, *geom.output_spatial), dtype=x.dtype)
    if _pointwise(geom):
        w_g = w.reshape(groups, c_out // groups, c_in // groups)

        def pointwise(part: slice, threads: int) -> None:
            n, length = part.stop - part.start, geom.output_size
            # [G, co, ci] @ [n, G, ci, L] -> [n, G, co, L]
            np.matmul(
                w_g,
                x[part].reshape(n, groups, c_in // groups, length),
                out=y[part].reshape(n, groups, c_out // groups, length),
            )

        over_batch(pointwise, batch, flops, 1)
        return y
    grid = forward_grid(geom)
    weight = tap_major(w, groups, grid.taps)
    column_bytes = _column_bytes(geom.kernel_numel, c_in, c_out, x.itemsize)

    def block(part: slice, threads: int) -> None:
        chunks = _source_chunks(x[part], grid.source, column_bytes, threads, c_out == groups)
        for samples, rows, block_bytes in chunks:
            correlate(rows, grid, weight, y[part][samples], block_bytes)

    over_batch(block, batch, flops, _sample_bytes(c_in, grid.source, column_bytes, x.itemsize))
    return y


def input_grad(dy: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    """``dx = Wᵀ dy``: one correlation of the padded ``dy`` per phase of the input (no scatter)."""
    batch, c_out, cin_g = dy.shape[0], w.shape[0], w.shape[1]
    c_in = cin_g * groups
    flops = map_flops(batch, c_out, cin_g * geom.kernel_numel, geom.output_size)
    if _pointwise(geom):
        dx = np.empty((batch, c_in, *geom.input_spatial), dtype=dy.dtype)
        w_t = w.reshape(groups, c_out // groups, cin_g).transpose(0, 2, 1)

        def pointwise(part: slice, threads: int) -> None:
            n, length = part.stop - part.start, geom.input_size
            # [G, ci, co] @ [n, G, co, L] -> [n, G, ci, L]
            np.matmul(
                w_t,
                dy[part].reshape(n, groups, c_out // groups, length),
                out=dx[part].reshape(n, groups, cin_g, length),
            )

        over_batch(pointwise, batch, flops, 1)
        return dx
    zeros = geom.padding_mode == "zeros"
    # The phases tile the input (zero padding) or the padded input (other modes: folded back by the padding's adjoint)
    grad = np.empty((batch, c_in, *(geom.input_spatial if zeros else geom.padded_spatial)), dtype=dy.dtype)
    phases = []
    for phase in input_grad_grids(geom):
        if phase.grid is None:  # no tap reaches these positions
            grad[(slice(None), slice(None), *phase.index)] = 0
        else:
            phases.append((phase.index, phase.grid, tap_major(w, groups, phase.grid.taps, transpose=True)))
    if phases:
        source = phases[0][1].source
        column_bytes = _column_bytes(max(len(grid.taps) for _, grid, _ in phases), c_out, c_in, dy.itemsize)

        def block(part: slice, threads: int) -> None:
            for samples, rows, block_bytes in _source_chunks(dy[part], source, column_bytes, threads, cin_g == 1):
                target = grad[part][samples]
                for index, grid, weight in phases:
                    correlate(rows, grid, weight, target[(slice(None), slice(None), *index)], block_bytes)

        over_batch(block, batch, flops, _sample_bytes(c_out, source, column_bytes, dy.itemsize))
    if zeros:
        return grad
    return unpad_adjoint(grad, geom.padding, geom.input_spatial, geom.padding_mode)


def weight_grad(
    x: np.ndarray, dy: np.ndarray, weight_shape: tuple[int, ...], geom: ConvGeometry, groups: int
) -> np.ndarray:
    """The kernel gradient: the blocks' products ``patches · dyᵀ``, summed over the blocks and the threads."""
    batch, c_in = x.shape[:2]
    c_out, cin_g = weight_shape[:2]
    co = c_out // groups
    flops = map_flops(batch, c_out, cin_g * geom.kernel_numel, geom.output_size)
    if _pointwise(geom):

        def pointwise(part: slice, threads: int) -> np.ndarray:
            dw = np.zeros((groups, co, cin_g), dtype=x.dtype)
            for n in range(part.start, part.stop):
                # [G, co, L] @ [G, L, ci] -> [G, co, ci]
                dw += np.matmul(dy[n].reshape(groups, co, -1), x[n].reshape(groups, cin_g, -1).swapaxes(1, 2))
            return dw

        return summed(over_batch(pointwise, batch, flops, 1)).reshape(weight_shape)
    grid = forward_grid(geom)
    column_bytes = _column_bytes(geom.kernel_numel, c_in, c_out, x.itemsize)
    finite = bool(np.isfinite(x.sum()))  # a NaN or inf anywhere makes the sum one (an overflow only looks like one)

    def block(part: slice, threads: int) -> np.ndarray:
        dw = np.zeros((groups, co, geom.kernel_numel * cin_g), dtype=x.dtype)
        for samples, rows, block_bytes in _source_chunks(x[part], grid.source, column_bytes, threads, co == 1):
            dw += correlate_weight_grad(rows, grid, dy[part][samples], groups, block_bytes, finite)
        return dw

    dw = summed(over_batch(block, batch, flops, _sample_bytes(c_in, grid.source, column_bytes, x.itemsize)))
    # [G, co, (tap, ci)] in the grid's tap order -> [G*co, ci, *kernel]
    result = np.empty((groups, co, cin_g, geom.kernel_numel), dtype=dw.dtype)
    result[..., list(grid.taps)] = dw.reshape(groups, co, len(grid.taps), cin_g).transpose(0, 1, 3, 2)
    return result.reshape(weight_shape)
