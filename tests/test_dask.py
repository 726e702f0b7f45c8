"""convmat.dask: every operation on dask arrays chunked along the batch, against the NumPy functions.

Run on dask's synchronous scheduler. Each case checks the declared shape,
dtype, chunks and meta against what is computed; the result against the
NumPy function applied block by block (exactly: the same calls) and on the
whole array (to rounding: a route's sums may group the batch differently),
for 1-3 spatial dims, float32 and float64, and uneven chunks (7 samples in
blocks of 3, 3 and 1).
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import assert_close

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")
from dask.core import flatten, get_dependencies  # noqa: E402

import convmat as cm  # noqa: E402
import convmat.dask as cmd  # noqa: E402

N = 7
CHUNKS = (3, 3, 1)
RANKS = (1, 2, 3)
DTYPES = (np.float32, np.float64)
SPATIAL = {1: (11,), 2: (7, 6), 3: (5, 6, 4)}


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _dask(a, chunks=CHUNKS):
    """``a`` as a dask array chunked along the batch axis only."""
    return da.from_array(a, chunks=(chunks, *a.shape[1:]))


# ---------------------------------------------------------------------------
# The cases: (function name, args, kwargs, positions of batched args, positions of full input shapes)
# ---------------------------------------------------------------------------


def _cases(n, dtype, seed=0):
    rng = np.random.default_rng([seed, n])

    def normal(*shape):
        return rng.standard_normal(shape).astype(dtype)

    spatial = SPATIAL[n]
    x = normal(N, 4, *spatial)
    geometry = {1: {"stride": 2, "padding": 1}, 2: {"stride": (2, 1), "padding": 1}, 3: {"padding": 1}}[n]
    w = normal(6, 2, *(3,) * n)
    y = cm.conv(x, w, groups=2, **geometry)
    dy = normal(*y.shape)
    wt = normal(4, 3, *(2,) * n)
    h = normal(N, 4, *(4,) * n)
    pooled, switches = cm.max_pool(x, 3, stride=2, padding=1, return_indices=True)
    dpool = normal(*pooled.shape)
    avg = cm.avg_pool(x, 2, ceil_mode=True, count_include_pad=False)
    cols = cm.im2col(x, 2, padding=1)
    adaptive_size = (3,) * n
    lp = cm.lp_pool(x, 2, 2)
    return {
        "conv": ("conv", (x, w, normal(6)), {"groups": 2, **geometry}, (0,), ()),
        "conv-reflect": ("conv", (x, w), {"groups": 2, "padding": 1, "padding_mode": "reflect"}, (0,), ()),
        "conv_input_grad": ("conv_input_grad", (x.shape, w, dy), {"groups": 2, **geometry}, (2,), (0,)),
        "conv_weight_grad": ("conv_weight_grad", (x, w.shape, dy), {"groups": 2, **geometry}, (0, 2), ()),
        "conv_transpose": (
            "conv_transpose",
            (h, wt, normal(3)),
            {"stride": 2, "padding": 1, "output_padding": 1},
            (0,),
            (),
        ),
        "max_pool": ("max_pool", (x, 3), {"stride": 2, "padding": 1, "return_indices": True}, (0,), ()),
        "max_pool-dilated": ("max_pool", (x, 2), {"dilation": 2, "ceil_mode": True}, (0,), ()),
        "max_pool_backward": ("max_pool_backward", (dpool, switches, x.shape), {}, (0, 1), (2,)),
        "max_unpool": ("max_unpool", (pooled, switches, spatial), {}, (0, 1), ()),
        "avg_pool": ("avg_pool", (x, 2), {"ceil_mode": True, "count_include_pad": False}, (0,), ()),
        "avg_pool_backward": (
            "avg_pool_backward",
            (normal(*avg.shape), x.shape, 2),
            {"ceil_mode": True, "count_include_pad": False},
            (0,),
            (1,),
        ),
        "im2col": ("im2col", (x, 2), {"padding": 1}, (0,), ()),
        "col2im": ("col2im", (normal(*cols.shape), spatial, 2), {"padding": 1}, (0,), ()),
        "adaptive_avg_pool": ("adaptive_avg_pool", (x, adaptive_size), {}, (0,), ()),
        "adaptive_avg_pool_backward": (
            "adaptive_avg_pool_backward",
            (normal(N, 4, *adaptive_size), x.shape),
            {},
            (0,),
            (1,),
        ),
        "adaptive_max_pool": ("adaptive_max_pool", (x, adaptive_size), {"return_indices": True}, (0,), ()),
        "lp_pool": ("lp_pool", (x, 2, 2), {"ceil_mode": True}, (0,), ()),
        "lp_pool_backward": ("lp_pool_backward", (normal(*lp.shape), x, 2, 2), {}, (0, 1), ()),
    }


CASE_NAMES = sorted(_cases(1, np.float64))


def _by_blocks(name, args, kwargs, batched, shapes, chunks=CHUNKS):
    """The NumPy function applied block by block along the batch, the blocks' results concatenated."""
    parts, start = [], 0
    for size in chunks:
        block = slice(start, start + size)
        start += size
        call = [a[block] if i in batched else a for i, a in enumerate(args)]
        for i in shapes:
            call[i] = (size, *args[i][1:])
        parts.append(getattr(cm, name)(*call, **kwargs))
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))
    return np.concatenate(parts)


