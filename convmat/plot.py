"""Pictures of the matrices (needs matplotlib: ``pip install "convmat[plot]"``).

A symbolic matrix (from :func:`convmat.symbolic_conv_matrix`) is drawn with each
kernel tap in its own colour, so the block-Toeplitz (or circulant) pattern reads
at a glance; a numeric matrix (dense or sparse: ``W``, ``S``, an averaging matrix)
is drawn by value with its zeros left white. The matrix of a convolution with
several channels can be drawn with its channel blocks marked.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp

__all__ = ["plot_matrix"]

_ANNOTATE_MAX = (24, 48)
_DENSE_MAX = 4_000_000
_ANNOTATE_FONTSIZE = 6
_LEGEND_MAX = 120  # distinct labels listed beside a symbolic matrix; more would not tell their colours apart
_CHANNEL_LABELS_MAX = 16  # channel labels per axis; beyond, every k-th


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError('convmat.plot needs matplotlib: pip install "convmat[plot]"') from exc
    return plt


def plot_matrix(
    M,
    ax=None,
    *,
    annotate: bool | None = None,
    title: str | None = None,
    channels: tuple[int, int] | None = None,
):
    """Draw a convolution, pooling or symbolic matrix.

    Parameters
    ----------
    M : ndarray of str, ndarray, or scipy.sparse array/matrix
        Strings (``"k11"``, ``"k11+k13"``, …, ``"0"``): one colour per distinct
        label, white for ``"0"``, with the labels and their colours listed
        beside the matrix. Numbers: a diverging colour map centred on zero,
        zeros white; a very large sparse matrix is drawn as a sparsity pattern.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure sized to the matrix otherwise.
    annotate : bool, optional
        Write each entry's label in its cell. By default a symbolic matrix of
        at most 24 x 48 entries is annotated when its longest label fits a
        cell; otherwise (long sums such as ``k11+k13+k31+k33`` of a folded
        padding mode, or small cells) only the list beside the matrix names
        the colours.
    title : str, optional
    channels : (int, int), optional
        ``(C_out, C_in)`` when ``M`` is the matrix of a convolution with
        several channels: its rows are ordered (output channel, output
        position) and its columns (input channel, input position), so it is a
        ``C_out x C_in`` grid of blocks of ``rows / C_out`` by ``cols / C_in``
        entries. Lines are drawn between the blocks and the axes are labelled
        by channel (``co=0``, ``ci=1``, …). The shape of ``M`` must be
        divisible by them.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> import convmat as cm
    >>> from convmat.plot import plot_matrix
    >>> ax = plot_matrix(cm.symbolic_conv_matrix((4, 4), 3), title="W for a 4x4 input, 3x3 kernel")
    >>> ax.get_title()
    'W for a 4x4 input, 3x3 kernel'

    Three output and two input channels: a 12 x 18 matrix of 3 x 2 blocks.

    >>> W = cm.conv_matrix(np.arange(1.0, 25.0).reshape(3, 2, 2, 2), (2, 3, 3))
    >>> W.shape
    (12, 18)
    >>> ax = plot_matrix(W, channels=(3, 2))
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['ci=0', 'ci=1']
    >>> [label.get_text() for label in ax.get_yticklabels()]
    ['co=0', 'co=1', 'co=2']
    """
    plt = _pyplot()
    shape = M.shape if sp.issparse(M) else np.shape(M)
    if len(shape) != 2:
        raise ValueError(f"M must be a matrix (2-d), got shape {shape}")
    rows, cols = shape
    blocks = _blocks(channels, shape)
    if ax is None:
        width = min(max(cols * 0.35, 4.0), 16.0)
        height = min(max(rows * 0.35, 2.0), 16.0 * rows / max(cols, 1) + 1.0)
        _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    symbolic = not sp.issparse(M) and np.asarray(M).dtype.kind in "US"
    labels = None
    if symbolic:
        labels = np.asarray(M).astype(str)
        _draw_symbolic(ax, labels)
    elif sp.issparse(M) and rows * cols > _DENSE_MAX:
        ax.spy(M, markersize=max(0.05, 200.0 / max(rows, cols)), color="tab:blue")
    else:
        _draw_values(plt, ax, M.toarray() if sp.issparse(M) else np.asarray(M))
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if rows <= 64 and cols <= 64:
        ax.set_xticks(np.arange(-0.5, cols, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, rows, 1), minor=True)
        ax.grid(which="minor", color="0.85", linewidth=0.5)
        ax.tick_params(which="minor", length=0)
    if blocks is None or channels is None:  # blocks is None whenever channels is
        ax.set_xlabel(f"input index (0 … {cols - 1})")
        ax.set_ylabel(f"output index (0 … {rows - 1})")
    else:
        _mark_blocks(ax, channels, blocks)
    if title is not None:
        ax.set_title(title)
    if labels is not None:
        _annotate(ax, labels, annotate)
    return ax


def _blocks(channels, shape: tuple[int, int]) -> tuple[int, int] | None:
    """Rows and columns per channel block, or ``None`` for a single block."""
    if channels is None:
        return None
    try:
        c_out, c_in = (int(c) for c in channels)
        valid = (c_out, c_in) == tuple(channels) and min(c_out, c_in) >= 1
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise ValueError(f"channels must be (C_out, C_in), two positive ints, got {channels!r}")
    rows, cols = shape
    if rows % c_out or cols % c_in:
        raise ValueError(
            f"channels=({c_out}, {c_in}) does not divide M of shape {rows} x {cols} into blocks: "
            f"{rows} rows are not a multiple of C_out={c_out} or {cols} columns not a multiple of C_in={c_in}"
        )
    if (c_out, c_in) == (1, 1):
        return None
    return rows // c_out, cols // c_in


def _mark_blocks(ax, channels: tuple[int, int], blocks: tuple[int, int]) -> None:
    """Lines between the channel blocks; ``co=…`` / ``ci=…`` at their centres."""
    c_out, c_in = channels
    per_row, per_col = blocks
    for b in range(1, c_out):
        ax.axhline(b * per_row - 0.5, color="0.15", linewidth=1.0)
    for b in range(1, c_in):
        ax.axvline(b * per_col - 0.5, color="0.15", linewidth=1.0)
    for axis, count, per, name in ((ax.yaxis, c_out, per_row, "co"), (ax.xaxis, c_in, per_col, "ci")):
        step = math.ceil(count / _CHANNEL_LABELS_MAX)
        kept = range(0, count, step)
        axis.set_ticks([b * per + (per - 1) / 2 for b in kept], [f"{name}={b}" for b in kept])
    ax.tick_params(which="major", length=0)
    ax.set_xlabel(f"input: ci, then position 0 … {per_col - 1}")
    ax.set_ylabel(f"output: co, then position 0 … {per_row - 1}")


def _draw_symbolic(ax, labels: np.ndarray) -> None:
    import matplotlib.colors as mcolors
    from matplotlib.patches import Patch

    names = sorted(set(labels.ravel()) - {"0"}, key=lambda s: (len(s), s))
    code = {name: i + 1 for i, name in enumerate(names)}
    codes = np.vectorize(lambda s: code.get(s, 0), otypes=[int])(labels) if labels.size else np.zeros(labels.shape)
    palette = _palette(len(names))
    cmap = mcolors.ListedColormap(["white", *palette])
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5, interpolation="nearest", aspect="equal")
    if names and len(names) <= _LEGEND_MAX:
        handles = [Patch(facecolor=palette[i], edgecolor="0.5", label=name) for i, name in enumerate(names)]
        # as many entries per column as fit the height of the figure
        per_column = max(8, int(ax.figure.get_figheight() * 72 / 11))
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            frameon=False,
            ncols=math.ceil(len(names) / per_column),
        )


def _annotate(ax, labels: np.ndarray, annotate: bool | None) -> None:
    """Write the labels in their cells: always if ``annotate``, by default when they fit."""
    rows, cols = labels.shape
    cells = np.argwhere(labels != "0")
    if annotate is None:
        annotate = rows <= _ANNOTATE_MAX[0] and cols <= _ANNOTATE_MAX[1] and _labels_fit(ax, labels, cells)
    if annotate:
        for r, c in cells:
            ax.text(c, r, labels[r, c], ha="center", va="center", fontsize=_ANNOTATE_FONTSIZE)


def _labels_fit(ax, labels: np.ndarray, cells: np.ndarray) -> bool:
    """Whether the longest label fits inside a cell of the laid-out picture."""
    if cells.size == 0:
        return True
    figure = ax.figure
    figure.draw_without_rendering()  # lays the figure out (legend, colour bar, titles) as saving it will
    renderer = figure.canvas.get_renderer()
    box = ax.get_window_extent(renderer)
    rows, cols = labels.shape
    cell = min(box.width / cols, box.height / rows)
    longest = max({labels[r, c] for r, c in cells}, key=len)
    probe = ax.text(0, 0, longest, fontsize=_ANNOTATE_FONTSIZE)
    extent = probe.get_window_extent(renderer)
    probe.remove()
    return extent.width <= 0.85 * cell and extent.height <= cell


def _palette(n: int) -> list:
    import matplotlib as mpl

    if n <= 10:
        return [mpl.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:  # the ten strong colours first, then their light pairs: neighbours in the list differ most
        return [mpl.colormaps["tab20"](i) for i in [*range(0, 20, 2), *range(1, 20, 2)][:n]]
    return [mpl.colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]


def _draw_values(plt, ax, values: np.ndarray) -> None:
    if values.dtype.kind == "c":
        values = np.abs(values)
    values = values.astype(float)
    masked = np.ma.masked_equal(values, 0.0)
    bound = float(np.max(np.abs(values), initial=0.0)) or 1.0
    vmin = -bound if values.min(initial=0.0) < 0 else 0.0
    cmap = plt.get_cmap("RdBu_r" if vmin < 0 else "viridis").with_extremes(bad="white")
    image = ax.imshow(masked, cmap=cmap, vmin=vmin, vmax=bound, interpolation="nearest", aspect="equal")
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
