"""Bounded memory of the im2col route: layer C with a batch of 256.

The peak is measured once with tracemalloc (numpy's buffers are traced); for the
forward it is checked against operands + result + 1.1 x the workspace bound -- a
memory check, not a timing one (the gradients' peaks are recorded). The same call
is then timed, the measured bytes kept in ``extra_info``. Without ``convmat.workspace_limit`` the
cases skip as "not available".
"""

from __future__ import annotations

import cases
import pytest

import convmat as cm

LIMITS = {"default": None, "32MiB": 32 * cases.MIB, "4MiB": 4 * cases.MIB}


# the forward under each limit (its peak is checked); the gradients under the default one (recorded)
CASES = [("forward", limit) for limit in LIMITS] + [("input_grad", "default"), ("weight_grad", "default")]


@pytest.mark.parametrize(("op", "limit"), CASES)
def test_workspace_bound(benchmark, bench_run, op, limit):
    if cases.workspace_api() is None:
        pytest.skip("convmat.get_workspace_limit / workspace_limit: not available")
    measured = cases.memory_case(op, LIMITS[limit])
    benchmark.extra_info.update({k: v for k, v in measured.items() if k != "available"})
    cfg = cases.CONFIGS["C"]
    d = cases.make_memory_data()
    calls = {
        "forward": lambda: cm.conv(d.x, d.w, **cfg.kwargs),
        "input_grad": lambda: cm.conv_input_grad(d.x.shape, d.w, d.dy, **cfg.kwargs),
        "weight_grad": lambda: cm.conv_weight_grad(d.x, d.w.shape, d.dy, **cfg.kwargs),
    }
    with cm.workspace_limit(measured["limit"]):
        bench_run(benchmark, f"memory-C-N{cases.MEMORY_BATCH}-{op}", calls[op], warmup=False)
    mib = {k: round(v / cases.MIB, 1) for k, v in measured.items() if isinstance(v, int)}
    if op == "forward":  # the gradients' peaks are recorded, not checked
        assert measured["peak"] <= measured["allowed"], f"peak over operands + result + 1.1 x bound (MiB): {mib}"
