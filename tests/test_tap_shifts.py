"""The im2col route's flat rows (convmat.tap_shifts): taps as shifted slices, blocks, phases, and the route on them.

The route's results are compared with the naive references over the whole grid
elsewhere (test_conv_core.py); here the pieces are checked against the
definitions: every tap's slice of the flat rows is the padded input at
``o·s + t·d``, the blocks cover each output position once, the phases of the
input gradient tile the input; and the route on the shapes that take its special
paths (depthwise with a channel multiplier, grouped, strided and dilated, every
padding mode, 1x1 kernels, unbatched, non-finite values past a row's end).
"""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest
from conftest import assert_close, random_array
from reference import (
    conv_input_grad_reference,
    conv_reference,
    conv_weight_grad_reference,
    pad_reference,
)

import convmat as cm
from convmat import tap_shifts
from convmat.geometry import ConvGeometry, conv_geometry
from convmat.tap_shifts import blocks, fill_source, forward_grid, input_grad_grids

#: (input spatial shape, kernel, stride, padding, dilation, padding mode)
GEOMETRIES = [
    ((9,), (3,), (1,), ((1, 1),), (1,), "zeros"),
    ((10,), (4,), (3,), ((2, 1),), (1,), "reflect"),
    ((7, 8), (3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), "zeros"),
    ((7, 8), (3, 2), (2, 1), ((2, 0), (1, 1)), (1, 2), "circular"),
    ((9, 6), (4, 4), (2, 2), ((1, 1), (1, 1)), (1, 1), "zeros"),
    ((8, 9), (3, 3), (3, 2), ((0, 0), (2, 2)), (2, 1), "replicate"),
    ((5, 4, 6), (3, 2, 3), (1, 1, 1), ((1, 1), (0, 1), (1, 1)), (1, 1, 1), "zeros"),
    ((6, 5, 7), (2, 3, 2), (2, 1, 3), ((1, 0), (1, 1), (0, 2)), (2, 1, 1), "reflect"),
]
GEOMETRY_IDS = [f"{len(g[0])}d-s{'x'.join(map(str, g[2]))}-{g[5]}" for g in GEOMETRIES]


def _geometry(spatial, kernel, stride, pads, dilation, mode):
    """The geometry with ``(low, high)`` pads as given (``conv_geometry`` takes symmetric ones only)."""
    return ConvGeometry(spatial, kernel, stride, pads, dilation, mode)


def _flat_rows(x, geom):
    grid = forward_grid(geom)
    rows = np.zeros((*x.shape[:2], grid.source.length))
    fill_source(rows, x, grid.source)
    return grid, rows


def _tap_offsets(grid):
    offsets = []
    for lat in grid.lattices:
        for index in itertools.product(*(range(n) for n in lat.shape)):
            offsets.append(lat.offset + sum(j * s for j, s in zip(index, lat.strides, strict=True)))
    return offsets


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
def test_every_tap_reads_the_padded_input_at_its_shifted_slice(geometry, rng):
    geom = _geometry(*geometry)
    x = rng.standard_normal((2, 3, *geom.input_spatial))
    grid, rows = _flat_rows(x, geom)
    padded = pad_reference(x, geom.padding, geom.padding_mode)
    assert sorted(grid.taps) == list(range(geom.kernel_numel))
    for tap, offset in zip(grid.taps, _tap_offsets(grid), strict=True):
        t = np.unravel_index(tap, geom.kernel_size)
        for o in itertools.product(*(range(n) for n in geom.output_spatial)):
            q = sum(oi * p for oi, p in zip(o, grid.pitches, strict=True))  # the position's column
            read = tuple(oi * s + ti * d for oi, ti, s, d in zip(o, t, geom.stride, geom.dilation, strict=True))
            flat = offset + grid.source.step * q
            np.testing.assert_array_equal(rows[:, :, flat], padded[(slice(None), slice(None), *read)])


def test_a_stride_stores_only_the_phases_its_taps_read():
    even_rows = forward_grid(conv_geometry((8, 8), 1, stride=2))  # a 1x1 kernel reads the even rows only
    assert even_rows.source.phases == ((0, 0),)
    assert even_rows.source.shape == (4, 8)
    assert even_rows.source.step == 2  # and every other element of a row
    both = forward_grid(conv_geometry((8, 8), 3, stride=(2, 1), padding=1))
    assert both.source.phases == ((0, 0), (1, 0))
    assert both.source.step == 1
    strided_rows = forward_grid(conv_geometry((9,), 3, stride=2))  # one axis: read with a stride, no phases
    assert strided_rows.source.phases == ((0,),)
    assert strided_rows.source.shape == (10,)  # padded to a multiple of the step


