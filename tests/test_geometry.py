"""Geometry: the shapes every operation reads, the facts the routes rely on, and the validators.

Output shapes against their formulas and the operations; the tap blocks against
brute-force enumeration; the validators, and every public function's integer and
choice arguments through them.
"""

import inspect
import itertools

import numpy as np
import pytest
from conftest import GRID, GRID_IDS, case_data
from hypothesis import given, settings
from hypothesis import strategies as st
from pool_reference import PoolCase
from pool_reference import case_data as pool_case_data
from reference import as_tuple

import convmat as cm
from convmat.geometry import (
    PADDING_MODES,
    check_choice,
    check_int,
    check_positive_int,
    check_spatial_rank,
    conv_geometry,
    tap_output_range,
)
from convmat.patterns import tap_blocks


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
    for block in tap_blocks(geom):
        outs = [range(s.start, s.stop) for s in block.out]
        ins = [range(s.start, s.stop, s.step) for s in block.inp]
        assert [len(r) for r in outs] == [len(r) for r in ins]
        assert all(len(r) > 0 for r in outs)  # taps that read only padding are left out
        for out, inp in zip(itertools.product(*outs), itertools.product(*ins), strict=True):
            found[block.tap, out] = inp
    assert found == expected


@pytest.mark.parametrize("prop", ["output_spatial", "padded_spatial", "effective_kernel"])
def test_derived_values_are_computed_once(prop):
    geom = conv_geometry((9, 7), 3, stride=2, padding=1)
    assert getattr(geom, prop) is getattr(geom, prop)
    assert geom == conv_geometry((9, 7), 3, stride=2, padding=1)  # equality and hashing ignore the cache
    assert hash(geom) == hash(conv_geometry((9, 7), 3, stride=2, padding=1))


# ---------------------------------------------------------------------------
# geometry
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for c, i in zip(GRID, GRID_IDS, strict=True)])
def test_conv_output_shape_formula(case):
    n = case.ndim
    stride, dilation = as_tuple(case.stride, n), as_tuple(case.dilation, n)
    expected = tuple(
        (size + lo + hi - d * (k - 1) - 1) // s + 1
        for size, (lo, hi), k, s, d in zip(case.x_shape[2:], case.pads, case.w_shape[2:], stride, dilation, strict=True)
    )
    got = cm.conv_output_shape(case.x_shape[2:], case.w_shape[2:], case.stride, case.padding, case.dilation)
    assert got == expected
    assert isinstance(got, tuple)
    assert all(type(v) is int for v in got)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (((28, 28), 5), {"padding": 2}, (28, 28)),
        (((5, 5), 3), {"stride": 2}, (2, 2)),
        (((7,), 3), {"stride": 2, "padding": 1}, (4,)),
        (((10,), 3), {"dilation": 2}, (6,)),
        (((5, 6), (4, 3)), {"padding": "same"}, (5, 6)),
        (((5, 6), (4, 3)), {"padding": "same", "dilation": 2}, (5, 6)),
        (((5,), 3), {"padding": "valid"}, (3,)),
        (((7, 8), (3, 2)), {"stride": (2, 3), "padding": (1, 0)}, (4, 3)),
        (((4, 4, 4), 4), {}, (1, 1, 1)),
        (((1,), 1), {}, (1,)),
        (((3, 2, 5), (1, 2, 3)), {"stride": (1, 1, 2), "padding": (0, 1, 1), "dilation": (1, 2, 1)}, (3, 2, 3)),
    ],
)
def test_conv_output_shape_hand_worked(args, kwargs, expected):
    assert cm.conv_output_shape(*args, **kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        (((2, 2), 3), {"stride": 2}, (5, 5)),
        (((2, 2), 3), {"stride": 2, "output_padding": 1}, (6, 6)),
        (((4,), 4), {"stride": 2, "padding": 1}, (8,)),
        (((3,), 3), {"dilation": 2}, (7,)),
        (((3, 4), (2, 3)), {"stride": (1, 2), "padding": (0, 1)}, (4, 7)),
        (((1, 1, 1), 1), {}, (1, 1, 1)),
    ],
)
def test_conv_transpose_output_shape_hand_worked(args, kwargs, expected):
    assert cm.conv_transpose_output_shape(*args, **kwargs) == expected


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=i) for c, i in zip(GRID, GRID_IDS, strict=True) if not isinstance(c.padding, str)],
)
def test_conv_transpose_output_shape_inverts_conv_output_shape(case):
    n = case.ndim
    stride, dilation = as_tuple(case.stride, n), as_tuple(case.dilation, n)
    pad = as_tuple(case.padding, n)
    kernel, spatial = case.w_shape[2:], case.x_shape[2:]
    out = cm.conv_output_shape(spatial, kernel, stride, pad, dilation)
    rem = tuple(
        (size + 2 * p - d * (k - 1) - 1) % s
        for size, p, d, k, s in zip(spatial, pad, dilation, kernel, stride, strict=True)
    )
    formula = tuple(
        (o - 1) * s - 2 * p + d * (k - 1) + r + 1
        for o, s, p, d, k, r in zip(out, stride, pad, dilation, kernel, rem, strict=True)
    )
    assert formula == spatial  # the formula itself (sanity of the test)
    assert cm.conv_transpose_output_shape(out, kernel, stride, pad, rem, dilation) == spatial


