"""The index-pattern cache: geometry-only index arrays, kept for reuse and bounded by bytes.

A builder turns *pattern + values* into a matrix with one gather, so the
patterns (the CSR structure of ``W``, the plane tables, the pooling windows, the
patch-selection matrix) are computed once per geometry and kept here. The cache
is bounded by bytes, not by entries: by default a quarter of
:func:`convmat.get_matrix_limit`. When a new pattern does not fit, the least
recently used ones are dropped until it does; a pattern larger than the whole
bound is used once and not kept.

What is shared
--------------
A matrix built from a cached pattern *shares* its index arrays with the cache
(they are read-only; ``W.copy()`` gives a matrix of its own). So for ``W`` from
:func:`convmat.conv_matrix`:

* ``del W`` frees ``W.data`` (its values) at once; its ``indices`` and
  ``indptr`` stay while the cache holds the pattern;
* :func:`clear_cache` drops the cache's references: the index arrays are freed
  once no matrix built from them is alive either.

Deleting ``W`` and calling :func:`clear_cache` therefore returns all of it.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple, TypeVar, cast

import numpy as np
import scipy.sparse as sp

from .config import get_matrix_limit

__all__ = ["CacheInfo", "cache_info", "cached_pattern", "clear_cache", "pattern_nbytes"]

_F = TypeVar("_F", bound=Callable[..., Any])


class CacheInfo(NamedTuple):
    """What the index-pattern cache holds.

    Attributes
    ----------
    patterns : int
        Cached patterns.
    nbytes : int
        Bytes of their arrays.
    max_nbytes : int
        The bound: a quarter of :func:`convmat.get_matrix_limit`.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.clear_cache()
    >>> cm.cache_info().patterns
    0
    """

    patterns: int
    nbytes: int
    max_nbytes: int


def _arrays_of(value: object) -> list[np.ndarray]:
    """The arrays a cached value owns: ndarrays, the three arrays of a sparse array, ndarray fields of a dataclass."""
    if isinstance(value, np.ndarray):
        return [value]
    if sp.issparse(value):
        matrix = cast(Any, value)
        return [matrix.data, matrix.indices, matrix.indptr]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        found = []
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if isinstance(item, np.ndarray) or sp.issparse(item):
                found.extend(_arrays_of(item))
        return found
    return []


def pattern_nbytes(value: object) -> int:
    """Bytes held by a pattern's own arrays (each buffer counted once; nested patterns are cached on their own).

    Examples
    --------
    >>> pattern_nbytes(np.zeros(10))
    80
    """
    seen: set[int] = set()
    total = 0
    for array in _arrays_of(value):
        base = array
        while isinstance(base.base, np.ndarray):
            base = base.base
        if id(base) not in seen:
            seen.add(id(base))
            total += base.nbytes
    return total


def _max_nbytes() -> int:
    return get_matrix_limit() // 4


class _PatternCache:
    """Least-recently-used values keyed by ``(function, arguments)``, bounded by their total bytes."""

    def __init__(self) -> None:
        self._entries: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self._nbytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], object]) -> object:
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit[0]
        value = build()  # outside the lock: a pattern may ask for the patterns it is made of
        size = pattern_nbytes(value)
        bound = _max_nbytes()
        if size > bound:
            return value  # used, not kept
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (value, size)
                self._nbytes += size
            self._trim(bound)
        return value

    def _trim(self, bound: int) -> None:
        while self._nbytes > bound and self._entries:
            _, (_, size) = self._entries.popitem(last=False)
            self._nbytes -= size

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._nbytes = 0

    def info(self) -> CacheInfo:
        bound = _max_nbytes()
        with self._lock:
            self._trim(bound)  # the matrix limit may have been lowered since the last pattern was kept
            return CacheInfo(len(self._entries), self._nbytes, bound)


_CACHE = _PatternCache()


def cached_pattern(function: _F) -> _F:
    """Decorator: keep ``function``'s results (pure functions of hashable arguments) in the pattern cache.

    Examples
    --------
    >>> @cached_pattern
    ... def squares(n):
    ...     return np.arange(n) ** 2
    >>> squares(4) is squares(4)
    True
    """
    name = f"{function.__module__}.{function.__qualname__}"

    @functools.wraps(function)
    def wrapper(*args: Hashable) -> object:
        return _CACHE.get((name, args), lambda: function(*args))

    return wrapper  # type: ignore[return-value]


def clear_cache() -> None:
    """Drop every cached index pattern.

    The arrays are freed once no matrix built from them is alive (a matrix
    shares its ``indices`` and ``indptr`` with the cached pattern): after
    ``del W`` and ``clear_cache()`` all of ``W``'s memory is returned.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> W = cm.conv_matrix(np.ones((4, 4, 3, 3)), (4, 16, 16))
    >>> cm.cache_info().patterns > 0
    True
    >>> del W
    >>> cm.clear_cache()
    >>> cm.cache_info()
    CacheInfo(patterns=0, nbytes=0, max_nbytes=536870912)
    """
    _CACHE.clear()


def cache_info() -> CacheInfo:
    """How many index patterns are cached, their bytes, and the bound (a quarter of the matrix limit).

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> cm.clear_cache()
    >>> _ = cm.conv_matrix(np.ones((1, 1, 3, 3)), (1, 8, 8))
    >>> info = cm.cache_info()
    >>> info.patterns > 0, info.nbytes > 0, info.max_nbytes == cm.get_matrix_limit() // 4
    (True, True, True)
    """
    return _CACHE.info()