@pytest.mark.parametrize("columns", [1, 2, 5, 7, 64, 10**6])
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
def test_blocks_cover_every_output_position_once(geometry, columns):
    geom = _geometry(*geometry)
    grid = forward_grid(geom)
    pitches = grid.pitches
    seen = np.zeros(geom.output_spatial, dtype=int)
    for block in blocks(grid, columns):
        assert block.columns <= max(columns, block.pitch)  # at most the columns asked for, or one position
        positions = np.zeros(geom.output_spatial, dtype=bool)
        positions[block.index] = True
        seen += positions
        first = np.argwhere(positions)[0]
        assert block.start == sum(int(o) * p for o, p in zip(first, pitches, strict=True))
    assert (seen == 1).all()


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=GEOMETRY_IDS)
def test_input_gradient_phases_tile_the_input_and_split_the_taps(geometry):
    geom = _geometry(*geometry)
    zeros = geom.padding_mode == "zeros"
    shape = geom.input_spatial if zeros else geom.padded_spatial
    seen = np.zeros(shape, dtype=int)
    for phase in input_grad_grids(geom):
        covered = np.zeros(shape, dtype=bool)
        covered[phase.index] = True
        seen += covered
        first = [s.start for s in phase.index]  # the phase's first position, in padded coordinates
        padded_first = [f + (lo if zeros else 0) for f, (lo, _) in zip(first, geom.padding, strict=True)]
        reaching = [  # the taps that write there: t·d ≡ position (mod s) along every axis
            tap
            for tap in range(geom.kernel_numel)
            if all(
                (t * d - p) % s == 0
                for t, d, p, s in zip(
                    np.unravel_index(tap, geom.kernel_size), geom.dilation, padded_first, geom.stride, strict=True
                )
            )
        ]
        if phase.grid is None:
            assert reaching == []
        else:
            assert sorted(phase.grid.taps) == reaching
            assert phase.grid.output == tuple(
                len(range(*s.indices(n))) for s, n in zip(phase.index, shape, strict=True)
            )
    assert (seen == 1).all()


# ---------------------------------------------------------------------------
# the route on the shapes of its special paths
# ---------------------------------------------------------------------------

#: (x shape, weight shape, keyword arguments): depthwise with a channel multiplier, grouped with few channels
#: per group, strided and dilated, every padding mode, 1x1 kernels (with and without the patch-free path).
ROUTE_CASES = [
    ((2, 4, 9, 8), (8, 1, 3, 3), {"padding": 1, "groups": 4}),
    ((2, 4, 9, 8), (8, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 4, "padding_mode": "reflect"}),
    ((3, 6, 11), (6, 1, 7), {"padding": 3, "groups": 6, "padding_mode": "circular"}),
    ((2, 3, 5, 6, 4), (6, 1, 2, 3, 2), {"padding": 1, "dilation": (2, 1, 1), "groups": 3}),
    ((2, 8, 7, 7), (8, 2, 3, 3), {"padding": 1, "groups": 4, "padding_mode": "replicate"}),
    ((2, 3, 12, 10), (4, 3, 4, 4), {"stride": 2, "padding": 1}),
    ((2, 3, 12, 10), (4, 3, 3, 3), {"stride": (3, 2), "padding": (2, 1), "dilation": (1, 2)}),
    ((3, 4, 6, 5), (6, 4, 1, 1), {}),
    ((3, 4, 6, 5), (6, 2, 1, 1), {"groups": 2}),
    ((3, 4, 6, 5), (6, 4, 1, 1), {"stride": 2}),
    ((3, 4, 6, 5), (6, 4, 1, 1), {"padding": 1, "padding_mode": "circular"}),
    ((0, 4, 6, 5), (6, 4, 1, 1), {}),
    ((0, 4, 6, 5), (6, 4, 3, 3), {"padding": 1}),
    # the taps along the last axis summed after the product (_correlate_rows): wide depthwise and 3-d kernels
    ((2, 3, 13, 12), (3, 1, 7, 7), {"padding": 3, "groups": 3}),
    ((2, 3, 13, 12), (6, 1, 5, 7), {"stride": (2, 1), "padding": (2, 3), "dilation": (1, 2), "groups": 3}),
    ((2, 4, 5, 6, 7), (4, 4, 3, 3, 3), {"padding": 1, "padding_mode": "circular"}),
]
#: The cases above whose forward and input gradient sum the last axis's taps after the product.
ROW_TAP_CASES = ROUTE_CASES[-3:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), ROUTE_CASES)
def test_route_matches_the_references(x_shape, w_shape, kwargs, dtype, rng):
    x = random_array(rng, x_shape, dtype)
    w = random_array(rng, w_shape, dtype)
    y = conv_reference(x, w, **kwargs)
    dy = random_array(rng, y.shape, dtype)
    assert_close(cm.conv(x, w, **kwargs, backend="im2col"), y, dtype)
    dx = conv_input_grad_reference(x_shape, w, dy, **kwargs)
    assert_close(cm.conv_input_grad(x_shape, w, dy, **kwargs, backend="im2col"), dx, dtype)
    dw = conv_weight_grad_reference(x, w_shape, dy, **kwargs)
    assert_close(cm.conv_weight_grad(x, w_shape, dy, **kwargs, backend="im2col"), dw, dtype)


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), ROUTE_CASES[:7])
def test_route_on_an_unbatched_input(x_shape, w_shape, kwargs, rng):
    x = random_array(rng, x_shape[1:])
    w = random_array(rng, w_shape)
    conv_nd = getattr(cm, f"conv{len(w_shape) - 2}d")
    assert_close(conv_nd(x, w, **kwargs, backend="im2col"), conv_reference(x[None], w, **kwargs)[0])


