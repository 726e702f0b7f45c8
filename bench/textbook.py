"""The textbook numpy convolution: what a user writes without convmat (the honest baseline).

2-D only, ``groups=1``, zero padding, no dilation: the im2col of the course books,
written here from its description --

* im2col: one strided slice of the padded input per kernel tap, copied into a
  preallocated ``(N, C, kh, kw, OH, OW)`` buffer, then laid out as the patch matrix
  with one row per window, ``(N*OH*OW, C*kh*kw)`` (a transposing copy);
* one GEMM with the flattened kernel;
* col2im (input gradient) as one strided slice-add per kernel tap.

This is the layout of *Deep Learning from Scratch* (Saito), the most copied numpy
im2col. Unlike the book, the buffers keep the input's dtype (the book's
``np.zeros`` would turn float32 work into float64), which only helps the baseline.

A second variant, ``*_columns``, lays the patch matrix out with one *column* per
window, ``(C*kh*kw, N*OH*OW)`` (CS231n's layout): the slice loop writes it
directly, so im2col needs no transposing copy and the forward GEMM reads a
contiguous operand. It is what a performance-minded user writes, and it is
benchmarked beside the first as a second, stronger baseline.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "col2im",
    "col2im_columns",
    "conv2d_forward",
    "conv2d_forward_columns",
    "conv2d_input_grad",
    "conv2d_input_grad_columns",
    "conv2d_weight_grad",
    "conv2d_weight_grad_columns",
    "im2col",
    "im2col_columns",
]


def _out_size(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _taps(kh: int, kw: int, stride: int, oh: int, ow: int):
    """``(i, j, rows, cols)``: kernel tap and the strided slices of the padded input it reads."""
    for i in range(kh):
        for j in range(kw):
            yield i, j, slice(i, i + stride * oh, stride), slice(j, j + stride * ow, stride)


# ---------------------------------------------------------------------------
# The book's layout: one row per window
# ---------------------------------------------------------------------------


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Patch matrix ``(N*OH*OW, C*kh*kw)`` of ``x`` ``(N, C, H, W)``: one strided slice per kernel tap."""
    n, c, h, w = x.shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(w, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i, j, rows, columns in _taps(kh, kw, stride, oh, ow):
        cols[:, :, i, j] = xp[:, :, rows, columns]
    return cols.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)


def col2im(cols: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of :func:`im2col`: fold ``(N*OH*OW, C*kh*kw)`` back into ``(N, C, H, W)``, overlaps added."""
    n, c, h, w = x_shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(w, kw, stride, pad)
    cols = cols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i, j, rows, columns in _taps(kh, kw, stride, oh, ow):
        xp[:, :, rows, columns] += cols[:, :, i, j]
    return xp[:, :, pad : pad + h, pad : pad + w]


def conv2d_forward(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    """``y = conv(x, w)``: ``(N, C, H, W)`` with ``(F, C, kh, kw)`` -> ``(N, F, OH, OW)``."""
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(wd, kw, stride, pad)
    out = im2col(x, kh, kw, stride, pad) @ w.reshape(f, -1).T  # (N*OH*OW, C*kh*kw) @ (C*kh*kw, F)
    return out.reshape(n, oh, ow, f).transpose(0, 3, 1, 2)


def conv2d_input_grad(
    x_shape: tuple[int, ...], w: np.ndarray, dy: np.ndarray, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """``dx``: the patch-space gradient ``dy @ w`` folded back by :func:`col2im`."""
    f, _, kh, kw = w.shape
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*OH*OW, F)
    return col2im(dy_rows @ w.reshape(f, -1), x_shape, kh, kw, stride, pad)


def conv2d_weight_grad(
    x: np.ndarray, w_shape: tuple[int, ...], dy: np.ndarray, stride: int = 1, pad: int = 0
) -> np.ndarray:
    """``dw = dyᵀ @ im2col(x)``."""
    f, _, kh, kw = w_shape
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, f)  # (N*OH*OW, F)
    return (dy_rows.T @ im2col(x, kh, kw, stride, pad)).reshape(w_shape)


# ---------------------------------------------------------------------------
# The GEMM-friendly layout: one column per window
# ---------------------------------------------------------------------------


def im2col_columns(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Patch matrix ``(C*kh*kw, N*OH*OW)``: the slice loop fills a ``(C, kh, kw, N, OH, OW)`` buffer."""
    n, c, h, w = x.shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(w, kw, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i, j, rows, columns in _taps(kh, kw, stride, oh, ow):
        cols[:, i, j] = xp[:, :, rows, columns].transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im_columns(cols: np.ndarray, x_shape: tuple[int, ...], kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of :func:`im2col_columns`."""
    n, c, h, w = x_shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(w, kw, stride, pad)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    xp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=cols.dtype)
    for i, j, rows, columns in _taps(kh, kw, stride, oh, ow):
        xp[:, :, rows, columns] += cols[:, i, j].transpose(1, 0, 2, 3)
    return xp[:, :, pad : pad + h, pad : pad + w]


def conv2d_forward_columns(x: np.ndarray, w: np.ndarray, stride: int = 1, pad: int = 0) -> np.ndarray:
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh, ow = _out_size(h, kh, stride, pad), _out_size(wd, kw, stride, pad)
    out = w.reshape(f, -1) @ im2col_columns(x, kh, kw, stride, pad)  # (F, C*kh*kw) @ (C*kh*kw, N*OH*OW)
    return out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)


def conv2d_input_grad_columns(
    x_shape: tuple[int, ...], w: np.ndarray, dy: np.ndarray, stride: int = 1, pad: int = 0
) -> np.ndarray:
    f, _, kh, kw = w.shape
    dy_cols = dy.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*OH*OW)
    return col2im_columns(w.reshape(f, -1).T @ dy_cols, x_shape, kh, kw, stride, pad)


def conv2d_weight_grad_columns(
    x: np.ndarray, w_shape: tuple[int, ...], dy: np.ndarray, stride: int = 1, pad: int = 0
) -> np.ndarray:
    f, _, kh, kw = w_shape
    dy_cols = dy.transpose(1, 0, 2, 3).reshape(f, -1)  # (F, N*OH*OW)
    return (dy_cols @ im2col_columns(x, kh, kw, stride, pad).T).reshape(w_shape)
