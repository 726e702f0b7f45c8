"""The timing harness: thread pinning, settling, interleaved samples, CPU load of other processes, machine info.

Used by the ratio report (``bench/report.py``) and by the pytest-benchmark suite
(``bench/conftest.py``). Nothing here knows which cases are timed (that is
``bench/cases.py``); PyTorch is optional (:func:`torch_module` returns ``None``
without it).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

import convmat as cm

#: Threads of every library (BLAS, OpenMP, PyTorch, convmat) during a measurement.
THREADS = 2

#: Seconds to keep calling a function before timing it. On 2 cores, NumPy's OpenBLAS threads and PyTorch's
#: OpenMP threads keep spinning for ~0.1-0.25 s after their library's last call and slow the other library's
#: first calls (a 0.3 ms PyTorch convolution was measured at 24 ms right after numpy GEMMs); this lets them settle.
SETTLE_SECONDS = 0.25

#: Cores used by other processes above which a 2-thread timing is suspect.
BUSY = 0.2


@cache
def torch_module():
    """``torch`` if importable, else ``None`` (set to :data:`THREADS` threads on first use)."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(THREADS)
    return torch


@contextlib.contextmanager
def pinned_threads(n: int = THREADS) -> Iterator[None]:
    """BLAS/OpenMP pools (threadpoolctl), PyTorch's intra-op pool and convmat's own threads on ``n`` threads."""
    from threadpoolctl import threadpool_limits

    torch = torch_module()
    previous = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=n), cm.num_threads(n):
        if torch is not None:
            torch.set_num_threads(n)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(previous)


def settle(function: Callable[[], object], seconds: float = SETTLE_SECONDS) -> None:
    """Call ``function`` (untimed) until ``seconds`` have passed, at least once."""
    deadline = time.perf_counter() + seconds
    function()
    while time.perf_counter() < deadline:
        function()


# ---------------------------------------------------------------------------
# Other processes
# ---------------------------------------------------------------------------


class CpuMeter:
    """CPU used by *other* processes (and stolen by the hypervisor) since creation, in cores.

    Whole-machine busy time from ``/proc/stat`` minus this process's own CPU time
    (all its threads): a benchmark sharing 2 cores with anything else is not
    measuring what it claims, so the report states how busy the machine was.
    ``foreign()`` is ``None`` where ``/proc/stat`` is not readable.
    """

    def __init__(self) -> None:
        self.start = self._read()

    @staticmethod
    def _read() -> tuple[float | None, float, float]:
        own = os.times()
        try:
            with open("/proc/stat", encoding="ascii") as f:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, f.readline().split()[1:9])
            busy = (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            busy = None
        return busy, own.user + own.system, time.monotonic()

    def foreign(self) -> float | None:
        busy0, own0, t0 = self.start
        busy1, own1, t1 = self._read()
        if busy0 is None or busy1 is None or t1 <= t0:
            return None
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / (t1 - t0))


def wait_until_quiet(max_wait: float, threshold: float = 0.1, window: float = 1.0) -> float | None:
    """Wait (up to ``max_wait`` seconds) for a ``window`` in which other processes use < ``threshold`` cores.

    Returns the last measured foreign load (``None`` without ``/proc/stat``).
    """
    deadline = time.monotonic() + max_wait
    while True:
        meter = CpuMeter()
        time.sleep(window)
        load = meter.foreign()
        if load is None or load < threshold or time.monotonic() >= deadline:
            return load


# ---------------------------------------------------------------------------
# Interleaved samples
# ---------------------------------------------------------------------------


class Samples(dict):
    """``{name: [seconds per call, ...]}``; ``load``: the most cores other processes used during a
    kept sample; ``redone``: samples taken again because others were busy."""

    load: float | None = None
    redone: int = 0