def _declared_as_computed(lazy, computed, batch_chunks):
    """The dask array says what its computation gives: shape, dtype, chunks (the batch's, one elsewhere), meta."""
    assert isinstance(lazy, da.Array)
    assert computed.shape == lazy.shape
    assert computed.dtype == lazy.dtype
    assert lazy.chunks == (tuple(batch_chunks), *((s,) for s in lazy.shape[1:]))
    assert isinstance(lazy._meta, np.ndarray)
    assert lazy._meta.dtype == lazy.dtype
    assert lazy._meta.ndim == lazy.ndim


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("n", RANKS)
@pytest.mark.parametrize("case", CASE_NAMES)
def test_every_op_matches_numpy(case, n, dtype):
    name, args, kwargs, batched, shapes = _cases(n, dtype)[case]
    expected = getattr(cm, name)(*args, **kwargs)
    lazy = getattr(cmd, name)(*(_dask(a) if i in batched else a for i, a in enumerate(args)), **kwargs)
    if name == "conv_weight_grad":  # one array: the tree's sum of the blocks' partial gradients
        computed = lazy.compute()
        assert computed.shape == lazy.shape == expected.shape
        assert computed.dtype == lazy.dtype == expected.dtype
        assert lazy.chunks == tuple((s,) for s in expected.shape)
        assert_close(computed, expected)
        return
    by_blocks = _by_blocks(name, args, kwargs, batched, shapes)
    lazy_parts = lazy if isinstance(lazy, tuple) else (lazy,)
    computed = dask.compute(*lazy_parts)
    expected_parts = expected if isinstance(expected, tuple) else (expected,)
    block_parts = by_blocks if isinstance(by_blocks, tuple) else (by_blocks,)
    assert len(lazy_parts) == len(expected_parts)
    for part, result, whole, blocks in zip(lazy_parts, computed, expected_parts, block_parts, strict=True):
        _declared_as_computed(part, result, CHUNKS)
        assert result.dtype == whole.dtype
        np.testing.assert_array_equal(result, blocks)
        assert_close(result, whole)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_top_level_functions_hand_dask_arrays_to_convmat_dask(case):
    name, args, kwargs, batched, _ = _cases(2, np.float64, seed=1)[case]
    lazy = getattr(cm, name)(*(_dask(a) if i in batched else a for i, a in enumerate(args)), **kwargs)
    direct = getattr(cmd, name)(*(_dask(a) if i in batched else a for i, a in enumerate(args)), **kwargs)
    expected = getattr(cm, name)(*args, **kwargs)
    lazy, direct, expected = (v if isinstance(v, tuple) else (v,) for v in (lazy, direct, expected))
    for part, same, whole in zip(lazy, direct, expected, strict=True):
        assert isinstance(part, da.Array)
        assert part.name == same.name  # the very same graph
        assert_close(part.compute(), whole)


@pytest.mark.parametrize("case", ["max_pool_backward", "max_unpool", "lp_pool_backward", "conv_weight_grad"])
def test_one_dask_operand_beside_numpy_ones(case):
    """A dask array in any batched position: the NumPy operands are chunked like it."""
    name, args, kwargs, batched, _ = _cases(2, np.float64)[case]
    expected = getattr(cm, name)(*args, **kwargs)
    expected = expected[0] if isinstance(expected, tuple) else expected
    for position in batched:
        mixed = [_dask(a) if i == position else a for i, a in enumerate(args)]
        lazy = getattr(cm, name)(*mixed, **kwargs)
        assert isinstance(lazy, da.Array)
        assert_close(lazy.compute(), expected)


