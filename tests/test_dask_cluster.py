"""convmat.dask on a real cluster: two worker processes, started and stopped by the test itself.

Checks what only separate processes show: convmat is importable on the
workers, each runs convmat on one thread (dask sets ``OMP_NUM_THREADS=1`` in
its worker processes), and a forward pass and a kernel gradient computed
there equal the NumPy functions. The cluster is closed by context managers,
also when a check fails; a deadline stops a cluster that does not come up.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

import numpy as np
import pytest
from conftest import assert_close

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import convmat as cm  # noqa: E402

#: Seconds the whole test may take (starting two processes takes a few).
DEADLINE = 240


@contextlib.contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Raise ``TimeoutError`` in the test if it runs longer than ``seconds`` (where SIGALRM exists)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"the cluster test took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _environment_kept() -> Iterator[None]:
    """Restore this process's environment afterwards: a LocalCluster's nannies set variables of theirs in it
    (``OMP_NUM_THREADS=1``, ``MALLOC_TRIM_THRESHOLD_``) before they start their workers."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_two_worker_processes_one_thread_each_same_numbers():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((24, 8, 12, 12)).astype(np.float32)
    w = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((24, 16, 12, 12)).astype(np.float32)
    threads_here = cm.get_num_threads()
    with (
        _deadline(DEADLINE),
        _environment_kept(),
        distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        threads = client.run(cm.get_num_threads)
        assert sorted(threads.values()) == [1, 1], threads
        # the cluster set OMP_NUM_THREADS=1 in this process too, for its workers: convmat here keeps its threads
        assert cm.get_num_threads() == threads_here
        xd = da.from_array(x, chunks=(4, 8, 12, 12))
        y = cm.conv(xd, w, padding=1)
        pooled, switches = cm.max_pool(y, 2, return_indices=True)
        dw = cm.conv_weight_grad(xd, w.shape, da.from_array(dy, chunks=(6, 16, 12, 12)), padding=1)
        y_c, pooled_c, switches_c, dw_c = client.compute([y, pooled, switches, dw], sync=True)
    assert_close(y_c, cm.conv(x, w, padding=1))
    expected_pooled, expected_switches = cm.max_pool(y_c, 2, return_indices=True)
    np.testing.assert_array_equal(pooled_c, expected_pooled)
    np.testing.assert_array_equal(switches_c, expected_switches)
    assert_close(dw_c, cm.conv_weight_grad(x, w.shape, dy, padding=1))
