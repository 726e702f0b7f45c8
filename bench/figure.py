"""The figure of a report run: every ratio as a horizontal bar on a log scale, one panel per part.

``python bench/report.py --plot run.png`` saves it after a run (or, with
``--from-json``, for a saved one); the performance page of the docs draws it
from ``docs/performance.json`` at build time::

    import report, figure
    rows, machine = report.load("docs/performance.json")
    figure.draw(rows, machine)
"""

from __future__ import annotations

import numpy as np
from comparisons import PARTS, Row

#: Panel titles: what each ratio divides.
TITLES = {
    "torch": "im2col route / PyTorch (time)",
    "textbook": "im2col route / textbook numpy (time)",
    "sparse": "sparse route / bare scipy.sparse (time)",
    "pool": "max pooling / PyTorch; S / max_pool (time)",
    "memory": "peak memory / its bound",
    "layers": "default route / PyTorch, every layer (time)",
}
LOG_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10, 20, 50, 100, 200)
LOWER, HIGHER = "#3b6ea5", "#d08a2e"  # convmat below the reference / above it


def draw(rows: list[Row], machine: dict):
    """The figure (a ``matplotlib.figure.Figure``): left column PyTorch and textbook, right column the rest."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    shown = {p: [r for r in rows if r.part == p and r.ratio is not None] for p in PARTS}
    panels = [p for p in PARTS if shown[p]]
    left = [p for p in panels if p in ("torch", "textbook")]
    right = [p for p in panels if p not in left]
    height = max(sum(len(shown[p]) for p in group) for group in (left, right) if group)
    inches = 1.6 + 0.2 * height + 0.6 * max(len(left), len(right))
    fig = plt.figure(figsize=(13, inches))
    grid = fig.add_gridspec(1, 2, wspace=0.45, top=1 - 1.3 / inches, bottom=0.4 / inches)
    for column, group in enumerate((left, right)):
        if not group:
            continue
        sub = grid[0, column].subgridspec(len(group), 1, height_ratios=[len(shown[p]) + 2 for p in group], hspace=0.5)
        for i, part in enumerate(group):
            ax = fig.add_subplot(sub[i, 0])
            these = shown[part]
            y = np.arange(len(these))[::-1]
            ax.barh(y, [r.ratio for r in these], color=[LOWER if r.ratio <= 1 else HIGHER for r in these], height=0.7)
            for yi, r in zip(y, these, strict=True):
                ax.annotate(
                    f"{r.ratio:.2f}",
                    (max(r.ratio, r.ratio_min or 0.0) if r.unit == "s" else r.ratio, yi),
                    xytext=(3, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=6.5,
                )
            mins = [(yi, r.ratio_min) for yi, r in zip(y, these, strict=True) if r.ratio_min and r.unit == "s"]
            if mins:
                ax.plot([m for _, m in mins], [yi for yi, _ in mins], "o", ms=2.5, color="black")
            ax.axvline(1.0, color="black", lw=0.8)
            values = [r.ratio for r in these] + [m for _, m in mins] + [1.0]
            low, high = min(values) / 1.3, max(values) * 1.6
            ax.set_xscale("log")
            ax.set_xlim(low, high)
            ticks = [t for t in LOG_TICKS if low <= t <= high]
            ax.xaxis.set_major_locator(FixedLocator(ticks))
            ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_yticks(y, [r.case for r in these], fontsize=7)
            ax.tick_params(axis="x", labelsize=7)
            ax.set_title(TITLES[part], fontsize=9, loc="left")
            ax.set_ylim(-0.7, len(these) - 0.3)
    torch = str(machine.get("torch", "?")).split()[0]
    fig.suptitle(
        f"convmat: ratios of median times (memory: of peaks), {machine.get('date', '?')}\n"
        f"{machine.get('cpu', '?')}, {machine.get('logical_cores', '?')} cores, {machine.get('threads', 2)} threads, "
        f"numpy {machine.get('numpy', '?')}, scipy {machine.get('scipy', '?')}, torch {torch}",
        fontsize=9,
        y=1 - 0.1 / inches,
        va="top",
    )
    legend = [
        Patch(color=LOWER, label="convmat faster / lower (ratio <= 1)"),
        Patch(color=HIGHER, label="convmat slower (ratio > 1)"),
        Line2D([], [], color="black", marker="o", ms=2.5, ls="none", label="ratio of the fastest samples"),
    ]
    fig.legend(
        handles=legend,
        loc="upper center",
        ncols=3,
        fontsize=7.5,
        frameon=False,
        bbox_to_anchor=(0.5, 1 - 0.55 / inches),
    )
    return fig


def save(rows: list[Row], machine: dict, path: str) -> None:
    """:func:`draw` saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = draw(rows, machine)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
