"""Print issue 5's targets 1-5 as ratios measured side by side on this machine.

Usage (from the repository root; measures the checkout's convmat)::

    python bench/report.py                        # full run, 10-20 minutes
    python bench/report.py --quick                # fewer repeats and cases, for a first look
    python bench/report.py --json report.json --plot docs/_static/performance.png

Every case times convmat and its reference in one process, interleaved round
by round (the order rotating), each sample preceded by ``--settle`` seconds of
untimed calls of the same function so that no library pays for the other's
still-spinning thread pool. A sample runs the function often enough to last
``--min-time``; a case's time is the median of ``--repeats`` samples after a
warm-up ("ratio"; "min ratio" is that of the fastest samples, a second
opinion). BLAS, OpenMP and PyTorch are pinned to 2 threads. The "others"
column is the most CPU (in cores) that other processes used during one of a
case's samples: on 2 cores anything above ~0.2 skews 2-thread timings badly
(``--wait-quiet`` waits for a quiet moment before each case, and takes a
sample again when others got busy during it). Rows whose reference needs
PyTorch say "torch not installed" when it is missing; a route that raises is
reported, not fatal.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]  # this checkout's convmat, and cases.py / textbook.py

import cases  # noqa: E402
import numpy as np  # noqa: E402

TARGET_TITLES = {
    1: "im2col route vs PyTorch (time ratio; geometric mean <= 1.5, every case <= 2.5)",
    2: "im2col route vs the textbook numpy baseline (time ratio <= 1/3: at least 3x faster)",
    3: "sparse route vs scipy.sparse itself",
    4: "max pooling vs PyTorch; selection matrix S vs the forward pool",
    5: "memory: peak of the im2col route, N=256 of layer C (operands + result + 1.1 x workspace bound)",
}
GEOMEAN_BOUND, CASE_BOUND_1, BOUND_2 = 1.5, 2.5, 1 / 3
LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.33, 0.5, 1, 1.3, 2, 3, 5, 10, 20, 50, 100, 200)


@dataclass
class Row:
    target: int
    case: str
    reference_name: str
    convmat: float | None = None
    reference: float | None = None
    unit: str = "s"
    bound: float | None = None  # met when ratio <= bound
    ratio: float | None = None
    met: bool | None = None
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)
    load: float | None = None  # most cores other processes used during a kept sample of this case
    ratio_min: float | None = None  # ratio of the fastest samples (a second opinion on noisy cases)
    redone: int = 0  # samples taken again because other processes were busy

    def __post_init__(self) -> None:
        if self.load is None:
            self.load = getattr(self.samples, "load", None)
        self.redone = self.redone or getattr(self.samples, "redone", 0)

    def finish(self) -> Row:
        if self.convmat is not None and self.reference:
            self.ratio = self.convmat / self.reference
            if self.bound is not None:
                self.met = self.ratio <= self.bound
        return self


# ---------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------


class Samples(dict):
    """``{name: [seconds per call, ...]}``, ``load``: the most cores other processes used during a
    kept sample, ``redone``: samples taken again because others were busy."""

    load: float | None = None
    redone: int = 0


#: Seconds to wait, before each case, for the machine to be quiet (``--wait-quiet``).
QUIET_WAIT = 0.0
#: Cores used by other processes above which a 2-thread timing is suspect.
BUSY = 0.2
#: Seconds of untimed calls before each sample (``--settle``), see :data:`cases.SETTLE_SECONDS`.
SETTLE = cases.SETTLE_SECONDS


def measure(
    functions: dict[str, Callable[[], object]],
    repeats: int,
    min_time: float,
    setup: Callable[[], None] | None = None,
) -> Samples:
    """Seconds per call of each function, ``repeats`` samples each, interleaved.

    Warm-up: one call (caches), then one timed call to choose how many calls make a
    sample last ``min_time``. With ``setup`` (run before every call, untimed) a
    sample is a single call. Each sample is preceded by ``SETTLE`` seconds of
    untimed calls. ``load`` of the result is the largest CPU share other processes
    took during a kept sample; with ``--wait-quiet`` the case starts on a quiet
    machine and a sample taken while others were busy is taken again (up to 3 times).
    """
    if QUIET_WAIT > 0:
        cases.wait_until_quiet(QUIET_WAIT, threshold=BUSY)
    number: dict[str, int] = {}
    for name, function in functions.items():
        for _ in range(2):
            if setup is not None:
                setup()
            start = time.perf_counter()
            function()
            elapsed = time.perf_counter() - start
        number[name] = 1 if setup is not None else max(1, math.ceil(min_time / max(elapsed, 1e-7)))
    names = list(functions)
    samples = Samples({name: [] for name in names})
    worst: float | None = None
    for r in range(repeats):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            for attempt in range(4):
                meter = cases.CpuMeter()
                seconds = _sample(functions[name], number[name], setup)
                load = meter.foreign()
                if QUIET_WAIT <= 0 or load is None or load < BUSY or attempt == 3:
                    break
                samples.redone += 1
                cases.wait_until_quiet(QUIET_WAIT, threshold=BUSY)
            samples[name].append(seconds)
            if load is not None:
                worst = load if worst is None else max(worst, load)
    samples.load = worst
    return samples


def _sample(function: Callable[[], object], n: int, setup: Callable[[], None] | None) -> float:
    """Seconds per call of ``n`` calls, after ``setup`` or :func:`cases.settle`."""
    if setup is not None:
        setup()
    else:
        cases.settle(function, SETTLE)  # this library's threads awake, the other library's idle
    start = time.perf_counter()
    for _ in range(n):
        function()
    return (time.perf_counter() - start) / n


def median(values: list[float]) -> float:
    return statistics.median(values)


def error_row(target: int, case: str, reference_name: str, exc: BaseException) -> Row:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Row(target, case, reference_name, note=f"error: {last[:120]}")


# ---------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------


def timed(
    target: int, case: str, s: Samples, mine: str, ref: str | None, ref_name: str, bound: float | None, note: str = ""
) -> Row:
    """A row from interleaved samples: median times, their ratio, and the ratio of the minima."""
    keep = {k: s[k] for k in (mine, ref) if k is not None}
    row = Row(target, case, ref_name, median(s[mine]), note=note, samples=keep, load=s.load, redone=s.redone)
    if ref is not None:
        row.reference, row.bound = median(s[ref]), bound
        row.ratio_min = min(s[mine]) / min(s[ref])
    return row.finish()


def conv_rows(args) -> list[Row]:
    """Targets 1 and 2: each case timed once with convmat, PyTorch and both textbooks, interleaved."""
    rows: list[Row] = []
    have_torch = cases.torch_module() is not None
    for dtype in cases.DTYPES:
        for name in args.configs:
            cfg = cases.CONFIGS[name]
            data = cases.make_data(name, dtype)
            for op in cases.OPS:
                case = f"{name} {op} {dtype}"
                functions = {
                    "convmat": cases.convmat_op(cfg, op, data),
                    "textbook": cases.textbook_op(cfg, op, data),
                    "textbook-columns": cases.textbook_op(cfg, op, data, layout="columns"),
                }
                if have_torch:
                    functions["torch"] = cases.torch_op(cfg, op, data)
                try:
                    s = measure(functions, args.repeats, args.min_time)
                except Exception as exc:  # report the failing route, keep going
                    rows += [error_row(1, case, "torch", exc), error_row(2, case, "textbook", exc)]
                    continue
                gflops = cfg.flops / 1e9
                if have_torch:
                    note = f"{gflops / median(s['convmat']):.0f} vs {gflops / median(s['torch']):.0f} GFLOP/s"
                    rows.append(timed(1, case, s, "convmat", "torch", "torch", CASE_BOUND_1, note))
                else:
                    rows.append(timed(1, case, s, "convmat", None, "torch", None, "torch not installed"))
                row2 = timed(2, case, s, "convmat", "textbook", "textbook", BOUND_2)
                row2.samples["textbook-columns"] = s["textbook-columns"]
                columns = median(s["convmat"]) / median(s["textbook-columns"])
                row2.note = f"{1 / row2.ratio:.1f}x faster; ratio to the column-layout textbook {columns:.2f}"
                rows.append(row2)
                progress(rows[-2:])
    return rows


#: (route, bare part, bound): the route's overhead, both on one thread. The products are timed a third time on
#: convmat's threads (``"<route> threads"``, information: the speed-up over scipy's one thread).
SPARSE_PAIRS = (("refill", "gather", 2.0), ("forward", "W @ X", 1.3), ("input_grad", "W.T @ dY", 1.3))


def sparse_rows(args) -> list[Row]:
    """Target 3: pattern build (cold), refill vs bare gather, the route vs bare products."""
    rows: list[Row] = []
    for name in args.sparse_configs:
        cfg = cases.CONFIGS[name]
        case = f"{name} pattern build (cold)"
        try:
            build = {"pattern": lambda cfg=cfg: cases.build_pattern(cfg)}
            s = measure(build, max(3, args.repeats // 2), 0, setup=cases.clear_pattern_caches)
            row = timed(3, case, s, "pattern", None, "1 s budget", None, f"{cfg.sparse_nnz / 1e6:.1f} M nonzeros")
            row.reference, row.bound, row.ratio_min = 1.0, 1.0, min(s["pattern"])
            rows.append(row.finish())
        except Exception as exc:
            rows.append(error_row(3, case, "1 s budget", exc))
        progress(rows[-1:])
        for dtype in cases.DTYPES:
            try:
                ops = cases.sparse_ops(cfg, cases.make_data(name, dtype))
            except Exception as exc:
                rows.append(error_row(3, f"{name} sparse {dtype}", "scipy.sparse", exc))
                continue
            for mine, bare, bound in SPARSE_PAIRS:
                case = f"{name} {mine} {dtype}"
                threaded = f"{mine} threads"
                functions = {mine: ops[mine], bare: ops[bare]} | ({threaded: ops[threaded]} if threaded in ops else {})
                try:
                    s = measure(functions, args.repeats, args.min_time)
                except Exception as exc:
                    rows.append(error_row(3, case, bare, exc))
                    continue
                if mine == "refill":
                    rows.append(timed(3, case, s, mine, bare, bare, bound))
                else:
                    gflops = 2 * cfg.sparse_nnz * cfg.n / median(s[bare]) / 1e9
                    note = f"one thread each; bare product {gflops:.1f} GFLOP/s"
                    rows.append(timed(3, f"{case}, 1 thread", s, mine, bare, bare, bound, note))
                    note = f"information: the route on {cases.THREADS} threads against scipy's one"
                    rows.append(timed(3, f"{case}, {cases.THREADS} threads", s, threaded, bare, bare, None, note))
                progress(rows[-1:])
            del ops
        cases.clear_pattern_caches()
    return rows


def pool_rows(args) -> list[Row]:
    """Target 4: max_pool with indices and max_pool_backward vs PyTorch; S vs the forward pool."""
    rows: list[Row] = []
    have_torch = cases.torch_module() is not None
    for dtype in cases.DTYPES:
        for name in cases.POOL_SHAPES:
            data = cases.make_pool_data(name, dtype)
            shape = "x".join(map(str, data.x.shape))
            mine = cases.pool_ops_convmat(data)
            theirs = cases.pool_ops_torch(data) if have_torch else {}
            for op in ("max_pool", "max_pool_backward"):
                case = f"{name} {op} {dtype}"
                functions = {"convmat": mine[op]} | ({"torch": theirs[op]} if have_torch else {})
                if op == "max_pool":
                    functions["S"] = mine["max_pool_matrix"]
                try:
                    s = measure(functions, args.repeats, args.min_time)
                except Exception as exc:
                    rows.append(error_row(4, case, "torch", exc))
                    continue
                if have_torch:
                    rows.append(timed(4, case, s, "convmat", "torch", "torch", 2.0, f"pool of {shape}"))
                else:
                    rows.append(timed(4, case, s, "convmat", None, "torch", None, "torch not installed"))
                if op == "max_pool":
                    case_s = f"{name} max_pool_matrix {dtype}"
                    rows.append(timed(4, case_s, s, "S", "convmat", "convmat max_pool", 3.0, "S vs the forward pool"))
                progress(rows[-2:])
    return rows


def memory_rows(args) -> list[Row]:
    """Target 5: traced peak of the im2col route on a batch of 256 of layer C, against the bound."""
    rows: list[Row] = []
    if cases.workspace_api() is None:
        return [Row(5, "C forward N=256 float32", "bound", unit="MiB", note="workspace limit: not available")]
    limits = [None, 32 * cases.MIB, 4 * cases.MIB]
    plan = [("forward", limit) for limit in limits] + [("input_grad", None), ("weight_grad", None)]
    for op, limit in plan:
        try:
            m = cases.memory_case(op, limit)
        except Exception as exc:
            rows.append(error_row(5, f"C {op} N=256", "bound", exc))
            continue
        mib = {k: v / cases.MIB for k, v in m.items() if isinstance(v, int) and not isinstance(v, bool)}
        label = "default" if limit is None else f"{mib['limit']:.0f} MiB"
        note = (
            f"limit {mib['limit']:.0f} MiB: operands {mib['inputs']:.0f} + result {mib['output']:.0f} "
            f"+ workspace used {mib['workspace_used']:.1f} MiB"
        )
        row = Row(
            5,
            f"C {op} N=256 float32, limit {label}",
            "allowed",
            mib["peak"],
            mib["allowed"],
            unit="MiB",
            bound=1.0 if op == "forward" else None,
            note=note if op == "forward" else note + " (information)",
        )
        rows.append(row.finish())
        progress(rows[-1:])
    return rows


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= scale or suffix == "us":
            return f"{value / scale:.3g} {suffix}"
    return str(value)


def fmt_bound(row: Row) -> str:
    if row.bound is None:
        return "-"
    if row.target == 2:
        return "<= 0.33"
    return f"<= {row.bound:g}"


def fmt_met(row: Row) -> str:
    if row.note.startswith(("error", "torch not installed", "workspace limit")):
        return "n/a"
    return "-" if row.met is None else ("yes" if row.met else "NO")


def progress(rows: list[Row]) -> None:
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"  [{row.target}] {row.case:<36} ratio {ratio:>6}  {row.note}", file=sys.stderr, flush=True)


HEADER = ("case", "convmat", "reference", "", "ratio", "target", "met", "min ratio", "others", "note")


def cells(r: Row) -> tuple[str, ...]:
    ratio = "-" if r.ratio is None else f"{r.ratio:.2f}"
    reference = fmt_value(r.reference, r.unit)
    others = "-" if r.load is None else f"{r.load:.2f}"
    ratio_min = "-" if r.ratio_min is None or r.unit != "s" else f"{r.ratio_min:.2f}"
    return (
        r.case,
        fmt_value(r.convmat, r.unit),
        reference,
        r.reference_name,
        ratio,
        fmt_bound(r),
        fmt_met(r),
        ratio_min,
        others,
        r.note,
    )


def table(rows: list[Row]) -> str:
    lines = []
    for target in sorted({r.target for r in rows}):
        lines.append(f"\nTarget {target}: {TARGET_TITLES[target]}")
        body = [HEADER] + [cells(r) for r in rows if r.target == target]
        widths = [max(len(line[i]) for line in body) for i in range(len(HEADER))]
        for i, line in enumerate(body):
            pairs = enumerate(zip(line, widths, strict=True))
            lines.append(
                ("  " + "  ".join(c.ljust(w) if j in (0, 3, 9) else c.rjust(w) for j, (c, w) in pairs)).rstrip()
            )
            if i == 0:
                lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown(rows: list[Row], machine: dict, verdicts: list[dict]) -> str:
    """The machine, the summary and one table per target, as MyST/GitHub Markdown."""
    out = ["| | |", "|---|---|"]
    for key in MACHINE_KEYS:
        if key in machine:
            out.append(f"| {key.replace('_', ' ')} | {machine[key]} |")
    out += ["", "| target | verdict | |", "|---|---|---|"]
    for v in verdicts:
        out.append(f"| {v['target']} | {'met' if v['met'] else '**not met**'} | {v['what']} |")
    out += ["", load_summary(rows) + "."]
    for target in sorted({r.target for r in rows}):
        out += ["", f"**Target {target}**: {TARGET_TITLES[target]}", ""]
        out.append("| case | convmat | reference | | ratio | target | met | min ratio | others | note |")
        out.append("|---|--:|--:|---|--:|--:|:-:|--:|--:|---|")
        for r in rows:
            if r.target == target:
                c = list(cells(r))
                c[6] = "**NO**" if c[6] == "NO" else c[6]
                out.append("| " + " | ".join(x.replace("|", "\\|") for x in c) + " |")
    return "\n".join(out) + "\n"


def emit(rows: list[Row], machine: dict, args) -> list[dict]:
    """Print the table and the summary; write the optional Markdown and plot."""
    print(table(rows))
    verdicts = summary(rows)
    print("\nSummary")
    for v in verdicts:
        print(f"  target {v['target']}: {'MET    ' if v['met'] else 'NOT MET'}  {v['what']}")
    print(f"  {load_summary(rows)}")
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows, machine, verdicts), encoding="utf-8")
        print(f"  wrote {args.markdown}")
    if args.plot:
        plot(rows, args.plot, machine)
        print(f"  wrote {args.plot}")
    return verdicts


def load_summary(rows: list[Row]) -> str:
    loads = [(r.load, r.case) for r in rows if r.load is not None]
    if not loads:
        return "other processes' load: not measured"
    worst, case = max(loads)
    typical = statistics.median(v for v, _ in loads)
    busy = sum(1 for v, _ in loads if v >= BUSY)
    redone = sum(r.redone for r in rows if r.target != 2)  # target 2 rows share target 1's samples
    return (
        f"other processes used at most {typical:.2f} cores during a sample (median over cases), at most "
        f"{worst:.2f} ({case}); {busy}/{len(loads)} cases kept a sample with >= {BUSY} core busy elsewhere; "
        f"{redone} samples taken again because of other processes"
    )


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


def summary(rows: list[Row]) -> list[dict]:
    """One verdict per target (per dtype for target 1)."""
    out = []
    for dtype in cases.DTYPES:
        ratios = [r.ratio for r in rows if r.target == 1 and r.case.endswith(dtype) and r.ratio is not None]
        if ratios:
            g, worst = geomean(ratios), max(ratios)
            mins = [r.ratio_min for r in rows if r.target == 1 and r.case.endswith(dtype) and r.ratio_min]
            what = (
                f"{dtype}: geometric mean {g:.2f} (<= {GEOMEAN_BOUND}), worst {worst:.2f} (<= {CASE_BOUND_1}), "
                f"{len(ratios)} cases"
            )
            if mins:
                what += f"; by the fastest samples: geometric mean {geomean(mins):.2f}, worst {max(mins):.2f}"
            met = g <= GEOMEAN_BOUND and worst <= CASE_BOUND_1
            out.append({"target": 1, "what": what, "geomean": g, "worst": worst, "met": met})
    for target in (2, 3, 4, 5):
        judged = [r for r in rows if r.target == target and r.met is not None]
        if not judged:
            continue
        failed = [r.case for r in judged if not r.met]
        extra = ""
        if target == 2:
            speedups = [1 / r.ratio for r in judged]
            columns = [
                median(r.samples["textbook-columns"]) / median(r.samples["convmat"])
                for r in judged
                if "textbook-columns" in r.samples
            ]
            extra = f"; speed-up geometric mean {geomean(speedups):.1f}x, smallest {min(speedups):.1f}x"
            if columns:
                extra += f" (over the column-layout textbook: geometric mean {geomean(columns):.1f}x)"
        what = f"{len(judged) - len(failed)}/{len(judged)} cases met{extra}"
        if failed:
            what += "; not met: " + ", ".join(failed)
        out.append({"target": target, "what": what, "met": not failed})
    return out


def git_commit() -> str:
    """Short commit of the checkout, flagged when convmat/ has uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", "convmat"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + (" + uncommitted changes in convmat/" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def sgemm_probe() -> str:
    """GFLOP/s of numpy's float32 2048^3 matmul on 1 and 2 threads: how busy the machine is right now."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    parts = []
    for threads in (1, 2):
        with threadpool_limits(threads):
            a @ a
            best = min(_timed(lambda: a @ a) for _ in range(3))
        parts.append(f"{2 * 2048**3 / best / 1e9:.0f} GFLOP/s on {threads} thread{'s' * (threads > 1)}")
    return ", ".join(parts)


def _timed(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def plot(rows: list[Row], path: str, machine: dict) -> None:
    """Save :func:`figure` as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = figure(rows, machine)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def load(path: str | Path) -> tuple[list[Row], dict]:
    """The rows and the machine of a saved ``--json`` run."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Row(**r) for r in payload["rows"]], payload["machine"]


def figure(rows: list[Row], machine: dict):
    """Horizontal bars of every ratio, one panel per target, a black tick at each case's target."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    panels = [t for t in (1, 2, 3, 4, 5) if any(r.ratio is not None for r in rows if r.target == t)]
    counts = {t: sum(1 for r in rows if r.target == t and r.ratio is not None) for t in panels}
    left = [t for t in panels if t in (1, 2)]
    right = [t for t in panels if t not in (1, 2)]
    height = max(sum(counts[t] for t in left) if left else 0, sum(counts[t] for t in right) if right else 0)
    fig = plt.figure(figsize=(13, 1.6 + 0.2 * height + 0.6 * max(len(left), len(right))))
    grid = fig.add_gridspec(1, 2, wspace=0.45)
    titles = {
        1: "1: time / PyTorch",
        2: "2: time / textbook numpy",
        3: "3: sparse route / bare scipy.sparse",
        4: "4: pooling / PyTorch; S / forward pool",
        5: "5: peak memory / allowed",
    }
    for column, group in enumerate((left, right)):
        if not group:
            continue
        sub = grid[0, column].subgridspec(len(group), 1, height_ratios=[counts[t] + 2 for t in group], hspace=0.5)
        for i, target in enumerate(group):
            ax = fig.add_subplot(sub[i, 0])
            shown = [r for r in rows if r.target == target and r.ratio is not None]
            y = np.arange(len(shown))[::-1]
            colors = ["#3a7d44" if r.met else ("#c0392b" if r.met is False else "#7f8c8d") for r in shown]
            ax.barh(y, [r.ratio for r in shown], color=colors, height=0.7)
            for yi, r in zip(y, shown, strict=True):
                if r.bound is not None:
                    ax.plot([r.bound, r.bound], [yi - 0.45, yi + 0.45], color="black", lw=1.5)
                ax.annotate(
                    f"{r.ratio:.2f}",
                    (max(r.ratio, r.ratio_min or 0.0) if r.unit == "s" else r.ratio, yi),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=6.5,
                )
            mins = [(yi, r.ratio_min) for yi, r in zip(y, shown, strict=True) if r.ratio_min and r.unit == "s"]
            if mins:
                ax.plot([m for _, m in mins], [yi for yi, _ in mins], "o", ms=2.5, color="black")
            if target == 1:
                ax.axvline(GEOMEAN_BOUND, color="black", ls="--", lw=0.8)
            ax.axvline(1.0, color="#999999", lw=0.6)
            values = [r.ratio for r in shown] + [r.bound for r in shown if r.bound is not None] + [1.0]
            low, high = min(values) / 1.3, max(values) * 1.6
            ax.set_xscale("log")
            ax.set_xlim(low, high)
            ticks = [t for t in LOG_TICKS if low <= t <= high]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_yticks(y, [r.case for r in shown], fontsize=7)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_title(titles[target] + "  (black tick: target)", fontsize=9, loc="left")
            ax.set_ylim(-0.7, len(shown) - 0.3)
    fig.suptitle(
        f"convmat, issue 5 targets: ratios of median times, commit {machine.get('commit', '?')}, "
        f"{machine.get('date', '?')}\n{machine['cpu']}, {machine['logical_cores']} cores, 2 threads, "
        f"numpy {machine['numpy']}, torch {machine['torch'].split()[0]}",
        fontsize=9,
    )
    legend = [
        Patch(color="#3a7d44", label="met"),
        Patch(color="#c0392b", label="not met"),
        Patch(color="#7f8c8d", label="information"),
        Line2D([], [], color="black", lw=1.5, label="target of the case"),
        Line2D([], [], color="black", ls="--", lw=0.8, label="target 1: geometric mean 1.5"),
        Line2D([], [], color="black", marker="o", ms=2.5, ls="none", label="ratio of the fastest samples"),
    ]
    fig.legend(handles=legend, loc="upper center", ncols=6, fontsize=7.5, frameon=False, bbox_to_anchor=(0.5, 0.965))
    return fig


