"""PyTorch's default initialisation of convolution and linear layers.

``torch.nn.Conv*d`` and ``torch.nn.Linear`` draw their weight from
``kaiming_uniform_(w, a=sqrt(5))`` and their bias from ``U(-1/sqrt(fan_in),
1/sqrt(fan_in))``. With ``a = sqrt(5)`` the Kaiming bound
``gain * sqrt(3 / fan_in)``, ``gain = sqrt(2 / (1 + a²))``, is ``1/sqrt(fan_in)``
too, so both are uniform on the same interval. The draws here come from a
seeded :class:`numpy.random.Generator`, so the numbers differ from PyTorch's
(another generator) but the distribution is the same.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike

__all__ = ["bias_uniform", "fan_in", "float_dtype", "kaiming_uniform"]

Seed = np.random.Generator | int | None


def float_dtype(dtype: DTypeLike) -> np.dtype:
    """``np.dtype(dtype)`` if it is a real floating type, else ``TypeError`` naming ``dtype``.

    Examples
    --------
    >>> float_dtype("float32")
    dtype('float32')
    """
    try:
        result = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a floating dtype such as np.float32, got {dtype!r}") from exc
    if result.kind != "f":
        raise TypeError(f"dtype must be a real floating dtype such as np.float32, got {result}")
    return result


def fan_in(shape: Sequence[int]) -> int:
    """Inputs feeding one output: ``shape[1] * prod(shape[2:])`` of a weight ``(out, in, *kernel)``.

    For a grouped convolution ``shape[1]`` is already ``C_in // groups``.

    Examples
    --------
    >>> fan_in((16, 1, 3, 3)), fan_in((10, 128))
    (9, 128)
    """
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dims (out, in, *kernel), got {tuple(shape)}")
    return math.prod(shape[1:])


def kaiming_uniform(
    shape: Sequence[int], a: float = math.sqrt(5), *, rng: Seed = None, dtype: DTypeLike = np.float32
) -> np.ndarray:
    """Kaiming-He uniform weights: ``U(-b, b)``, ``b = sqrt(6 / ((1 + a²) fan_in))``.

    The default ``a = sqrt(5)`` is PyTorch's default for ``Conv*d`` and
    ``Linear``, giving ``b = 1 / sqrt(fan_in)``.

    Parameters
    ----------
    shape : sequence of int
        Weight shape ``(out, in, *kernel)``.
    a : float
        Negative slope of the rectifier the gain is computed for.
    rng : numpy.random.Generator or int, optional
        Generator (advanced in place) or seed.
    dtype : floating dtype
        Of the result (the draw is made in float64, then cast).

    Returns
    -------
    ndarray of ``shape``

    Examples
    --------
    >>> w = kaiming_uniform((16, 1, 3, 3), rng=0)
    >>> w.dtype, bool(np.abs(w).max() <= 1 / 3)
    (dtype('float32'), True)
    """
    bound = math.sqrt(6.0 / ((1.0 + a * a) * fan_in(shape)))
    return np.random.default_rng(rng).uniform(-bound, bound, size=tuple(shape)).astype(float_dtype(dtype))


def bias_uniform(size: int, fan_in: int, *, rng: Seed = None, dtype: DTypeLike = np.float32) -> np.ndarray:
    """PyTorch's default bias: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Examples
    --------
    >>> b = bias_uniform(10, 128, rng=0)
    >>> b.shape, bool(np.abs(b).max() <= 128**-0.5)
    ((10,), True)
    """
    if fan_in < 1:
        raise ValueError(f"fan_in must be positive, got {fan_in}")
    bound = 1.0 / math.sqrt(fan_in)
    return np.random.default_rng(rng).uniform(-bound, bound, size=size).astype(float_dtype(dtype))
