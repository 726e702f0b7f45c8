"""Coercion and validation of array arguments (dtype rules of the contract).

Integer and bool inputs are promoted to float64; floating and complex dtypes are
kept; anything else is a ``TypeError`` naming the argument.

convmat computes with NumPy in host memory. An array of another library that
NumPy could only take by copying it off a device (a CuPy array, a JAX or
PyTorch array on a GPU: anything exposing ``__cuda_array_interface__``, or a
``__dlpack_device__`` other than the CPU) is refused with a ``TypeError`` that
says what convmat takes, before anything is converted; arrays of other
libraries in host memory (JAX or PyTorch on the CPU, ``memoryview``, …) are
converted by ``np.asarray`` as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["as_array", "check_array_shape", "check_host", "coerced_dtype", "compute_dtype", "result_dtype"]

#: DLPack's device type of host memory (``kDLCPU``); every other type is memory NumPy cannot read in place.
DLPACK_CPU = 1

#: What convmat's functions take, for the message refusing anything else.
SUPPORTED = "convmat takes NumPy arrays and array_likes in host memory (and dask arrays of them, through convmat.dask)"


def _device_of(value: object) -> str | None:
    """Where ``value`` keeps its data when that is not host memory NumPy can read, else ``None``."""
    if hasattr(value, "__cuda_array_interface__"):
        return "a CUDA device"
    dlpack_device = getattr(value, "__dlpack_device__", None)
    if dlpack_device is None:
        return None
    try:
        device_type, device_id = dlpack_device()
    except Exception:  # an object that cannot say: np.asarray decides
        return None
    if int(device_type) == DLPACK_CPU:
        return None
    return f"DLPack device type {int(device_type)}, id {device_id}"


def check_host(value: object, name: str) -> None:
    """Raise ``TypeError`` naming ``name`` and what convmat takes if ``value`` lives on a device.

    NumPy arrays return at once; other objects are checked for
    ``__cuda_array_interface__`` and for a non-CPU ``__dlpack_device__()``.

    Examples
    --------
    >>> class OnGpu:
    ...     __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False), "version": 3}
    >>> check_host(np.ones(2), "x")
    >>> check_host(OnGpu(), "x")
    Traceback (most recent call last):
        ...
    TypeError: x is a convmat._arrays.OnGpu on a CUDA device: convmat takes NumPy arrays and array_likes ...
    """
    if type(value) is np.ndarray:
        return
    device = _device_of(value)
    if device is not None:
        kind = type(value)
        raise TypeError(
            f"{name} is a {kind.__module__}.{kind.__qualname__} on {device}: {SUPPORTED}; copy it to the host "
            f"first (for example cupy.asnumpy(a), np.asarray(jax.device_get(a)) or tensor.cpu().numpy())"
        )


def coerced_dtype(dtype: DTypeLike, name: str, shape: tuple[int, ...], *, allow_complex: bool = True) -> np.dtype:
    """The dtype :func:`as_array` gives an array of ``dtype`` (and ``shape``, for messages), or its ``TypeError``.

    Examples
    --------
    >>> coerced_dtype(np.int32, "x", (2,)), coerced_dtype(np.float32, "x", (2,))
    (dtype('float64'), dtype('float32'))
    """
    dt = np.dtype(dtype)
    kind = dt.kind
    if kind in "biu":
        return np.dtype(np.float64)
    if kind == "f" or (kind == "c" and allow_complex):
        return dt
    if kind == "c":
        raise TypeError(f"{name} must be real, got complex dtype {dt} (shape {shape})")
    raise TypeError(f"{name} must have a numeric dtype, got {dt} (shape {shape})")


def as_array(value: ArrayLike, name: str, *, allow_complex: bool = True) -> np.ndarray:
    """Return ``value`` as an ndarray of a floating (or complex) dtype.

    Arrays on a device are refused (:func:`check_host`).

    Examples
    --------
    >>> as_array([1, 2], "x").dtype
    dtype('float64')
    """
    check_host(value, name)
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like with a numeric dtype: {exc}") from exc
    dtype = coerced_dtype(arr.dtype, name, arr.shape, allow_complex=allow_complex)
    return arr if dtype == arr.dtype else arr.astype(dtype)


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


def check_array_shape(arr: Any, expected: tuple[int, ...], name: str, context: str = "") -> None:
    """Raise ``ValueError`` naming ``name`` unless ``arr.shape == expected`` (``arr``: anything with a shape)."""
    if tuple(arr.shape) != tuple(expected):
        suffix = f" {context}" if context else ""
        raise ValueError(f"{name} has shape {arr.shape}, expected {tuple(expected)}{suffix}")