# ---------------------------------------------------------------------------

MACHINE_KEYS = (
    "date",
    "commit",
    "cpu",
    "logical_cores",
    "memory_gib",
    "platform",
    "python",
    "numpy",
    "scipy",
    "torch",
    "blas",
    "convmat",
    "convmat_threads",
    "threads",
    "timing",
    "sgemm_before",
    "sgemm_after",
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats, shorter samples, sparse rows of C only")
    parser.add_argument("--repeats", type=int, help="samples per case (default 7, --quick 3)")
    parser.add_argument("--min-time", type=float, help="seconds per sample (default 0.05, --quick 0.02)")
    parser.add_argument("--targets", default="1,2,3,4,5", help="comma-separated subset of 1-5 (1 and 2 run together)")
    parser.add_argument("--configs", default=",".join(cases.CONFIGS), help="layers for targets 1-2 (default B-F)")
    parser.add_argument("--json", metavar="FILE", help="also write rows, summary and machine as JSON")
    parser.add_argument("--markdown", metavar="FILE", help="also write the machine, summary and tables as Markdown")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the ratios with their targets (matplotlib)")
    parser.add_argument("--from-json", metavar="FILE", help="measure nothing: print (and --plot) a saved --json run")
    parser.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help=f"untimed calls before each sample (default {cases.SETTLE_SECONDS}, --quick 0.1)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each case, wait up to SECONDS for other processes to use < 0.2 core (default: do not wait)",
    )
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.min_time = args.min_time if args.min_time is not None else (0.02 if args.quick else 0.05)
    args.settle = args.settle if args.settle is not None else (0.1 if args.quick else cases.SETTLE_SECONDS)
    args.targets = {int(t) for t in args.targets.split(",") if t.strip()}
    args.configs = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    args.sparse_configs = ("C",) if args.quick else cases.SPARSE_CONFIGS
    if args.repeats < 1 or not args.targets <= {1, 2, 3, 4, 5} or not set(args.configs) <= set(cases.CONFIGS):
        parser.error("bad --repeats, --targets or --configs")
    return args