def test_differing_batch_chunks_are_aligned():
    _, args, kwargs, _, _ = _cases(2, np.float64)["lp_pool_backward"]
    dy, x = _dask(args[0], (3, 4)), _dask(args[1], (2, 2, 2, 1))
    lazy = cmd.lp_pool_backward(dy, x, *args[2:], **kwargs)
    assert_close(lazy.compute(), cm.lp_pool_backward(*args, **kwargs))
    assert sum(lazy.chunks[0]) == N


# ---------------------------------------------------------------------------
# dtypes: as the NumPy functions give them
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.bool_, np.float16, np.complex64, np.complex128])
def test_declared_dtype_for_other_dtypes(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((N, 2, 6, 6)) * 3).astype(dtype)
    w = (rng.standard_normal((3, 2, 3, 3)) * 3).astype(dtype)
    cases = [("conv", (x, w), (0,)), ("avg_pool", (x, 2), (0,)), ("im2col", (x, 2), (0,))]
    if np.dtype(dtype).kind != "c":
        cases.append(("max_pool", (x, 2), (0,)))
    dy = cm.conv(x, w).astype(dtype)
    cases.append(("conv_weight_grad", (x, w.shape, dy), (0, 2)))
    for name, args, batched in cases:
        expected = getattr(cm, name)(*args)
        lazy = getattr(cmd, name)(*(_dask(a) if i in batched else a for i, a in enumerate(args)))
        computed = lazy.compute()
        assert lazy.dtype == computed.dtype == expected.dtype, name
        assert computed.shape == lazy.shape == expected.shape, name
        assert_close(computed, expected, rtol=1e-2 if dtype == np.float16 else None)


def test_integer_inputs_stay_on_the_exact_route_per_block():
    x = np.arange(N * 2 * 64).reshape(N, 2, 8, 8) % 7
    w = np.arange(3 * 2 * 25).reshape(3, 2, 5, 5) % 5
    lazy = cmd.conv(_dask(x), w, padding=2)
    np.testing.assert_array_equal(lazy.compute(), cm.conv(x, w, padding=2))
    assert lazy.dtype == np.float64


# ---------------------------------------------------------------------------
# Unbatched input through the rank-specific functions
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("n", RANKS)
def test_rank_specific_functions_take_unbatched_dask_arrays(n):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((4, *SPATIAL[n]))
    w = rng.standard_normal((6, 4, *(3,) * n))
    xd = da.from_array(x, chunks=x.shape)
    conv_nd, pool_nd = getattr(cm, f"conv{n}d"), getattr(cm, f"max_pool{n}d")
    y = conv_nd(xd, w, padding=1)
    assert isinstance(y, da.Array)
    assert y.shape == (6, *SPATIAL[n])
    assert_close(y.compute(), conv_nd(x, w, padding=1))
    values, indices = pool_nd(xd, 2, return_indices=True)
    expected_values, expected_indices = pool_nd(x, 2, return_indices=True)
    np.testing.assert_array_equal(values.compute(), expected_values)
    np.testing.assert_array_equal(indices.compute(), expected_indices)
    unpooled = cm.max_unpool(values, indices, SPATIAL[n])  # unbatched (C, *pooled) too
    assert unpooled.shape == x.shape
    np.testing.assert_array_equal(unpooled.compute(), cm.max_unpool(expected_values, expected_indices, SPATIAL[n]))
    transposed = getattr(cm, f"conv_transpose{n}d")(xd, w.transpose(1, 0, *range(2, n + 2)), stride=2)
    assert_close(
        transposed.compute(), getattr(cm, f"conv_transpose{n}d")(x, w.transpose(1, 0, *range(2, n + 2)), stride=2)
    )


# ---------------------------------------------------------------------------
# Chunks along other axes: rechunked, with a warning that says so
# ---------------------------------------------------------------------------


