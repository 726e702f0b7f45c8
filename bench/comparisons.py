"""What the report compares, part by part: each case's routes timed side by side, one :class:`Row` per ratio.

A part is one comparison over all its cases (:data:`PARTS`): the im2col route
against PyTorch and against the textbook numpy im2col (timed together), the
sparse route against scipy.sparse, max pooling against PyTorch, and the peak
memory of the im2col route against its workspace bound, and convmat's default
route on every layer (B-F and the pointwise, dilated, 3-D, 1-D, grouped,
depthwise and transposed ones) against PyTorch and against the route's own
floor. The cases and their callables are ``bench/cases.py`` (floors:
``bench/floors.py``), the timing ``bench/harness.py``; printing and saving the
rows is ``bench/report.py``.
"""

from __future__ import annotations

import statistics
import sys
import traceback
from dataclasses import dataclass, field

import cases
import floors
import harness

#: The parts of the report, in order: key -> title.
PARTS: dict[str, str] = {
    "torch": "im2col route vs PyTorch",
    "textbook": "im2col route vs the textbook numpy im2col",
    "sparse": "sparse route vs scipy.sparse",
    "pool": "max pooling vs PyTorch; the selection matrix S vs the pool",
    "memory": f"peak memory of the im2col route, layer C with N={cases.MEMORY_BATCH}",
    "layers": "default route on every layer vs PyTorch and vs its own floor",
}


@dataclass
class Row:
    """One case of one part: convmat's time (or peak memory) against a reference, and their ratio."""

    part: str
    case: str
    reference_name: str
    convmat: float | None = None
    reference: float | None = None
    unit: str = "s"
    ratio: float | None = None  # convmat / reference, medians of the samples
    ratio_min: float | None = None  # ratio of the fastest samples (a second opinion on noisy cases)
    load: float | None = None  # most cores other processes used during a kept sample of this case
    redone: int = 0  # samples taken again because other processes were busy
    note: str = ""  # an error, a missing library, or information about the row
    info: dict[str, float | str] = field(default_factory=dict)  # shown beside the ratio (GFLOP/s, MiB, route)
    samples: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.convmat is not None and self.reference and self.ratio is None:
            self.ratio = self.convmat / self.reference


def timed(part: str, case: str, s: harness.Samples, mine: str, ref: str | None, ref_name: str, **info: float) -> Row:
    """A row from interleaved samples: median times, their ratio, and the ratio of the minima."""
    keep = {k: s[k] for k in (mine, ref) if k is not None}
    row = Row(part, case, ref_name, median(s[mine]), info=info, samples=keep, load=s.load, redone=s.redone)
    if ref is not None:
        row.reference = median(s[ref])
        row.ratio = row.convmat / row.reference
        row.ratio_min = min(s[mine]) / min(s[ref])
    return row


def median(values: list[float]) -> float:
    return statistics.median(values)


def error_row(part: str, case: str, reference_name: str, exc: BaseException) -> Row:
    last = traceback.format_exception_only(type(exc), exc)[-1].strip()
    return Row(part, case, reference_name, note=f"error: {last[:80]}")


