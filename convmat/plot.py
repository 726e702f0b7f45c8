"""Pictures of the matrices (needs matplotlib: ``pip install "convmat[plot]"``).

A symbolic matrix (from :func:`convmat.symbolic_conv_matrix`) is drawn with each
kernel tap in its own colour, so the block-Toeplitz (or circulant) pattern reads
at a glance; a numeric matrix (dense or sparse: ``W``, ``S``, an averaging matrix)
is drawn by value with its zeros left white.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

__all__ = ["plot_matrix"]

_ANNOTATE_MAX = (24, 48)
_DENSE_MAX = 4_000_000


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError('convmat.plot needs matplotlib: pip install "convmat[plot]"') from exc
    return plt


def plot_matrix(M, ax=None, *, annotate: bool | None = None, title: str | None = None):
    """Draw a convolution, pooling or symbolic matrix.

    Parameters
    ----------
    M : ndarray of str, ndarray, or scipy.sparse array/matrix
        Strings (``"k11"``, …, ``"0"``): one colour per distinct label, white for
        ``"0"``. Numbers: a diverging colour map centred on zero, zeros white; a
        very large sparse matrix is drawn as a sparsity pattern.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure sized to the matrix otherwise.
    annotate : bool, optional
        Write each entry's label in its cell (default: for small symbolic matrices).
    title : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import convmat as cm
    >>> from convmat.plot import plot_matrix
    >>> ax = plot_matrix(cm.symbolic_conv_matrix((4, 4), 3), title="W for a 4x4 input, 3x3 kernel")
    >>> ax.get_title()
    'W for a 4x4 input, 3x3 kernel'
    """
    plt = _pyplot()
    shape = M.shape if sp.issparse(M) else np.shape(M)
    if len(shape) != 2:
        raise ValueError(f"M must be a matrix (2-d), got shape {shape}")
    rows, cols = shape
    if ax is None:
        width = min(max(cols * 0.35, 4.0), 16.0)
        height = min(max(rows * 0.35, 2.0), 16.0 * rows / max(cols, 1) + 1.0)
        _, ax = plt.subplots(figsize=(width, height), layout="constrained")
    symbolic = not sp.issparse(M) and np.asarray(M).dtype.kind in "US"
    if symbolic:
        _draw_symbolic(ax, np.asarray(M).astype(str), annotate)
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
    ax.set_xlabel(f"input index (0 … {cols - 1})")
    ax.set_ylabel(f"output index (0 … {rows - 1})")
    if title is not None:
        ax.set_title(title)
    return ax


def _draw_symbolic(ax, labels: np.ndarray, annotate: bool | None) -> None:
    import matplotlib.colors as mcolors
    from matplotlib.patches import Patch

    names = sorted(set(labels.ravel()) - {"0"}, key=lambda s: (len(s), s))
    code = {name: i + 1 for i, name in enumerate(names)}
    codes = np.vectorize(lambda s: code.get(s, 0), otypes=[int])(labels) if labels.size else np.zeros(labels.shape)
    palette = _palette(len(names))
    cmap = mcolors.ListedColormap(["white", *palette])
    ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5, interpolation="nearest", aspect="equal")
    rows, cols = labels.shape
    if annotate is None:
        annotate = rows <= _ANNOTATE_MAX[0] and cols <= _ANNOTATE_MAX[1]
    if annotate:
        for r, c in zip(*np.nonzero(codes), strict=True):
            ax.text(c, r, labels[r, c], ha="center", va="center", fontsize=6)
    if names and len(names) <= 27:
        handles = [Patch(facecolor=palette[i], edgecolor="0.5", label=name) for i, name in enumerate(names)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)


def _palette(n: int) -> list:
    import matplotlib as mpl

    if n <= 10:
        return [mpl.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [mpl.colormaps["tab20"](i) for i in range(n)]
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
