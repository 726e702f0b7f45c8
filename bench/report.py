"""Time convmat's routes beside PyTorch, the textbook numpy im2col and scipy.sparse; print the ratios.

Usage, from the repository root (measures this checkout's convmat):

    python bench/report.py                       # every part: about 30 minutes on 2 cores (20 of them: layers)
    python bench/report.py --quick               # 3 samples per case, sparse part on C only, layers in float32
    python bench/report.py --parts torch,pool    # some parts (torch and textbook run together)
    python bench/report.py --parts layers --layers new   # the default route on the layers beside B-F
    python bench/report.py --json run.json --plot run.png --markdown run.md
    python bench/report.py --from-json docs/performance.json   # print a saved run

The output starts with the layers, then the machine, then one table per part
(every line within 100 columns, a legend above each table) and a summary.

Every case times convmat and its references in one process, interleaved round
by round (the order rotating), each sample preceded by ``--settle`` seconds of
untimed calls of the same function so that no library pays for the other's
still-spinning thread pool. A sample runs the function often enough to last
``--min-time``; a case's time is the median of ``--repeats`` samples after a
warm-up ("ratio"; "fastest" is the ratio of the fastest samples, a second
opinion). BLAS, OpenMP, PyTorch and convmat are pinned to 2 threads. The
"others" column is the most CPU (in cores) that other processes used during one
of a case's samples: on 2 cores anything above ~0.2 skews 2-thread timings
(``--wait-quiet`` waits for a quiet moment before each case, and takes a sample
again when others got busy during it). Rows whose reference needs PyTorch say
"torch not installed" when it is missing; a route that raises is reported, not
fatal.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import statistics
import sys
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]  # this checkout's convmat, and the modules beside this file

import cases  # noqa: E402
import floors  # noqa: E402
import harness  # noqa: E402
from comparisons import PARTS, Row, conv_rows, layer_rows, memory_rows, pool_rows, sparse_rows  # noqa: E402

#: Every printed line fits in this many columns.
WIDTH = 100
#: Part numbers accepted by ``--parts`` beside the names.
PART_NUMBERS = dict(enumerate(PARTS, start=1))

# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: str
    cell: Callable[[Row], str]
    left: bool = False  # text columns are left-aligned, numbers right-aligned


def text_table(columns: list[Column], rows: list, keys: int = 1, width: int = WIDTH) -> list[str]:
    """Aligned plain-text lines, two spaces between columns; wider than ``width``: split into several tables,
    each repeating the first ``keys`` columns."""
    body = [[c.header for c in columns]] + [[c.cell(r) for c in columns] for r in rows]
    widths = [max(len(line[i]) for line in body) for i in range(len(columns))]
    chunks, current = [], list(range(keys))
    for i in range(keys, len(columns)):
        if current[keys:] and 2 + sum(widths[j] + 2 for j in [*current, i]) - 2 > width:
            chunks.append(current)
            current = list(range(keys))
        current.append(i)
    chunks.append(current)
    lines: list[str] = []
    for n, chunk in enumerate(chunks):
        if n:
            lines.append("")
        for k, line in enumerate(body):
            cells = [line[j].ljust(widths[j]) if columns[j].left else line[j].rjust(widths[j]) for j in chunk]
            lines.append(("  " + "  ".join(cells)).rstrip())
            if k == 0:
                lines.append("  " + "  ".join("-" * widths[j] for j in chunk))
    return lines


def markdown_table(columns: list[Column], rows: list) -> list[str]:
    out = ["| " + " | ".join(c.header for c in columns) + " |"]
    out.append("|" + "|".join("---" if c.left else "--:" for c in columns) + "|")
    for r in rows:
        out.append("| " + " | ".join(c.cell(r).replace("|", "\\|") for c in columns) + " |")
    return out


def wrap(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def fmt_time(value: float | None) -> str:
    if value is None:
        return "-"
    for scale, suffix in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if value >= scale or suffix == "us":
            return f"{value / scale:.3g} {suffix}"
    return str(value)


def fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def ratio_cell(r: Row) -> str:
    return r.note if r.ratio is None and r.note else fmt(r.ratio)


def fastest_cell(r: Row) -> str:
    return fmt(r.ratio_min) if r.unit == "s" else "-"


CASE = Column("case", lambda r: r.case, left=True)
OTHERS = Column("others", lambda r: fmt(r.load))
FASTEST = Column("fastest", fastest_cell)
RATIO = Column("ratio", ratio_cell)

#: Per part: the legend and the columns of its table.
TABLES: dict[str, tuple[str, list[Column]]] = {
    "torch": (
        "F.conv2d, torch.nn.grad.conv2d_input / conv2d_weight on the same arrays; GF/s = GFLOP/s of convmat (cm) "
        "and PyTorch (pt).",
        [
            CASE,
            Column("convmat", lambda r: fmt_time(r.convmat)),
            Column("torch", lambda r: fmt_time(r.reference)),
            RATIO,
            FASTEST,
            Column("cm GF/s", lambda r: fmt(r.info.get("gflops"), ".0f")),
            Column("pt GF/s", lambda r: fmt(r.info.get("gflops_ref"), ".0f")),
            OTHERS,
        ],
    ),
    "textbook": (
        "textbook = bench/textbook.py, the im2col of the course books (one row per window); speed-up = "
        "1 / ratio; vs cols = convmat's time / the column-layout textbook's (no transposing copy).",
        [
            CASE,
            Column("convmat", lambda r: fmt_time(r.convmat)),
            Column("textbook", lambda r: fmt_time(r.reference)),
            RATIO,
            Column("speed-up", lambda r: "-" if not r.ratio else f"{1 / r.ratio:.1f}x"),
            FASTEST,
            Column("vs cols", lambda r: fmt(r.info.get("columns_ratio"))),
            OTHERS,
        ],
    ),
    "sparse": (
        'Route rows: conv / conv_input_grad with backend="sparse", W refilled from the cached index pattern on '
        "every call, on 1 thread or on convmat's 2; bare = scipy.sparse's own W @ X / W.T @ dY on a prebuilt W "
        "(one thread), bare GF/s its rate. Refill rows: conv_matrix for a new kernel against the bare np.take "
        "of W's nonzeros. Pattern build: the first W of a layer, its index pattern built from scratch.",
        [
            CASE,
            Column("convmat", lambda r: fmt_time(r.convmat)),
            Column("bare", lambda r: fmt_time(r.reference)),
            RATIO,
            FASTEST,
            Column("bare GF/s", lambda r: fmt(r.info.get("gflops_ref"), ".1f")),
            OTHERS,
        ],
    ),
    "pool": (
        "2x2 stride-2 max pooling with indices of B's and C's outputs, and its backward, against PyTorch "
        "(F.max_pool2d, aten's max_pool2d_with_indices_backward); max_pool_matrix (S) against convmat's own "
        "max_pool (vs = the reference).",
        [
            CASE,
            Column("convmat", lambda r: fmt_time(r.convmat)),
            Column("reference", lambda r: fmt_time(r.reference)),
            Column("vs", lambda r: r.reference_name, left=True),
            RATIO,
            FASTEST,
            OTHERS,
        ],
    ),
    "memory": (
        "MiB traced by tracemalloc during one call, plus its operands; bound = operands + result + 1.1 x the "
        "workspace limit (convmat.workspace_limit); workspace = what the call used beyond its result.",
        [
            Column("case", lambda r: r.case.split(",")[0], left=True),
            Column("limit", lambda r: fmt(r.info.get("limit"), ".0f")),
            Column("operands", lambda r: fmt(r.info.get("inputs"), ".0f")),
            Column("result", lambda r: fmt(r.info.get("output"), ".0f")),
            Column("workspace", lambda r: fmt(r.info.get("workspace_used"), ".1f")),
            Column("peak", lambda r: fmt(r.convmat, ".1f")),
            Column("bound", lambda r: fmt(r.reference, ".1f")),
            Column("peak/bound", ratio_cell),
        ],
    ),
    "layers": (
        'convmat = its default route (no backend=; under "auto" convmat picks a route per call), route = the '
        "one taken (cm.choose_backend); torch = F.conv1d/2d/3d (groups, dilation), torch.nn.grad.conv1d/2d/"
        "3d_input / _weight, F.conv_transpose2d (UP); /torch = convmat / torch, fastest = the same of the "
        "fastest samples. floor = the route's core arithmetic on precomputed operands, without what convmat "
        f"does around it (bench/floors.py): im2col: {floors.DESCRIPTION['im2col']} (input gradient as the route "
        "runs it: with stride 1, those of the convolution of dY with the flipped kernel, else the patch-space "
        "product W^T dY without the fold; depthwise: the same products, one row of taps per channel), on "
        f"{harness.THREADS} threads as the route's; fft: {floors.DESCRIPTION['fft']}, transforms on "
        f"{harness.THREADS} workers; /floor = convmat / floor.",
        [
            CASE,
            Column("route", lambda r: str(r.info.get("route", "-")), left=True),
            Column("convmat", lambda r: fmt_time(r.convmat)),
            Column("torch", lambda r: fmt_time(r.reference)),
            Column("/torch", ratio_cell),
            FASTEST,
            Column("floor", lambda r: fmt_time(r.info.get("floor"))),
            Column("/floor", lambda r: fmt(r.info.get("floor_ratio"))),
            OTHERS,
        ],
    ),
}

#: Above the first table: the columns every table shares.
LEGEND = (
    "In every table: ratio = convmat's time / the reference's (medians of interleaved samples; below 1 "
    "convmat is faster); fastest = the same ratio of the fastest samples; others = the most CPU (in cores) "
    "other processes used during one of the case's samples. us = microseconds."
)

# The sparse route beside the other routes of the same layer (times of one run, not interleaved with each other).
ACROSS_LEGEND = (
    "The sparse route on convmat's 2 threads beside the im2col route, PyTorch and the textbook on the same "
    "layer and operation; times from the tables above (one run, not interleaved with each other); the last "
    "three columns are the sparse route's time over theirs."
)


@dataclass(frozen=True)
class Across:
    case: str
    sparse: float
    im2col: float | None
    torch: float | None
    textbook: float | None


def across_rows(rows: list[Row]) -> list[Across]:
    by_case = {(r.part, r.case): r for r in rows}
    out = []
    for r in rows:
        if r.part == "sparse" and r.info.get("threads", 0) > 1 and r.convmat is not None:
            case = r.case.split(",")[0]
            torch, book = by_case.get(("torch", case)), by_case.get(("textbook", case))
            im2col = torch.convmat if torch else (book.convmat if book else None)
            out.append(Across(case, r.convmat, im2col, torch and torch.reference, book and book.reference))
    return out


def _over(a: Across, other: float | None) -> str:
    return fmt(a.sparse / other) if other else "-"


ACROSS_COLUMNS = [
    Column("case", lambda a: a.case, left=True),
    Column("sparse", lambda a: fmt_time(a.sparse)),
    Column("im2col", lambda a: fmt_time(a.im2col)),
    Column("torch", lambda a: fmt_time(a.torch)),
    Column("textbook", lambda a: fmt_time(a.textbook)),
    Column("/im2col", lambda a: _over(a, a.im2col)),
    Column("/torch", lambda a: _over(a, a.torch)),
    Column("/textbook", lambda a: _over(a, a.textbook)),
]

# ---------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------

LAYER_COLUMNS = [
    Column("layer", lambda c: c.name, left=True),
    Column("N", lambda c: str(c.n)),
    Column("C_in", lambda c: str(c.c_in)),
    Column("HxW", lambda c: f"{c.h}x{c.w}"),
    Column("C_out", lambda c: str(c.c_out)),
    Column("k/s/p", lambda c: f"{c.k}/{c.stride}/{c.pad}"),
    Column("GFLOP", lambda c: f"{c.flops / 1e9:.2f}"),
    Column("nnz(W)", lambda c: f"{c.sparse_nnz / 1e6:.1f} M"),
    Column("resembles", lambda c: c.resembles, left=True),
]
LAYER_LEGEND = (
    "k/s/p = kernel size / stride / zero padding; GFLOP = 2 x multiply-adds of one forward (each gradient "
    "costs the same); nnz(W) = stored entries of the layer's convolution matrix W (the sparse route)."
)


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


NEW_LAYER_COLUMNS = [
    Column("layer", lambda c: c.name, left=True),
    Column("x", lambda c: _dims(c.x_shape), left=True),
    Column("weight", lambda c: _dims(c.w_shape), left=True),
    Column("s/p/d/g", lambda c: f"{c.stride}/{c.padding}/{c.dilation}/{c.groups}"),
    Column("GFLOP", lambda c: f"{c.flops / 1e9:.2f}"),
    Column("nnz(W)", lambda c: f"{c.sparse_nnz / 1e6:.1f} M"),
    Column("resembles", lambda c: c.resembles, left=True),
]
NEW_LAYER_LEGEND = (
    'Beside B-F (part "layers"): s/p/d/g = stride / zero padding / dilation / groups; UP is a transposed '
    "convolution (conv_transpose, F.conv_transpose2d; weight C_in x C_out x k x k), timed forward only, its "
    "GFLOP and nnz(W) those of the convolution W it is the transpose of."
)


def layer_notes() -> list[str]:
    pool = ", ".join(f"{k} {'x'.join(map(str, s))}" for k, s in cases.POOL_SHAPES.items())
    return [
        f"Pooling: 2x2 stride-2 max pooling of the outputs of {pool}.",
        f"Memory: layer C with N={cases.MEMORY_BATCH} (64 MiB of float32 input).",
        f"Sparse route: layers {', '.join(cases.SPARSE_CONFIGS)}.",
    ]


def layers_text() -> list[str]:
    lines = ["Layers", *wrap(LAYER_LEGEND), ""]
    lines += text_table(LAYER_COLUMNS, list(cases.CONFIGS.values()))
    lines += ["", *wrap(NEW_LAYER_LEGEND), ""]
    lines += text_table(NEW_LAYER_COLUMNS, list(cases.NEW_LAYERS.values()))
    lines.append("")
    for note in layer_notes():
        lines += wrap(note)
    return lines


# ---------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------


def geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values)) if values else float("nan")


def span(values: list[float], spec: str = ".2f") -> str:
    """``low-high`` of ``values`` (one number when they agree at this precision)."""
    if not values:
        return "-"
    low, high = format(min(values), spec), format(max(values), spec)
    return low if low == high else f"{low}-{high}"


def summary(rows: list[Row]) -> list[dict]:
    """One entry per part (per dtype for "torch"): a sentence and its numbers."""
    out = []

    def ratios(part: str, keep: Callable[[Row], bool] = lambda r: True) -> list[float]:
        return [r.ratio for r in rows if r.part == part and r.ratio is not None and keep(r)]

    for dtype in cases.DTYPES:
        values = ratios("torch", lambda r, d=dtype: r.case.endswith(d))
        if values:
            mins = [r.ratio_min for r in rows if r.part == "torch" and r.case.endswith(dtype) and r.ratio_min]
            g = geomean(values)
            text = f"{dtype}: geometric mean {g:.2f}, {span(values)} over {len(values)} cases"
            if mins:
                text += f" (fastest samples: geometric mean {geomean(mins):.2f})"
            out.append({"part": "torch", "dtype": dtype, "text": text, "geomean": g, "low": min(values)})
            out[-1]["high"] = max(values)
    values = ratios("textbook")
    if values:
        speed = [1 / v for v in values]
        cols = [1 / r.info["columns_ratio"] for r in rows if r.part == "textbook" and r.info.get("columns_ratio")]
        text = f"convmat {span(speed, '.1f')}x faster, geometric mean {geomean(speed):.1f}x"
        if cols:
            text += f"; than the column-layout textbook: geometric mean {geomean(cols):.1f}x"
        out.append({"part": "textbook", "text": text, "geomean_speedup": geomean(speed)})
    sparse = [r for r in rows if r.part == "sparse"]
    if sparse:
        builds = [r.convmat for r in sparse if "pattern" in r.case and r.convmat is not None]
        refills = ratios("sparse", lambda r: "refill" in r.case)
        one = ratios("sparse", lambda r: r.info.get("threads") == 1)
        two = ratios("sparse", lambda r: r.info.get("threads", 0) > 1)
        parts = []
        if builds:
            parts.append(f"pattern builds {span([b * 1e3 for b in builds], '.0f')} ms")
        if refills:
            parts.append(f"refill {span(refills)}x the bare gather")
        if one:
            parts.append(f"route on 1 thread {span(one)}x the bare product")
        if two:
            parts.append(f"on {harness.THREADS} threads {span(two)}x")
        out.append({"part": "sparse", "text": "; ".join(parts)})
    pool = {op: ratios("pool", lambda r, op=op: f" {op} " in r.case) for op in ("max_pool", "max_pool_backward")}
    s_ratios = ratios("pool", lambda r: "max_pool_matrix" in r.case)
    if any(pool.values()) or s_ratios:
        text = "; ".join(
            [f"{op} {span(v)}x PyTorch" for op, v in pool.items() if v]
            + ([f"S {span(s_ratios)}x the pool"] if s_ratios else [])
        )
        out.append({"part": "pool", "text": text})
    values = ratios("memory")
    if values:
        out.append({"part": "memory", "text": f"peak {span(values)} of its bound over {len(values)} cases"})
    for dtype in cases.DTYPES:
        entry = layers_summary([r for r in rows if r.part == "layers" and r.case.endswith(dtype)], dtype)
        if entry:
            out.append(entry)
    return out


def layers_summary(rows: list[Row], dtype: str) -> dict | None:
    """Part "layers" in one dtype: convmat / PyTorch over the dense layers, the grouped and small depthwise ones,
    DW31's forward and the whole table; convmat / its floor over the whole table."""
    timed_rows = [r for r in rows if r.ratio is not None]
    floors_ = [(r.info["floor_ratio"], r.case) for r in rows if isinstance(r.info.get("floor_ratio"), float)]
    if not timed_rows and not floors_:
        return None

    def layer(r: Row) -> str:
        return r.case.split()[0]

    parts, numbers = [], {}
    dense = [r.ratio for r in timed_rows if layer(r) in cases.DENSE_LAYERS]
    if dense:
        numbers["geomean_dense"] = geomean(dense)
        parts.append(f"dense layers geometric mean {geomean(dense):.2f} ({len(dense)} cases)")
    grouped = [(r.ratio, r.case) for r in timed_rows if layer(r) in cases.GROUPED_LAYERS]
    if grouped:
        worst, case = max(grouped)
        numbers["max_grouped"] = worst
        parts.append(f"{', '.join(cases.GROUPED_LAYERS)} at most {worst:.2f} ({case.rsplit(' ', 1)[0]})")
    dw31 = [r.ratio for r in timed_rows if r.case == f"DW31 forward {dtype}"]
    if dw31:
        numbers["dw31_forward_speedup"] = 1 / dw31[0]
        parts.append(f"DW31 forward speed-up over PyTorch {1 / dw31[0]:.2f}x")
    if timed_rows:
        whole = [r.ratio for r in timed_rows]
        numbers["geomean"] = geomean(whole)
        parts.append(f"whole table geometric mean {geomean(whole):.2f} ({len(whole)} cases)")
    text = f"{dtype}: vs PyTorch: " + "; ".join(parts) if parts else f"{dtype}: PyTorch not timed"
    if floors_:
        values = [v for v, _ in floors_]
        worst, case = max(floors_)
        numbers["geomean_floor"] = geomean(values)
        text += (
            f". vs its floor: geometric mean {geomean(values):.2f}, {span(values)} "
            f"(at most in {case.rsplit(' ', 1)[0]})"
        )
    return {"part": "layers", "dtype": dtype, "text": text, **numbers}


