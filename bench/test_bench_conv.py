"""Convolution forward, input gradient and weight gradient on the layers B-F of ``cases.CONFIGS``, route by route.

Group ``"<config>-<op>-<dtype>"`` holds, side by side:

* ``convmat-im2col`` -- the default route;
* ``convmat-sparse`` -- ``backend="sparse"``: builds ``W`` from the cached pattern
  (one gather) and multiplies, every call (``W`` up to :data:`cases.MAX_SPARSE_NNZ` entries);
* ``textbook`` -- the slice-loop im2col + one GEMM of :mod:`textbook` (the book's row-per-window layout);
* ``textbook-columns`` -- the same with the column-per-window layout (no transposing copy);
* ``torch`` -- ``F.conv2d`` / ``torch.nn.grad.conv2d_input`` / ``conv2d_weight`` (skipped without torch).
"""

from __future__ import annotations

import cases
import pytest

import convmat.patterns

IMPLS = ("convmat-im2col", "convmat-sparse", "textbook", "textbook-columns", "torch")
# Config outermost, so that the sparse patterns of one config can be dropped before the next is built.
CASES = [
    pytest.param(c, op, dt, impl, id=f"{c}-{op}-{dt}-{impl}")
    for c in cases.CONFIGS
    for op in cases.OPS
    for dt in cases.DTYPES
    for impl in IMPLS
]


@pytest.fixture(scope="module")
def pattern_cache():
    """Drop the cached ``W`` patterns of one config before the next config's are built (bounded memory)."""
    current = {"config": None}

    def enter(config: str) -> None:
        if current["config"] not in (None, config):
            convmat.clear_cache()
        current["config"] = config

    yield enter
    convmat.clear_cache()


@pytest.mark.parametrize(("config", "op", "dtype", "impl"), CASES)
def test_conv(benchmark, bench_run, pattern_cache, config, op, dtype, impl):
    cfg = cases.CONFIGS[config]
    data = cases.make_data(config, dtype)
    if impl == "convmat-im2col":
        function = cases.convmat_op(cfg, op, data, backend="im2col")
    elif impl == "convmat-sparse":
        if not cfg.sparse_fits:
            pytest.skip(f"W of {config} has {cfg.sparse_nnz:,} entries (> {cases.MAX_SPARSE_NNZ:,})")
        pattern_cache(config)
        function = cases.convmat_op(cfg, op, data, backend="sparse")
    elif impl == "textbook":
        function = cases.textbook_op(cfg, op, data)
    elif impl == "textbook-columns":
        function = cases.textbook_op(cfg, op, data, layout="columns")
    else:
        pytest.importorskip("torch", exc_type=ImportError)
        function = cases.torch_op(cfg, op, data)
    benchmark.extra_info.update(config=cfg.describe(), gflop=cfg.flops / 1e9)
    result = bench_run(benchmark, f"{config}-{op}-{dtype}", function)
    expected = {"forward": cfg.y_shape, "input_grad": cfg.x_shape, "weight_grad": cfg.w_shape}[op]
    assert tuple(result.shape) == expected
