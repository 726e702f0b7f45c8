"""convmat's own threads: the pool, the batch blocks of the im2col route, and NumPy's BLAS held to one thread."""

import importlib
import os
import threading
import time

import numpy as np
import pytest
from conftest import assert_close
from reference import conv_input_grad_reference, conv_reference, conv_weight_grad_reference

import convmat as cm
from convmat import parallel

conv_module = importlib.import_module("convmat.conv")  # the module: convmat.conv is also the function


@pytest.mark.parametrize("n", [1, 2, 5, 16, 17])
@pytest.mark.parametrize("parts", [1, 2, 3, 8, 40])
def test_split_range_covers_the_range_in_order(n, parts):
    blocks = parallel.split_range(n, parts)
    assert len(blocks) == min(n, parts)
    assert [i for b in blocks for i in range(b.start, b.stop)] == list(range(n))
    sizes = [b.stop - b.start for b in blocks]
    assert max(sizes) - min(sizes) <= 1


PLANE_BLOCK_CASES = [(0, 8, 16), (7, 8, 16), (7, 8, 1), (5, 0, 16), (9, 8, 10**6)]


@pytest.mark.parametrize(("planes", "plane_bytes", "block_bytes"), PLANE_BLOCK_CASES)
def test_map_plane_blocks_covers_the_planes_in_blocks_on_threads(planes, plane_bytes, block_bytes):
    seen = []
    with cm.num_threads(3):
        parallel.map_plane_blocks(seen.append, planes, plane_bytes, block_bytes, 1)
    blocks = sorted(seen, key=lambda b: b.start)
    assert [i for b in blocks for i in range(b.start, b.stop)] == list(range(planes))
    per_block = max(1, block_bytes // max(plane_bytes, 1))
    assert all(0 < b.stop - b.start <= per_block for b in blocks)


@pytest.mark.parametrize(("threads", "per_block"), [(1, 2), (2, 5)])
def test_map_plane_blocks_takes_the_threaded_block_size_on_threads(threads, per_block):
    seen = []
    with cm.num_threads(threads):
        parallel.map_plane_blocks(seen.append, 20, 8, 16, 1, threaded_block_bytes=40)
    assert max(b.stop - b.start for b in seen) == per_block


def test_map_blocks_keeps_order_and_runs_on_the_pool():
    names = parallel.map_blocks(lambda i: (i, threading.current_thread().name), [(i,) for i in range(4)])
    assert [i for i, _ in names] == [0, 1, 2, 3]
    assert all(name.startswith("convmat") for _, name in names)


def test_map_blocks_nested_runs_inline():
    def outer(i):
        return parallel.map_blocks(lambda j: (i, j, threading.current_thread().name), [(0,), (1,)])

    results = parallel.map_blocks(outer, [(0,), (1,)])
    for i, inner in enumerate(results):
        assert [r[:2] for r in inner] == [(i, 0), (i, 1)]
        assert len({r[2] for r in inner}) == 1  # both inner blocks on the outer block's own thread


def test_map_blocks_raises_what_a_block_raised():
    def block(i):
        if i == 1:
            raise ZeroDivisionError("block 1")
        return i

    with pytest.raises(ZeroDivisionError, match="block 1"):
        parallel.map_blocks(block, [(0,), (1,), (2,)])


def test_map_blocks_raises_only_once_every_block_finished():
    finished = []

    def block(i):
        if i == 0:
            raise ValueError("first")
        time.sleep(0.05)
        finished.append(i)

    with pytest.raises(ValueError, match="first"):
        parallel.map_blocks(block, [(0,), (1,), (2,)])
    assert sorted(finished) == [1, 2]


def test_map_blocks_from_several_threads_while_the_pool_grows(monkeypatch):
    monkeypatch.setattr(parallel, "_pool", None)
    monkeypatch.setattr(parallel, "_pool_size", 0)
    errors, results = [], []

    def caller(size):
        try:
            for _ in range(30):
                results.append(parallel.map_blocks(lambda i: i, [(i,) for i in range(size)]) == list(range(size)))
        except Exception as exc:  # a submission to a pool another caller shut down would land here
            errors.append(exc)

    callers = [threading.Thread(target=caller, args=(size,)) for size in (2, 3, 4, 5)]
    for t in callers:
        t.start()
    for t in callers:
        t.join(timeout=60)
    assert errors == []
    assert len(results) == 120
    assert all(results)


def test_run_in_threads_without_blas_control_runs_one_block(monkeypatch):
    monkeypatch.setattr(parallel, "_controller", False)
    assert not parallel.blas_control()
    calls = parallel.run_in_threads(lambda block, threads: (block, threads), 10, 1, 10**9)
    assert calls == [(slice(0, 10), 1)]


def test_thread_count_is_bounded_by_threads_items_work_and_the_cap():
    with cm.num_threads(4):
        assert parallel.thread_count(8, 5, 10) == 1  # less than one thread's worth
        assert parallel.thread_count(8, 25, 10) == 2
        assert parallel.thread_count(8, 10**6, 10) == 4
        assert parallel.thread_count(3, 10**6, 10) == 3
        assert parallel.thread_count(8, 10**6, 10, max_threads=2) == 2
        assert parallel.thread_count(0, 10**6, 10) == 1
    with cm.num_threads(1):
        assert parallel.thread_count(8, 10**6, 10) == 1


def test_run_in_threads_takes_as_many_threads_as_the_work_pays_for(monkeypatch):
    pytest.importorskip("threadpoolctl")
    with cm.num_threads(4):

        def blocks(n, work):
            return parallel.run_in_threads(lambda block, threads: (block, threads), n, 10, work)

        assert blocks(8, 5) == [(slice(0, 8), 1)]  # less than one thread's worth
        assert [t for _, t in blocks(8, 25)] == [2, 2]
        assert [t for _, t in blocks(8, 10**6)] == [4] * 4
        assert [t for _, t in blocks(3, 10**6)] == [3] * 3  # never more threads than items
    with cm.num_threads(1):
        assert blocks(8, 10**6) == [(slice(0, 8), 1)]


def _blas_threads():
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_blas_is_held_to_one_thread_inside_the_blocks_and_restored_after():
    pytest.importorskip("threadpoolctl")
    before = _blas_threads()
    with cm.num_threads(2):
        inside = parallel.run_in_threads(lambda block, threads: _blas_threads(), 4, 1, 100)
    assert inside == [[1] * len(before)] * 2
    assert _blas_threads() == before


def test_run_in_threads_from_another_thread_runs_one_block():
    pytest.importorskip("threadpoolctl")
    result = []
    with cm.num_threads(4):
        caller = threading.Thread(
            target=lambda: result.append(parallel.run_in_threads(lambda block, threads: (block, threads), 8, 1, 100))
        )
        caller.start()
        caller.join(timeout=20)
    assert result == [[(slice(0, 8), 1)]]


def test_blas_restored_when_a_block_raises():
    pytest.importorskip("threadpoolctl")
    before = _blas_threads()

    def block(part, threads):
        raise RuntimeError("boom")

    with cm.num_threads(2), pytest.raises(RuntimeError, match="boom"):
        parallel.run_in_threads(block, 4, 1, 100)
    assert _blas_threads() == before


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child():
    parallel.map_blocks(lambda i: i, [(0,), (1,)])  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # the child: a fresh pool, or this would hang on the parent's dead threads
        ok = parallel.map_blocks(lambda i: i * 2, [(1,), (2,)]) == [2, 4]
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs"),
    [
        ((7, 4, 9, 8), (6, 4, 3, 3), {"padding": 1}),
        ((5, 2, 9, 8), (6, 2, 3, 2), {"stride": 2, "padding": (1, 0)}),
        ((6, 4, 8), (4, 2, 3), {"groups": 2, "padding": "same", "padding_mode": "reflect"}),
        ((5, 2, 4, 5, 4), (3, 2, 2, 3, 2), {"padding": 1, "dilation": (1, 2, 1), "padding_mode": "circular"}),
    ],
)
def test_im2col_route_on_threads_matches_reference(x_shape, w_shape, kwargs, dtype, rng, monkeypatch):
    if not parallel.blas_control():
        pytest.skip("threadpoolctl is not installed: the im2col route runs on one thread")
    monkeypatch.setattr(cm.batch_blocks, "MIN_FLOPS_PER_THREAD", 0)
    blocks = []
    original = parallel.map_blocks

    def spy(function, args):
        blocks.append(len(args))
        return original(function, args)

    monkeypatch.setattr(parallel, "map_blocks", spy)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    y = conv_reference(x, w, **kwargs)
    dy = rng.standard_normal(y.shape).astype(dtype)
    monkeypatch.setattr(cm.config, "CHUNK_TARGET_BYTES", 1)  # chunks of one sample: several per thread
    with cm.num_threads(3):
        assert_close(cm.conv(x, w, **kwargs), y, dtype)
        gx = conv_input_grad_reference(x.shape, w, dy, **kwargs)
        assert_close(cm.conv_input_grad(x.shape, w, dy, **kwargs), gx, dtype)
        gw = conv_weight_grad_reference(x, w.shape, dy, **kwargs)
        assert_close(cm.conv_weight_grad(x, w.shape, dy, **kwargs), gw, dtype)
    assert blocks == [3, 3, 3]  # each map ran as three batch blocks


