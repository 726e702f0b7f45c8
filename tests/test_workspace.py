"""The im2col route in chunks: same numbers whatever the workspace limit, and memory within the bound."""

import tracemalloc

import numpy as np
import pytest
from conftest import assert_close
from reference import conv_input_grad_reference, conv_reference, conv_weight_grad_reference

import convmat as cm
from convmat.config import CHUNK_TARGET_BYTES, chunk_size

GEOMETRIES = [
    # (x shape, w shape, kwargs): stride 1 with C_out <= C_in (flipped-kernel input gradient) and
    # C_out > C_in (col2im), strided, grouped, a non-zero padding mode, 1-d and 3-d
    ((7, 4, 6, 5), (3, 4, 3, 2), {"padding": 1}),
    ((7, 2, 6, 5), (5, 2, 3, 3), {"padding": (2, 0), "dilation": (1, 2)}),
    ((5, 4, 7, 6), (6, 2, 3, 3), {"stride": 2, "padding": 1, "groups": 2}),
    ((6, 3, 9), (3, 3, 4), {"padding": "same", "padding_mode": "reflect"}),
    ((4, 2, 4, 5, 3), (2, 2, 2, 3, 2), {"padding": 1, "padding_mode": "circular"}),
]


@pytest.mark.parametrize("limit", [1, 2000, 10**9])
@pytest.mark.parametrize(("x_shape", "w_shape", "kwargs"), GEOMETRIES)
def test_results_do_not_depend_on_the_workspace_limit(x_shape, w_shape, kwargs, limit, rng):
    x = rng.standard_normal(x_shape)
    w = rng.standard_normal(w_shape)
    y = conv_reference(x, w, **kwargs)
    dy = rng.standard_normal(y.shape)
    with cm.workspace_limit(limit):
        assert_close(cm.conv(x, w, **kwargs), y)
        assert_close(cm.conv_input_grad(x.shape, w, dy, **kwargs), conv_input_grad_reference(x.shape, w, dy, **kwargs))
        dw = conv_weight_grad_reference(x, w.shape, dy, **kwargs)
        assert_close(cm.conv_weight_grad(x, w.shape, dy, **kwargs), dw)
        assert_close(cm.conv_weight_grad(x, w.shape, dy, **kwargs, backend="sparse"), dw)


def test_chunk_size():
    with cm.workspace_limit(100):
        assert chunk_size(10, 30) == 3
        assert chunk_size(10, 1000) == 1  # at least one sample
    assert chunk_size(10**8, 1) == CHUNK_TARGET_BYTES
    assert chunk_size(5, 1) == 5
    # min_samples asks for larger chunks than the target, but the limit and the batch still win
    assert chunk_size(10**8, 2**20, min_samples=50) == 50
    assert chunk_size(20, 2**20, min_samples=50) == 20
    with cm.workspace_limit(100):
        assert chunk_size(10, 30, min_samples=5) == 3


def test_workspace_limit_setting():
    previous = cm.get_workspace_limit()
    with cm.workspace_limit(12345):
        assert cm.get_workspace_limit() == 12345
    assert cm.get_workspace_limit() == previous
    for bad, error in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (1.5e9, TypeError), (True, TypeError)):
        with pytest.raises(error, match="nbytes"):
            cm.set_workspace_limit(bad)
    assert cm.get_workspace_limit() == previous


@pytest.mark.parametrize("limit", [2**19, 2**20])
def test_peak_memory_of_a_forward_stays_within_output_plus_workspace(limit, rng):
    x = rng.standard_normal((48, 16, 16, 16)).astype(np.float32)
    w = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
    cm.conv(x, w, padding=1)  # once untraced: the thread pool and the BLAS controller are made on first use
    with cm.workspace_limit(limit):
        tracemalloc.start()
        y = cm.conv(x, w, padding=1)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    patches_total = x.shape[0] * 16 * 9 * 256 * 4
    assert patches_total > 4 * limit  # the whole patch matrix would not fit: chunking is what keeps it bounded
    assert peak <= y.nbytes + 1.1 * limit
