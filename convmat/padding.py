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
    """Pad the trailing ``len(padding)`` axes of ``x`` by ``(low, high)`` pairs; a negative width crops.

    ``mode="zeros"`` (or ``"constant"``) pads with ``value``; the others copy
    input elements, as the index maps of
    :func:`convmat.patterns.padding_source_index` say. Returns ``x`` itself
    when there is nothing to pad, a view of it when every width crops or is zero.

    Examples
    --------
    >>> pad_spatial(np.array([[[1.0, 2.0, 3.0]]]), ((2, 1),), "reflect").tolist()
    [[[3.0, 2.0, 1.0, 2.0, 3.0, 2.0]]]
    >>> pad_spatial(np.array([[[1.0, 2.0, 3.0]]]), ((2, -1),), "reflect").tolist()
    [[[3.0, 2.0, 1.0, 2.0]]]
    """
    if all(lo == 0 and hi == 0 for lo, hi in padding):
        return x
    if any(lo < 0 or hi < 0 for lo, hi in padding):
        if all(lo <= 0 and hi <= 0 for lo, hi in padding):  # only crops: the same slice in every mode
            first = x.ndim - len(padding)
            crop: tuple[Any, ...] = (
                Ellipsis,
                *(slice(-lo, x.shape[first + d] + hi) for d, (lo, hi) in enumerate(padding)),
            )
            return x[crop]
        return _pad_by_index(x, padding, mode, value)
    widths = [(0, 0)] * (x.ndim - len(padding)) + [tuple(p) for p in padding]
    if mode in ("zeros", "constant"):
        return np.pad(x, widths, mode="constant", constant_values=value)
    return np.pad(x, widths, mode=_NUMPY_MODE[mode])


def _pad_by_index(x: np.ndarray, padding: Pads, mode: str, value: float) -> np.ndarray:
    """Pad and crop axis by axis through :func:`padding_source_index`: one gather per padded axis."""
    first = x.ndim - len(padding)
    result = x
    for d, (lo, hi) in enumerate(padding):
        if lo == 0 and hi == 0:
            continue
        axis = first + d
        source = padding_source_index(x.shape[axis], lo, hi, mode)
        inside = source >= 0
        if inside.all():
            result = np.take(result, source, axis=axis)
            continue
        shape = list(result.shape)
        shape[axis] = source.size
        out = np.full(shape, value, dtype=result.dtype)
        read = np.flatnonzero(inside)  # constant padding: the positions that read the input form one range
        if read.size:
            index: list[Any] = [slice(None)] * result.ndim
            index[axis] = slice(read[0], read[-1] + 1)
            out[tuple(index)] = np.take(result, source[inside], axis=axis)
        result = out
    return result


def unpad_adjoint(g: np.ndarray, padding: Pads, input_spatial: tuple[int, ...], mode: str = "zeros") -> np.ndarray:
    """The adjoint of :func:`pad_spatial`: fold a padded-shape gradient back onto the input.

    For ``"zeros"`` (``"constant"``) this crops. For the other modes each border
    position adds its value to the input element it copies (a loop over border
    positions only, never over the interior). A negative width (a crop of the
    forward) leaves zeros at the elements no position read.

    Examples
    --------
    >>> unpad_adjoint(np.ones((1, 1, 6)), ((2, 1),), (3,), "reflect").tolist()
    [[[1.0, 3.0, 2.0]]]
    >>> unpad_adjoint(np.ones((1, 1, 4)), ((2, -1),), (3,), "reflect").tolist()
    [[[1.0, 2.0, 1.0]]]
    """
    n = len(padding)
    first = g.ndim - n
    result = g
    for d, ((lo, hi), size) in enumerate(zip(padding, input_spatial, strict=True)):
        if lo == 0 and hi == 0:
            continue
        axis = first + d
        # Positions start .. start + kept - 1 of the padded axis read input elements begin .. directly.
        start, begin, kept = max(lo, 0), max(-lo, 0), max(size + min(lo, 0) + min(hi, 0), 0)
        inner: list[Any] = [slice(None)] * g.ndim
        inner[axis] = slice(start, start + kept)
        if kept == size:
            folded = result[tuple(inner)]
        else:  # cropped: what no position reads directly starts at zero
            shape = list(result.shape)
            shape[axis] = size
            folded = np.zeros(shape, dtype=result.dtype)
            target: list[Any] = [slice(None)] * g.ndim
            target[axis] = slice(begin, begin + kept)
            folded[tuple(target)] = result[tuple(inner)]
        if mode not in ("zeros", "constant"):
            if kept == size:
                folded = folded.copy()
            source = padding_source_index(size, lo, hi, mode)
            for j in (*range(min(start, source.size)), *range(start + kept, source.size)):
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
