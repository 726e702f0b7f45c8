"""Coercion and validation of array arguments (dtype rules of the contract).

Integer and bool inputs are promoted to float64; floating and complex dtypes are
kept; anything else is a ``TypeError`` naming the argument.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["as_array", "check_array_shape", "compute_dtype", "result_dtype"]


def as_array(value: ArrayLike, name: str, *, allow_complex: bool = True) -> np.ndarray:
    """Return ``value`` as an ndarray of a floating (or complex) dtype.

    Examples
    --------
    >>> as_array([1, 2], "x").dtype
    dtype('float64')
    """
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like with a numeric dtype: {exc}") from exc
    kind = arr.dtype.kind
    if kind in "biu":
        return arr.astype(np.float64)
    if kind == "f" or (kind == "c" and allow_complex):
        return arr
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {arr.dtype} (shape {arr.shape})")
    raise TypeError(f"{name} must have a numeric dtype, got {arr.dtype} (shape {arr.shape})")


def result_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """``np.result_type`` of the given (already coerced) arrays, ignoring ``None``."""
    return np.result_type(*(a for a in arrays if a is not None))


def compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype a route computes in for results of ``dtype``: float16 in float32 (rounded once at the end).

    BLAS and scipy.sparse have no float16, and summing in float16 would lose
    more than the one final rounding; every other dtype computes as it is.

    Examples
    --------
    >>> compute_dtype(np.dtype(np.float16)), compute_dtype(np.dtype(np.complex64))
    (dtype('float32'), dtype('complex64'))
    """
    return np.dtype(np.float32) if dtype == np.float16 else dtype


def check_array_shape(arr: np.ndarray, expected: tuple[int, ...], name: str, context: str = "") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``arr.shape == expected``."""
    if arr.shape != tuple(expected):
        suffix = f" {context}" if context else ""
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(expected)}{suffix}")