@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), ROW_TAP_CASES)
def test_wide_kernels_sum_the_last_axis_after_the_product(x_shape, w_shape, kwargs, monkeypatch, rng):
    calls = []
    original = tap_shifts._correlate_rows
    monkeypatch.setattr(tap_shifts, "_correlate_rows", lambda *args: calls.append(1) or original(*args))
    x, w = random_array(rng, x_shape), random_array(rng, w_shape)
    y = conv_reference(x, w, **kwargs)
    assert_close(cm.conv(x, w, **kwargs, backend="im2col"), y)
    assert calls
    calls.clear()
    dy = random_array(rng, y.shape)
    dx = conv_input_grad_reference(x_shape, w, dy, **kwargs)
    assert_close(cm.conv_input_grad(x_shape, w, dy, **kwargs, backend="im2col"), dx)
    assert calls


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "kwargs"),
    [
        ((16, 24, 20, 20), (24, 1, 7, 7), {"padding": 3, "groups": 24}),  # taps of a row summed after the product
        ((16, 24, 20, 20), (24, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 24}),  # phases, matrix-vector
        ((4, 8, 8, 10, 10), (8, 8, 3, 3, 3), {"padding": 1}),
    ],
)
@pytest.mark.parametrize("limit", [2**19, 2**21])
def test_peak_memory_stays_within_output_plus_workspace(x_shape, w_shape, kwargs, limit, rng):
    x = rng.standard_normal(x_shape).astype(np.float32)
    w = rng.standard_normal(w_shape).astype(np.float32)
    cm.conv(x, w, **kwargs, backend="im2col")  # once untraced: the thread pool and the caches are made on first use
    with cm.workspace_limit(limit):
        tracemalloc.start()
        y = cm.conv(x, w, **kwargs, backend="im2col")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert_close(y, conv_reference(x, w, **kwargs), np.float32)
    assert peak <= y.nbytes + 1.1 * limit


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_kernel_gradient_reads_nothing_past_a_row_end(value, rng):
    # the last column of x is read past the row end by the taps j > 0 (overhang columns): they must add nothing
    x = rng.standard_normal((2, 3, 6, 7))
    x[1, 2, 3, 0] = value
    dy = rng.standard_normal((2, 4, 6, 7))
    dw = cm.conv_weight_grad(x, (4, 3, 3, 3), dy, padding=1, backend="im2col")
    assert_close(dw, conv_weight_grad_reference(x, (4, 3, 3, 3), dy, padding=1))
    assert np.isfinite(dw[:, :2]).all()  # only the channel holding the value is touched