def test_chunks_along_other_axes_are_rechunked_with_a_warning():
    x = np.random.default_rng(0).standard_normal((N, 4, 8, 6))
    xd = da.from_array(x, chunks=(3, 2, 4, 6))
    with pytest.warns(cmd.RechunkWarning) as caught:
        y = cm.max_pool(xd, 2)
    message = str(caught[0].message)
    assert "max_pool: x is chunked along axes 1, 2 (chunks ((2, 2), (4, 4)))" in message
    assert "chunks ((3, 3, 1), (4,), (8,), (6,))" in message
    assert caught[0].filename == __file__  # points at the caller's line
    assert y.chunks == ((3, 3, 1), (4,), (4,), (3,))
    np.testing.assert_array_equal(y.compute(), cm.max_pool(x, 2))
    assert issubclass(cmd.RechunkWarning, da.PerformanceWarning)


def test_batch_chunks_alone_give_no_warning():
    x = _dask(np.ones((N, 2, 6, 6)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cm.conv(x, np.ones((3, 2, 3, 3)))
        cm.conv_weight_grad(x, (3, 2, 3, 3), _dask(np.ones((N, 3, 4, 4))))


def test_second_operand_chunked_along_other_axes_is_named():
    args = _cases(2, np.float64)["max_pool_backward"][1]
    indices = da.from_array(args[1], chunks=(3, 2, -1, -1))
    with pytest.warns(cmd.RechunkWarning, match="max_pool_backward: indices is chunked along axis 1"):
        lazy = cmd.max_pool_backward(_dask(args[0]), indices, args[2])
    np.testing.assert_array_equal(lazy.compute(), cm.max_pool_backward(*args))


# ---------------------------------------------------------------------------
# Bad calls fail when they are made, with the NumPy function's error
# ---------------------------------------------------------------------------

_COMPUTED = []


def _counted(block):
    _COMPUTED.append(block.shape)
    return block


def _counting(a):
    """``a`` as a dask array whose blocks, when computed, are counted in ``_COMPUTED``."""
    meta = np.empty((0,) * a.ndim, dtype=a.dtype)
    return _dask(a, chunks=(a.shape[0],)).map_blocks(_counted, dtype=a.dtype, meta=meta)


def _bad_calls():
    x = np.ones((N, 4, 6, 6))
    w = np.ones((3, 4, 3, 3))
    dy = np.ones((N, 3, 4, 4))
    pooled, idx = cm.max_pool(x, 2, return_indices=True)
    return [
        ("conv", (x, np.ones((3, 3, 3, 3))), {}, (0,), ValueError),
        ("conv", (x, w), {"stride": 0}, (0,), ValueError),
        ("conv", (x, w), {"padding": "same", "stride": 2}, (0,), ValueError),
        ("conv", (x, w, np.ones(4)), {}, (0,), ValueError),
        ("conv", (x, w), {"backend": "gpu"}, (0,), ValueError),
        ("conv", (x, w), {"matrix": cm.conv_matrix(w, (4, 5, 5))}, (0,), ValueError),
        ("conv", (x, w), {"matrix": np.ones((48, 144))}, (0,), TypeError),
        ("conv", (x[0], w), {}, (0,), ValueError),
        ("conv", (x.astype(str), w), {}, (0,), TypeError),
        ("conv_input_grad", (x.shape, w, dy[:, :2]), {}, (2,), ValueError),
        ("conv_input_grad", ((N, 4, 6), w, dy), {}, (2,), ValueError),
        ("conv_weight_grad", (x, w.shape, dy[:5]), {}, (0,), ValueError),
        ("conv_weight_grad", (x, (3, 4, 3), dy), {}, (0, 2), ValueError),
        ("conv_transpose", (dy, np.ones((3, 4, 3, 3))), {"output_padding": 1}, (0,), ValueError),
        ("conv_transpose", (dy, np.ones((3, 4, 3, 3))), {"output_size": (9, 9)}, (0,), ValueError),
        ("max_pool", (x, 2), {"padding": 2}, (0,), ValueError),
        ("max_pool", (x.astype(complex), 2), {}, (0,), TypeError),
        ("max_pool", (x, (2, 2, 2)), {}, (0,), ValueError),
        ("max_pool_backward", (pooled, idx.astype(float), x.shape), {}, (0,), TypeError),
        ("max_pool_backward", (pooled, idx + 36, x.shape), {}, (0,), ValueError),
        ("max_pool_backward", (pooled, idx, (N, 3, 6, 6)), {}, (0, 1), ValueError),
        ("max_unpool", (pooled, idx, (N, 5, 6, 6)), {}, (0, 1), ValueError),
        ("max_unpool", (pooled, idx[:, :2], (6, 6)), {}, (0,), ValueError),
        ("avg_pool", (x, 2), {"divisor_override": 0}, (0,), ValueError),
        ("avg_pool_backward", (pooled, x.shape, 3), {}, (0,), ValueError),
        ("im2col", (x, 8), {}, (0,), ValueError),
        ("col2im", (np.ones((N, 36, 25)), (6, 6), 3), {}, (0,), ValueError),
        ("adaptive_avg_pool", (x, 0), {}, (0,), ValueError),
        ("adaptive_avg_pool_backward", (pooled, (N, 4, 6)), {}, (0,), ValueError),
        ("adaptive_max_pool", (x.astype(complex), 2), {}, (0,), TypeError),
        ("lp_pool", (x, -1, 2), {}, (0,), ValueError),
        ("lp_pool", (x, True, 2), {}, (0,), TypeError),
        ("lp_pool_backward", (pooled[:, :, :2], x, 2, 2), {}, (0, 1), ValueError),
    ]


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "batched", "error"),
    _bad_calls(),
    ids=[f"{c[0]}-{i}" for i, c in enumerate(_bad_calls())],
)
def test_bad_calls_raise_the_numpy_error_when_made(name, args, kwargs, batched, error):
    with pytest.raises(error) as numpy_error:
        getattr(cm, name)(*args, **kwargs)
    lazy_args = [_counting(a) if i in batched else a for i, a in enumerate(args)]
    _COMPUTED.clear()
    with pytest.raises(error) as dask_error:
        getattr(cm, name)(*lazy_args, **kwargs)
    assert str(dask_error.value) == str(numpy_error.value)
    assert _COMPUTED == []  # nothing was computed to find out


