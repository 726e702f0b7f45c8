"""Where a call of a public function goes: :mod:`convmat.dask` for dask arrays, a ``TypeError`` for device arrays.

The operations that :mod:`convmat.dask` mirrors call :func:`on_dask` first
with their array arguments. A dask array among them hands the whole call to
the function of the same name in :mod:`convmat.dask`, which returns a dask
array; so ``cm.conv(x, w)`` with a dask ``x`` runs on dask, unchanged. dask is
never imported here: a dask array exists only once its user has imported
``dask.array``, so the check looks the module up in ``sys.modules`` and is a
dictionary look-up while it is absent. Any other argument that lives on a
device (a CuPy array, a JAX array on a GPU, …) is refused with the
``TypeError`` of :func:`convmat._arrays.check_host` before anything converts
it. A NumPy array costs one type comparison.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ._arrays import check_host

__all__ = ["is_dask_array", "on_dask"]


def is_dask_array(value: object) -> bool:
    """Whether ``value`` is a ``dask.array.Array`` (without importing dask).

    Examples
    --------
    >>> is_dask_array(np.ones(3))
    False
    """
    array_module = sys.modules.get("dask.array")
    return array_module is not None and isinstance(value, array_module.Array)


def on_dask(function: str, **arrays: object) -> Callable[..., Any] | None:
    """``convmat.dask.<function>`` if one of ``arrays`` is a dask array, else ``None``.

    ``arrays`` are the call's array arguments by name; one on a device raises
    ``TypeError`` naming it (:func:`convmat._arrays.check_host`).

    Examples
    --------
    >>> on_dask("conv", x=np.ones((1, 1, 3)), weight=np.ones((1, 1, 2))) is None
    True
    """
    array_module = sys.modules.get("dask.array")
    array_type = None if array_module is None else array_module.Array
    for name, value in arrays.items():
        if type(value) is np.ndarray or value is None:
            continue
        if array_type is not None and isinstance(value, array_type):
            # The one import upward in convmat (floor 2 to floor 6), made only once a dask array arrives.
            return getattr(importlib.import_module(f"{__package__}.dask"), function)
        check_host(value, name)
    return None
