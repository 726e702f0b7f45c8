"""The matrix limit and the index-pattern cache: refuse before allocating, and give the memory back.

Memory is measured with ``tracemalloc``, which sees NumPy's (and so scipy.sparse's)
array allocations.
"""

import gc
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import convmat as cm

#: One ResNet layer: W has 1.72 billion entries, 19.2 GiB in float64.
RESNET_W = (256, 256, 3, 3)
RESNET_X = (256, 56, 56)
MIB = 2**20


@pytest.fixture(autouse=True)
def _fresh_cache():
    cm.clear_cache()
    yield
    cm.clear_cache()


def _peak_of(function):
    """Run ``function`` (expected to raise ``MatrixTooLargeError``); return the peak traced bytes above the start."""
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        with pytest.raises(cm.MatrixTooLargeError) as error:
            function()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - start, error.value


def test_the_resnet_layer_is_refused_before_anything_is_allocated():
    w = np.ones(RESNET_W)
    peak, error = _peak_of(lambda: cm.conv_matrix(w, RESNET_X))
    assert peak < 4 * MIB
    message = str(error)
    parts = ("746496 x 802816", "1719926784", "19.22 GiB", "2.00 GiB", "conv_operator", "matrix_limit", "max_bytes")
    for part in parts:
        assert part in message
    assert isinstance(error, ValueError)
    assert isinstance(error, MemoryError)


@pytest.mark.parametrize("op", ["conv", "conv_input_grad", "conv_transpose"])
def test_the_sparse_route_refuses_the_resnet_layer(op):
    w = np.ones(RESNET_W)
    x = np.ones((1, *RESNET_X))
    dy = np.ones((1, 256, 54, 54))
    call = {
        "conv": lambda: cm.conv(x, w, backend="sparse"),
        "conv_input_grad": lambda: cm.conv_input_grad(x.shape, w, dy, backend="sparse"),
        "conv_transpose": lambda: cm.conv_transpose(dy, w, backend="sparse"),
    }[op]
    peak, error = _peak_of(call)
    assert peak < 4 * MIB
    assert "sparse route" in str(error)
    assert "backend='im2col'" in str(error)


def test_raising_the_limit_lets_the_matrix_through():
    w = np.ones((8, 8, 3, 3))
    size = cm.conv_matrix_size(w.shape, (8, 16, 16))
    with cm.matrix_limit(size.nbytes - 1), pytest.raises(cm.MatrixTooLargeError):
        cm.conv_matrix(w, (8, 16, 16))
    with cm.matrix_limit(size.nbytes):
        assert cm.conv_matrix(w, (8, 16, 16)).nnz == size.nnz
    previous = cm.set_matrix_limit(size.nbytes - 1)
    try:
        assert cm.get_matrix_limit() == size.nbytes - 1
        with pytest.raises(cm.MatrixTooLargeError):
            cm.conv(np.ones((2, 8, 16, 16)), w, backend="sparse")
        assert cm.conv(np.ones((2, 8, 16, 16)), w).shape == (2, 8, 14, 14)  # the im2col route builds no W
    finally:
        cm.set_matrix_limit(previous)
    assert cm.get_matrix_limit() == cm.config.DEFAULT_MATRIX_BYTES


def test_max_bytes_per_call():
    w = np.ones((8, 8, 3, 3))
    size = cm.conv_matrix_size(w.shape, (8, 16, 16))
    with pytest.raises(cm.MatrixTooLargeError, match="over max_bytes"):
        cm.conv_matrix(w, (8, 16, 16), max_bytes=size.nbytes - 1)
    assert cm.conv_matrix(w, (8, 16, 16), max_bytes=size.nbytes).nnz == size.nnz
    with cm.matrix_limit(1024):
        assert cm.conv_matrix(w, (8, 16, 16), max_bytes=size.nbytes).nnz == size.nnz
    for bad, error in ((0, ValueError), (-5, ValueError), (1.5, TypeError), ("1", TypeError), (True, TypeError)):
        with pytest.raises(error, match="max_bytes"):
            cm.conv_matrix(w, (8, 16, 16), max_bytes=bad)


