"""Geometry facts the routes rely on, checked against brute-force enumeration."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convmat.geometry import conv_geometry


@st.composite
def geometries(draw):
    nd = draw(st.integers(1, 3))
    dims = st.lists(st.integers(1, 4), min_size=nd, max_size=nd)
    size = draw(st.lists(st.integers(1, 9), min_size=nd, max_size=nd))
    kernel, stride, dilation = draw(dims), draw(dims), draw(dims)
    padding = draw(st.lists(st.integers(0, 4), min_size=nd, max_size=nd))
    try:
        return conv_geometry(size, kernel, stride, padding, dilation)
    except ValueError:  # kernel larger than the padded input
        return conv_geometry(size, 1, stride, padding, dilation)


@settings(max_examples=300, deadline=None)
@given(geometries())
def test_tap_blocks_are_exactly_the_taps_that_read_the_input(geom):
    expected = {}
    for tap in itertools.product(*(range(k) for k in geom.kernel_size)):
        for out in itertools.product(*(range(o) for o in geom.output_spatial)):
            pos = tuple(
                o * s + t * d - lo
                for o, s, t, d, (lo, _) in zip(out, geom.stride, tap, geom.dilation, geom.padding, strict=True)
            )
            if all(0 <= p < n for p, n in zip(pos, geom.input_spatial, strict=True)):
                expected[tap, out] = pos
    found = {}
    for block in geom.tap_blocks:
        outs = [range(s.start, s.stop) for s in block.out]
        ins = [range(s.start, s.stop, s.step) for s in block.inp]
        assert [len(r) for r in outs] == [len(r) for r in ins]
        assert all(len(r) > 0 for r in outs)  # taps that read only padding are left out
        for out, inp in zip(itertools.product(*outs), itertools.product(*ins), strict=True):
            found[block.tap, out] = inp
    assert found == expected


@pytest.mark.parametrize("prop", ["output_spatial", "padded_spatial", "effective_kernel", "tap_blocks"])
def test_derived_values_are_computed_once(prop):
    geom = conv_geometry((9, 7), 3, stride=2, padding=1)
    assert getattr(geom, prop) is getattr(geom, prop)
    assert geom == conv_geometry((9, 7), 3, stride=2, padding=1)  # equality and hashing ignore the cache
    assert hash(geom) == hash(conv_geometry((9, 7), 3, stride=2, padding=1))
