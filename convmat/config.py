"""Runtime settings: the workspace bound of the im2col route, the bound on built matrices, and convmat's threads.

The im2col route processes the batch in chunks so that its patch matrices never
take more than the workspace limit (256 MiB by default), whatever the batch size.
Within that bound it also keeps each chunk small enough (about 8 MiB) to stay in
cache, which is faster than one huge patch matrix.

convmat runs its own threads (:mod:`convmat.parallel`), by default
``OMP_NUM_THREADS`` of them when that environment variable is set when convmat
is imported (as PyTorch and NumPy's BLAS read it; dask's worker processes set
it to 1), else as many as the CPUs this process may use;
:func:`set_num_threads` overrides both:

* the sparse route splits the rows of ``W`` into one block per thread and
  multiplies them side by side (scipy.sparse multiplies on one thread and
  releases the GIL while it does);
* the im2col route gives each thread a block of the batch, patches and products,
  with NumPy's BLAS held to one thread per product meanwhile. That needs
  ``threadpoolctl`` (``pip install "convmat[threads]"``); without it each
  product runs on BLAS's own threads, one block after the other;
* max pooling (:func:`convmat.max_pool`, and so :func:`convmat.max_pool_matrix`)
  gives each thread a block of planes (NumPy's loops release the GIL), and so
  does its backward (:func:`convmat.max_pool_backward`, scipy.sparse's
  CSR-to-dense releases it too).

A workspace bound is shared by the threads: together they never hold more.

Every builder of a sparse matrix (:func:`convmat.conv_matrix`, the pooling
matrices, the sparse route of the convolutions) computes the size of what it
would build from the geometry first, and refuses a matrix larger than the
*matrix limit* (2 GiB by default) with :class:`convmat.MatrixTooLargeError`
before allocating it. The index patterns those builders cache are bounded by a
quarter of the matrix limit (:func:`convmat.cache_info`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from .geometry import check_positive_int

__all__ = [
    "CHUNK_TARGET_BYTES",
    "DEFAULT_MATRIX_BYTES",
    "DEFAULT_WORKSPACE_BYTES",
    "get_matrix_limit",
    "get_num_threads",
    "get_workspace_limit",
    "matrix_limit",
    "num_threads",
    "set_matrix_limit",
    "set_num_threads",
    "set_workspace_limit",
    "workspace_limit",
]

DEFAULT_WORKSPACE_BYTES = 256 * 2**20
CHUNK_TARGET_BYTES = 8 * 2**20

#: Default bound on the bytes (data + indices + indptr) of a sparse matrix convmat builds.
DEFAULT_MATRIX_BYTES = 2 * 2**30

_limit = DEFAULT_WORKSPACE_BYTES
_matrix_limit = DEFAULT_MATRIX_BYTES


def get_workspace_limit() -> int:
    """The current workspace bound of the im2col route, in bytes.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.get_workspace_limit() == 256 * 2**20
    True
    """
    return _limit


def set_workspace_limit(nbytes: int) -> int:
    """Set the workspace bound of the im2col route (bytes); returns the previous one.

    A chunk always holds at least one sample, so a single sample whose patch
    matrix is larger than the bound still runs (alone).

    Examples
    --------
    >>> import convmat as cm
    >>> previous = cm.set_workspace_limit(64 * 2**20)
    >>> cm.get_workspace_limit()
    67108864
    >>> _ = cm.set_workspace_limit(previous)
    """
    global _limit
    previous, _limit = _limit, check_positive_int(nbytes, "nbytes")
    return previous


@contextmanager
def workspace_limit(nbytes: int) -> Iterator[None]:
    """Temporarily bound the im2col route's workspace.

    Examples
    --------
    >>> import convmat as cm
    >>> with cm.workspace_limit(2**20):
    ...     cm.get_workspace_limit()
    1048576
    """
    previous = set_workspace_limit(nbytes)
    try:
        yield
    finally:
        set_workspace_limit(previous)


def get_matrix_limit() -> int:
    """The current bound on the bytes of a sparse matrix convmat builds (2 GiB by default).

    :func:`convmat.conv_matrix`, :func:`convmat.max_pool_matrix`,
    :func:`convmat.avg_pool_matrix` and the sparse route of the convolutions
    refuse a matrix whose data, indices and index pointer together would take
    more, with :class:`convmat.MatrixTooLargeError`, before allocating it.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.get_matrix_limit() == 2 * 2**30
    True
    """
    return _matrix_limit


def set_matrix_limit(nbytes: int) -> int:
    """Set the bound on the bytes of a built sparse matrix; returns the previous one.

    The index-pattern cache is bounded by a quarter of this (:func:`convmat.cache_info`).

    Examples
    --------
    >>> import convmat as cm
    >>> previous = cm.set_matrix_limit(8 * 2**30)
    >>> cm.get_matrix_limit()
    8589934592
    >>> _ = cm.set_matrix_limit(previous)
    """
    global _matrix_limit
    previous, _matrix_limit = _matrix_limit, check_positive_int(nbytes, "nbytes")
    return previous


@contextmanager
def matrix_limit(nbytes: int) -> Iterator[None]:
    """Temporarily bound the bytes of built sparse matrices.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> with cm.matrix_limit(2**10):
    ...     cm.conv_matrix(np.ones((8, 8, 3, 3)), (8, 32, 32))
    Traceback (most recent call last):
    ...
    convmat.sizes.MatrixTooLargeError: conv_matrix: W would be 7200 x 8192 with 518400 stored entries, ...
    """
    previous = set_matrix_limit(nbytes)
    try:
        yield
    finally:
        set_matrix_limit(previous)


def chunk_size(batch: int, bytes_per_sample: int, min_samples: int = 1, threads: int = 1) -> int:
    """Samples per chunk: about :data:`CHUNK_TARGET_BYTES` of patches, or ``min_samples`` if more.

    Never over the workspace limit (shared by ``threads`` threads that each hold
    a chunk), never more than ``batch``, at least one.
    """
    per_sample = max(bytes_per_sample, 1)
    wanted = max(CHUNK_TARGET_BYTES // per_sample, min_samples)
    return max(1, min(batch, wanted, _limit // max(threads, 1) // per_sample))


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def omp_num_threads(value: str | None) -> int | None:
    """The thread count an ``OMP_NUM_THREADS`` of ``value`` asks for, or ``None`` (unset, or not a positive integer).

    The value is read as OpenMP reads it: a positive integer, or a
    comma-separated list of them (one per level of nested parallelism), of which
    the first, the outermost level, counts. Anything else (empty, ``0``,
    negative, not a number) is ignored: the default then falls back to the CPUs.

    Examples
    --------
    >>> omp_num_threads("1"), omp_num_threads("4,2"), omp_num_threads(None)
    (1, 4, None)
    >>> omp_num_threads("0"), omp_num_threads("many")
    (None, None)
    """
    if not value:
        return None
    try:
        n = int(value.split(",", 1)[0].strip())
    except ValueError:
        return None
    return n if n >= 1 else None


def default_num_threads() -> int:
    """The default thread count as this process's environment gives it now: ``OMP_NUM_THREADS``, else the CPUs.

    convmat takes it once, when it is imported (see :func:`get_num_threads`).

    Examples
    --------
    >>> default_num_threads() >= 1
    True
    """
    return omp_num_threads(os.environ.get("OMP_NUM_THREADS")) or _available_cpus()


_threads = default_num_threads()


def get_num_threads() -> int:
    """Threads convmat's routes run on.

    By default ``OMP_NUM_THREADS`` when that environment variable holds a
    positive integer (a list ``"4,2"`` counts its first entry; other values
    are ignored), else the CPUs this process may use. Like PyTorch and NumPy's
    BLAS, convmat reads the variable once, when it is imported: dask starts its
    worker processes with ``OMP_NUM_THREADS=1``, so inside a worker convmat runs
    on one thread and leaves the parallelism to dask's workers, while the
    process that starts a local cluster (and sets the variable for its workers
    on the way) keeps its own threads. :func:`set_num_threads` overrides it.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.get_num_threads() >= 1
    True
    """
    return _threads


def set_num_threads(n: int) -> int:
    """Set the threads of convmat's routes; returns the previous number.

    The sparse route multiplies row blocks of ``W`` on them; the im2col route
    processes blocks of the batch on them (with ``threadpoolctl`` installed, see
    :mod:`convmat.config`). One thread gives exactly scipy.sparse's own product
    and the im2col route's serial order; with more, results can differ in the
    last bits (sums over blocks are added in another order).

    Examples
    --------
    >>> import convmat as cm
    >>> previous = cm.set_num_threads(1)
    >>> cm.get_num_threads()
    1
    >>> _ = cm.set_num_threads(previous)
    """
    global _threads
    previous, _threads = _threads, check_positive_int(n, "n")
    return previous


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Temporarily set the threads of convmat's routes.

    Examples
    --------
    >>> import convmat as cm
    >>> with cm.num_threads(1):
    ...     cm.get_num_threads()
    1
    """
    previous = set_num_threads(n)
    try:
        yield
    finally:
        set_num_threads(previous)
