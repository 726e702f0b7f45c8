"""The sparse route against scipy.sparse itself on layers C, D and F.

* ``sparse-<config>-pattern``: the first ``W`` of a geometry, index pattern built from
  scratch (caches cleared before every round, outside the timing); beside it the
  pattern alone (``convmat.patterns.conv_matrix_pattern``).
* ``sparse-<config>-refill-<dtype>``: ``conv_matrix`` for a new kernel of a cached
  geometry against the bare gather ``np.take(w2, pattern.data_index, axis=1)`` of its
  ``nnz`` values.
* ``sparse-<config>-forward-<dtype>``: ``conv(backend="sparse")`` (``W`` rebuilt each
  call) on one thread and on convmat's threads, against scipy's bare ``W @ X`` (one
  thread) on a prebuilt ``W``.
* ``sparse-<config>-input_grad-<dtype>``: ``conv_input_grad(backend="sparse")`` likewise
  against the bare ``W.T @ dY``.
"""

from __future__ import annotations

import cases
import numpy as np
import pytest

import convmat as cm

SIDES = {
    "refill": {"convmat": "refill", "bare": "gather"},
    "forward": {"convmat": "forward", "convmat-threads": "forward threads", "bare": "W @ X"},
    "input_grad": {"convmat": "input_grad", "convmat-threads": "input_grad threads", "bare": "W.T @ dY"},
}
CASES = [(kind, side) for kind, sides in SIDES.items() for side in sides]


@pytest.fixture(scope="module", autouse=True)
def _drop_patterns():
    yield
    cases.clear_pattern_caches()


@pytest.mark.parametrize("what", ["conv_matrix", "pattern"])
@pytest.mark.parametrize("config", cases.SPARSE_CONFIGS)
def test_pattern_build(benchmark, config, what):
    cfg = cases.CONFIGS[config]
    data = cases.make_data(config, "float32")
    if what == "conv_matrix":
        function = lambda: cm.conv_matrix(data.w, cfg.x_shape[1:], **cfg.kwargs)  # noqa: E731
    else:
        function = lambda: cases.build_pattern(cfg)  # noqa: E731
    benchmark.group = f"sparse-{config}-pattern"
    benchmark.extra_info["nnz"] = cfg.sparse_nnz
    # Every round starts from empty caches; a cold build takes a while, so a few rounds are enough.
    benchmark.pedantic(function, setup=cases.clear_pattern_caches, rounds=3, iterations=1)


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize(("kind", "side"), CASES, ids=[f"{k}-{s}" for k, s in CASES])
@pytest.mark.parametrize("config", cases.SPARSE_CONFIGS)
def test_sparse_against_bare(benchmark, bench_run, config, kind, side, dtype):
    cfg = cases.CONFIGS[config]
    ops = cases.sparse_ops(cfg, cases.make_data(config, dtype))
    name = SIDES[kind][side]
    benchmark.extra_info.update(nnz=cfg.sparse_nnz, operation=name)
    result = bench_run(benchmark, f"sparse-{config}-{kind}-{dtype}", ops[name])
    assert result.dtype == np.dtype(dtype)
