"""``show`` and the blocks it prints: chosen rows and columns of W, computed without W."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import GRID, GRID_IDS, Case

import convmat as cm
from convmat.__main__ import main
from convmat.conv_matrices import conv_matrix_block
from convmat.geometry import conv_geometry, conv_problem
from convmat.sizes import conv_matrix_size
from convmat.symbolic import _format_shown, _shown, _symbolic_block

MIB = 2**20


def run(*args):
    return subprocess.run([sys.executable, "-m", "convmat", *args], capture_output=True, text=True, timeout=120)


def _problem(case: Case):
    geom, groups = conv_problem(
        case.x_shape[1:],
        case.w_shape,
        case.stride,
        case.padding,
        case.dilation,
        case.groups,
        case.padding_mode,
        batched=False,
    )
    return geom, groups


def _index_sets(rng, n):
    """All indices; a random subset (repeats allowed, any order); the first and last few; none."""
    return [
        np.arange(n),
        rng.integers(0, n, size=min(n, 7)),
        np.array(_shown(n, 6)),
        np.array([], dtype=int),
    ]


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_block_is_those_rows_and_columns_of_conv_matrix(case, rng):
    geom, groups = _problem(case)
    weight = rng.integers(-4, 5, size=case.w_shape).astype(np.float64)  # exact sums, some zero taps
    full = cm.conv_matrix(weight, case.x_shape[1:], **case.kwargs).toarray()
    for rows in _index_sets(rng, full.shape[0]):
        for cols in _index_sets(rng, full.shape[1]):
            block = conv_matrix_block(weight, geom, groups, rows, cols)
            assert block.dtype == full.dtype
            np.testing.assert_array_equal(block, full[np.ix_(rows, cols)])


@pytest.mark.parametrize("case", GRID[::3], ids=GRID_IDS[::3])
def test_block_of_a_callable_kernel_equals_the_block_of_the_array(case, rng):
    geom, groups = _problem(case)
    c_out, cin_g = case.w_shape[:2]
    k_numel = int(np.prod(case.w_shape[2:]))
    weight = np.arange(1.0, 1 + c_out * cin_g * k_numel).reshape(case.w_shape)
    rows = rng.integers(0, c_out * geom.output_size, size=9)
    cols = rng.integers(0, cin_g * groups * geom.input_size, size=11)
    calls = []

    def numbered(co, ci, k):
        calls.append(co.size)
        return 1.0 + (co * cin_g + ci) * k_numel + k

    block = conv_matrix_block(numbered, geom, groups, rows, cols, weight_shape=case.w_shape)
    np.testing.assert_array_equal(block, conv_matrix_block(weight, geom, groups, rows, cols))
    assert calls == [calls[0]]
    assert calls[0] <= rows.size * cols.size * k_numel


def test_block_negative_indices_and_errors():
    geom = conv_geometry((4, 4), 3)
    weight = np.arange(1.0, 19.0).reshape(2, 1, 3, 3)
    full = cm.conv_matrix(weight, (1, 4, 4)).toarray()
    np.testing.assert_array_equal(conv_matrix_block(weight, geom, 1, [-1, 0], [-16, -1]), full[np.ix_([7, 0], [0, 15])])
    with pytest.raises(IndexError, match="rows index 8"):
        conv_matrix_block(weight, geom, 1, [8], [0])
    with pytest.raises(IndexError, match="cols index -17"):
        conv_matrix_block(weight, geom, 1, [0], [-17])
    with pytest.raises(TypeError, match="1-d sequence of ints"):
        conv_matrix_block(weight, geom, 1, [0.5], [0])
    with pytest.raises(TypeError, match="weight_shape"):
        conv_matrix_block(lambda co, ci, k: k, geom, 1, [0], [0])
    with pytest.raises(ValueError, match="does not fit the geometry"):
        conv_matrix_block(np.ones((2, 1, 2, 2)), geom, 1, [0], [0])
    with pytest.raises(ValueError, match="weight_shape"):
        conv_matrix_block(weight, geom, 1, [0], [0], weight_shape=(2, 1, 3, 2))
    with pytest.raises(ValueError, match="groups=3"):
        conv_matrix_block(weight, geom, 3, [0], [0])


@pytest.mark.parametrize("case", [c for c in GRID if np.prod(c.x_shape[2:]) <= 400], ids=lambda c: c.id())
def test_symbolic_block_is_those_rows_and_columns_of_the_symbolic_matrix(case, rng):
    geom, _ = _problem(case)
    full = cm.symbolic_conv_matrix(
        geom.input_spatial, geom.kernel_size, case.stride, case.padding, case.dilation, case.padding_mode
    )
    for rows in _index_sets(rng, full.shape[0]):
        for cols in _index_sets(rng, full.shape[1]):
            np.testing.assert_array_equal(_symbolic_block(geom, rows, cols), full[np.ix_(rows, cols)])


def test_symbolic_block_folds_and_labels_large_kernels():
    geom = conv_geometry((12,), 10, padding=4, padding_mode="reflect")
    full = cm.symbolic_conv_matrix((12,), 10, padding=4, padding_mode="reflect")
    rows, cols = np.arange(geom.output_size), np.arange(12)
    block = _symbolic_block(geom, rows, cols)
    np.testing.assert_array_equal(block, full)
    assert any("+" in s for s in block.ravel())
    assert any("k10" in s for s in block.ravel())


@pytest.mark.parametrize("shape", [(0, 0), (1, 5), (5, 1), (7, 9), (40, 40), (41, 100), (200, 3)])
@pytest.mark.parametrize("limit", [None, 1, 6, 7, 40])
def test_format_shown_equals_format_matrix(shape, limit, rng):
    matrix = rng.integers(-3, 4, size=shape) * 0.5
    shown = matrix[np.ix_(_shown(shape[0], limit), _shown(shape[1], limit))]
    expected = cm.format_matrix(matrix, max_rows=limit, max_cols=limit)
    assert _format_shown(shown, shape, max_rows=limit, max_cols=limit) == expected
    assert cm.format_matrix(sp.csr_array(matrix), max_rows=limit, max_cols=limit) == expected


def test_format_shown_checks_the_block_shape():
    with pytest.raises(ValueError, match="shown entries"):
        _format_shown(np.zeros((3, 3)), (10, 10), max_rows=4, max_cols=4)


def _whole_w_text(spatial, kernel, channels=(1, 1), numeric=False, max_size=48, width=100, **geometry):
    """What ``show`` prints, from the whole W: format_matrix of the full matrix with at most ``max_size`` rows
    and the most columns (at most ``max_size``) whose lines fit ``width`` characters."""
    c_in, c_out = channels
    if numeric or channels != (1, 1):
        weight = np.arange(1.0, 1 + c_out * c_in * np.prod(kernel)).reshape(c_out, c_in, *kernel)
        matrix = cm.conv_matrix(weight, (c_in, *spatial), **geometry)
    else:
        matrix = cm.symbolic_conv_matrix(spatial, kernel, **geometry)
    for max_cols in range(max_size, 0, -1):
        text = cm.format_matrix(matrix, max_rows=max_size, max_cols=max_cols)
        if max(len(line) for line in text.splitlines()) <= width:
            break
    return text


SHOW_CASES = [
    ("--input 4x4 --kernel 3x3", (4, 4), (3, 3), {}),
    ("--input 5x5 --kernel 3 --stride 2 --numeric", (5, 5), (3, 3), {"numeric": True, "stride": 2}),
    ("--input 6 --kernel 2 --padding same --dilation 2", (6,), (2,), {"padding": "same", "dilation": 2}),
    ("--input 3x3 --kernel 2 --channels 2x3", (3, 3), (2, 2), {"channels": (2, 3)}),
    ("--input 4 --kernel 3 --padding 1 --padding-mode reflect", (4,), (3,), {"padding": 1, "padding_mode": "reflect"}),
    (
        "--input 9x8 --kernel 3x2 --padding 2x1 --padding-mode circular --channels 3x2",
        (9, 8),
        (3, 2),
        {"padding": (2, 1), "padding_mode": "circular", "channels": (3, 2)},
    ),
    (
        "--input 7x7 --kernel 3 --padding 1 --padding-mode replicate --max-size 10",
        (7, 7),
        (3, 3),
        {"padding": 1, "padding_mode": "replicate", "max_size": 10},
    ),
    (
        "--input 4x5x6 --kernel 2x3x2 --stride 2x1x2 --max-size 9",
        (4, 5, 6),
        (2, 3, 2),
        {"stride": (2, 1, 2), "max_size": 9},
    ),
    ("--input 12x12 --kernel 3 --channels 4x5 --dilation 2", (12, 12), (3, 3), {"channels": (4, 5), "dilation": 2}),
    (
        "--input 30 --kernel 11 --padding 5 --padding-mode reflect",
        (30,),
        (11,),
        {"padding": 5, "padding_mode": "reflect"},
    ),
    ("--input 8x8 --kernel 3 --width 200", (8, 8), (3, 3), {"width": 200}),
    ("--input 8x8 --kernel 3 --width 37 --max-size 60", (8, 8), (3, 3), {"width": 37, "max_size": 60}),
    ("--input 7 --kernel 3 --channels 2x3 --width 20", (7,), (3,), {"channels": (2, 3), "width": 20}),
    ("--input 8x8 --kernel 3 --width 1", (8, 8), (3, 3), {"width": 1}),
]


@pytest.mark.parametrize(("args", "spatial", "kernel", "options"), SHOW_CASES)
def test_show_prints_what_the_whole_w_prints(args, spatial, kernel, options, capsys):
    assert main(["show", *args.split()]) == 0
    lines = capsys.readouterr().out.splitlines()
    c_in, c_out = options.get("channels", (1, 1))
    geometry = {k: v for k, v in options.items() if k not in ("channels", "numeric", "max_size", "width")}
    size = conv_matrix_size((c_out, c_in, *kernel), (c_in, *spatial), **geometry)
    rows, cols = size.shape
    assert lines[0] == f"W: {rows} x {cols} (output {rows} values from input {cols} values), {size.nnz} stored entries"
    assert "\n".join(lines[1:]) == _whole_w_text(spatial, kernel, **options)


def test_show_a_resnet_layer_in_a_subprocess():
    result = run("show", "--input", "56x56", "--kernel", "3x3", "--channels", "256x256", "--padding", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("W: 802816 x 802816")
    assert len(lines) == 1 + 49  # 24 first rows, the ellipsis row, 24 last rows
    assert lines[1].split()[:3] == ["5", "6", "0"]  # output (0, 0) of channel 0: taps 5, 6 of input channel 0


def test_show_symbolic_large_plane_in_a_subprocess():
    result = run("show", "--input", "56x56", "--kernel", "3x3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("W: 2916 x 3136")
    assert lines[1].split()[:4] == ["k11", "k12", "k13", "0"]
    assert lines[-1].split()[-4:] == ["0", "k31", "k32", "k33"]


def test_show_png_refuses_a_large_w(tmp_path):
    pytest.importorskip("matplotlib")  # without it, --png is refused for that first
    target = tmp_path / "w.png"
    result = run("show", "--input", "56x56", "--kernel", "3x3", "--png", str(target))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "--png" in result.stderr
    assert "2916 x 3136" in result.stderr
    assert result.stdout == ""
    assert not target.exists()


def _peak_bytes(function, *args, **kwargs):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = function(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


def test_block_of_a_256_channel_layer_allocates_a_few_mib():
    geom = conv_geometry((56, 56), 3, padding=1)
    c = 256
    rows = np.array(_shown(c * geom.output_size, 48))
    cols = np.array(_shown(c * geom.input_size, 48))

    def numbered(co, ci, k):
        return 1.0 + (co * c + ci) * 9 + k

    block, peak = _peak_bytes(conv_matrix_block, numbered, geom, 1, rows, cols, weight_shape=(c, c, 3, 3))
    assert block.shape == (48, 48)
    assert peak < 2 * MIB, f"{peak / MIB:.1f} MiB"  # W would take 19 GiB, its numbered kernel 4.5 MiB
    assert block[0, :2].tolist() == [5.0, 6.0]


def test_symbolic_block_of_a_large_plane_allocates_a_few_mib():
    geom = conv_geometry((1000, 1000), 5, padding=2, padding_mode="reflect")
    rows, cols = np.array(_shown(geom.output_size, 48)), np.array(_shown(geom.input_size, 48))
    block, peak = _peak_bytes(_symbolic_block, geom, rows, cols)
    assert block.shape == (48, 48)
    assert peak < 2 * MIB, f"{peak / MIB:.1f} MiB"  # the plane pattern alone would take hundreds of MiB
    assert block[0, 0] == "k33"