def load_summary(rows: list[Row]) -> str:
    loads = [(r.load, r.case) for r in rows if r.load is not None]
    if not loads:
        return "Other processes' load: not measured."
    worst, case = max(loads)
    typical = statistics.median(v for v, _ in loads)
    busy = sum(1 for v, _ in loads if v >= harness.BUSY)
    redone = sum(r.redone for r in rows if r.part != "textbook")  # textbook rows share the torch rows' samples
    return (
        f"Other processes used {typical:.2f} cores during a case's busiest sample (median over cases), at most "
        f"{worst:.2f} ({case}); {busy}/{len(loads)} cases had a sample with >= {harness.BUSY} core busy "
        f"elsewhere; {redone} samples were taken again because of other processes."
    )


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------

MACHINE_KEYS = (
    "date",
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


def machine_text(machine: dict) -> list[str]:
    lines = ["Machine"]
    for key in MACHINE_KEYS:
        if key in machine:
            lines += textwrap.wrap(f"{key:<16} {machine[key]}", WIDTH, initial_indent="  ", subsequent_indent=" " * 19)
    return lines


def part_text(part: str, rows: list[Row]) -> list[str]:
    legend, columns = TABLES[part]
    lines = ["", f"{PARTS[part]}", *wrap(legend), ""]
    lines += text_table(columns, [r for r in rows if r.part == part])
    if part == "sparse":
        across = across_rows(rows)
        if across:
            lines += ["", *wrap(ACROSS_LEGEND), ""]
            lines += text_table(ACROSS_COLUMNS, across)
    if part == "layers":
        notes = [f"{r.case}: {r.note}" for r in rows if r.part == part and r.note and r.ratio is not None]
        if notes:
            lines += ["", *wrap("Notes: " + "; ".join(notes))]
    return lines


def header_text(machine: dict) -> str:
    """The top of the report: the layers, then the machine."""
    return "\n".join(["convmat performance report", "", *layers_text(), "", *machine_text(machine)])


def tables_text(rows: list[Row]) -> str:
    """One table per part, then the summary."""
    lines = ["", *wrap(LEGEND, indent="")]
    for part in PARTS:
        if any(r.part == part for r in rows):
            lines += part_text(part, rows)
    lines += ["", "Summary"]
    for entry in summary(rows):
        lines += wrap(f"{PARTS[entry['part']]}: {entry['text']}")
    lines += wrap(load_summary(rows))
    return "\n".join(lines)


def markdown(rows: list[Row], machine: dict) -> str:
    """The layers, the machine, the summary and one table per part, as MyST/GitHub Markdown."""
    out = [LAYER_LEGEND, "", *markdown_table(LAYER_COLUMNS, list(cases.CONFIGS.values())), ""]
    out += [NEW_LAYER_LEGEND, "", *markdown_table(NEW_LAYER_COLUMNS, list(cases.NEW_LAYERS.values())), ""]
    out += [" ".join(layer_notes()), "", "| | |", "|---|---|"]
    for key in MACHINE_KEYS:
        if key in machine:
            out.append(f"| {key.replace('_', ' ')} | {machine[key]} |")
    out += ["", "| part | summary |", "|---|---|"]
    for entry in summary(rows):
        out.append(f"| {PARTS[entry['part']]} | {entry['text']} |")
    out += ["", load_summary(rows), "", LEGEND.replace(" us = microseconds.", "")]
    for part in PARTS:
        chosen = [r for r in rows if r.part == part]
        if not chosen:
            continue
        legend, columns = TABLES[part]
        out += ["", f"**{PARTS[part]}**: {legend}", "", *markdown_table(columns, chosen)]
        if part == "sparse" and across_rows(rows):
            out += ["", ACROSS_LEGEND, "", *markdown_table(ACROSS_COLUMNS, across_rows(rows))]
    return "\n".join(out).replace(" us |", " µs |") + "\n"


def save(path: str | Path, rows: list[Row], machine: dict, parameters: dict, elapsed: float | None) -> None:
    """The run as JSON: machine, measurement parameters, summary, rows (with their samples). No paths."""
    payload = {
        "machine": machine,
        "parameters": parameters,
        "summary": summary(rows),
        "rows": [asdict(r) for r in rows],
        "elapsed_s": elapsed,
    }
    Path(path).write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")


def load(path: str | Path) -> tuple[list[Row], dict]:
    """The rows and the machine of a saved ``--json`` run."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    return [Row(**r) for r in payload["rows"]], payload["machine"]


def load_run(path: str | Path) -> dict:
    """The whole saved run (``machine``, ``parameters``, ``summary``, ``rows``, ``elapsed_s``)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def parse_parts(text: str, parser: argparse.ArgumentParser) -> list[str]:
    chosen = set()
    for item in (t.strip().lower() for t in text.split(",")):
        if not item:
            continue
        name = PART_NUMBERS.get(int(item)) if item.isdigit() else item
        if name not in PARTS:
            parser.error(f"unknown part {item!r}: choose from {', '.join(PARTS)} (or 1-{len(PARTS)})")
        chosen.add(name)
    return [p for p in PARTS if p in chosen]


def parse_layers(text: str, parser: argparse.ArgumentParser) -> list[str]:
    """``--layers``: names (any case), ``new`` (the layers beside B-F) or ``all``, in the order of ``cases.LAYERS``."""
    known = {name.upper(): name for name in cases.LAYERS}
    chosen: set[str] = set()
    for item in (t.strip().upper() for t in text.split(",")):
        if item == "ALL":
            chosen |= set(cases.LAYERS)
        elif item == "NEW":
            chosen |= set(cases.NEW_LAYERS)
        elif item in known:
            chosen.add(known[item])
        elif item:
            parser.error(f"unknown layer {item!r}: choose from {', '.join(cases.LAYERS)}, new or all")
    return [name for name in cases.LAYERS if name in chosen]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python bench/report.py",
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:3]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 samples of >= 20 ms per case, sparse part on C only, layers part in float32 only",
    )
    parser.add_argument("--repeats", type=int, help="samples per case (default 7, --quick 3)")
    parser.add_argument("--min-time", type=float, help="seconds per sample (default 0.05, --quick 0.02)")
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated subset of {','.join(PARTS)} (or their numbers 1-{len(PARTS)}); default: all",
    )
    parser.add_argument("--targets", dest="parts", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # = --parts
    parser.add_argument(
        "--configs", default=",".join(cases.CONFIGS), help="layers of the torch and textbook parts (default: all)"
    )
    parser.add_argument(
        "--layers",
        default="all",
        help="layers of the layers part: names, 'new' (all but B-F) or 'all' (default)",
    )
    parser.add_argument(
        "--dtypes", help=f"dtypes of the layers part (default {','.join(cases.DTYPES)}; --quick: float32)"
    )
    parser.add_argument(
        "--json", metavar="FILE", help="also write the run as JSON (with --from-json: rewrite the saved run)"
    )
    parser.add_argument("--markdown", metavar="FILE", help="also write the layers, machine and tables as Markdown")
    parser.add_argument("--plot", metavar="FILE.png", help="bar chart of the ratios (needs matplotlib)")
    parser.add_argument("--from-json", metavar="FILE", help="measure nothing: print (and --plot) a saved --json run")
    parser.add_argument(
        "--settle",
        type=float,
        metavar="SECONDS",
        help=f"untimed calls before each sample (default {harness.SETTLE_SECONDS}, --quick 0.1)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"before each case, wait up to SECONDS for other processes to use < {harness.BUSY} core (default 0)",
    )
    args = parser.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.min_time = args.min_time if args.min_time is not None else (0.02 if args.quick else 0.05)
    args.settle = args.settle if args.settle is not None else (0.1 if args.quick else harness.SETTLE_SECONDS)
    args.parts = parse_parts(args.parts, parser)
    args.configs = [c.strip().upper() for c in args.configs.split(",") if c.strip()]
    args.sparse_configs = ["C"] if args.quick else list(cases.SPARSE_CONFIGS)
    args.layers = parse_layers(args.layers, parser)
    args.dtypes = [t.strip() for t in (args.dtypes or ("float32" if args.quick else ",".join(cases.DTYPES))).split(",")]
    if not args.dtypes or not set(args.dtypes) <= set(cases.DTYPES):
        parser.error(f"bad --dtypes (choose from {','.join(cases.DTYPES)})")
    if args.repeats < 1 or not set(args.configs) <= set(cases.CONFIGS):
        parser.error(f"bad --repeats or --configs (layers: {','.join(cases.CONFIGS)})")
    return args


def parameters(args: argparse.Namespace) -> dict:
    """What was measured and how: the options that shape a run, not where its output went."""
    keys = (
        "quick",
        "repeats",
        "min_time",
        "settle",
        "wait_quiet",
        "parts",
        "configs",
        "sparse_configs",
        "layers",
        "dtypes",
    )
    return {k: getattr(args, k) for k in keys}


def outputs(rows: list[Row], machine: dict, args: argparse.Namespace) -> None:
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows, machine), encoding="utf-8")
        print(f"  wrote {args.markdown}")
    if args.plot:
        import figure

        figure.save(rows, machine, args.plot)
        print(f"  wrote {args.plot}")