def test_conv_output_shape_agrees_with_conv():
    for case in GRID[::4]:
        x, w, _, _ = case_data(case.with_batch(1))
        y = cm.conv(x, w, **case.kwargs)
        assert y.shape[2:] == cm.conv_output_shape(
            case.x_shape[2:], case.w_shape[2:], case.stride, case.padding, case.dilation
        )


def test_conv_output_shape_specific_errors():
    with pytest.raises(ValueError, match="kernel"):
        cm.conv_output_shape((4, 4), 5)
    with pytest.raises(ValueError, match=r"padding|stride"):
        cm.conv_output_shape((4, 4), 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="output_padding"):
        cm.conv_transpose_output_shape((4, 4), 3, stride=2, output_padding=2)


def test_pool_output_shape_agrees_with_the_operations():
    case = PoolCase((2, 3, 9, 8), (3, 2), (2, 3), (1, 1), (2, 1), True)
    x, _ = pool_case_data(case)
    expected = cm.pool_output_shape(x.shape[2:], **case.kwargs)
    assert expected == case.out_spatial
    assert cm.max_pool(x, **case.kwargs).shape[2:] == expected
    assert cm.avg_pool(x, (3, 2), (2, 3), 1, True).shape[2:] == cm.pool_output_shape((9, 8), (3, 2), (2, 3), 1, 1, True)


# ---------------------------------------------------------------------------
# the validators, and every public function's integer and choice arguments
# ---------------------------------------------------------------------------


def test_check_int_accepts_every_integer_type_and_names_the_argument():
    assert check_int(np.int16(3), "n") == 3
    assert type(check_int(np.uint8(3), "n")) is int
    for bad in (2.0, "2", None, True, np.float64(2), 2 + 0j):
        with pytest.raises(TypeError, match=r"^n must be an int"):
            check_int(bad, "n")
    with pytest.raises(ValueError, match=r"^n must be >= 0, got -1$"):
        check_int(-1, "n", minimum=0)
    with pytest.raises(ValueError, match=r"^n must be positive, got 0$"):
        check_positive_int(0, "n")


def test_check_choice_lists_the_allowed_values():
    assert check_choice("zeros", "padding_mode", PADDING_MODES) == "zeros"
    with pytest.raises(ValueError, match="'zeros', 'circular', 'reflect', 'replicate'; got 'reflectt'"):
        check_choice("reflectt", "padding_mode", PADDING_MODES)
    with pytest.raises(TypeError, match="padding_mode must be one of"):
        check_choice(None, "padding_mode", PADDING_MODES)


def test_check_spatial_rank():
    assert [check_spatial_rank(n, "x", "") for n in (1, 2, 3)] == [1, 2, 3]
    for n in (0, 4, -1):
        with pytest.raises(ValueError, match="x must have 1 to 3 spatial dims"):
            check_spatial_rank(n, "x", "")


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(1, 4), st.integers(-10, 12))
def test_tap_output_range_is_where_the_tap_reads_inside(size, out, stride, shift):
    first, last = tap_output_range(size, out, stride, shift)
    inside = [o for o in range(out) if 0 <= o * stride + shift < size]
    assert list(range(first, last)) == inside


