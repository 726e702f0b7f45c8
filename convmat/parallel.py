"""convmat's own threads: blocks of work side by side, NumPy's BLAS held to one thread inside them.

Two routes, and max pooling, split their work across :func:`convmat.get_num_threads` threads:

* the sparse route multiplies row blocks of ``W`` (scipy.sparse releases the GIL
  and uses no BLAS), see :mod:`convmat.sparse_products`;
* the im2col route gives each thread a block of the batch: it gathers that
  block's patches and multiplies them on its own, so the gathers (memory-bound
  copies, on one thread otherwise) run side by side too. BLAS must then run on
  one thread per call: left to its own threads it would start two per product
  and four threads would fight over two cores (measured: 1.3x slower instead of
  1.2x faster). convmat holds NumPy's BLAS to one thread with ``threadpoolctl``
  while its threads run, and only if that package is installed
  (``pip install "convmat[threads]"``) and the call comes from the main thread.
  Otherwise the im2col route runs its blocks one after the other, each product
  on BLAS's own threads;
* max pooling gives each thread a block of planes, see
  ``convmat.pool_patterns.max_pool_switches``, and so does its backward
  (:func:`convmat.max_pool_backward`) once the result is large enough to pay
  for a thread.

The threads come from one pool, made on first use and made again after a
``fork``. Work submitted from inside one of its threads runs inline, so nested
calls cannot deadlock.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .config import get_num_threads

__all__ = ["blas_control", "map_blocks", "map_plane_blocks", "run_in_threads", "split_range", "thread_count"]

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_inside = threading.local()


def _reset_after_fork() -> None:
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


def _submit(function: Callable[..., T], blocks: Sequence[tuple]) -> list[Future[T]]:
    """Submit the blocks to the pool, made (or made larger) under the lock that the submission holds too."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < len(blocks):
            if _pool is not None:
                _pool.shutdown(wait=False)  # its running blocks finish; nobody can submit to it any more
            _pool, _pool_size = ThreadPoolExecutor(len(blocks), thread_name_prefix="convmat"), len(blocks)
        return [_pool.submit(_run_marked, function, args) for args in blocks]


def _run_marked(function: Callable[..., T], args: tuple) -> T:
    _inside.active = True
    try:
        return function(*args)
    finally:
        _inside.active = False


def map_blocks(function: Callable[..., T], blocks: Sequence[tuple]) -> list[T]:
    """``[function(*args) for args in blocks]``, the blocks on the pool's threads (in order).

    One block, or a call from inside one of the pool's threads, runs inline. If
    blocks raise, the first one's exception is raised once all have finished.

    Examples
    --------
    >>> map_blocks(lambda a, b: a + b, [(1, 2), (3, 4)])
    [3, 7]
    """
    if len(blocks) <= 1 or getattr(_inside, "active", False):
        return [function(*args) for args in blocks]
    futures = _submit(function, blocks)
    wait(futures)  # every block done before anything is returned or raised
    return [f.result() for f in futures]


def thread_count(n: int, work: float, min_per_thread: float, max_threads: int | None = None) -> int:
    """Threads worth running on ``n`` items of ``work`` in all: at least 1.

    At most :func:`convmat.get_num_threads`, ``n``, ``max_threads`` and one per
    ``min_per_thread`` of ``work``.

    Examples
    --------
    >>> thread_count(10, 100, 1, max_threads=1), thread_count(10, 100, 1000)
    (1, 1)
    """
    per_work = int(work // max(min_per_thread, 1))
    return max(1, min(get_num_threads(), n, per_work, max_threads or n))


def split_range(n: int, parts: int) -> list[slice]:
    """``range(n)`` as ``parts`` contiguous slices of near-equal length (no empty ones).

    Examples
    --------
    >>> split_range(5, 2)
    [slice(0, 2, None), slice(2, 5, None)]
    """
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds) if b > a]


def map_plane_blocks(
    function: Callable[[slice], object],
    planes: int,
    plane_bytes: int,
    block_bytes: int,
    min_bytes_per_thread: int,
    threaded_block_bytes: int | None = None,
) -> None:
    """``function(block)`` for consecutive blocks of ``planes`` planes of about ``block_bytes`` each (at least one).

    The planes are split into one contiguous part per thread (:func:`thread_count`
    of all ``planes · plane_bytes`` bytes, one thread per ``min_bytes_per_thread``),
    and each thread calls ``function`` on its part's blocks in order. On more than
    one thread the blocks hold about ``threaded_block_bytes``, if given.

    Examples
    --------
    >>> seen = []
    >>> map_plane_blocks(seen.append, 5, 8, 16, 10**9)
    >>> seen
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    threads = thread_count(planes, planes * plane_bytes, min_bytes_per_thread)
    if threads > 1 and threaded_block_bytes is not None:
        block_bytes = threaded_block_bytes
    step = max(1, block_bytes // max(plane_bytes, 1))

    def run(part: slice) -> None:
        for start in range(part.start, part.stop, step):
            function(slice(start, min(start + step, part.stop)))

    map_blocks(run, [(part,) for part in split_range(planes, threads)])


# ---------------------------------------------------------------------------
# NumPy's BLAS on one thread while convmat's threads run
# ---------------------------------------------------------------------------


_controller: Any = None  # threadpoolctl.ThreadpoolController restricted to BLAS, or False without it


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            blas = ThreadpoolController().select(user_api="blas")
            _controller = blas if blas.lib_controllers else False
    return _controller


def blas_control() -> bool:
    """Whether convmat can hold NumPy's BLAS to one thread (``threadpoolctl`` installed, a BLAS found).

    Examples
    --------
    >>> isinstance(blas_control(), bool)
    True
    """
    return _blas_controller() is not False


def run_in_threads(
    function: Callable[[slice, int], T], n: int, min_per_thread: float, work: float, max_threads: int | None = None
) -> list[T]:
    """Split ``range(n)`` into blocks and return ``[function(block, threads) ...]``, side by side where it pays.

    Threads: :func:`convmat.get_num_threads`, at most ``n``, ``max_threads`` and
    one per ``min_per_thread`` of ``work``. More than one only where :func:`blas_control`,
    and only when called from the main thread: the blocks then run with NumPy's
    BLAS on one thread each, restored afterwards. (OpenBLAS does not reliably
    take a thread limit set from another thread; a caller on its own threads
    runs its own parallelism anyway.) ``threads``, the number of blocks running
    at once, lets a block share workspace bounds.

    Examples
    --------
    >>> sum(run_in_threads(lambda block, threads: block.stop - block.start, 10, 1, 10))
    10
    """
    threads = thread_count(n, work, min_per_thread, max_threads)
    if threads <= 1 or threading.current_thread() is not threading.main_thread() or not blas_control():
        return [function(slice(0, n), 1)]
    limit = _blas_controller().limit(limits=1)
    try:
        return map_blocks(function, [(block, threads) for block in split_range(n, threads)])
    finally:
        limit.restore_original_limits()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
