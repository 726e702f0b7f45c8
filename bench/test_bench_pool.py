"""2x2 stride-2 max pooling of the conv outputs of B (64, 16, 28, 28) and C (32, 64, 32, 32), against PyTorch.

Group ``pool-<config>-max_pool-<dtype>``: ``max_pool(return_indices=True)`` of convmat
and of PyTorch, and beside them convmat's ``max_pool_matrix`` (the selection matrix
``S``, built from the same switches). Group ``pool-<config>-max_pool_backward-<dtype>``:
``max_pool_backward`` against aten's ``max_pool2d_with_indices_backward`` (what
autograd runs for ``F.max_pool2d``). Group ``pool-<config>-max_unpool-<dtype>``:
``max_unpool`` of pooled-shape values at the switches against ``F.max_unpool2d``.
"""

from __future__ import annotations

import cases
import pytest


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize(
    ("op", "impl"),
    [
        ("max_pool", "convmat"),
        ("max_pool", "torch"),
        ("max_pool_matrix", "convmat"),
        ("max_pool_backward", "convmat"),
        ("max_pool_backward", "torch"),
        ("max_unpool", "convmat"),
        ("max_unpool", "torch"),
    ],
)
@pytest.mark.parametrize("config", list(cases.POOL_SHAPES))
def test_max_pool(benchmark, bench_run, config, op, impl, dtype):
    data = cases.make_pool_data(config, dtype)
    if impl == "torch":
        pytest.importorskip("torch", exc_type=ImportError)
        function = cases.pool_ops_torch(data)[op]
    else:
        function = cases.pool_ops_convmat(data)[op]
    group = "max_pool" if op == "max_pool_matrix" else op  # S is built beside the forward it derives from
    benchmark.extra_info["input_shape"] = list(data.x.shape)
    bench_run(benchmark, f"pool-{config}-{group}-{dtype}", function)
