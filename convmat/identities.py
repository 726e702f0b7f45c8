"""The gradient identities: backpropagation through a convolution is itself a convolution.

Each function here computes a gradient *literally* the way the identity states it,
with zero insertion, padding, a 180° flip and a plain valid convolution, and never
calls the gradient functions or the matrix ``W``. They are a second route to the
numbers of :func:`convmat.conv_input_grad` and :func:`convmat.conv_weight_grad`,
so each identity can be checked rather than believed.

Notation per spatial dim: input size ``n``, kernel ``k``, stride ``s``, dilation
``d``, padding ``(p_lo, p_hi)``, output size ``o``. The forward convolution is
``y[j] = Σ_t w[t] · x_pad[j·s + t·d]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._arrays import as_array, check_array_shape, result_dtype
from .conv import conv
from .geometry import IntOrTuple, Padding, check_shape, conv_problem
from .padding import pad_or_crop

__all__ = ["input_grad_by_full_conv", "insert_zeros", "weight_grad_by_dilated_conv"]


def insert_zeros(a: np.ndarray, stride: Sequence[int]) -> np.ndarray:
    """Put ``stride - 1`` zeros between neighbouring elements of the trailing axes.

    This is the "fractionally strided" step: a stride-``s`` convolution's output
    gradient spread back onto the grid of window positions.

    Examples
    --------
    >>> insert_zeros(np.array([[1.0, 2.0, 3.0]]), (2,))
    array([[1., 0., 2., 0., 3.]])
    """
    n = len(stride)
    lead = a.shape[: a.ndim - n]
    spread = np.zeros((*lead, *((m - 1) * s + 1 for m, s in zip(a.shape[a.ndim - n :], stride, strict=True))), a.dtype)
    index: tuple[Any, ...] = (Ellipsis, *(slice(None, None, s) for s in stride))
    spread[index] = a
    return spread


def input_grad_by_full_conv(
    grad_output: ArrayLike,
    weight: ArrayLike,
    input_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> np.ndarray:
    """Input gradient as a full convolution of the output gradient with the flipped kernel.

    The recipe, per spatial dim:

    1. insert ``s - 1`` zeros between gradient elements (length ``(o - 1)·s + 1``);
    2. pad by ``d·(k - 1) - p_lo`` on the low side and ``n + p_lo - (o - 1)·s - 1``
       on the high side (a negative amount crops). Without forward padding and with
       no leftover input this is the *full* padding ``d·(k - 1)`` on both sides;
    3. flip the kernel 180° in every spatial dim (flipped, not transposed) and
       swap its input/output channel axes;
    4. valid convolution, stride 1, dilation ``d``.

    Parameters
    ----------
    grad_output : array_like, shape (N, C_out, *out_spatial)
    weight : array_like, shape (C_out, C_in // groups, *kernel)
    input_shape : sequence of int
        ``(N, C_in, *spatial)`` of the forward input.
    stride, padding, dilation, groups
        Those of the forward convolution (zero padding).

    Returns
    -------
    ndarray, shape ``input_shape``
        Equal to :func:`convmat.conv_input_grad` (``Wᵀ·dy``).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> from convmat.identities import input_grad_by_full_conv
    >>> w = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    >>> dy = np.ones((1, 1, 2, 2))
    >>> dx = input_grad_by_full_conv(dy, w, (1, 1, 5, 5), stride=2)
    >>> np.allclose(dx, cm.conv_input_grad((1, 1, 5, 5), w, dy, stride=2))
    True
    """
    w = as_array(weight, "weight")
    shape = check_shape("input_shape", input_shape)
    geom, groups = conv_problem(shape, w.shape, stride, padding, dilation, groups, input_name="input_shape")
    dy = as_array(grad_output, "grad_output")
    check_array_shape(dy, (shape[0], w.shape[0], *geom.output_spatial), "grad_output", "(N, C_out, *out_spatial)")
    dtype = result_dtype(w, dy)
    spread = insert_zeros(dy.astype(dtype, copy=False), geom.stride)
    widths = [
        (d * (k - 1) - lo, n + lo - (o - 1) * s - 1)
        for n, k, s, d, (lo, _), o in zip(
            geom.input_spatial,
            geom.kernel_size,
            geom.stride,
            geom.dilation,
            geom.padding,
            geom.output_spatial,
            strict=True,
        )
    ]
    padded = pad_or_crop(spread, widths)
    # [G*co, ci, *k] -> [G, co, ci, *k] -> [G, ci, co, *k] -> [G*ci, co, *k], then the 180° flip
    c_out, cin_g = w.shape[:2]
    swapped = w.reshape(groups, c_out // groups, cin_g, *geom.kernel_size).swapaxes(1, 2)
    swapped = swapped.reshape(groups * cin_g, c_out // groups, *geom.kernel_size)
    flipped = np.flip(swapped, axis=tuple(range(2, 2 + geom.ndim))).astype(dtype, copy=False)
    return conv(padded, flipped, dilation=geom.dilation, groups=groups)


def weight_grad_by_dilated_conv(
    x: ArrayLike,
    grad_output: ArrayLike,
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> np.ndarray:
    """Kernel gradient as the input convolved with the output gradient used as a kernel.

    ``dw[t] = Σ_j dy[j] · x_pad[j·s + t·d]`` is a correlation of the padded input
    with ``dy`` as the kernel, *dilated by the stride* ``s`` and taken with
    *stride* ``d`` (the forward dilation); the batch axis is summed as the
    channel axis of that convolution. Only the first ``k`` positions of its
    output are kernel taps (the rest is what a larger kernel would see).

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial)
    grad_output : array_like, shape (N, C_out, *out_spatial)
    weight_shape : sequence of int
        ``(C_out, C_in // groups, *kernel)``.
    stride, padding, dilation, groups
        Those of the forward convolution (zero padding).

    Returns
    -------
    ndarray, shape ``weight_shape``
        Equal to :func:`convmat.conv_weight_grad`.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> from convmat.identities import weight_grad_by_dilated_conv
    >>> x = np.arange(25.0).reshape(1, 1, 5, 5)
    >>> dy = np.ones((1, 1, 2, 2))
    >>> dw = weight_grad_by_dilated_conv(x, dy, (1, 1, 3, 3), stride=2)
    >>> np.allclose(dw, cm.conv_weight_grad(x, (1, 1, 3, 3), dy, stride=2))
    True
    """
    xa = as_array(x, "x")
    wshape = check_shape("weight_shape", weight_shape)
    geom, groups = conv_problem(xa.shape, wshape, stride, padding, dilation, groups, weight_name="weight_shape")
    dy = as_array(grad_output, "grad_output")
    batch, c_in, c_out = xa.shape[0], xa.shape[1], wshape[0]
    check_array_shape(dy, (batch, c_out, *geom.output_spatial), "grad_output", "(N, C_out, *out_spatial)")
    dtype = result_dtype(xa, dy)
    if batch == 0:
        return np.zeros(wshape, dtype=dtype)
    x_pad = pad_or_crop(xa.astype(dtype, copy=False), geom.padding)
    cin_g, n = c_in // groups, geom.ndim
    # Input channels become the batch, the batch becomes channels (grouped):
    # x_pad [N, G*ci, *P] -> [ci, G*N, *P];  dy [N, G*co, *out] -> kernel [G*co, N, *out]
    images = x_pad.reshape(batch, groups, cin_g, *geom.padded_spatial).transpose(2, 1, 0, *range(3, 3 + n))
    images = images.reshape(cin_g, groups * batch, *geom.padded_spatial)
    kernels = dy.astype(dtype, copy=False).swapaxes(0, 1)
    taps = conv(images, kernels, stride=geom.dilation, dilation=geom.stride, groups=groups)
    # [ci, G*co, *k'] -> first k taps -> [G*co, ci, *k]
    taps = taps[(slice(None), slice(None), *(slice(0, k) for k in geom.kernel_size))]
    return np.ascontiguousarray(taps.swapaxes(0, 1))
