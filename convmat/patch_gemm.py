"""The im2col route's patch-matrix way: each chunk's patches gathered, then one GEMM.

The patches of a chunk of the batch are copied out of the window view of its
padded input (:func:`patch_chunks`), and the convolution is one matrix product
over them: per sample where a sample has many output positions, per chunk over
channel-major patches where it has few. The input gradient is the forward
convolution with the flipped kernel at stride 1 where that moves no more data,
and otherwise col2im: the product in patch space, folded back tap by tap
(:func:`convmat.im2col.fold_patches`). This is the way of dense 2-d layers; the
tap-by-tap way of :mod:`convmat.tap_shifts` serves grouped, depthwise, 1-d and
3-d layers.

Shapes: ``x [N, G*ci, *spatial]``, ``w [G*co, ci, *kernel]``, ``y, dy [N, G*co, *out]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from math import prod

import numpy as np

from .batch_blocks import map_flops, over_batch, summed
from .config import chunk_size
from .geometry import ConvGeometry, input_grad_conv_geometry
from .im2col import fold_patches
from .padding import pad_spatial, unpad_adjoint
from .windows import window_view

__all__ = [
    "ONE_GEMM_MAX_OUTPUT",
    "ONE_GEMM_MIN_COLUMNS",
    "flip_kernel",
    "forward",
    "input_grad",
    "patch_bytes",
    "patch_chunks",
    "weight_grad",
    "weight_grad_per_sample",
]


def _patch_order(n: int, channel_major: bool = False) -> tuple[int, ...]:
    """Axis order taking a window view ``[N, C, *out, *kernel]`` to patches ``[N, C, *kernel, *out]``.

    With ``channel_major``, to ``[C, *kernel, N, *out]`` instead.
    """
    if channel_major:
        return (1, *range(2 + n, 2 + 2 * n), 0, *range(2, 2 + n))
    return (0, 1, *range(2 + n, 2 + 2 * n), *range(2, 2 + n))


def patch_bytes(channels: int, geom: ConvGeometry, itemsize: int) -> int:
    """Workspace bytes one sample takes in :func:`patch_chunks`: its patches, and its padded copy if padded."""
    padded = channels * prod(geom.padded_spatial) if geom.is_padded else 0
    return (channels * geom.kernel_numel * geom.output_size + padded) * itemsize


def patch_chunks(
    x: np.ndarray,
    geom: ConvGeometry,
    *,
    channel_major: bool = False,
    extra_bytes_per_sample: int = 0,
    min_samples: int = 1,
    threads: int = 1,
) -> Iterator[tuple[slice, np.ndarray]]:
    """The patches of ``x`` chunk by chunk of the batch, in one reused buffer.

    Yields ``(batch_slice, patches)`` with ``patches`` a contiguous array of shape
    ``(n, C, *kernel, *out)``, or ``(C, *kernel, n, *out)`` with ``channel_major``
    (reshaped to ``(C * prod(kernel), n * prod(out))`` it is the patch matrix of
    the whole chunk, ready for one GEMM). The buffer is overwritten by the next
    chunk. Chunks hold about :data:`convmat.config.CHUNK_TARGET_BYTES` of patches
    and never more than the workspace limit (but at least one sample);
    ``extra_bytes_per_sample`` counts the caller's own per-sample buffers (a GEMM
    output, say) against the same bound, and ``min_samples`` asks for chunks of at
    least that many samples where the bound allows (see
    :func:`convmat.config.chunk_size`); ``threads`` is the number of threads
    gathering chunks at the same time, which share the bound.

    Each chunk is gathered with one copy from the window view of its padded
    input. With zero padding the padded input is a second reused buffer whose
    border is zeroed once: a chunk only copies its interior.
    """
    batch, channels = x.shape[:2]
    nd = geom.ndim
    per_patch = channels * geom.kernel_numel * geom.output_size
    per_sample = patch_bytes(channels, geom, x.dtype.itemsize) + extra_bytes_per_sample
    step = chunk_size(batch, per_sample, min_samples, threads)
    storage = np.empty(min(step, batch) * per_patch, dtype=x.dtype)
    zero_border = geom.is_padded and geom.padding_mode == "zeros"
    if zero_border:
        border = np.zeros((min(step, batch), channels, *geom.padded_spatial), dtype=x.dtype)
    order = _patch_order(nd, channel_major)
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        n = stop - start
        shape = (
            (channels, *geom.kernel_size, n, *geom.output_spatial)
            if channel_major
            else (n, channels, *geom.kernel_size, *geom.output_spatial)
        )
        part = storage[: n * per_patch].reshape(shape)
        if zero_border:
            xp = border[:n]
            xp[(slice(None), slice(None), *geom.interior)] = x[start:stop]
        else:
            xp = pad_spatial(x[start:stop], geom.padding, geom.padding_mode)
        np.copyto(
            part, window_view(xp, geom.kernel_size, geom.stride, geom.dilation, geom.output_spatial).transpose(order)
        )
        del xp
        yield slice(start, stop), part


#: Output positions per sample below which the samples of a chunk share one GEMM per group, over patches laid
#: out channel-major (``[C*K, n*L]``), instead of one GEMM per sample. Products with few columns keep BLAS well
#: below its speed (bench/ configs D and F, L = 256 and 196, ran 10-25 % faster with one GEMM); with more columns
#: the per-sample GEMMs are as fast and write the ``[N, C_out, L]`` result in place (configs B, C, E).
ONE_GEMM_MAX_OUTPUT = 512
#: Columns (``n*L``) a shared GEMM should have at least, where the workspace limit allows: with fewer, one GEMM
#: per sample is as fast (config F in float64, two samples per 8 MiB chunk, measured 10 % slower as one GEMM).
ONE_GEMM_MIN_COLUMNS = 2048


def _one_gemm(geom: ConvGeometry) -> bool:
    return geom.output_size < ONE_GEMM_MAX_OUTPUT


def _one_gemm_samples(geom: ConvGeometry) -> int:
    return -(-ONE_GEMM_MIN_COLUMNS // geom.output_size)


def _channel_major(a: np.ndarray, groups: int) -> np.ndarray:
    """``[n, G*c, L]`` (any trailing shape) as a contiguous ``[G, c, n*L]``: the chunk's GEMM operand."""
    n, channels = a.shape[:2]
    length = prod(a.shape[2:])
    grouped = a.reshape(n, groups, channels // groups, length).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(grouped).reshape(groups, channels // groups, n * length)


def _channel_major_bytes(c_out: int, geom: ConvGeometry, itemsize: int) -> int:
    """One sample's share of a chunk's ``[C_out, n*L]`` operand in the one-GEMM layout (a product, or dy)."""
    return c_out * geom.output_size * itemsize


def _patch_route_bytes(c_in: int, c_out: int, geom: ConvGeometry, itemsize: int) -> int:
    """Workspace of one sample in the forward and the kernel gradient: its patches (+ its channel-major product)."""
    return patch_bytes(c_in, geom, itemsize) + (_channel_major_bytes(c_out, geom, itemsize) if _one_gemm(geom) else 0)


def _col2im_bytes(c_in: int, c_out: int, geom: ConvGeometry, itemsize: int) -> int:
    """Workspace of one sample in the col2im input gradient: its patch-space gradient (+ channel-major dy)."""
    per_sample = c_in * geom.kernel_numel * geom.output_size * itemsize
    if _one_gemm(geom):
        per_sample += _channel_major_bytes(c_out, geom, itemsize)
    if geom.padding_mode != "zeros":
        per_sample += c_in * prod(geom.padded_spatial) * itemsize  # the padded image folded into
    return per_sample


def _channel_major_chunks(
    x: np.ndarray, geom: ConvGeometry, c_out: int, threads: int
) -> Iterator[tuple[slice, np.ndarray]]:
    """:func:`patch_chunks` in the one-GEMM layout: channel-major patches of at least
    :data:`ONE_GEMM_MIN_COLUMNS` columns where the bound allows, each sample's ``C_out`` rows
    of the other operand (the product, or ``dy``) counted against the workspace too."""
    extra = _channel_major_bytes(c_out, geom, x.itemsize)
    return patch_chunks(
        x, geom, channel_major=True, extra_bytes_per_sample=extra, min_samples=_one_gemm_samples(geom), threads=threads
    )


def forward(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    """``y = W x`` of validated arrays: the batch's patches chunk by chunk, one GEMM per sample or per chunk."""
    batch, c_out, cin_g = x.shape[0], w.shape[0], w.shape[1]
    ck, length = cin_g * geom.kernel_numel, geom.output_size
    y = np.empty((batch, c_out, length), dtype=x.dtype)
    w_g = w.reshape(groups, c_out // groups, ck)

    def block(part: slice, threads: int) -> None:
        _forward_block(x[part], w_g, geom, y[part], threads)

    flops = map_flops(batch, c_out, ck, length)
    over_batch(block, batch, flops, _patch_route_bytes(x.shape[1], c_out, geom, x.itemsize))
    return y.reshape(batch, c_out, *geom.output_spatial)


def _forward_block(x: np.ndarray, w_g: np.ndarray, geom: ConvGeometry, y: np.ndarray, threads: int) -> None:
    """``y = W x`` for a block of the batch, chunk by chunk of its patches (``w_g`` is ``[G, co, ci*K]``)."""
    groups, co, ck = w_g.shape
    c_out, length = groups * co, geom.output_size
    if _one_gemm(geom):
        # the chunk's GEMM output, before it is transposed into y, counts against the workspace too
        for part, patches in _channel_major_chunks(x, geom, c_out, threads):
            n = part.stop - part.start
            # [G, co, ci*K] @ [G, ci*K, n*L] -> [G, co, n*L] -> [n, G*co, L]
            product = np.matmul(w_g, patches.reshape(groups, ck, n * length))
            y[part] = product.reshape(c_out, n, length).swapaxes(0, 1)
    else:
        for part, patches in patch_chunks(x, geom, threads=threads):
            n = patches.shape[0]
            # [G, co, ci*K] @ [n, G, ci*K, L] -> [n, G, co, L], written in place
            out = y[part].reshape(n, groups, co, length)
            np.matmul(w_g, patches.reshape(n, groups, ck, length), out=out)


def flip_kernel(w: np.ndarray, groups: int) -> np.ndarray:
    """The kernel of the transposed map: flipped 180° in space, input and output channels swapped per group.

    ``[G*co, ci, *k] -> [G, co, ci, *k] -> [G, ci, co, *k] -> [G*ci, co, *k]``, then reversed along each
    spatial axis (flipped, not transposed).

    Examples
    --------
    >>> flip_kernel(np.arange(4.0).reshape(1, 1, 2, 2), 1)[0, 0]
    array([[3., 2.],
           [1., 0.]])
    """
    c_out, cin_g, *kernel = w.shape
    swapped = w.reshape(groups, c_out // groups, cin_g, *kernel).swapaxes(1, 2)
    swapped = swapped.reshape(groups * cin_g, c_out // groups, *kernel)
    return np.ascontiguousarray(np.flip(swapped, axis=tuple(range(2, w.ndim))))


def input_grad(dy: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    """``dx = Wᵀ dy``: the flipped kernel's convolution of ``dy`` where it moves no more data, else col2im."""
    as_conv = input_grad_conv_geometry(geom)
    if as_conv is not None and w.shape[0] <= w.shape[1] * groups:
        # Stride 1: the transposed map is itself a convolution (flipped kernel, full padding), so it can
        # run on patches of dy + GEMM instead of a scatter. Its patches hold C_out * K * L values per
        # sample against col2im's C_in * K * L: take it when it moves no more data.
        conv_geom, crop = as_conv
        cropped = dy[
            (slice(None), slice(None), *(slice(lo, n - hi) for (lo, hi), n in zip(crop, dy.shape[2:], strict=True)))
        ]
        dx = forward(cropped, flip_kernel(w, groups), conv_geom, groups)
        if geom.padding_mode == "zeros":
            return dx
        return unpad_adjoint(dx, geom.padding, geom.input_spatial, geom.padding_mode)
    return _input_grad_col2im(dy, w, geom, groups)


def _input_grad_col2im(dy: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    batch, c_out, cin_g = dy.shape[0], w.shape[0], w.shape[1]
    ck, c_in = cin_g * geom.kernel_numel, cin_g * groups
    dx = np.empty((batch, c_in, *geom.input_spatial), dtype=dy.dtype)
    w_t = w.reshape(groups, c_out // groups, ck).transpose(0, 2, 1)

    def block(part: slice, threads: int) -> None:
        _input_grad_col2im_block(dy[part], w_t, geom, dx[part], threads)

    flops = map_flops(batch, c_out, ck, geom.output_size)
    over_batch(block, batch, flops, _col2im_bytes(c_in, c_out, geom, dy.itemsize))
    return dx


def _input_grad_col2im_block(dy: np.ndarray, w_t: np.ndarray, geom: ConvGeometry, dx: np.ndarray, threads: int) -> None:
    """``dx = Wᵀ dy`` for a block of the batch: patch-space gradients, folded back chunk by chunk.

    ``w_t`` is ``[G, ci*K, co]``.
    """
    groups, ck, co = w_t.shape
    batch, c_in, c_out, length, nd = dy.shape[0], dx.shape[1], groups * co, geom.output_size, geom.ndim
    one_gemm = _one_gemm(geom)
    per_sample = _col2im_bytes(c_in, c_out, geom, dy.itemsize)
    step = chunk_size(batch, per_sample, _one_gemm_samples(geom) if one_gemm else 1, threads)
    storage = np.empty(min(step, batch) * c_in * geom.kernel_numel * length, dtype=dy.dtype)
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        n = stop - start
        dcols = storage[: n * c_in * geom.kernel_numel * length]
        # Wᵀ in patch space, then folded back as [n, C_in, *kernel, *out]
        if one_gemm:
            # [G, ci*K, co] @ [G, co, n*L] -> [G, ci*K, n*L] = [C_in, *kernel, n, *out]
            np.matmul(w_t, _channel_major(dy[start:stop], groups), out=dcols.reshape(groups, ck, n * length))
            cols = np.moveaxis(dcols.reshape(c_in, *geom.kernel_size, n, *geom.output_spatial), 1 + nd, 0)
        else:
            # [G, ci*K, co] @ [n, G, co, L] -> [n, G, ci*K, L]
            out = dcols.reshape(n, groups, ck, length)
            np.matmul(w_t, dy[start:stop].reshape(n, groups, co, length), out=out)
            cols = dcols.reshape(n, c_in, *geom.kernel_size, *geom.output_spatial)
        fold_patches(cols, geom, out=dx[start:stop])


def weight_grad(
    x: np.ndarray, dy: np.ndarray, weight_shape: tuple[int, ...], geom: ConvGeometry, groups: int
) -> np.ndarray:
    """The kernel gradient ``dy · patchesᵀ``, summed over the chunks and the threads' blocks of the batch."""
    c_out, cin_g = weight_shape[:2]
    ck = cin_g * geom.kernel_numel

    def block(part: slice, threads: int) -> np.ndarray:
        if _one_gemm(geom):
            return _weight_grad_one_gemm(x[part], dy[part], c_out, geom, groups, threads)
        chunks = patch_chunks(x[part], geom, threads=threads)
        return weight_grad_per_sample(chunks, dy[part], weight_shape, geom, groups)

    flops = map_flops(x.shape[0], c_out, ck, geom.output_size)
    partials = over_batch(block, x.shape[0], flops, _patch_route_bytes(x.shape[1], c_out, geom, x.itemsize))
    return summed(partials).reshape(weight_shape)


def _weight_grad_one_gemm(
    x: np.ndarray, dy: np.ndarray, c_out: int, geom: ConvGeometry, groups: int, threads: int
) -> np.ndarray:
    """``[G, co, ci*K]`` kernel gradient of a block of the batch, one GEMM per chunk of channel-major patches."""
    cin_g, length = x.shape[1] // groups, geom.output_size
    ck = cin_g * geom.kernel_numel
    dw = np.zeros((groups, c_out // groups, ck), dtype=dy.dtype)
    for part, patches in _channel_major_chunks(x, geom, c_out, threads):  # + dy's chunk, laid out channel-major
        n = part.stop - part.start
        # [G, co, n*L] @ [G, n*L, ci*K] -> [G, co, ci*K]: the GEMM sums over the chunk's samples too
        dw += np.matmul(_channel_major(dy[part], groups), patches.reshape(groups, ck, n * length).swapaxes(1, 2))
    return dw


def weight_grad_per_sample(
    chunks: Iterator[tuple[slice, np.ndarray]],
    dy: np.ndarray,
    weight_shape: tuple[int, ...],
    geom: ConvGeometry,
    groups: int,
) -> np.ndarray:
    c_out, cin_g = weight_shape[:2]
    ck, length = cin_g * geom.kernel_numel, geom.output_size
    dw = np.zeros((groups, c_out // groups, ck), dtype=dy.dtype)
    for part, patches in chunks:
        n = patches.shape[0]
        # [n, G, co, L] @ [n, G, L, ci*K] -> [n, G, co, ci*K], summed over the chunk
        patches_t = patches.reshape(n, groups, ck, length).transpose(0, 1, 3, 2)
        dw += np.matmul(dy[part].reshape(n, groups, c_out // groups, length), patches_t).sum(axis=0)
    return dw.reshape(weight_shape)