def replay(args: argparse.Namespace) -> int:
    run = load_run(args.from_json)
    rows, machine = load(args.from_json)
    print(header_text(machine))
    print(tables_text(rows))
    if run.get("elapsed_s"):
        print(f"  The run took {run['elapsed_s'] / 60:.0f} minutes.")
    outputs(rows, machine, args)
    if args.json:  # rewrite the run (the same rows, the summary recomputed)
        save(args.json, rows, machine, run.get("parameters", {}), run.get("elapsed_s"))
        print(f"  wrote {args.json}")
    return 0


def measure(args: argparse.Namespace) -> tuple[list[Row], dict, float]:
    timing = harness.Timing(args.repeats, args.min_time, args.settle, args.wait_quiet)
    started = datetime.datetime.now().astimezone()
    with harness.pinned_threads(harness.THREADS):
        machine = harness.machine_info()
        machine["date"] = started.strftime("%Y-%m-%d %H:%M %Z")
        machine["threads"] = harness.THREADS
        machine["timing"] = timing.describe()
        machine["sgemm_before"] = harness.sgemm_probe()
        print(header_text(machine), flush=True)
        print(f"\n  measuring: {', '.join(args.parts)} (progress on stderr)", flush=True)
        rows: list[Row] = []
        if {"torch", "textbook"} & set(args.parts):
            rows += [r for r in conv_rows(timing, args.configs) if r.part in args.parts]
        if "sparse" in args.parts:
            rows += sparse_rows(timing, args.sparse_configs)
        if "pool" in args.parts:
            rows += pool_rows(timing)
        if "memory" in args.parts:
            rows += memory_rows()
        if "layers" in args.parts:
            rows += layer_rows(timing, args.layers, args.dtypes)
        machine["sgemm_after"] = harness.sgemm_probe()
    elapsed = (datetime.datetime.now().astimezone() - started).total_seconds()
    return rows, machine, elapsed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        return replay(args)
    rows, machine, elapsed = measure(args)
    print(tables_text(rows))
    print(f"  sgemm after the run: {machine['sgemm_after']}; ran in {elapsed:.0f} s")
    outputs(rows, machine, args)
    if args.json:
        save(args.json, rows, machine, parameters(args), elapsed)
        print(f"  wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