def replay(args) -> int:
    rows, machine = load(args.from_json)
    print(f"convmat performance report of {machine['date']}, commit {machine['commit']} ({args.from_json})")
    emit(rows, machine, args)
    return 0


def main(argv: list[str] | None = None) -> int:
    global QUIET_WAIT, SETTLE
    args = parse_args(argv)
    QUIET_WAIT, SETTLE = args.wait_quiet, args.settle
    if args.from_json:
        return replay(args)
    started = datetime.datetime.now().astimezone()
    with cases.pinned_threads(cases.THREADS):
        machine = cases.machine_info()
        machine["commit"] = git_commit()
        machine["date"] = started.strftime("%Y-%m-%d %H:%M %Z")
        machine["threads"] = cases.THREADS
        machine["timing"] = (
            f"median of {args.repeats} interleaved samples of >= {args.min_time * 1e3:.0f} ms, "
            f"each after {args.settle:g} s of untimed calls"
        )
        machine["sgemm_before"] = sgemm_probe()
        print("convmat performance report (issue 5 targets)")
        for key in MACHINE_KEYS:
            if key in machine:
                print(f"  {key:<14} {machine[key]}", flush=True)
        rows: list[Row] = []
        if args.targets & {1, 2}:
            rows += [r for r in conv_rows(args) if r.target in args.targets]
        if 3 in args.targets:
            rows += sparse_rows(args)
        if 4 in args.targets:
            rows += pool_rows(args)
        if 5 in args.targets:
            rows += memory_rows(args)
        machine["sgemm_after"] = sgemm_probe()
    elapsed = (datetime.datetime.now().astimezone() - started).total_seconds()
    print(f"  {'sgemm_after':<14} {machine['sgemm_after']}")
    print(f"  ran in {elapsed:.0f} s")
    verdicts = emit(rows, machine, args)
    if args.json:
        payload = {
            "machine": machine,
            "args": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()},
            "summary": verdicts,
            "rows": [asdict(r) for r in rows],
            "elapsed_s": elapsed,
        }
        Path(args.json).write_text(json.dumps(payload, indent=1, default=str), encoding="utf-8")
        print(f"  wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
