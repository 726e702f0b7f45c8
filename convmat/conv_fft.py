"""The FFT route: a convolution and its two adjoints through the discrete Fourier transform.

A circular convolution on a grid of ``F`` points is diagonalised by the DFT:
``W = Fᴴ diag(K̂) F`` with ``K̂`` the transform of the kernel laid out on that
grid. Every convolution of convmat becomes one by three index maps, each
given as positions modulo ``F`` on every axis:

* the **signal**: with ``padding_mode="circular"`` the input itself on its own
  grid (``F = input size``: the exact diagonalisation); with zero padding the
  input, zero-extended to ``F ≥ padded size`` so that no window wraps around
  (``F`` is ``scipy.fft.next_fast_len`` of the padded size): the low padding is
  the grid's last points, zeros too; with ``"reflect"`` and ``"replicate"`` the
  padded input, zero-extended to such an ``F``;
* the **taps**: kernel tap ``t`` sits at ``t·d`` (dilation ``d``);
* the **outputs**: output ``p`` reads the correlation at ``p·s - lo``
  (stride ``s``, low padding ``lo``; ``lo`` is 0 for a signal padded already).

Then, with ``x̂`` the transform of the signal,

* forward: ``y = gather_out( F⁻¹[ x̂ · F(kernel at -t·d) ] )`` (a correlation is a
  convolution with the kernel flipped 180°);
* input gradient ``Wᵀ dy``: ``F⁻¹[ F(dy at p·s - lo) · F(kernel at t·d) ]``, cropped
  to the padded input and folded back through the padding's adjoint;
* kernel gradient: ``gather_taps( F⁻¹[ Σ_n F(dy at lo - p·s) · x̂ ] )``.

Channels mix in the frequency domain: at every frequency the ``C_out × C_in/G``
kernel block of each group multiplies the channel vector (a batched product over
groups and frequencies, or an elementwise one for depthwise layers). The batch
is processed in chunks, and the kernel spectrum in tiles of channels, so that
the workspace stays within :func:`convmat.get_workspace_limit`. Real arrays use
real transforms (``rfftn``), complex arrays full ones; the transforms run on
:func:`convmat.get_num_threads` workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Any

import numpy as np
import scipy.fft

from .config import CHUNK_TARGET_BYTES, get_num_threads, get_workspace_limit
from .geometry import ConvGeometry
from .padding import pad_spatial, unpad_adjoint

__all__ = ["FFTPlan", "fft_forward", "fft_input_grad", "fft_plan", "fft_weight_grad", "fft_workspace_bytes"]

#: Share of the workspace limit the kernel spectrum may take; the batch chunks share the rest.
KERNEL_SHARE = 4


@dataclass(frozen=True)
class FFTPlan:
    """Where a convolution's signal, taps and outputs sit on the transform grid.

    Attributes
    ----------
    geom : ConvGeometry
        The convolution.
    shape : tuple of int
        The transform grid ``F``, one entry per spatial dim.
    circular : bool
        Whether the grid is the input's own (``padding_mode="circular"``).
    prepadded : bool
        Whether the signal is the padded input (``"reflect"``, ``"replicate"``) rather than the input.
    """

    geom: ConvGeometry
    shape: tuple[int, ...]
    circular: bool
    prepadded: bool

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """Per axis, the grid position of padded position 0: 0 for a padded signal, else ``-lo``."""
        return (0,) * self.geom.ndim if self.prepadded else tuple(-lo for lo, _ in self.geom.padding)

    @cached_property
    def outputs(self) -> tuple[np.ndarray, ...]:
        """Per axis, the grid position output ``p`` reads: ``(p·s - lo) mod F``."""
        return tuple(
            (np.arange(o) * s + off) % f
            for o, s, off, f in zip(self.geom.output_spatial, self.geom.stride, self.offsets, self.shape, strict=True)
        )

    @cached_property
    def taps(self) -> tuple[np.ndarray, ...]:
        """Per axis, the grid position of kernel tap ``t``: ``(t·d) mod F``."""
        return tuple(
            (np.arange(k) * d) % f
            for k, d, f in zip(self.geom.kernel_size, self.geom.dilation, self.shape, strict=True)
        )

    @cached_property
    def spectrum_shape(self) -> tuple[int, ...]:
        """Shape of a real signal's transform on the grid (the last axis halved by ``rfftn``)."""
        return (*self.shape[:-1], self.shape[-1] // 2 + 1)


def fft_plan(geom: ConvGeometry) -> FFTPlan:
    """The transform grid of ``geom``: the input's own with circular padding, else a fast size ≥ the padded input.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> fft_plan(conv_geometry((56, 56), 7, padding=3)).shape
    (64, 64)
    >>> fft_plan(conv_geometry((56, 56), 7, padding=3, padding_mode="circular")).shape
    (56, 56)
    """
    if geom.padding_mode == "circular":
        return FFTPlan(geom, geom.input_spatial, circular=True, prepadded=False)
    grid = tuple(scipy.fft.next_fast_len(p, real=True) for p in geom.padded_spatial)
    return FFTPlan(geom, grid, circular=False, prepadded=geom.is_padded and geom.padding_mode != "zeros")


def _spectrum_numel(plan: FFTPlan, real: bool) -> int:
    return prod(plan.spectrum_shape) if real else prod(plan.shape)


def fft_workspace_bytes(plan: FFTPlan, c_in: int, c_out: int, itemsize: int, real: bool = True) -> int:
    """Workspace bytes one sample takes on the FFT route: its signal, both spectra and the result on the grid.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> fft_workspace_bytes(fft_plan(conv_geometry((6,), 3)), 1, 1, 8)
    352
    """
    grid, spectrum = prod(plan.shape), _spectrum_numel(plan, real)
    signal = grid * itemsize if real else grid * 2 * itemsize
    # each spectrum twice: as transformed, and laid out for the channel mixing
    return (c_in + c_out) * (signal + 2 * spectrum * 2 * itemsize)


# ---------------------------------------------------------------------------
# Index maps onto the grid: a scatter (values placed at positions, repeats added) and its adjoint, a gather.
# ---------------------------------------------------------------------------


def _scatter(values: np.ndarray, positions: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> np.ndarray:
    """``values [..., *m]`` placed on a zero grid ``[..., *shape]`` at ``positions`` (an index array per axis)."""
    grid = np.zeros((*values.shape[: values.ndim - len(shape)], *shape), dtype=values.dtype)
    index: Any = (Ellipsis, *np.ix_(*positions))
    if all(np.unique(p).size == p.size for p in positions):
        grid[index] = values
    else:  # a circular grid smaller than the kernel or the outputs: positions repeat and add up
        np.add.at(grid, index, values)
    return grid


def _gather(grid: np.ndarray, positions: tuple[np.ndarray, ...]) -> np.ndarray:
    """The adjoint of :func:`_scatter`: the grid's values at ``positions``, as a contiguous array."""
    index: Any = (Ellipsis, *np.ix_(*positions))
    return np.ascontiguousarray(grid[index])


def _negated(positions: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """``-p mod F`` per axis: the positions of a sequence flipped 180° on the grid."""
    return tuple((-p) % f for p, f in zip(positions, shape, strict=True))


# ---------------------------------------------------------------------------
# Transforms on the grid (real or complex), on the configured number of workers.
# ---------------------------------------------------------------------------


def _axes(nd: int) -> tuple[int, ...]:
    return tuple(range(-nd, 0))


def _transform(a: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The DFT over the trailing ``len(shape)`` axes, zero-extending them to ``shape``."""
    fft = scipy.fft.fftn if np.iscomplexobj(a) else scipy.fft.rfftn
    return fft(a, s=shape, axes=_axes(len(shape)), workers=get_num_threads())


def _inverse(a: np.ndarray, shape: tuple[int, ...], real: bool) -> np.ndarray:
    ifft = scipy.fft.irfftn if real else scipy.fft.ifftn
    return ifft(a, s=shape, axes=_axes(len(shape)), workers=get_num_threads())


# ---------------------------------------------------------------------------
# The channel mixing at every frequency. Spectra are flattened over frequencies (M):
#   x̂ [n, G, ci, M]   k̂ [G, co, ci, M]   ŷ, dŷ [n, G, co, M]
# A contracted axis of length 1 is a broadcast product; otherwise one batched product over (G, M).
# ---------------------------------------------------------------------------


def _forward_layout(kf: np.ndarray) -> np.ndarray:
    """``k̂`` as :func:`_mix_forward` takes it: ``[G, co, M]`` (one input channel per group) or ``[G, M, ci, co]``."""
    return kf[:, :, 0] if kf.shape[2] == 1 else np.ascontiguousarray(kf.transpose(0, 3, 2, 1))


def _mix_forward(xf: np.ndarray, kf: np.ndarray) -> np.ndarray:
    """``ŷ[n,g,o] = Σ_c x̂[n,g,c] k̂[g,o,c]`` at every frequency (``kf`` in :func:`_forward_layout`)."""
    if kf.ndim == 3:  # one input channel per group: [n, G, 1, M] * [1, G, co, M]
        return xf * kf[None]
    # [G, M, n, ci] @ [G, M, ci, co] -> [G, M, n, co] -> [n, G, co, M]
    return np.matmul(np.ascontiguousarray(xf.transpose(1, 3, 0, 2)), kf).transpose(2, 0, 3, 1)


def _input_grad_layout(kf: np.ndarray) -> np.ndarray:
    """``k̂`` as :func:`_mix_input_grad` takes it: ``[G, ci, M]`` (one output channel a group) or ``[G, M, co, ci]``."""
    return kf[:, 0] if kf.shape[1] == 1 else np.ascontiguousarray(kf.transpose(0, 3, 1, 2))


def _mix_input_grad(dyf: np.ndarray, kf: np.ndarray) -> np.ndarray:
    """``dx̂[n,g,c] = Σ_o dŷ[n,g,o] k̂[g,o,c]`` at every frequency (``kf`` in :func:`_input_grad_layout`)."""
    if kf.ndim == 3:  # one output channel per group: [n, G, 1, M] * [1, G, ci, M]
        return dyf * kf[None]
    # [G, M, n, co] @ [G, M, co, ci] -> [G, M, n, ci] -> [n, G, ci, M]
    return np.matmul(np.ascontiguousarray(dyf.transpose(1, 3, 0, 2)), kf).transpose(2, 0, 3, 1)


def _mix_weight_grad(dyf: np.ndarray, xf: np.ndarray) -> np.ndarray:
    """``ĝ[g,o,c] = Σ_n dŷ[n,g,o] x̂[n,g,c]`` at every frequency."""
    if dyf.shape[0] == 1 or (dyf.shape[2] == 1 and xf.shape[2] == 1):
        return (dyf[:, :, :, None] * xf[:, :, None]).sum(axis=0)
    # [G, M, co, n] @ [G, M, n, ci] -> [G, M, co, ci] -> [G, co, ci, M]
    left = np.ascontiguousarray(dyf.transpose(1, 3, 2, 0))
    right = np.ascontiguousarray(xf.transpose(1, 3, 0, 2))
    return np.matmul(left, right).transpose(0, 2, 3, 1)


# ---------------------------------------------------------------------------
# Chunks of the batch and tiles of the kernel spectrum, both within the workspace limit.
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tile:
    """Groups ``groups`` and, within each, the channels ``channels`` of the tiled side (out or in)."""

    groups: slice
    channels: slice


def _tiles(groups: int, per_group: int, bytes_per_channel: int, budget: int) -> list[_Tile]:
    """Tiles of the ``groups × per_group`` channels whose kernel spectra fit ``budget`` (at least one channel)."""
    whole_group = per_group * bytes_per_channel
    if groups * whole_group <= budget:
        return [_Tile(slice(0, groups), slice(0, per_group))]
    if whole_group <= budget:
        step = budget // whole_group
        return [_Tile(slice(g, min(g + step, groups)), slice(0, per_group)) for g in range(0, groups, step)]
    step = max(1, budget // max(bytes_per_channel, 1))
    return [
        _Tile(slice(g, g + 1), slice(c, min(c + step, per_group)))
        for g in range(groups)
        for c in range(0, per_group, step)
    ]


def _chunks(batch: int, per_sample: int, reserved: int) -> Iterator[slice]:
    """Blocks of the batch of about :data:`CHUNK_TARGET_BYTES` each, within the workspace left after ``reserved``."""
    room = max(get_workspace_limit() - reserved, 0)
    step = max(1, min(batch, max(CHUNK_TARGET_BYTES // max(per_sample, 1), 1), room // max(per_sample, 1)))
    for start in range(0, batch, step):
        yield slice(start, min(start + step, batch))


def _kernel_spectrum(
    w: np.ndarray, plan: FFTPlan, groups: int, tile: _Tile, flipped: bool, out_side: bool
) -> np.ndarray:
    """``k̂ [g, co, ci, M]`` of the tile's channels, the taps at ``t·d`` (or ``-t·d`` with ``flipped``)."""
    c_out, cin_g = w.shape[:2]
    blocks = w.reshape(groups, c_out // groups, cin_g, *w.shape[2:])[tile.groups]
    blocks = blocks[:, tile.channels] if out_side else blocks[:, :, tile.channels]
    taps = _negated(plan.taps, plan.shape) if flipped else plan.taps
    spectrum = _transform(_scatter(blocks, taps, plan.shape), plan.shape)
    return spectrum.reshape(*spectrum.shape[:3], -1)


def _signal(x: np.ndarray, plan: FFTPlan) -> np.ndarray:
    """The sequence a chunk's input is on the grid (zero-extended by the transform): itself, or its padded copy."""
    geom = plan.geom
    return pad_spatial(x, geom.padding, geom.padding_mode) if plan.prepadded else x


def _signal_shape(plan: FFTPlan) -> tuple[int, ...]:
    return plan.geom.padded_spatial if plan.prepadded else plan.geom.input_spatial


def _signal_spectrum(x: np.ndarray, plan: FFTPlan, groups: int) -> np.ndarray:
    n, c_in = x.shape[:2]
    return _transform(_signal(x, plan), plan.shape).reshape(n, groups, c_in // groups, -1)


def _grid_output(dy: np.ndarray, plan: FFTPlan, groups: int, flipped: bool) -> np.ndarray:
    """The spectrum ``[n, G, co, M]`` of ``dy`` placed at the output positions (``-`` them with ``flipped``)."""
    n, c_out = dy.shape[:2]
    positions = _negated(plan.outputs, plan.shape) if flipped else plan.outputs
    return _transform(_scatter(dy, positions, plan.shape), plan.shape).reshape(n, groups, c_out // groups, -1)


# ---------------------------------------------------------------------------
# The three maps. x [N, G*ci, *spatial]   w [G*co, ci, *kernel]   y, dy [N, G*co, *out]
# ---------------------------------------------------------------------------


def _real_and_itemsize(*arrays: np.ndarray) -> tuple[bool, int]:
    """Whether the route runs real transforms, and the bytes of one real number in its dtype."""
    dtype = np.result_type(*arrays)
    real = not np.issubdtype(dtype, np.complexfloating)
    return real, dtype.itemsize if real else dtype.itemsize // 2


def _tile_index(tile: _Tile) -> tuple[slice, slice, slice]:
    return (slice(None), tile.groups, tile.channels)


def fft_forward(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    """``y = W x`` through the DFT (no bias).

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> fft_forward(np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 3)), conv_geometry((5,), 3), 1).round(12)
    array([[[3., 6., 9.]]])
    """
    plan = fft_plan(geom)
    (batch, c_in), (c_out, cin_g) = x.shape[:2], w.shape[:2]
    co = c_out // groups
    real, itemsize = _real_and_itemsize(x, w)
    spectrum = plan.spectrum_shape if real else plan.shape
    budget = get_workspace_limit() // KERNEL_SHARE
    per_sample = fft_workspace_bytes(plan, c_in, c_out, itemsize, real)
    y = np.empty((batch, c_out, *geom.output_spatial), dtype=np.result_type(x, w))
    y_g = y.reshape(batch, groups, co, *geom.output_spatial)
    # Tiles of output channels outside, so that each tile's kernel spectrum is made once.
    for tile in _tiles(groups, co, cin_g * _spectrum_numel(plan, real) * 2 * itemsize, budget):
        kf = _forward_layout(_kernel_spectrum(w, plan, groups, tile, flipped=True, out_side=True))
        for part in _chunks(batch, per_sample, kf.nbytes):
            yf = _mix_forward(_signal_spectrum(x[part], plan, groups)[:, tile.groups], kf)
            grid = _inverse(yf.reshape(*yf.shape[:3], *spectrum), plan.shape, real)
            y_g[part][_tile_index(tile)] = _gather(grid, plan.outputs)
    return y


def fft_input_grad(dy: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    """``dx = Wᵀ dy`` through the DFT.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> fft_input_grad(np.ones((1, 1, 3)), np.ones((1, 1, 3)), conv_geometry((5,), 3), 1).round(12)
    array([[[1., 2., 3., 2., 1.]]])
    """
    plan = fft_plan(geom)
    (batch, c_out), cin_g = dy.shape[:2], w.shape[1]
    c_in = cin_g * groups
    real, itemsize = _real_and_itemsize(dy, w)
    spectrum = plan.spectrum_shape if real else plan.shape
    budget = get_workspace_limit() // KERNEL_SHARE
    per_sample = fft_workspace_bytes(plan, c_in, c_out, itemsize, real)
    dx = np.empty((batch, c_in, *geom.input_spatial), dtype=np.result_type(dy, w))
    dx_g = dx.reshape(batch, groups, cin_g, *geom.input_spatial)
    # the points of the grid the signal occupies: the input, or the padded input
    occupied: tuple[Any, ...] = (Ellipsis, *(slice(0, p) for p in _signal_shape(plan)))
    # Tiles of input channels outside, so that each tile's kernel spectrum is made once.
    for tile in _tiles(groups, cin_g, (c_out // groups) * _spectrum_numel(plan, real) * 2 * itemsize, budget):
        kf = _input_grad_layout(_kernel_spectrum(w, plan, groups, tile, flipped=False, out_side=False))
        for part in _chunks(batch, per_sample, kf.nbytes):
            dxf = _mix_input_grad(_grid_output(dy[part], plan, groups, flipped=False)[:, tile.groups], kf)
            grid = _inverse(dxf.reshape(*dxf.shape[:3], *spectrum), plan.shape, real)
            grid = grid[occupied]
            if plan.prepadded:  # fold the padded border back onto the input
                grid = unpad_adjoint(grid, geom.padding, geom.input_spatial, geom.padding_mode)
            dx_g[part][_tile_index(tile)] = grid
    return dx


def fft_weight_grad(
    x: np.ndarray, dy: np.ndarray, weight_shape: tuple[int, ...], geom: ConvGeometry, groups: int
) -> np.ndarray:
    """The kernel gradient through the DFT: the correlation of ``x`` and ``dy``, read at the taps.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> x, dy = np.arange(5.0).reshape(1, 1, 5), np.ones((1, 1, 3))
    >>> fft_weight_grad(x, dy, (1, 1, 3), conv_geometry((5,), 3), 1).round(12)
    array([[[3., 6., 9.]]])
    """
    plan = fft_plan(geom)
    (batch, c_in), (c_out, cin_g) = x.shape[:2], weight_shape[:2]
    co = c_out // groups
    real, itemsize = _real_and_itemsize(x, dy)
    spectrum = plan.spectrum_shape if real else plan.shape
    numel = _spectrum_numel(plan, real)
    per_sample = fft_workspace_bytes(plan, c_in, c_out, itemsize, real)
    dw = np.empty(weight_shape, dtype=np.result_type(x, dy))
    dw_g = dw.reshape(groups, co, cin_g, *weight_shape[2:])
    dy_g = dy.reshape(batch, groups, co, *geom.output_spatial)
    # The gradient's spectrum is summed over the batch: tiles of output channels outside, a pass over it each.
    for tile in _tiles(groups, co, cin_g * numel * 2 * itemsize, get_workspace_limit() // KERNEL_SHARE):
        n_groups, n_out = len(range(groups)[tile.groups]), len(range(co)[tile.channels])
        acc = np.zeros((n_groups, n_out, cin_g, numel), dtype=np.result_type(x, dy, np.complex64))
        for part in _chunks(batch, per_sample, acc.nbytes):
            xf = _signal_spectrum(x[part], plan, groups)[:, tile.groups]
            dy_tile = dy_g[part][_tile_index(tile)].reshape(-1, n_groups * n_out, *geom.output_spatial)
            acc += _mix_weight_grad(_grid_output(dy_tile, plan, n_groups, flipped=True), xf)
        grid = _inverse(acc.reshape(n_groups, n_out, cin_g, *spectrum), plan.shape, real)
        dw_g[tile.groups, tile.channels] = _gather(grid, plan.taps)
    return dw
