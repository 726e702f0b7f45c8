"""The floor of a convmat route: its core linear algebra on precomputed operands, with nothing around it.

What convmat adds to the arithmetic of a route -- gathering patches, padding,
laying operands out, scattering onto a transform grid, folding back, cropping,
checking arguments -- is left out; what is left is the part no implementation of
that route can skip. The report (part "layers") divides convmat's time by it.

``im2col`` route
    The GEMM(s) of the map on a precomputed patch matrix (``cm.im2col``), in the
    layout the route uses: one batched product over the groups with all samples'
    windows as columns (``[G, co, ci*K] @ [G, ci*K, n*L]``) when a sample has fewer
    than ``ONE_GEMM_MAX_OUTPUT`` output positions, else one product per sample and
    group (``[G, co, ci*K] @ [n, G, ci*K, L]``), into a preallocated result. The
    input gradient as the route computes it: with stride 1 and no more output than
    input channels, the forward floor of the convolution of ``dY`` with the flipped
    kernel (on precomputed patches of ``dY``); otherwise the patch-space product
    ``Wᵀ dY`` (``[G, ci*K, co] @ dY``, col2im's GEMM without the fold). The kernel
    gradient: ``dY · patchesᵀ`` summed over the batch. Depthwise layers get the
    same products (one row of ``K`` taps per channel): the multiply-adds over the
    taps on precomputed patches. The products run on :data:`harness.THREADS`
    threads as the route's do (a part of the samples or columns each, BLAS on one
    thread in each). A patch matrix larger than :data:`BLOCK_BYTES` per thread is
    precomputed for a block of samples (and of groups, if one sample is larger) and
    the block's product repeated to cover the batch: the same multiply-adds, the
    same operand shapes.
``fft`` route
    ``scipy.fft.rfftn`` of the input on the transform grid (the padded size
    rounded up by ``next_fast_len``, as convmat's plan), the product with the
    precomputed kernel spectrum at every frequency (elementwise for one channel per
    group, else one batched matmul over groups and frequencies), ``irfftn``; the
    kernel gradient transforms ``x`` and the output gradient (precomputed on the
    grid) and sums their product over the batch. Transforms on
    :data:`harness.THREADS` workers.

Each floor returns a :class:`Floor`: ``run`` is what is timed, ``result`` turns
its output into the operation's result (for checking that a floor computes the
same thing: with blocks, the result of the first block).
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from math import prod
from typing import Any, TypeVar

import numpy as np
import scipy.fft
from cases import Data, Layer
from harness import THREADS

import convmat as cm

#: Largest patch matrix (or patch-space gradient) a floor precomputes per thread; larger ones: block by block.
BLOCK_BYTES = 64 * 2**20
_PATCH_GEMM = importlib.import_module("convmat.patch_gemm")
_BATCH_BLOCKS = importlib.import_module("convmat.batch_blocks")
#: Fewer output positions per sample than this: convmat's im2col route multiplies all samples of a chunk at once.
ONE_GEMM_MAX_OUTPUT: int = _PATCH_GEMM.ONE_GEMM_MAX_OUTPUT
#: Floating-point operations below which a product is not split over a further thread (convmat's own rule).
MIN_FLOPS_PER_THREAD: int = _BATCH_BLOCKS.MIN_FLOPS_PER_THREAD

T = TypeVar("T")

#: One line per route, for the report's legend.
DESCRIPTION = {
    "im2col": "the GEMMs on a precomputed patch matrix (cm.im2col), in the route's layout",
    "fft": "rfftn of the input, product with the precomputed kernel spectrum, irfftn",
}


@dataclass(frozen=True)
class Floor:
    """``run``: the timed call; ``result(run())``: the operation's result, of the first ``samples`` samples (and
    leading groups) when ``times`` > 1 blocks make up the call."""

    run: Callable[[], np.ndarray]
    result: Callable[[np.ndarray], np.ndarray]
    samples: int
    times: int = 1

    @property
    def exact(self) -> bool:
        """Whether ``result(run())`` is the whole operation's result (one block)."""
        return self.times == 1


