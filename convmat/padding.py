"""Padding of the spatial axes and its adjoint (folding a gradient back).

The four modes are PyTorch's ``F.pad`` modes; each is a linear map ``P`` from the
input to the padded input, and :func:`unpad_adjoint` applies ``Pᵀ``: every padded
position sends its value back to the input element it was copied from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .geometry import Pads
from .patterns import padding_source_index

__all__ = ["pad_or_crop", "pad_spatial", "unpad_adjoint"]

_NUMPY_MODE: dict[str, Any] = {"zeros": "constant", "circular": "wrap", "reflect": "reflect", "replicate": "edge"}


def pad_spatial(x: np.ndarray, padding: Pads, mode: str = "zeros", value: float = 0.0) -> np.ndarray:
    """Pad the trailing ``len(padding)`` axes of ``x`` by ``(low, high)`` pairs.

    ``mode="zeros"`` pads with ``value``; the others copy input elements.
    Returns ``x`` itself when there is nothing to pad.

    Examples
    --------
    >>> pad_spatial(np.array([[[1.0, 2.0, 3.0]]]), ((2, 1),), "reflect").tolist()
    [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
    """
    if all(lo == 0 and hi == 0 for lo, hi in padding):
        return x
    widths = [(0, 0)] * (x.ndim - len(padding)) + [tuple(p) for p in padding]
    if mode == "zeros":
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=_NUMPY_MODE[mode])


def unpad_adjoint(g: np.ndarray, padding: Pads, input_spatial: tuple[int, ...], mode: str = "zeros") -> np.ndarray:
    """The adjoint of :func:`pad_spatial`: fold a padded-shape gradient back onto the input.

    For ``"zeros"`` this crops. For the other modes each border position adds its
    value to the input element it copies (a loop over border positions only,
    never over the interior).

    Examples
    --------
    >>> unpad_adjoint(np.ones((1, 1, 6)), ((2, 1),), (3,), "reflect").tolist()
    [[[1.0, 3.0, 2.0]]]
    """
    n = len(padding)
    first = g.ndim - n
    result = g
    for d, ((lo, hi), size) in enumerate(zip(padding, input_spatial, strict=True)):
        if lo == 0 and hi == 0:
            continue
        axis = first + d
        inner = [slice(None)] * g.ndim
        inner[axis] = slice(lo, lo + size)
        folded = result[tuple(inner)]
        if mode != "zeros":
            folded = folded.copy()
            source = padding_source_index(size, lo, hi, mode)
            for j in (*range(lo), *range(lo + size, lo + size + hi)):
                dst = [slice(None)] * g.ndim
                dst[axis] = source[j]
                src = [slice(None)] * g.ndim
                src[axis] = j
                folded[tuple(dst)] += result[tuple(src)]
        result = folded
    return np.ascontiguousarray(result)


def pad_or_crop(a: np.ndarray, widths: Sequence[tuple[int, int]]) -> np.ndarray:
    """Zero-pad the trailing axes by ``(low, high)``; a negative width crops instead.

    Examples
    --------
    >>> pad_or_crop(np.arange(4.0), [(2, -1)])
    array([0., 0., 0., 1., 2.])
    """
    n = len(widths)
    crop = tuple(slice(max(-lo, 0), a.shape[a.ndim - n + i] - max(-hi, 0)) for i, (lo, hi) in enumerate(widths))
    pads = [(0, 0)] * (a.ndim - n) + [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    index: tuple[Any, ...] = (Ellipsis, *crop)
    return np.pad(a[index], pads)
