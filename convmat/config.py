"""Runtime settings: the workspace bound of the im2col route.

The im2col route processes the batch in chunks so that its patch matrices never
take more than the workspace limit (256 MiB by default), whatever the batch size.
Within that bound it also keeps each chunk small enough (about 8 MiB) to stay in
cache, which is faster than one huge patch matrix.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "CHUNK_TARGET_BYTES",
    "DEFAULT_WORKSPACE_BYTES",
    "get_workspace_limit",
    "set_workspace_limit",
    "workspace_limit",
]

DEFAULT_WORKSPACE_BYTES = 256 * 2**20
CHUNK_TARGET_BYTES = 8 * 2**20

_limit = DEFAULT_WORKSPACE_BYTES


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
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes <= 0:
        raise ValueError(f"nbytes must be a positive int, got {nbytes!r}")
    previous, _limit = _limit, nbytes
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


def chunk_size(batch: int, bytes_per_sample: int, min_samples: int = 1) -> int:
    """Samples per chunk: about :data:`CHUNK_TARGET_BYTES` of patches, or ``min_samples`` if more.

    Never over the workspace limit, never more than ``batch``, at least one.
    """
    per_sample = max(bytes_per_sample, 1)
    wanted = max(CHUNK_TARGET_BYTES // per_sample, min_samples)
    return max(1, min(batch, wanted, _limit // per_sample))
