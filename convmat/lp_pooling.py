"""Power-average (LP) pooling, forward beside backward: PyTorch's ``F.lp_pool{1,2,3}d``.

LP pooling is average pooling in disguise: with ``K = prod(kernel_size)`` and
``A`` the averaging matrix of :func:`convmat.avg_pool_matrix`,

``y = (K · A·(x**p)) ** (1/p)``,

the ``p``-norm of every window (``(Σ x**p) ** (1/p)`` for a full window). Where
ceil mode adds a window that runs past the input, ``A`` divides by the window's
real length and ``K`` is still the whole kernel: PyTorch's definition, which
scales such a window's sum up by ``K / length``. ``norm_type=inf`` is max
pooling of ``|x|``. The backward is the chain rule through the same steps,
which :func:`lp_pool_backward` takes exactly as PyTorch's autograd does,
including where it is singular (see its notes).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._arrays import as_array, check_array_shape, compute_dtype, result_dtype
from ._dask_dispatch import on_dask
from ._rank import pool_examples, rank_specific
from .geometry import IntOrTuple, PoolGeometry, pool_problem
from .pool_patterns import max_pool_switches
from .pooling import max_pool_backward

__all__ = ["lp_pool", "lp_pool1d", "lp_pool2d", "lp_pool3d", "lp_pool_backward"]


def _norm_type(norm_type: object) -> float:
    """``norm_type`` as a float: a positive real number, ``inf`` included (else ``TypeError``/``ValueError``)."""
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"norm_type must be a positive real number (int or float), got {norm_type!r}")
    p = float(norm_type)
    if math.isnan(p) or p <= 0:
        raise ValueError(f"norm_type must be positive (inf for max pooling of |x|), got {norm_type!r}")
    return p


def _problem(
    shape: tuple[int, ...], kernel_size: IntOrTuple, stride: IntOrTuple | None, ceil_mode: bool, input_name: str = "x"
) -> PoolGeometry:
    return pool_problem(shape, kernel_size, stride, 0, 1, ceil_mode, input_name=input_name, function="lp_pool")


#: Integer exponents up to this are taken by repeated multiplication (see :func:`_power`).
INTEGER_POWER_MAX = 64


def _power(base: np.ndarray, exponent: float) -> np.ndarray:
    """``base ** exponent`` elementwise, as PyTorch's ``Tensor.pow(exponent)``, without C's slow negative bases.

    PyTorch multiplies for 2 and 3 and takes ``sqrt`` for 0.5 (and their
    reciprocals for -1, -2, -0.5), else C's ``pow``, which takes a slow path for
    a negative base (about 50 times slower than for a positive one). Here an
    integer exponent is a product (by squaring), and another exponent of a
    finite negative base is NaN, of anything else ``pow`` of its magnitude:
    ``pow``'s own results. May return ``base`` itself.
    """
    if exponent in (0.5, -0.5):
        root = np.sqrt(base)
        return root if exponent > 0 else 1 / root
    if exponent == int(exponent):
        n = int(exponent)
        if n == 0:
            return np.ones_like(base)  # pow(x, 0) is 1 for every x, NaN included
        if abs(n) > INTEGER_POWER_MAX:
            return np.power(base, exponent)
        square, k = base, abs(n)
        while not k & 1:  # up to the lowest set bit of k
            square, k = square * square, k >> 1
        result, k = square, k >> 1
        while k:
            square = square * square
            if k & 1:
                result = result * square
            k >>= 1
        return 1 / result if n < 0 else result
    result = np.power(np.abs(base), exponent)
    result[(base < 0) & (base > -np.inf)] = np.nan
    return result


def _divisor(geom: PoolGeometry, dtype: np.dtype) -> np.ndarray:
    """Per output element, the number of input elements of its window (a ceil-mode window is cut at the input's end).

    Average pooling's divisor without padding (``count_include_pad`` then
    changes nothing): the product over the axes of each window's length.
    """
    divisor = np.ones((), dtype=np.int64)
    for n, o, k, s in zip(geom.input_spatial, geom.output_spatial, geom.kernel_size, geom.stride, strict=True):
        start = np.arange(o, dtype=np.int64) * s
        divisor = np.multiply.outer(divisor, np.minimum(start + k, n) - start)
    return divisor.astype(dtype)


def _axis_taps(geom: PoolGeometry, d: int, ndim: int) -> list[tuple[slice, ...]]:
    """Per kernel tap along spatial dim ``d``: the index (a strided slice) of what it reads for every window."""
    out, stride = geom.output_spatial[d], geom.stride[d]
    before = (slice(None),) * (2 + d)
    after = (slice(None),) * (ndim - 3 - d)
    return [(*before, slice(t, t + (out - 1) * stride + 1, stride), *after) for t in range(geom.kernel_size[d])]


def _average(powered: np.ndarray, geom: PoolGeometry) -> np.ndarray:
    """Average pooling without padding (PyTorch's divisor), into a C-ordered result.

    A window's sum is separable: summed along the last axis over its taps
    (strided views of the input, zero-padded past its end in ceil mode), then
    along the one before, and so on; then divided by the divisor. A sparse
    product per plane would leave its result transposed in memory.
    """
    pads = [(0, 0), (0, 0)] + [(0, h) for h in geom.high_padding]
    total = np.pad(powered, pads) if any(geom.high_padding) else powered  # ceil mode: zeros past the input
    for d in reversed(range(geom.ndim)):
        taps = _axis_taps(geom, d, total.ndim)
        summed = total[taps[0]].copy()
        for index in taps[1:]:
            summed += total[index]
        total = summed
    total /= _divisor(geom, total.dtype)
    return total


def _average_adjoint(grad: np.ndarray, geom: PoolGeometry) -> np.ndarray:
    """The adjoint of :func:`_average`: each window's gradient, divided by its divisor, added to its elements."""
    spread = grad / _divisor(geom, grad.dtype)
    for d in range(geom.ndim):
        shape = list(spread.shape)
        shape[2 + d] = geom.input_spatial[d] + geom.high_padding[d]
        wider = np.zeros(shape, dtype=spread.dtype)
        for index in _axis_taps(geom, d, spread.ndim):
            wider[index] += spread
        spread = wider
    if not any(geom.high_padding):
        return spread
    crop: tuple[Any, ...] = (Ellipsis, *(slice(0, n) for n in geom.input_spatial))
    return np.ascontiguousarray(spread[crop])


def _sign(a: np.ndarray) -> np.ndarray:
    """PyTorch's ``sign`` of a real array: -1, 0 or 1, and 0 for NaN."""
    s = np.sign(a)
    s[np.isnan(s)] = 0
    return s


def lp_pool(
    x: ArrayLike,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """N-d power-average pooling (PyTorch's ``F.lp_pool{1,2,3}d``): the ``p``-norm of every window.

    ``y = (K · avg_pool(x**p)) ** (1/p)`` with ``K = prod(kernel_size)``: for a
    window inside the input, ``(Σ x**p) ** (1/p)``. There is no padding.

    Parameters
    ----------
    x : array_like, shape (N, C, *spatial)
        Real input with 1 to 3 spatial dims; complex raises ``TypeError``.
    norm_type : float
        The power ``p``: a positive int or float, or ``inf`` (max pooling of
        ``|x|``). ``p = 1`` is sum pooling; ``p = 2``, the window's Euclidean norm.
    kernel_size : int or tuple of int
    stride : int or tuple of int, optional
        Defaults to ``kernel_size``.
    ceil_mode : bool
        Round the output size up: a last window that starts inside the input
        and runs past it. Its average is over its real length, and is still
        multiplied by the whole ``K`` (PyTorch's definition).

    Returns
    -------
    ndarray, shape (N, C, *out_spatial)
        dtype of ``x`` (integers and bool promote to float64; float16 computes
        in float32).

    Raises
    ------
    TypeError
        If ``norm_type`` is not a real number (bool is not).
    ValueError
        If ``norm_type`` is not positive (PyTorch computes something for
        negative powers, and the minimum of ``|x|`` for ``-inf``; convmat
        refuses them), or as :func:`convmat.avg_pool` raises.

    See Also
    --------
    lp_pool_backward : its gradient.

    Notes
    -----
    As in PyTorch, ``x**p`` is taken as it is: for a non-integer ``p`` a
    negative element gives NaN, and for an odd ``p`` a window whose sum of
    powers is negative gives NaN (its ``1/p`` power).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[3.0, 4.0, 1.0, 2.0, 2.0]]])
    >>> cm.lp_pool(x, 2, 2)  # sqrt(3² + 4²), sqrt(1² + 2²)
    array([[[5.        , 2.23606798]]])
    >>> cm.lp_pool(x, 1, 2, ceil_mode=True)  # the last window holds one element, scaled by K / 1 = 2
    array([[[7., 3., 4.]]])
    >>> cm.lp_pool(x, np.inf, 2)
    array([[[4., 2.]]])
    """
    if (on_dask_array := on_dask("lp_pool", x=x)) is not None:
        return on_dask_array(x, norm_type, kernel_size, stride, ceil_mode)
    xa = as_array(x, "x", allow_complex=False)
    p = _norm_type(norm_type)
    geom = _problem(xa.shape, kernel_size, stride, ceil_mode)
    if math.isinf(p):
        return max_pool_switches(np.abs(xa), geom)[0]
    work = xa.astype(compute_dtype(xa.dtype), copy=False)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        averaged = _average(_power(work, p), geom)
        y = _power(averaged * geom.kernel_numel, 1.0 / p)
    return y.astype(xa.dtype, copy=False)


def lp_pool_backward(
    grad_output: ArrayLike,
    x: ArrayLike,
    norm_type: float,
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of LP pooling with respect to its input (what PyTorch's autograd gives for ``F.lp_pool{1,2,3}d``).

    For a window with ``s = K · avg(x**p) > 0`` and output ``y = s**(1/p)``,
    each of its elements gets ``dy · y**(1-p) · x**(p-1)`` (scaled, in a
    ceil-mode window, like the forward); overlapping windows add up. For
    ``norm_type=inf``, the gradient of max pooling ``|x|``, times ``sign(x)``.

    Parameters
    ----------
    grad_output : array_like, shape (N, C, *out_spatial)
        Real gradient of the pooled output.
    x : array_like, shape (N, C, *spatial)
        The pooled input (the gradient depends on it).
    norm_type, kernel_size, stride, ceil_mode
        As in :func:`lp_pool`.

    Returns
    -------
    ndarray, shape of ``x``
        dtype of ``x`` and ``grad_output`` combined (float16 computes in float32).

    Notes
    -----
    The steps are PyTorch's: ``a = avg_pool(x**p)``, ``t = sign(a)·relu(|a|)``,
    ``y = (K·t)**(1/p)``, and the backward is the chain rule through each, with
    PyTorch's derivatives (``relu`` and ``sign`` pass nothing at 0). So:

    * a window whose sum of powers is 0 (all its elements 0, or, for an odd
      ``p``, terms that cancel) passes no gradient: the ``1/p`` power has an
      infinite (``p > 1``) or undefined slope there, and ``relu`` stops it, so
      the window contributes 0 where the derivative does not exist;
    * an element ``x = 0`` gets the gradient reaching its power times
      ``p · 0**(p-1)``: 0 for ``p > 1``, that gradient itself for ``p = 1``,
      and for ``p < 1`` an infinite slope: ``±inf``, or NaN (``0 · inf``) in a
      window that passes no gradient;
    * with ``norm_type=inf``, an element equal to 0 gets 0 (``sign(0) = 0``).

    All of these are PyTorch's numbers (NaN and infinities included); away
    from zeros the gradient is the derivative (checked by finite differences).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.array([[[3.0, 4.0, 0.0, 0.0]]])
    >>> cm.lp_pool(x, 2, 2)
    array([[[5., 0.]]])
    >>> cm.lp_pool_backward(np.ones((1, 1, 2)), x, 2, 2)  # x / ||x|| in the first window, 0 in the all-zero one
    array([[[0.6, 0.8, 0. , 0. ]]])
    """
    if (on_dask_array := on_dask("lp_pool_backward", grad_output=grad_output, x=x)) is not None:
        return on_dask_array(grad_output, x, norm_type, kernel_size, stride, ceil_mode)
    xa = as_array(x, "x", allow_complex=False)
    dy = as_array(grad_output, "grad_output", allow_complex=False)
    p = _norm_type(norm_type)
    geom = _problem(xa.shape, kernel_size, stride, ceil_mode)
    check_array_shape(dy, (*xa.shape[:2], *geom.output_spatial), "grad_output", "(N, C, *out_spatial)")
    dtype = result_dtype(xa, dy)
    work_dtype = compute_dtype(dtype)
    xw, dyw = xa.astype(work_dtype, copy=False), dy.astype(work_dtype, copy=False)
    if math.isinf(p):
        _, switches = max_pool_switches(np.abs(xw), geom)
        return (max_pool_backward(dyw, switches, xa.shape) * _sign(xw)).astype(dtype, copy=False)
    k = geom.kernel_numel
    inverse = 1.0 / p
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        a = _average(_power(xw, p), geom)
        # y = u ** (1/p) with u = K·t, t = sign(a)·relu(|a|): PyTorch's derivative of each step, in turn
        sign = _sign(a)
        t = sign * np.maximum(np.abs(a), 0)
        du = dyw * (inverse * _power(t * k, inverse - 1))
        dr = du * k * sign  # through the product sign(a)·r (sign passes nothing)
        da = np.where(np.abs(a) <= 0, 0, dr) * sign  # relu passes nothing at 0, then |a|
        dpowered = _average_adjoint(da, geom)
        dx = dpowered * (p * _power(xw, p - 1))
    return dx.astype(dtype, copy=False)


# ---------------------------------------------------------------------------
# Rank-specific variants, batched or unbatched
# ---------------------------------------------------------------------------


def _lp_nd(n: int) -> Callable[..., object]:
    examples = pool_examples(f"lp_pool{n}d", n, size=4, args="2, 2", out=2)
    return rank_specific(lp_pool, n, what="power-average (LP) pooling", examples=examples, allow_complex=False)


lp_pool1d = _lp_nd(1)
lp_pool2d = _lp_nd(2)
lp_pool3d = _lp_nd(3)