@pytest.mark.parametrize("groups", [1, 2])
def test_threads_never_hold_more_than_the_workspace_limit(groups, rng, monkeypatch):
    if not parallel.blas_control():
        pytest.skip("threadpoolctl is not installed: the im2col route runs on one thread")
    monkeypatch.setattr(cm.batch_blocks, "MIN_FLOPS_PER_THREAD", 0)
    seen = []
    original = parallel.map_blocks
    monkeypatch.setattr(parallel, "map_blocks", lambda f, args: seen.append(len(args)) or original(f, args))
    x = rng.standard_normal((8, 4, 10, 10))
    w = rng.standard_normal((4, 4 // groups, 3, 3))
    geom = cm.geometry.conv_geometry((10, 10), 3, padding=1)
    if groups == 1:  # a dense 2-d layer: the patch-matrix way; one sample's patches and padded input
        sample = cm.patch_gemm._patch_route_bytes(4, 4, geom, 8)
    else:  # tap by tap: one sample's flat rows and one column of patches and product, in float64
        sample = cm.tap_gemm._sample_bytes(
            4, cm.tap_shifts.forward_grid(geom).source, cm.tap_gemm._column_bytes(9, 4, 4, 8), 8
        )
    y = conv_reference(x, w, padding=1, groups=groups)
    with cm.num_threads(4):
        for room, threads in ((sample, None), (2 * sample + 1, 2), (10 * sample, 4)):
            seen.clear()
            with cm.workspace_limit(room):  # a thread holds one sample at least: no more threads than fit
                assert_close(cm.conv(x, w, padding=1, groups=groups), y)
            assert seen == ([] if threads is None else [threads])