def floor_op(layer: Layer, op: str, d: Data, route: str, block_bytes: int = BLOCK_BYTES) -> Floor:
    """The floor of ``op`` of ``layer`` on ``route``; ``ValueError`` for a route without one."""
    if route == "im2col":
        return im2col_floor(layer, op, d, block_bytes)
    if route == "fft":
        return fft_floor(layer, op, d)
    raise ValueError(f"no floor for the {route} route")


def _conv_map(layer: Layer, op: str, d: Data) -> tuple[str, np.ndarray | None, np.ndarray | None]:
    """``(map of W, x, dy)``: a transposed layer's forward is the input gradient of its ``W``, ``x`` as ``dy``."""
    if layer.transpose:
        if op != "forward":
            raise ValueError(f"{layer.name} is timed forward only, not {op}")
        return "input_grad", None, d.x
    return op, d.x, d.dy


def _blocks(batch: int, groups: int, bytes_per_sample_group: int, budget: int) -> tuple[int, int]:
    """``(samples, groups)`` of a block within ``budget`` (at least one of each), dividing the batch and groups."""
    if batch * groups * bytes_per_sample_group <= budget:
        return batch, groups
    if groups * bytes_per_sample_group <= budget:
        fits = [n for n in range(1, batch + 1) if batch % n == 0 and n * groups * bytes_per_sample_group <= budget]
        return max(fits), groups
    fits = [g for g in range(1, groups + 1) if groups % g == 0 and g * bytes_per_sample_group <= budget]
    return 1, max(fits, default=1)


