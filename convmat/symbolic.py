"""Looking at the matrices: ``W`` in symbols (``k11 … k33``) and as aligned text.

Labels are 1-based, as the textbooks write them (``k11`` is the kernel's top-left
tap); indices in code stay 0-based. ``"0"`` marks a structural zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from .conv_matrices import _block_reads
from .geometry import ConvGeometry, IntOrTuple, Padding, PaddingMode, check_int, check_positive_int, conv_geometry
from .patterns import conv_plane_pattern

__all__ = ["MAX_SYMBOLIC_ENTRIES", "format_matrix", "kernel_labels", "symbolic_conv_matrix"]

MAX_SYMBOLIC_ENTRIES = 4_000_000


def kernel_labels(kernel_size: Sequence[int], prefix: str = "k") -> np.ndarray:
    """Textbook labels of the kernel taps in C order: ``k11, k12, …`` (1-based).

    Indices are concatenated while every kernel dim is at most 9 and joined with
    commas otherwise (``k10,11``).

    Examples
    --------
    >>> kernel_labels((2, 3)).tolist()
    ['k11', 'k12', 'k13', 'k21', 'k22', 'k23']
    """
    sep = "" if max(kernel_size) <= 9 else ","
    taps = np.indices(kernel_size).reshape(len(kernel_size), -1).T + 1
    return np.array([prefix + sep.join(str(i) for i in tap) for tap in taps])


def symbolic_conv_matrix(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    padding_mode: PaddingMode = "zeros",
) -> np.ndarray:
    """The convolution matrix of one channel with kernel taps as symbols.

    Parameters
    ----------
    input_spatial : sequence of int
        Spatial shape of the input plane (1 to 3 dims).
    kernel_size, stride, dilation : int or tuple of int
    padding : int, tuple of int, "valid" or "same"
    padding_mode : {"zeros", "circular", "reflect", "replicate"}
        With a folded mode, an entry that several taps read shows their sum,
        e.g. ``"k11+k13"``.

    Returns
    -------
    ndarray of str, shape (prod(out), prod(input_spatial))
        Entry ``[o, i]`` names the kernel tap that multiplies input ``i`` in
        output ``o`` (``"k11"`` … 1-based, C order), ``"0"`` where none does.

    Examples
    --------
    >>> import convmat as cm
    >>> M = cm.symbolic_conv_matrix((4, 4), (3, 3))
    >>> M.shape
    (4, 16)
    >>> " ".join(M[0])
    'k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0 0 0 0 0'
    """
    geom = conv_geometry(input_spatial, kernel_size, stride, padding, dilation, padding_mode)
    if geom.output_size * geom.input_size > MAX_SYMBOLIC_ENTRIES:
        raise ValueError(
            f"symbolic_conv_matrix is for small geometries: output {geom.output_spatial} x input "
            f"{geom.input_spatial} has {geom.output_size * geom.input_size} entries "
            f"(more than {MAX_SYMBOLIC_ENTRIES}); use conv_matrix for large ones"
        )
    plane = conv_plane_pattern(geom)
    labels = kernel_labels(geom.kernel_size)
    if plane.entry_kernel is not None:
        entry_labels = labels[plane.entry_kernel]
    else:
        # Folded padding: an entry sums the taps that read the same input element.
        entry_labels = _summed_labels(labels, plane.tap_entry, plane.tap_kernel)
    width = max((len(s) for s in entry_labels), default=1)
    matrix = np.full((geom.output_size, geom.input_size), "0", dtype=f"<U{width}")
    rows = np.repeat(np.arange(geom.output_size), plane.row_lengths)
    matrix[rows, plane.indices] = entry_labels
    return matrix


def _summed_labels(labels: np.ndarray, tap_entry: np.ndarray, tap_kernel: np.ndarray) -> np.ndarray:
    """Label of each entry that sums taps: its taps' labels in kernel order, joined with ``+`` (``"k11+k13"``).

    ``tap_entry`` and ``tap_kernel`` give each tap's entry and kernel tap; the
    result holds one label per distinct entry, in increasing entry order.
    """
    if tap_entry.size == 0:
        return np.array([], dtype=labels.dtype)
    order = np.lexsort((tap_kernel, tap_entry))
    groups = np.split(labels[tap_kernel[order]], np.flatnonzero(np.diff(tap_entry[order])) + 1)
    return np.array(["+".join(g) for g in groups])


def _symbolic_block(geom: ConvGeometry, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``symbolic_conv_matrix(...)[np.ix_(rows, cols)]`` for the geometry, built for those rows and columns only.

    ``rows`` are output positions and ``cols`` input positions (flat, in range).
    Time and memory grow with ``len(rows) * len(cols) * prod(kernel)``, not with
    the size of the plane.
    """
    rows, cols = np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)
    r, c, k = np.nonzero(_block_reads(geom, rows, cols))
    cell = r * cols.size + c
    cell_labels = _summed_labels(kernel_labels(geom.kernel_size), cell, k)
    width = max((len(s) for s in cell_labels), default=1)
    block = np.full((rows.size, cols.size), "0", dtype=f"<U{width}")
    block.flat[np.unique(cell)] = cell_labels
    return block


