"""pytest-benchmark suite of convmat: shared fixtures.

Run from the repository root (kept out of the normal test run, whose
``testpaths`` is ``tests``)::

    python -m pytest bench --benchmark-only --benchmark-columns=min,median,ops --benchmark-sort=name

and as a smoke test, every benchmark called once (the layers of ``test_bench_layers.py``
on their small versions, ``cases.Layer.tiny``)::

    python -m pytest bench --benchmark-disable -q

Every benchmark sets ``benchmark.group`` to ``"<config>-<op>-<dtype>"`` (with a
prefix for the sparse, pooling and scipy.signal families), so the default
``--benchmark-group-by=group`` puts the routes of one case side by side, and so
do ``--benchmark-compare`` and ``--benchmark-histogram``. BLAS/OpenMP pools,
PyTorch and convmat are pinned to :data:`harness.THREADS` (2) threads for the
whole pytest run; PyTorch cases skip when it is not importable. Choose cases
with ``-k``, e.g. ``-k "test_conv and C- and float32"`` or ``-k pool`` (``-k``
ignores case, so a layer is its parameter prefix ``C-``, not ``C``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:  # cases.py / harness.py / textbook.py, whatever pytest's import mode
    sys.path.insert(0, str(BENCH))

import harness  # noqa: E402


def pytest_report_header(config):
    info = harness.machine_info()
    return [
        f"convmat bench: {info['cpu']}, {info['logical_cores']} logical cores, threads pinned to {harness.THREADS}",
        f"numpy {info['numpy']}, scipy {info['scipy']}, torch {info['torch']}, convmat {info['convmat']}",
        f"BLAS {info['blas']}",
    ]


@pytest.fixture(scope="session", autouse=True)
def _pinned_threads():
    """BLAS, OpenMP and PyTorch limited to the same thread count for every benchmark."""
    with harness.pinned_threads(harness.THREADS):
        yield


@pytest.fixture
def torch():
    """PyTorch (2 threads), or a clean skip when it is not installed."""
    module = pytest.importorskip("torch", exc_type=ImportError)
    module.set_num_threads(harness.THREADS)
    return module


BUSY = 0.1  # cores used by other processes above which 2-thread timings are not trustworthy
_busy_runs: list[tuple[str, float]] = []


def run(benchmark, group: str, function, *, warmup: bool = True):
    """Time ``function`` in ``group`` after :func:`harness.settle` (skipped when benchmarks are disabled).

    Records in ``extra_info["other_processes_cores"]`` how much CPU other processes
    used meanwhile (see :class:`harness.CpuMeter`).
    """
    benchmark.group = group
    if benchmark.disabled:
        return benchmark(function)
    if warmup:
        harness.settle(function)  # warm caches; let the other library's spinning threads go idle
    meter = harness.CpuMeter()
    result = benchmark(function)
    load = meter.foreign()
    if load is not None:
        benchmark.extra_info["other_processes_cores"] = round(load, 3)
        if load >= BUSY:
            _busy_runs.append((benchmark.name, load))
    return result


def pytest_terminal_summary(terminalreporter):
    if _busy_runs:
        worst = max(_busy_runs, key=lambda item: item[1])
        terminalreporter.write_line(
            f"convmat bench: {len(_busy_runs)} benchmark(s) ran while other processes used >= {BUSY} core "
            f"(worst {worst[1]:.2f}, {worst[0]}): on {harness.THREADS} threads those timings are not trustworthy",
            yellow=True,
        )


@pytest.fixture
def bench_run():
    """The :func:`run` helper as a fixture (test modules do not import conftest)."""
    return run