def test_switches_out_of_range_in_a_dask_array_raise_when_computed():
    x = np.ones((N, 2, 4, 4))
    pooled, idx = cm.max_pool(x, 2, return_indices=True)
    lazy = cm.max_unpool(_dask(pooled), _dask(idx + 16), (4, 4))
    with pytest.raises(ValueError, match="indices must lie in"):
        lazy.compute()


def test_unknown_batch_chunks_are_refused():
    x = _dask(np.ones((N, 2, 4, 4)))
    unknown = x[x[:, 0, 0, 0] > 0]
    assert np.isnan(unknown.shape[0])
    with pytest.raises(ValueError, match="compute_chunk_sizes"):
        cm.conv(unknown, np.ones((1, 2, 3, 3)))
    y = cm.conv(unknown.compute_chunk_sizes(), np.ones((1, 2, 3, 3)))
    assert y.shape == (N, 1, 2, 2)


def test_dask_arrays_of_other_blocks_are_refused():
    class DeviceBlock:
        """Stands for a GPU array type as a dask array's meta."""

        ndim, shape, dtype = 4, (0, 0, 0, 0), np.dtype(np.float64)

    x = _dask(np.ones((N, 2, 4, 4)))
    on_device = da.Array(x.dask, x.name, x.chunks, meta=np.empty((0,) * 4))
    on_device._meta = DeviceBlock()
    with pytest.raises(
        TypeError, match=r"dask array of .*DeviceBlock blocks: convmat\.dask takes dask arrays of NumPy"
    ):
        cm.conv(on_device, np.ones((1, 2, 3, 3)))


# ---------------------------------------------------------------------------
# The graph: the weight once, the kernel gradient by a tree, the route per block
# ---------------------------------------------------------------------------


def _tasks_holding(graph, data):
    """Keys of the graph whose task carries ``data`` (its bytes appear in the pickled task)."""
    return [key for key, task in graph.items() if data in pickle.dumps(task)]


def _depends_on(graph, key, target):
    return target in get_dependencies(graph, key)


def test_weight_bias_and_matrix_are_one_key_each_in_the_graph():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((12, 8, 10, 10))
    w = rng.standard_normal((16, 8, 3, 3))  # 9 KiB: small enough that dask would embed it in every task
    b = rng.standard_normal(16)
    for kwargs in ({}, {"matrix": cm.conv_matrix(w, (8, 10, 10))}):
        y = cm.conv(_dask(x, (3, 3, 3, 3)), w, b, **kwargs)
        graph = dict(y.__dask_graph__())
        outputs = [key for key in graph if isinstance(key, tuple) and key[0] == y.name]
        assert len(outputs) == 4
        shared = [w.tobytes(), b.tobytes()] + ([kwargs["matrix"].data.tobytes()] if kwargs else [])
        for data in shared:
            (holder,) = _tasks_holding(graph, data)  # exactly one task holds it
            assert all(_depends_on(graph, key, holder) for key in outputs)
        assert_close(y.compute(), cm.conv(x, w, b))