X4 = np.ones((1, 2, 6, 6))
W4 = np.ones((2, 2, 3, 3))
DY4 = np.ones((1, 2, 4, 4))

#: A valid call of every public function that has integer or choice arguments: (args, keyword arguments).
VALID_CALLS = {
    "adaptive_avg_pool": ((X4, 4), {}),
    "adaptive_avg_pool_backward": ((np.ones((1, 2, 4, 4)), X4.shape), {}),
    "adaptive_avg_pool_matrix": (((6, 6), 4), {}),
    "adaptive_avg_pool_matrix_size": (((6, 6), 4), {}),
    "adaptive_max_pool": ((X4, 4), {}),
    "adaptive_max_pool_matrix": ((X4, 4), {}),
    "adaptive_max_pool_matrix_size": ((X4.shape, 4), {}),
    "lp_pool": ((X4, 2, 2), {}),
    "lp_pool_backward": ((np.ones((1, 2, 3, 3)), X4, 2, 2), {}),
    "avg_pool": ((X4, 2), {}),
    "avg_pool_backward": ((np.ones((1, 2, 3, 3)), X4.shape, 2), {}),
    "avg_pool_matrix": (((6, 6), 2), {}),
    "avg_pool_matrix_size": (((6, 6), 2), {}),
    "col2im": ((np.ones((1, 18, 16)), (6, 6), 3), {}),
    "conv": ((X4, W4), {}),
    "conv_input_grad": ((X4.shape, W4, DY4), {}),
    "conv_weight_grad": ((X4, W4.shape, DY4), {}),
    "choose_backend": ((X4.shape, W4.shape), {}),
    "conv_matrix": ((W4, (2, 6, 6)), {}),
    "conv_matrix_size": ((W4.shape, (2, 6, 6)), {}),
    "conv_operator": ((W4, (2, 6, 6)), {}),
    "conv_output_shape": (((6, 6), 3), {}),
    "conv_singular_values": ((W4, (6, 6)), {}),
    "conv_spectral_norm": ((W4, (2, 6, 6)), {}),
    "conv_transpose": ((DY4, W4), {}),
    "conv_lstsq": ((DY4, W4, X4.shape), {}),
    "pad": ((X4, (1, 1, 1, 1)), {}),
    "pad_adjoint": ((np.ones((1, 2, 8, 8)), (6, 6), (1, 1, 1, 1)), {}),
    "pad_matrix": (((6, 6), (1, 1, 1, 1)), {}),
    "conv_transpose_output_shape": (((4, 4), 3), {}),
    "format_matrix": ((np.eye(3),), {}),
    "im2col": ((X4, 3), {}),
    "matrix_limit": ((2**30,), {}),
    "max_pool": ((X4, 2), {}),
    "max_pool_matrix": ((X4, 2), {}),
    "max_pool_matrix_size": ((X4.shape, 2), {}),
    "num_threads": ((1,), {}),
    "pool_output_shape": (((6, 6), 2), {}),
    "set_matrix_limit": ((cm.get_matrix_limit(),), {}),
    "set_num_threads": ((cm.get_num_threads(),), {}),
    "set_workspace_limit": ((cm.get_workspace_limit(),), {}),
    "symbolic_conv_matrix": (((6, 6), 3), {}),
    "workspace_limit": ((2**20,), {}),
}
for _rank in (1, 2, 3):  # the rank-specific functions: the same call in their rank
    _x, _w = np.ones((1, 2, *(6,) * _rank)), np.ones((2, 2, *(3,) * _rank))
    VALID_CALLS |= {
        f"conv{_rank}d": ((_x, _w), {}),
        f"conv_transpose{_rank}d": ((np.ones((1, 2, *(4,) * _rank)), _w), {}),
        f"max_pool{_rank}d": ((_x, 2), {}),
        f"avg_pool{_rank}d": ((_x, 2), {}),
        f"adaptive_avg_pool{_rank}d": ((_x, 4), {}),
        f"adaptive_max_pool{_rank}d": ((_x, 4), {}),
        f"lp_pool{_rank}d": ((_x, 2, 2), {}),
    }