def test_the_pooling_matrices_refuse_too():
    x = np.random.default_rng(0).standard_normal((4, 8, 32, 32))
    size = cm.max_pool_matrix_size(x.shape, 2)
    with pytest.raises(cm.MatrixTooLargeError, match="max_pool_matrix: S"):
        cm.max_pool_matrix(x, 2, max_bytes=size.nbytes - 1)
    assert cm.max_pool_matrix(x, 2, max_bytes=size.nbytes).nnz == size.nnz
    avg = cm.avg_pool_matrix_size((32, 32), 3, stride=1)
    with pytest.raises(cm.MatrixTooLargeError, match="avg_pool_matrix: A"):
        cm.avg_pool_matrix((32, 32), 3, stride=1, max_bytes=avg.nbytes - 1)
    with cm.matrix_limit(avg.nbytes - 1):
        with pytest.raises(cm.MatrixTooLargeError, match="avg_pool_matrix: A"):
            cm.avg_pool_matrix((32, 32), 3, stride=1)
        with pytest.raises(cm.MatrixTooLargeError, match="average pooling"):
            cm.avg_pool(x, 3, stride=1)


def test_the_sparse_kernel_gradient_refuses_its_patch_selection():
    x, w = np.ones((1, 2, 64, 64)), np.ones((2, 2, 3, 3))
    dy = np.ones((1, 2, 62, 62))
    with cm.matrix_limit(1024), pytest.raises(cm.MatrixTooLargeError, match="patch-selection"):
        cm.conv_weight_grad(x, w.shape, dy, backend="sparse")


def test_set_matrix_limit_validates():
    for bad, error in ((0, ValueError), (-1, ValueError), (2.0**31, TypeError), ("2", TypeError), (None, TypeError)):
        with pytest.raises(error, match="nbytes"):
            cm.set_matrix_limit(bad)
    assert cm.get_matrix_limit() == cm.config.DEFAULT_MATRIX_BYTES
    assert cm.set_matrix_limit(np.int64(2**30)) == cm.config.DEFAULT_MATRIX_BYTES
    assert cm.set_matrix_limit(cm.config.DEFAULT_MATRIX_BYTES) == 2**30


# ---------------------------------------------------------------------------
# the cache
# ---------------------------------------------------------------------------