@dataclass(frozen=True)
class Timing:
    """How a case is timed: ``repeats`` samples per function, each lasting at least ``min_time`` seconds and
    preceded by ``settle`` seconds of untimed calls; with ``quiet_wait`` > 0, wait up to that long for a quiet
    machine before each case and take a sample again when other processes got busy during it."""

    repeats: int = 7
    min_time: float = 0.05
    settle: float = SETTLE_SECONDS
    quiet_wait: float = 0.0

    def describe(self) -> str:
        return (
            f"median of {self.repeats} interleaved samples of >= {self.min_time * 1e3:.0f} ms, "
            f"each after {self.settle:g} s of untimed calls"
        )

    def measure(
        self,
        functions: dict[str, Callable[[], object]],
        setup: Callable[[], None] | None = None,
        repeats: int | None = None,
    ) -> Samples:
        """Seconds per call of each function, ``repeats`` samples each, interleaved.

        Warm-up: one call (caches), then one timed call to choose how many calls make a
        sample last ``min_time``. Round ``r`` calls the functions in an order rotated by
        ``r``. With ``setup`` (run before every call, untimed) a sample is a single call.
        """
        repeats = self.repeats if repeats is None else repeats
        if self.quiet_wait > 0:
            wait_until_quiet(self.quiet_wait, threshold=BUSY)
        number: dict[str, int] = {}
        for name, function in functions.items():
            for _ in range(2):
                if setup is not None:
                    setup()
                start = time.perf_counter()
                function()
                elapsed = time.perf_counter() - start
            number[name] = 1 if setup is not None else max(1, math.ceil(self.min_time / max(elapsed, 1e-7)))
        names = list(functions)
        samples = Samples({name: [] for name in names})
        worst: float | None = None
        for r in range(repeats):
            shift = r % len(names)
            for name in names[shift:] + names[:shift]:
                for attempt in range(4):
                    meter = CpuMeter()
                    seconds = self._sample(functions[name], number[name], setup)
                    load = meter.foreign()
                    if self.quiet_wait <= 0 or load is None or load < BUSY or attempt == 3:
                        break
                    samples.redone += 1
                    wait_until_quiet(self.quiet_wait, threshold=BUSY)
                samples[name].append(seconds)
                if load is not None:
                    worst = load if worst is None else max(worst, load)
        samples.load = worst
        return samples

    def _sample(self, function: Callable[[], object], n: int, setup: Callable[[], None] | None) -> float:
        """Seconds per call of ``n`` calls, after ``setup`` or :func:`settle`."""
        if setup is not None:
            setup()
        else:
            settle(function, self.settle)  # this library's threads awake, the other library's idle
        start = time.perf_counter()
        for _ in range(n):
            function()
        return (time.perf_counter() - start) / n


# ---------------------------------------------------------------------------
# Memory
# ---------------------------------------------------------------------------


def traced_peak(function: Callable[[], object]) -> tuple[int, object]:
    """Peak bytes allocated while ``function`` runs, its result included (numpy's buffers are traced)."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def convmat_origin() -> str:
    """Where the measured convmat comes from, without its path: this checkout or an installed copy."""
    checkout = Path(__file__).resolve().parent.parent
    return "this checkout" if Path(cm.__file__).resolve().is_relative_to(checkout) else "installed"


def machine_info() -> dict[str, object]:
    """CPU, cores, memory, library versions and the BLAS numpy uses (no paths)."""
    import scipy
    from threadpoolctl import threadpool_info

    info: dict[str, object] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "convmat": f"{cm.__version__} ({convmat_origin()})",
        "convmat_threads": (
            f"{cm.get_num_threads()}: sparse route by row blocks, max pooling by plane blocks, im2col route by "
            + ("batch blocks (BLAS held to one thread per block)" if cm.parallel.blas_control() else "BLAS threads")
        ),
    }
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * page_size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    info["blas"] = "; ".join(
        f"{os.path.basename(os.path.dirname(p['filepath']))}: {p.get('internal_api')} {p.get('version')} "
        f"({p.get('architecture', '?')}, {p.get('threading_layer', '?')})"
        for p in blas
    )
    torch = torch_module()
    if torch is None:
        info["torch"] = "not installed"
    else:
        info["torch"] = f"{torch.__version__} (mkldnn {'on' if torch.backends.mkldnn.is_available() else 'off'})"
    return info


def sgemm_probe() -> str:
    """GFLOP/s of numpy's float32 2048^3 matmul on 1 and 2 threads: how fast (and how busy) the machine is."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    parts = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            a @ a
            best = min(_seconds(lambda: a @ a) for _ in range(3))
        parts.append(f"{2 * 2048**3 / best / 1e9:.0f} GFLOP/s on {threads} thread{'s' * (threads > 1)}")
    return ", ".join(parts)


def _seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start