#: Per argument: values of the wrong type, and values of the right type out of range.
INTEGER_ARGUMENTS = {
    "kernel_size": ([2.5, "3"], [0, -1]),
    "stride": ([2.5, "1"], [0, -1]),
    "padding": ([0.5], [-1]),
    "dilation": ([1.5, "1"], [0]),
    "groups": ([1.5, "1"], [0, -2]),
    "output_padding": ([0.5, "0"], [-1]),
    "max_bytes": ([1.5e9, "1"], [0, -1]),
    "n": ([1.0, "2", True], [0, -1]),
    "nbytes": ([1.5e9, "2", True], [0, -1]),
    "precision": ([2.5, "4"], [-1]),
    "max_rows": ([2.5, "4"], [0]),
    "max_cols": ([2.5, "4"], [0]),
    "maxiter": ([1.5, "10"], [0, -1]),
    "divisor_override": ([2.5, "2", True], [0]),
}
CHOICE_ARGUMENTS = {
    "padding_mode": ("reflectt", 3),
    "backend": ("dense", None),
    "op": ("backward", 3),
    "method": ("qr", 3),
    "mode": ("reflectt", 3),
}


def _public_arguments():
    found = []
    for name in sorted(cm.__all__):
        function = getattr(cm, name)
        if isinstance(function, type) or not callable(function):
            continue
        for argument in inspect.signature(function).parameters:
            if argument in INTEGER_ARGUMENTS or argument in CHOICE_ARGUMENTS:
                found.append((name, argument))
    return found


PUBLIC_ARGUMENTS = _public_arguments()


def _call(name, argument, value):
    args, kwargs = VALID_CALLS[name]
    parameters = list(inspect.signature(getattr(cm, name)).parameters)
    position = parameters.index(argument)
    if position < len(args):  # given positionally in the valid call
        args = (*args[:position], value, *args[position + 1 :])
    else:
        kwargs = {**kwargs, argument: value}
    result = getattr(cm, name)(*args, **kwargs)
    if hasattr(result, "__enter__"):  # the context managers validate on entry
        with result:
            pass


def test_every_public_integer_and_choice_argument_is_covered():
    assert {name for name, _ in PUBLIC_ARGUMENTS} <= set(VALID_CALLS)
    for name in VALID_CALLS:  # the valid calls are valid
        args, kwargs = VALID_CALLS[name]
        result = getattr(cm, name)(*args, **kwargs)
        if hasattr(result, "__enter__"):
            with result:
                pass


@pytest.mark.parametrize(("name", "argument"), PUBLIC_ARGUMENTS, ids=[f"{n}-{a}" for n, a in PUBLIC_ARGUMENTS])
def test_public_arguments_are_validated_by_type_then_range(name, argument):
    previous = cm.get_num_threads(), cm.get_workspace_limit(), cm.get_matrix_limit()
    try:
        if argument in CHOICE_ARGUMENTS:
            unknown, wrong_type = CHOICE_ARGUMENTS[argument]
            with pytest.raises(ValueError, match=rf"{argument} must be one of .*'; got {unknown!r}"):
                _call(name, argument, unknown)
            with pytest.raises(TypeError, match=rf"{argument} must be one of"):
                _call(name, argument, wrong_type)
            return
        wrong_types, out_of_range = INTEGER_ARGUMENTS[argument]
        for value in wrong_types:
            with pytest.raises(TypeError, match=rf"\b{argument}\b"):
                _call(name, argument, value)
        for value in out_of_range:
            with pytest.raises(ValueError, match=rf"\b{argument}\b"):
                _call(name, argument, value)
        if argument == "padding":  # a string other than "same"/"valid": refused (by type where no string is taken)
            with pytest.raises((TypeError, ValueError), match="padding"):
                _call(name, argument, "full")
    finally:
        assert (cm.get_num_threads(), cm.get_workspace_limit(), cm.get_matrix_limit()) == previous