def test_del_and_clear_cache_give_the_memory_back():
    w = np.random.default_rng(1).standard_normal((32, 32, 3, 3))
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        W = cm.conv_matrix(w, (32, 32, 32))
        held = tracemalloc.get_traced_memory()[0] - start
        data, index = W.data.nbytes, W.indices.nbytes + W.indptr.nbytes
        assert held >= data + index
        del W
        gc.collect()
        after_del = tracemalloc.get_traced_memory()[0] - start
        # the values are gone; the indices stay, shared with the cached pattern
        assert after_del < held - data + MIB
        assert after_del >= index
        assert cm.cache_info().nbytes >= index
        cm.clear_cache()
        gc.collect()
        after_clear = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert after_clear < MIB
    assert cm.cache_info() == (0, 0, cm.get_matrix_limit() // 4)


def test_clear_cache_keeps_live_matrices_intact():
    w = np.random.default_rng(2).standard_normal((3, 2, 3, 3))
    W = cm.conv_matrix(w, (2, 7, 7), padding=1, padding_mode="reflect")
    dense = W.toarray()
    cm.clear_cache()
    np.testing.assert_array_equal(W.toarray(), dense)
    np.testing.assert_array_equal(cm.conv_matrix(w, (2, 7, 7), padding=1, padding_mode="reflect").toarray(), dense)


def test_cache_info_counts_patterns_and_bytes():
    assert cm.cache_info().patterns == 0
    W = cm.conv_matrix(np.ones((4, 4, 3, 3)), (4, 16, 16))
    info = cm.cache_info()
    assert info.patterns >= 2  # the plane's pattern and the whole matrix's (and the axes' padding maps)
    assert info.nbytes >= W.indices.nbytes + W.indptr.nbytes
    assert info.max_nbytes == cm.get_matrix_limit() // 4
    cm.conv_matrix(2 * np.ones((4, 4, 3, 3)), (4, 16, 16))
    assert cm.cache_info() == info  # the same geometry: the patterns are reused, nothing new kept


def test_a_pattern_over_the_bound_is_used_not_kept():
    w = np.ones((16, 16, 3, 3))
    size = cm.conv_matrix_size(w.shape, (16, 32, 32))
    with cm.matrix_limit(size.nbytes):  # the cache's bound, a quarter of it, is smaller than the indices
        W = cm.conv_matrix(w, (16, 32, 32))
        info = cm.cache_info()
        assert W.indices.nbytes > info.max_nbytes
        assert info.nbytes <= info.max_nbytes
        again = cm.conv_matrix(w, (16, 32, 32))
        assert not np.shares_memory(again.indices, W.indices)  # rebuilt: it was not kept
    np.testing.assert_array_equal(again.indices, W.indices)


def test_the_cache_drops_least_recently_used_patterns_by_bytes():
    shapes = [(1, n, n) for n in (40, 41, 42, 43)]
    w = np.ones((1, 1, 5, 5))
    per_geometry = []
    for s in shapes:
        cm.clear_cache()
        cm.conv_matrix(w, s)
        per_geometry.append(cm.cache_info().nbytes)
    cm.clear_cache()
    # a bound that holds about two geometries' patterns
    with cm.matrix_limit(4 * int(2.5 * max(per_geometry))):
        built = []
        for s in shapes:
            built.append(cm.conv_matrix(w, s))
            info = cm.cache_info()
            assert info.nbytes <= info.max_nbytes
        assert np.shares_memory(cm.conv_matrix(w, shapes[-1]).indices, built[-1].indices)  # the newest is kept
        assert not np.shares_memory(cm.conv_matrix(w, shapes[0]).indices, built[0].indices)  # the oldest was dropped
    # lowering the limit shrinks what the cache keeps at once
    with cm.matrix_limit(4 * 1024):
        info = cm.cache_info()
        assert info.nbytes <= info.max_nbytes == 1024


# ---------------------------------------------------------------------------
# dtypes and submodules
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["im2col", "sparse"])
def test_float16_stays_float16_on_every_route(backend):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 7, 7)).astype(np.float16)
    w = rng.standard_normal((6, 2, 3, 3)).astype(np.float16)
    b = rng.standard_normal(6).astype(np.float16)
    dy = rng.standard_normal((2, 6, 7, 7)).astype(np.float16)
    kw = {"padding": 1, "groups": 2, "backend": backend}
    exact = {  # float64 from the same float16 numbers, rounded once
        "y": cm.conv(x.astype(float), w.astype(float), b.astype(float), padding=1, groups=2),
        "dx": cm.conv_input_grad(x.shape, w.astype(float), dy.astype(float), padding=1, groups=2),
        "dw": cm.conv_weight_grad(x.astype(float), w.shape, dy.astype(float), padding=1, groups=2),
        "t": cm.conv_transpose(dy, w.astype(float).reshape(6, 2, 3, 3)[:, :1], padding=1, groups=2),
    }
    got = {
        "y": cm.conv(x, w, b, **kw),
        "dx": cm.conv_input_grad(x.shape, w, dy, **kw),
        "dw": cm.conv_weight_grad(x, w.shape, dy, **kw),
        "t": cm.conv_transpose(dy, w[:, :1], padding=1, groups=2, backend=backend),
    }
    for name, value in got.items():
        assert value.dtype == np.float16, name
        scale = np.abs(exact[name]).max()
        np.testing.assert_allclose(value, exact[name].astype(np.float16), rtol=2e-3, atol=2e-3 * scale)


def test_float16_pooling_and_patches():
    x = np.random.default_rng(4).standard_normal((1, 2, 6, 6)).astype(np.float16)
    y, idx = cm.max_pool(x, 2, return_indices=True)
    assert y.dtype == cm.avg_pool(x, 2).dtype == cm.max_pool_backward(y, idx, x.shape).dtype == np.float16
    assert cm.avg_pool_backward(y, x.shape, 2).dtype == cm.max_unpool(y, idx, (6, 6)).dtype == np.float16
    assert cm.im2col(x, 3).dtype == cm.col2im(cm.im2col(x, 3), (6, 6), 3).dtype == np.float16
    # the matrices hold float16 as float32: scipy.sparse has no float16
    assert cm.max_pool_matrix(x, 2).dtype == np.float32


def test_submodules_are_attributes_loaded_on_first_use():
    code = """
import sys
import convmat as cm
assert "matplotlib" not in sys.modules and "convmat.nn" not in sys.modules
assert {"identities", "nn", "plot"} <= set(dir(cm))
assert cm.identities.input_grad_by_full_conv is not None
assert cm.nn.Conv is not None
assert "matplotlib" not in sys.modules
try:
    cm.no_such_thing
except AttributeError as error:
    assert "no_such_thing" in str(error)
else:
    raise SystemExit("no AttributeError")
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_plot_is_an_attribute_when_matplotlib_is_there():
    pytest.importorskip("matplotlib")
    assert cm.plot.plot_matrix is not None
