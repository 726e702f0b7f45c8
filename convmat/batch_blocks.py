"""The batch of a convolution route split over convmat's threads, within the workspace limit.

Both im2col routes (:mod:`convmat.patch_gemm` and the tap-by-tap route of
:mod:`convmat.tap_shifts`) hand their work to :func:`over_batch`: blocks of
samples, one per thread, as many threads as the work pays for and the
workspace limit has room for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np

from .config import get_workspace_limit
from .parallel import run_in_threads

__all__ = ["MIN_FLOPS_PER_THREAD", "map_flops", "over_batch", "summed"]

_T = TypeVar("_T")

#: Floating-point operations of the im2col route below which a further thread does not pay for itself (handing
#: a block to a thread costs about 0.05 ms; config B, 0.04 GFLOP a call, ran 1.3x faster on two threads in
#: float64 and 5 % slower in float32, where its tiny per-sample products contend in OpenBLAS).
MIN_FLOPS_PER_THREAD = 10_000_000


def map_flops(batch: int, c_out: int, ck: int, length: int) -> int:
    """Floating-point operations of one of the three maps: ``2 * N * C_out * (C_in/G * K) * L``.

    Examples
    --------
    >>> map_flops(1, 2, 9, 4)
    144
    """
    return 2 * batch * c_out * ck * length


def over_batch(function: Callable[[slice, int], _T], batch: int, flops: int, sample_bytes: int) -> list[_T]:
    """``function(block, threads)`` over blocks of the batch, on as many threads as the work pays for.

    Each thread holds at least one sample's workspace (``sample_bytes``), so no more
    threads run than the workspace limit has room for.

    Examples
    --------
    >>> sum(over_batch(lambda block, threads: block.stop - block.start, 5, 100, 1))
    5
    """
    room = max(1, get_workspace_limit() // max(sample_bytes, 1))
    return run_in_threads(function, batch, MIN_FLOPS_PER_THREAD, flops, max_threads=room)


def summed(partials: list[np.ndarray]) -> np.ndarray:
    """The sum of the threads' partial kernel gradients, in the first one's buffer.

    Examples
    --------
    >>> summed([np.ones(2), np.ones(2)]).tolist()
    [2.0, 2.0]
    """
    total = partials[0]
    for partial in partials[1:]:
        total += partial
    return total