def _cell_text(matrix: np.ndarray, precision: int) -> np.ndarray:
    if matrix.dtype.kind in "US":
        return matrix.astype(str)
    if matrix.dtype.kind == "O":
        return np.vectorize(str, otypes=[str])(matrix) if matrix.size else matrix.astype(str)
    if matrix.dtype.kind == "b":
        return matrix.astype(int).astype(str)
    if matrix.dtype.kind not in "iufc":
        raise TypeError(f"M must be numeric, boolean or strings, got dtype {matrix.dtype}")
    fmt = np.vectorize(lambda v: "0" if v == 0 else f"{v:.{precision}g}", otypes=[str])
    return fmt(matrix) if matrix.size else matrix.astype(str)


def format_matrix(M, precision: int = 4, max_rows: int | None = 40, max_cols: int | None = 40) -> str:
    """Aligned text of a small dense, sparse or symbolic matrix.

    Parameters
    ----------
    M : ndarray, scipy.sparse array/matrix, or array of str
        A 1-d array prints as one row.
    precision : int
        Significant digits for numbers; exact zeros print as ``0``.
    max_rows, max_cols : int or None
        Larger matrices show their first and last rows/columns with ``…``
        between; ``None`` prints everything.

    Returns
    -------
    str
        One line per row, columns right-aligned, separated by one space.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> print(cm.format_matrix(np.array([[1.0, 0.0], [0.5, -2.0]])))
      1  0
    0.5 -2
    >>> print(cm.format_matrix(cm.symbolic_conv_matrix((3,), 2)))
    k1 k2  0
     0 k1 k2
    """
    precision = check_int(precision, "precision", minimum=0)
    max_rows = None if max_rows is None else check_positive_int(max_rows, "max_rows")
    max_cols = None if max_cols is None else check_positive_int(max_cols, "max_cols")
    if sp.issparse(M):
        if M.ndim != 2:
            raise ValueError(f"M must be a matrix, got a sparse array of shape {M.shape}")
        matrix = sp.csr_array(M)
    else:
        matrix = np.asarray(M)
        if matrix.ndim == 1:
            matrix = matrix[None, :]
        if matrix.ndim != 2:
            raise ValueError(f"M must be a matrix (1-d or 2-d), got shape {matrix.shape}")
    rows = _shown(matrix.shape[0], max_rows)
    cols = _shown(matrix.shape[1], max_cols)
    shown = matrix[rows][:, cols].toarray() if sp.issparse(matrix) else matrix[np.ix_(rows, cols)]
    return _format_shown(shown, matrix.shape, precision, max_rows, max_cols)


def _format_shown(
    shown: np.ndarray,
    shape: tuple[int, int],
    precision: int = 4,
    max_rows: int | None = 40,
    max_cols: int | None = 40,
) -> str:
    """The text :func:`format_matrix` prints for a matrix of ``shape``, from only the entries it shows.

    ``shown`` is the dense block of rows ``_shown(shape[0], max_rows)`` and
    columns ``_shown(shape[1], max_cols)`` of the matrix; the rest is elided,
    so the matrix itself need never exist.
    """
    row_idx = _kept(shape[0], max_rows)
    col_idx = _kept(shape[1], max_cols)
    expected = (sum(i >= 0 for i in row_idx), sum(j >= 0 for j in col_idx))
    if shown.shape != expected:
        raise ValueError(f"the shown entries of a {shape[0]} x {shape[1]} matrix are {expected}, got {shown.shape}")
    text = _insert_ellipses(_cell_text(shown, precision), row_idx, col_idx)
    widths = [max((len(s) for s in column), default=0) for column in text.T]
    return "\n".join(" ".join(s.rjust(w) for s, w in zip(row, widths, strict=True)) for row in text)


def _kept(n: int, limit: int | None) -> list[int]:
    """Indices to show along an axis of length ``n``; ``-1`` marks the ellipsis."""
    if limit is None or n <= limit:
        return list(range(n))
    head = (limit + 1) // 2
    return [*range(head), -1, *range(n - (limit - head), n)]


def _shown(n: int, limit: int | None) -> list[int]:
    """The indices :func:`format_matrix` shows along an axis of length ``n`` (``_kept`` without the ellipsis)."""
    return [i for i in _kept(n, limit) if i >= 0]


def _insert_ellipses(text: np.ndarray, row_idx: list[int], col_idx: list[int]) -> np.ndarray:
    if -1 in col_idx:
        text = np.insert(text.astype(object), col_idx.index(-1), "…", axis=1)
    if -1 in row_idx:
        text = np.insert(text.astype(object), row_idx.index(-1), "…", axis=0)
    return text.astype(str)