def _channel_major(a: np.ndarray, groups: int) -> np.ndarray:
    """``[n, G*c, L]`` as a contiguous ``[G, c, n*L]``."""
    n, channels, length = a.shape[0], a.shape[1], prod(a.shape[2:])
    grouped = a.reshape(n, groups, channels // groups, length).transpose(1, 2, 0, 3)
    return np.ascontiguousarray(grouped).reshape(groups, channels // groups, n * length)


def _repeat(function: Callable[[], np.ndarray], times: int) -> Callable[[], np.ndarray]:
    if times == 1:
        return function

    def run() -> np.ndarray:
        for _ in range(times - 1):
            function()
        return function()

    return run


def _thread_count(flops: int) -> int:
    """Threads a product of ``flops`` runs on: :data:`harness.THREADS`, one per ``MIN_FLOPS_PER_THREAD`` at most."""
    return max(1, min(THREADS, flops // MIN_FLOPS_PER_THREAD))


def _split(n: int, parts: int) -> list[slice]:
    """``range(n)`` as ``parts`` contiguous slices of near-equal length (no empty ones)."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


_pool: ThreadPoolExecutor | None = None
_blas: Any = None


def _side_by_side(function: Callable[[int], T], count: int) -> list[T]:
    """``[function(i) for i in range(count)]``, each on a thread of its own with NumPy's BLAS on one thread."""
    global _pool, _blas
    if count == 1:
        return [function(0)]
    if _pool is None:
        from threadpoolctl import ThreadpoolController

        _pool, _blas = ThreadPoolExecutor(THREADS), ThreadpoolController().select(user_api="blas")
    limit = _blas.limit(limits=1)
    try:
        return [f.result() for f in [_pool.submit(function, i) for i in range(count)]]
    finally:
        limit.restore_original_limits()


def flip_kernel(w: np.ndarray, groups: int) -> np.ndarray:
    """The kernel of the transposed map: input and output channels swapped per group, flipped 180° in space."""
    c_out, cin_g, *kernel = w.shape
    swapped = w.reshape(groups, c_out // groups, cin_g, *kernel).swapaxes(1, 2)
    swapped = swapped.reshape(groups * cin_g, c_out // groups, *kernel)
    return np.ascontiguousarray(np.flip(swapped, axis=tuple(range(2, w.ndim))))


def input_grad_as_conv(layer: Layer, d: Data) -> tuple[Layer, Data] | None:
    """The stride-1 input gradient as the forward convolution convmat's im2col route runs instead of col2im:
    ``dY`` with the flipped kernel, padded by ``dilation * (k - 1) - padding``; ``None`` where the route folds."""
    pads = {layer.dilation * (k - 1) - layer.padding for k in layer.kernel}
    c_out, cin_g = d.w.shape[:2]
    if layer.transpose or layer.stride != 1 or len(pads) != 1 or min(pads) < 0 or c_out > cin_g * layer.groups:
        return None
    w = flip_kernel(d.w, layer.groups)
    as_conv = replace(layer, x_shape=d.dy.shape, w_shape=w.shape, padding=pads.pop(), transpose=False)
    return as_conv, Data(d.dy, w, d.dy)


def im2col_floor(layer: Layer, op: str, d: Data, block_bytes: int = BLOCK_BYTES) -> Floor:
    """The im2col route's GEMMs on precomputed patches (see the module's description).

    On :data:`harness.THREADS` threads, as convmat's route: each thread one part of the
    columns (one GEMM) or of the samples (one product per sample; of the groups for
    one sample), BLAS on one thread in each; one BLAS call below ``MIN_FLOPS_PER_THREAD``
    per thread.
    """
    kind, x, dy = _conv_map(layer, op, d)
    if kind == "input_grad":
        as_conv = input_grad_as_conv(layer, d)
        if as_conv is not None:
            conv_layer, conv_data = as_conv
            return im2col_floor(conv_layer, "forward", conv_data, block_bytes)
    w, groups = d.w, layer.groups
    batch = layer.conv_x_shape[0]
    c_out, cin_g = w.shape[:2]
    co, ck, length = c_out // groups, cin_g * prod(layer.kernel), prod(layer.conv_out_spatial)
    n, g = _blocks(batch, groups, ck * length * w.itemsize, block_bytes * THREADS)
    times, one_gemm = (batch // n) * (groups // g), length < ONE_GEMM_MAX_OUTPUT
    threads = _thread_count(2 * n * g * co * ck * length)
    w_g = np.ascontiguousarray(w.reshape(groups, co, ck)[:g])
    everything = slice(None)
    # per part: (index of the kernel's groups, index of the [g, c, nL] or [n, g, c, L] operands)
    if one_gemm:
        parts = [(everything, (everything, everything, c)) for c in _split(n * length, threads)]
    elif n >= threads:
        parts = [(everything, (s,)) for s in _split(n, threads)]
    else:
        parts = [(s, (everything, s)) for s in _split(g, threads)]
    window = (layer.kernel, layer.stride, layer.padding, layer.dilation)

    def patches() -> np.ndarray:  # [n, g*ck, L] of the block's samples and groups
        return cm.im2col(np.ascontiguousarray(x[:n, : g * cin_g]), *window)

    def on_threads(step: Callable[[int], T]) -> list[T]:
        return _side_by_side(step, len(parts))

    if kind in ("forward", "input_grad"):
        if kind == "forward":
            left, rows, operand = w_g, co, patches()
        else:
            left, rows, operand = np.ascontiguousarray(w_g.transpose(0, 2, 1)), ck, dy[:n, : g * co]
        if one_gemm:
            right, out = _channel_major(operand, g), np.empty((g, rows, n * length), dtype=w.dtype)
        else:
            right = np.ascontiguousarray(operand).reshape(n, g, -1, length)
            out = np.empty((n, g, rows, length), dtype=w.dtype)
        del operand

        def product(i: int) -> None:
            kernel, index = parts[i]
            np.matmul(left[kernel], right[index], out=out[index])

        def run_block() -> np.ndarray:
            on_threads(product)
            return out

        if kind == "forward":

            def result(y: np.ndarray) -> np.ndarray:  # the block's [n, g*co, *out]
                if one_gemm:
                    y = y.reshape(g * co, n, length).swapaxes(0, 1)
                return y.reshape(n, g * co, *layer.conv_out_spatial)

        else:

            def result(cols: np.ndarray) -> np.ndarray:  # the patch-space gradient folded back (checking only)
                if one_gemm:
                    cols = np.moveaxis(cols.reshape(g * ck, n, length), 1, 0)
                cols = np.ascontiguousarray(cols).reshape(n, g * ck, length)
                return cm.col2im(cols, layer.conv_x_shape[2:], *window)

        return Floor(_repeat(run_block, times), result, n, times)
    if kind == "weight_grad":
        p, block = patches(), np.ascontiguousarray(dy[:n, : g * co])
        if one_gemm:
            left, right = _channel_major(block, g), _channel_major(p, g).swapaxes(1, 2)  # [g, co, nL] @ [g, nL, ck]
        else:
            # [n, g, co, L] @ [n, g, L, ck], the patches transposed as a view (as the route does), summed over n
            left, right = block.reshape(n, g, co, length), p.reshape(n, g, ck, length).transpose(0, 1, 3, 2)
        del p

        def partial(i: int) -> np.ndarray:
            index = parts[i][1]
            if one_gemm:
                return np.matmul(left[index], right[:, index[2]])  # a part of the summed columns
            return np.matmul(left[index], right[index]).sum(axis=0)

        def run_block() -> np.ndarray:
            pieces = on_threads(partial)
            if not one_gemm and n < threads:  # parts of the groups
                return np.concatenate(pieces)
            total = pieces[0]
            for piece in pieces[1:]:
                total += piece
            return total

        return Floor(_repeat(run_block, times), lambda dw: dw.reshape(g * co, cin_g, *layer.kernel), n, times)
    raise ValueError(op)


# ---------------------------------------------------------------------------
# The FFT route
# ---------------------------------------------------------------------------


def fft_grid(layer: Layer) -> tuple[int, ...]:
    """The transform grid: per axis ``next_fast_len`` of the zero-padded input of ``W`` (convmat's plan)."""
    return tuple(scipy.fft.next_fast_len(s + 2 * layer.padding, real=True) for s in layer.conv_x_shape[2:])


def _on_grid(values: np.ndarray, positions: list[np.ndarray], grid: tuple[int, ...]) -> np.ndarray:
    """``values [..., *m]`` placed on a zero ``[..., *grid]`` at ``positions`` (one index array per axis)."""
    out = np.zeros((*values.shape[: values.ndim - len(grid)], *grid), dtype=values.dtype)
    out[(Ellipsis, *np.ix_(*positions))] = values
    return out


def fft_floor(layer: Layer, op: str, d: Data) -> Floor:
    """The FFT route's transforms and spectral products (see the module's description)."""
    kind, x, dy = _conv_map(layer, op, d)
    w, groups, grid, nd = d.w, layer.groups, fft_grid(layer), layer.ndim
    batch, c_in = layer.conv_x_shape[:2]
    c_out, cin_g = w.shape[:2]
    co, lo, s, dil = c_out // groups, layer.padding, layer.stride, layer.dilation
    axes = tuple(range(-nd, 0))
    spectrum = (*grid[:-1], grid[-1] // 2 + 1)
    taps = [np.arange(k) * dil for k in layer.kernel]
    outputs = [np.arange(o) * s for o in layer.conv_out_spatial]
    blocks = w.reshape(groups, co, cin_g, *layer.kernel)

    def rfft(a: np.ndarray) -> np.ndarray:
        return scipy.fft.rfftn(a, s=grid, axes=axes, workers=THREADS)

    def irfft(a: np.ndarray) -> np.ndarray:
        return scipy.fft.irfftn(a, s=grid, axes=axes, workers=THREADS)

    def flat(a: np.ndarray, channels: int) -> np.ndarray:  # [n, G*c, *spectrum] -> [n, G, c, M]
        return a.reshape(a.shape[0], groups, channels // groups, -1)

    if kind == "forward":
        # y[p] = sum_t x[p*s - lo + t*d] w[t]: tap t at (lo - t*d) mod F, outputs read at p*s
        kf = rfft(_on_grid(blocks, [(lo - t) % f for t, f in zip(taps, grid, strict=True)], grid))
        kf = kf.reshape(groups, co, cin_g, -1)
        if cin_g == 1:
            right = kf[None, :, :, 0]  # [1, G, co, M]

            def mix(xf: np.ndarray) -> np.ndarray:
                return xf * right
        else:
            right = np.ascontiguousarray(kf.transpose(0, 3, 2, 1))  # [G, M, ci, co]

            def mix(xf: np.ndarray) -> np.ndarray:
                left = np.ascontiguousarray(xf.transpose(1, 3, 0, 2))  # [G, M, n, ci]
                return np.matmul(left, right).transpose(2, 0, 3, 1)  # [n, G, co, M]

        def run() -> np.ndarray:
            yf = mix(flat(rfft(x), c_in))
            return irfft(yf.reshape(batch, c_out, *spectrum))

        return Floor(run, lambda out: out[(Ellipsis, *np.ix_(*outputs))], batch)
    if kind == "input_grad":
        # dx[q] = sum_p sum_t dy[p] w[t] [q = p*s - lo + t*d]: dy at p*s, tap t at (t*d - lo) mod F
        kf = rfft(_on_grid(blocks, [(t - lo) % f for t, f in zip(taps, grid, strict=True)], grid))
        kf = kf.reshape(groups, co, cin_g, -1)
        signal = dy if s == 1 else _on_grid(dy, outputs, grid)
        if co == 1:
            right = kf[None, :, 0]  # [1, G, ci, M]

            def mix(dyf: np.ndarray) -> np.ndarray:
                return dyf * right
        else:
            right = np.ascontiguousarray(kf.transpose(0, 3, 1, 2))  # [G, M, co, ci]

            def mix(dyf: np.ndarray) -> np.ndarray:
                left = np.ascontiguousarray(dyf.transpose(1, 3, 0, 2))  # [G, M, n, co]
                return np.matmul(left, right).transpose(2, 0, 3, 1)  # [n, G, ci, M]

        def run() -> np.ndarray:
            dxf = mix(flat(rfft(signal), c_out))
            return irfft(dxf.reshape(batch, c_in, *spectrum))

        crop = tuple(slice(0, n) for n in layer.conv_x_shape[2:])
        return Floor(run, lambda out: out[(Ellipsis, *crop)], batch)
    if kind == "weight_grad":
        # dw[t] = sum_p dy[p] x[p*s - lo + t*d] = (x circ-conv D)[t*d], D = dy at (lo - p*s) mod F
        signal = _on_grid(dy, [(lo - p) % f for p, f in zip(outputs, grid, strict=True)], grid)

        def run() -> np.ndarray:
            xf, dyf = flat(rfft(x), c_in), flat(rfft(signal), c_out)
            if batch == 1 or (cin_g == 1 and co == 1):
                gf = (dyf[:, :, :, None] * xf[:, :, None]).sum(axis=0)  # [G, co, ci, M]
            else:
                left = np.ascontiguousarray(dyf.transpose(1, 3, 2, 0))  # [G, M, co, n]
                right = np.ascontiguousarray(xf.transpose(1, 3, 0, 2))  # [G, M, n, ci]
                gf = np.matmul(left, right).transpose(0, 2, 3, 1)  # [G, co, ci, M]
            return irfft(gf.reshape(c_out, cin_g, *spectrum))

        return Floor(run, lambda out: out[(Ellipsis, *np.ix_(*taps))], batch)
    raise ValueError(op)