def test_weight_given_as_a_dask_array_is_one_key_too():
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((6, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3))
    y = cm.conv(_dask(x, (2, 2, 2)), da.from_array(w, chunks=(1, 2, 3, 3)))
    graph = dict(y.__dask_graph__())
    outputs = [key for key in graph if isinstance(key, tuple) and key[0] == y.name]
    assert len(outputs) == 3
    (weight_key,) = set.intersection(*(set(get_dependencies(graph, key)) for key in outputs))
    assert np.array_equal(dask.get(graph, weight_key), w)  # the weight, in one piece
    assert_close(y.compute(), cm.conv(x, w))


def test_kernel_gradient_is_summed_by_a_tree():
    rng = np.random.default_rng(7)
    x, dy = rng.standard_normal((16, 3, 6, 6)), rng.standard_normal((16, 4, 4, 4))
    with dask.config.set(split_every=2):
        dw = cm.conv_weight_grad(_dask(x, (2,) * 8), (4, 3, 3, 3), _dask(dy, (2,) * 8))
    graph = dict(dw.__dask_graph__())
    partials = {key for key in graph if isinstance(key, tuple) and key[0].startswith("conv_weight_grad")}
    assert len(partials) == 8

    levels = {key: 0 for key in partials}

    def level(key):
        if key not in levels:
            below = [level(d) for d in get_dependencies(graph, key)]
            below = [b for b in below if b is not None]
            levels[key] = 1 + max(below) if below else None
        return levels[key]

    (final,) = flatten(dw.__dask_keys__())
    assert level(final) >= 3  # log2(8) rounds of adds
    for key, lvl in levels.items():
        if lvl:
            summed = [d for d in get_dependencies(graph, key) if levels.get(d) is not None]
            assert len(summed) <= 2, f"{key} adds {len(summed)} partial sums"
    assert_close(dw.compute(), cm.conv_weight_grad(x, (4, 3, 3, 3), dy))


@pytest.mark.parametrize("backend", ["im2col", "fft", "sparse", "auto"])
def test_every_backend_per_block(backend):
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((N, 4, 9, 9)), rng.standard_normal((4, 1, 5, 5))
    kwargs = {"padding": 2, "groups": 4, "backend": backend}
    y = cm.conv(_dask(x), w, **kwargs)
    np.testing.assert_array_equal(y.compute(), _by_blocks("conv", (x, w), kwargs, (0,), ()))
    assert_close(y.compute(), cm.conv(x, w, padding=2, groups=4, backend="im2col"))


def test_auto_chooses_per_block(monkeypatch):
    """``backend="auto"`` asks the route rule about each block's own batch, not the whole batch's."""
    conv_module = sys.modules["convmat.conv"]
    asked = []

    def recording_rule(geom, batch, *args):
        asked.append(batch)
        return pick_route(geom, batch, *args)

    pick_route = conv_module.pick_route
    monkeypatch.setattr(conv_module, "pick_route", recording_rule)
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((N, 8, 8, 8)), rng.standard_normal((8, 1, 3, 3))
    y = cm.conv(_dask(x), w, padding=1, groups=8)
    assert asked == []  # nothing chosen while the graph is built
    computed = y.compute()
    assert sorted(asked) == sorted(CHUNKS)
    np.testing.assert_array_equal(computed, _by_blocks("conv", (x, w), {"padding": 1, "groups": 8}, (0,), ()))


# ---------------------------------------------------------------------------
# dask is imported only when it is used
# ---------------------------------------------------------------------------


def test_numpy_calls_do_not_import_dask():
    code = (
        "import sys, numpy as np, convmat as cm\n"
        "cm.conv(np.ones((2, 1, 5, 5)), np.ones((1, 1, 3, 3)))\n"
        "cm.max_pool(np.ones((2, 1, 4, 4)), 2, return_indices=True)\n"
        "print(any(m == 'dask' or m.startswith('dask.') for m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"


def test_convmat_dask_is_a_lazy_attribute():
    assert cm.dask is cmd
    assert "dask" in dir(cm)