def progress(rows: list[Row]) -> None:
    """One line per finished row on stderr, so that a long run shows where it is."""
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.2f}"
        print(f"  {row.part:<8} {row.case:<32} ratio {ratio:>6}  {row.note[:40]}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# The parts
# ---------------------------------------------------------------------------


def conv_rows(timing: harness.Timing, configs: list[str]) -> list[Row]:
    """Parts "torch" and "textbook": each case timed once with convmat, PyTorch and both textbooks, interleaved."""
    rows: list[Row] = []
    have_torch = harness.torch_module() is not None
    for dtype in cases.DTYPES:
        for name in configs:
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
                    s = timing.measure(functions)
                except Exception as exc:  # report the failing route, keep going
                    rows += [error_row("torch", case, "torch", exc), error_row("textbook", case, "textbook", exc)]
                    continue
                gflop = cfg.flops / 1e9
                if have_torch:
                    gflops = {"gflops": gflop / median(s["convmat"]), "gflops_ref": gflop / median(s["torch"])}
                    rows.append(timed("torch", case, s, "convmat", "torch", "torch", **gflops))
                else:
                    row = timed("torch", case, s, "convmat", None, "torch", gflops=gflop / median(s["convmat"]))
                    row.note = "torch not installed"
                    rows.append(row)
                columns = median(s["convmat"]) / median(s["textbook-columns"])
                row = timed("textbook", case, s, "convmat", "textbook", "textbook", columns_ratio=columns)
                row.samples["textbook-columns"] = s["textbook-columns"]
                rows.append(row)
                progress(rows[-2:])
    return rows


#: (route, bare part): the sparse route's steps against scipy/numpy doing the same work with nothing around it.
SPARSE_PAIRS = (("refill", "gather"), ("forward", "W @ X"), ("input_grad", "W.T @ dY"))


def sparse_rows(timing: harness.Timing, configs: list[str]) -> list[Row]:
    """Part "sparse": pattern build (cold), refill vs bare gather, the route vs bare products (1 and 2 threads)."""
    rows: list[Row] = []
    for name in configs:
        cfg = cases.CONFIGS[name]
        case = f"{name} pattern build (cold)"
        try:
            build = {"pattern": lambda cfg=cfg: cases.build_pattern(cfg)}
            s = timing.measure(build, setup=cases.clear_pattern_caches, repeats=max(3, timing.repeats // 2))
            rows.append(timed("sparse", case, s, "pattern", None, "-", nnz=cfg.sparse_nnz))
        except Exception as exc:
            rows.append(error_row("sparse", case, "-", exc))
        progress(rows[-1:])
        for dtype in cases.DTYPES:
            try:
                ops = cases.sparse_ops(cfg, cases.make_data(name, dtype))
            except Exception as exc:
                rows.append(error_row("sparse", f"{name} sparse {dtype}", "scipy.sparse", exc))
                continue
            for mine, bare in SPARSE_PAIRS:
                case = f"{name} {mine} {dtype}"
                threaded = f"{mine} threads"
                functions = {mine: ops[mine], bare: ops[bare]} | ({threaded: ops[threaded]} if threaded in ops else {})
                try:
                    s = timing.measure(functions)
                except Exception as exc:
                    rows.append(error_row("sparse", case, bare, exc))
                    continue
                if mine == "refill":
                    rows.append(timed("sparse", case, s, mine, bare, bare, nnz=cfg.sparse_nnz))
                else:
                    gflops = 2 * cfg.sparse_nnz * cfg.n / median(s[bare]) / 1e9
                    for label, threads in ((mine, 1), (threaded, harness.THREADS)):
                        rows.append(
                            timed(
                                "sparse",
                                f"{case}, {threads} thread{'s' * (threads > 1)}",
                                s,
                                label,
                                bare,
                                bare,
                                threads=threads,
                                gflops_ref=gflops,
                            )
                        )
                progress(rows[-1:])
            del ops
        cases.clear_pattern_caches()
    return rows


def pool_rows(timing: harness.Timing) -> list[Row]:
    """Part "pool": max_pool with indices and max_pool_backward vs PyTorch; S vs the forward pool."""
    rows: list[Row] = []
    have_torch = harness.torch_module() is not None
    for dtype in cases.DTYPES:
        for name in cases.POOL_SHAPES:
            data = cases.make_pool_data(name, dtype)
            mine = cases.pool_ops_convmat(data)
            theirs = cases.pool_ops_torch(data) if have_torch else {}
            for op in ("max_pool", "max_pool_backward"):
                case = f"{name} {op} {dtype}"
                functions = {"convmat": mine[op]} | ({"torch": theirs[op]} if have_torch else {})
                if op == "max_pool":
                    functions["S"] = mine["max_pool_matrix"]
                try:
                    s = timing.measure(functions)
                except Exception as exc:
                    rows.append(error_row("pool", case, "torch", exc))
                    continue
                if have_torch:
                    rows.append(timed("pool", case, s, "convmat", "torch", "torch"))
                else:
                    rows.append(timed("pool", case, s, "convmat", None, "torch"))
                    rows[-1].note = "torch not installed"
                if op == "max_pool":
                    rows.append(timed("pool", f"{name} max_pool_matrix {dtype}", s, "S", "convmat", "max_pool"))
                progress(rows[-2:])
    return rows


def memory_rows() -> list[Row]:
    """Part "memory": traced peak of the im2col route on a batch of 256 of layer C, against its bound."""
    rows: list[Row] = []
    if cases.workspace_api() is None:
        return [Row("memory", "C forward N=256 float32", "bound", unit="MiB", note="workspace limit: not available")]
    limits = [None, 32 * cases.MIB, 4 * cases.MIB]
    plan = [("forward", limit) for limit in limits] + [("input_grad", None), ("weight_grad", None)]
    for op, limit in plan:
        case = f"C {op} N={cases.MEMORY_BATCH} float32"
        try:
            m = cases.memory_case(op, limit)
        except Exception as exc:
            rows.append(error_row("memory", case, "bound", exc))
            continue
        mib = {k: v / cases.MIB for k, v in m.items() if isinstance(v, int) and not isinstance(v, bool)}
        label = "default" if limit is None else f"{mib['limit']:.0f} MiB"
        info = {k: mib[k] for k in ("limit", "inputs", "output", "workspace_used")}
        rows.append(Row("memory", f"{case}, limit {label}", "bound", mib["peak"], mib["allowed"], "MiB", info=info))
        progress(rows[-1:])
    return rows


def layer_rows(timing: harness.Timing, names: list[str], dtypes: list[str] | None = None) -> list[Row]:
    """Part "layers": each layer's default route (``cm.conv`` etc. without ``backend=``) against PyTorch and
    against the floor of the route it took (``cases.chosen_route``), the three timed interleaved."""
    rows: list[Row] = []
    have_torch = harness.torch_module() is not None
    for dtype in dtypes or cases.DTYPES:
        for name in names:
            layer = cases.LAYERS[name]
            data = cases.make_layer_data(name, dtype)
            for op in layer.ops:
                case = f"{name} {op} {dtype}"
                notes = []
                try:
                    route = cases.chosen_route(layer, op, dtype)
                except Exception as exc:
                    route, exc_text = "?", traceback.format_exception_only(type(exc), exc)[-1].strip()
                    notes.append(f"route unknown: {exc_text[:60]}")
                try:
                    functions = {"convmat": cases.layer_op(layer, op, data)}
                    if have_torch:
                        functions["torch"] = cases.layer_torch_op(layer, op, data)
                except Exception as exc:
                    rows.append(error_row("layers", case, "torch", exc))
                    continue
                try:
                    functions["floor"] = floors.floor_op(layer, op, data, route).run
                except Exception as exc:
                    notes.append(f"no floor: {traceback.format_exception_only(type(exc), exc)[-1].strip()[:60]}")
                try:
                    s = timing.measure(functions)
                except Exception as exc:
                    rows.append(error_row("layers", case, "torch", exc))
                    continue
                finally:
                    functions.clear()  # the floor's precomputed operands
                gflop = layer.flops / 1e9
                row = timed(
                    "layers",
                    case,
                    s,
                    "convmat",
                    "torch" if have_torch else None,
                    "torch",
                    gflops=gflop / median(s["convmat"]),
                )
                row.info["route"] = route
                if "floor" in s:
                    floor = median(s["floor"])
                    row.info.update(floor=floor, floor_ratio=row.convmat / floor)
                    row.info["floor_ratio_min"] = min(s["convmat"]) / min(s["floor"])
                    row.samples["floor"] = s["floor"]
                if not have_torch:
                    notes.insert(0, "torch not installed")
                row.note = "; ".join(notes)
                rows.append(row)
                progress(rows[-1:])
    return rows
