"""convmat.dask on a real cluster against NumPy convmat: layer C with a large batch, on 1 and on 2 worker processes.

Group ``"dask-C<N>-<op>-float32"`` holds, side by side, for ``op`` the forward
pass and the kernel gradient of layer C of ``cases.CONFIGS`` (64 -> 64
channels, 32x32, 3x3, padding 1) on a batch of :data:`BATCH` samples, float32,
the im2col route everywhere:

* ``numpy-1-thread`` -- :func:`convmat.conv` / :func:`convmat.conv_weight_grad`
  on the whole batch, convmat and BLAS on one thread: what one worker's core does alone;
* ``numpy-2-threads`` -- the same on two threads (this suite's default);
* ``dask-1-worker`` and ``dask-2-workers`` -- the same calls on dask arrays
  chunked by :data:`CHUNK` samples, computed on a ``LocalCluster`` of worker
  processes with one thread each (dask sets ``OMP_NUM_THREADS=1`` in them, so
  convmat and BLAS run on one thread there).

The inputs are held by the workers before timing (their chunks scattered,
dealt out to the workers in turn), as data on a cluster would be. The
forward's result stays on the workers (persisted, then released between
rounds), the kernel gradient (one small array) is brought back to this
process; building the graph is timed too. One cluster is started per worker
count, for the module, and closed at its end. The workers run with dask's
defaults otherwise.

With ``--benchmark-disable`` (the smoke run) the batch is two chunks.
"""

from __future__ import annotations

import gc
import os
import time
from dataclasses import replace

import cases
import numpy as np
import pytest

import convmat as cm

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
threadpoolctl = pytest.importorskip("threadpoolctl")

#: Samples of the large batch: 16 times layer C's own batch of 32 (128 MiB of float32 input).
BATCH = 512
#: Samples per chunk: 8 chunks of 16 MiB in and 16 MiB out, 4 per worker on 2 workers.
CHUNK = 64
#: Timed rounds per case (each about a second).
ROUNDS = 9
OPS = ("forward", "weight_grad")
KWARGS = {"padding": 1, "backend": "im2col"}


def _disabled(config) -> bool:
    return bool(config.getoption("benchmark_disable", False)) and not config.getoption("benchmark_enable", False)


@pytest.fixture(scope="module")
def data(request):
    """Seeded ``x``, ``w`` and ``dy`` of layer C with the large batch (two chunks in the smoke run)."""
    cfg = replace(cases.CONFIGS["C"], n=2 * CHUNK if _disabled(request.config) else BATCH)
    rng = np.random.default_rng([cases.SEED, ord("C"), cfg.n])
    x = rng.standard_normal(cfg.x_shape, dtype=np.float32)
    w = (rng.standard_normal(cfg.w_shape, dtype=np.float32) / np.sqrt(cfg.c_in * cfg.k * cfg.k)).astype(np.float32)
    dy = rng.standard_normal(cfg.y_shape, dtype=np.float32)
    return x, w, dy


@pytest.fixture(scope="module", params=[1, 2], ids=["1-worker", "2-workers"])
def client(request):
    """A client of a LocalCluster of ``param`` worker processes, one thread each; closed after the module.

    The nannies set their variables (``OMP_NUM_THREADS=1``, …) in this process's
    environment before they start the workers; it is restored afterwards.
    """
    saved = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=request.param, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.wait_for_workers(request.param)
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _on_workers(client, a: np.ndarray):
    """``a`` as a dask array of chunks of :data:`CHUNK` samples held by the workers, dealt out in turn."""
    starts = range(0, a.shape[0], CHUNK)
    futures = client.scatter([a[start : start + CHUNK] for start in starts])
    meta = np.empty((0,) * a.ndim, dtype=a.dtype)
    parts = [
        da.from_delayed(future, shape=(min(CHUNK, a.shape[0] - start), *a.shape[1:]), dtype=a.dtype, meta=meta)
        for future, start in zip(futures, starts, strict=True)
    ]
    return client.persist(da.concatenate(parts))  # the graphs timed then refer to the chunks themselves


def _group(op: str, batch: int) -> str:
    return f"dask-C{batch}-{op}-float32"


def _collect() -> None:
    gc.collect()


def _time(benchmark, group: str, function, setup=_collect) -> None:
    """``function`` timed in ``group``, :data:`ROUNDS` times after a warm-up round, ``setup`` (untimed) before each."""
    benchmark.group = group
    if benchmark.disabled:
        benchmark(function)
        return
    benchmark.pedantic(function, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=1)


def _forgotten(keys, dask_scheduler=None) -> bool:
    return not any(key in dask_scheduler.tasks for key in keys)


def _released(client, held: list) -> None:
    """Drop the futures of the last round and wait until the scheduler has forgotten their keys.

    The graphs of every round have the same keys (dask names them by their
    inputs): a key still held would be taken as computed.
    """
    keys = [future.key for future in held]
    held.clear()
    _collect()
    deadline = time.monotonic() + 60
    while not client.run_on_scheduler(_forgotten, keys=keys) and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("threads", [1, 2], ids=["1-thread", "2-threads"])
def test_numpy(benchmark, data, op, threads):
    x, w, dy = data
    if op == "forward":

        def function():
            return cm.conv(x, w, **KWARGS)
    else:

        def function():
            return cm.conv_weight_grad(x, w.shape, dy, **KWARGS)

    with threadpoolctl.threadpool_limits(limits=threads), cm.num_threads(threads):
        benchmark.extra_info["impl"] = f"numpy-{threads}-thread{'s' if threads > 1 else ''}"
        _time(benchmark, _group(op, x.shape[0]), function)


@pytest.mark.parametrize("op", OPS)
def test_dask(benchmark, client, data, op):
    x, w, dy = data
    workers = len(client.scheduler_info()["workers"])
    assert set(client.run(cm.get_num_threads).values()) == {1}  # OMP_NUM_THREADS=1 in dask's workers
    xd, dyd = _on_workers(client, x), _on_workers(client, dy)
    held = [len(keys) for keys in client.has_what().values()]
    benchmark.extra_info["impl"] = f"dask-{workers}-worker{'s' if workers > 1 else ''}"
    benchmark.extra_info["chunks_per_worker"] = held
    held: list = []
    if op == "forward":

        def function():
            y = client.persist(cm.conv(xd, w, **KWARGS))
            distributed.wait(y)
            held.extend(distributed.futures_of(y))
    else:

        def function():
            future = client.compute(cm.conv_weight_grad(xd, w.shape, dyd, **KWARGS))
            held.append(future)
            return future.result()

    _time(benchmark, _group(op, x.shape[0]), function, setup=lambda: _released(client, held))
    if op == "weight_grad":  # the cluster's numbers are convmat's
        _released(client, held)
        expected = cm.conv_weight_grad(x, w.shape, dy, **KWARGS)
        result = function()
        assert np.allclose(result, expected, rtol=1e-3, atol=1e-3 * np.abs(expected).max())
    _released(client, held)
