"""Padding as a linear map: PyTorch's ``F.pad``, its matrix ``P`` and its adjoint ``Pᵀ``.

Every mode of ``F.pad`` copies input elements to the padded positions (or
writes a constant there): with ``value=0`` padding a plane is ``x_pad = P·x``
for a 0/1 matrix ``P`` with at most one 1 per row, a row of zeros where the
constant is written. Its adjoint ``Pᵀ`` sends every padded position's value
back to the element it copied, so the elements that several positions copy
(the edges with ``"replicate"``, the mirrored ones with ``"reflect"``) collect
the sum: that is the gradient of ``F.pad`` with respect to its input.

:func:`pad` is ``F.pad`` (PyTorch's flat ``pad`` tuple, last dim first,
negative entries crop), :func:`pad_matrix` is ``P`` of one plane and
:func:`pad_adjoint` applies ``Pᵀ``. The modes are those that the convolutions
fold into ``W`` (``"constant"`` is their ``"zeros"``), from the same index maps
(:func:`convmat.patterns.padding_source_index`).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike

from ._arrays import as_array, compute_dtype
from .geometry import PAD_MODES, PadMode, check_choice, check_shape, pad_plane_problem, pad_problem
from .padding import pad_spatial, unpad_adjoint
from .patterns import pad_plane_pattern
from .sizes import check_matrix_size, pad_plane_size

__all__ = ["pad", "pad_adjoint", "pad_matrix"]


def _fill_value(value: object, mode: str) -> float:
    """``value`` as the constant of ``mode="constant"``; the other modes take none (PyTorch: ``None`` or 0)."""
    if value is None:
        return 0.0
    if isinstance(value, str) or not isinstance(value, numbers.Real | np.bool_):
        raise TypeError(f"value must be a real number (the constant of mode 'constant'), got {value!r}")
    if mode != "constant" and value != 0:
        raise ValueError(
            f"value={value!r} is the constant of mode 'constant'; mode {mode!r} copies input elements and takes "
            f"no value (leave it 0 or None, as PyTorch requires)"
        )
    return float(value)


def pad(x: ArrayLike, pad: Sequence[int], mode: PadMode = "constant", value: float | None = 0.0) -> np.ndarray:
    """Pad (or crop) the last dims of ``x``: PyTorch's ``torch.nn.functional.pad``.

    Parameters
    ----------
    x : array_like
        Any number of dims; complex is fine (padding is linear).
    pad : tuple of int
        ``(low, high)`` per padded dim, *last dim first*:
        ``(left, right)`` pads the last dim, ``(left, right, top, bottom)``
        the last two, ``(left, right, top, bottom, front, back)`` the last
        three, and so on. A negative entry crops that many elements.
    mode : {"constant", "reflect", "replicate", "circular"}
        ``"constant"`` writes ``value``; ``"reflect"`` mirrors about the edge
        element (not repeated; each pad smaller than the dim);
        ``"replicate"`` repeats the edge element; ``"circular"`` wraps around
        (each pad at most the dim). ``"constant"`` pads any number of dims; the
        others, as in PyTorch, the last 1 to 3 dims of an input with one or
        two dims more (``(C, *spatial)`` or ``(N, C, *spatial)``).
    value : float, default 0.0
        The constant of ``mode="constant"``. The other modes take none (0
        or ``None`` only).

    Returns
    -------
    ndarray
        A new array: the padded dims resized by ``low + high``, the others
        kept; dtype of ``x`` (integers and bool promote to float64).

    Raises
    ------
    TypeError
        If ``pad`` is not a tuple of ints, or ``value`` is not a real number.
    ValueError
        For an odd number of ``pad`` entries or more than two per dim of
        ``x``, a rank the mode does not pad, pads too large for the mode
        (reflect: not smaller than the dim; circular: more than the elements
        the crops leave), crops that remove more than the dim (or, for
        reflect and replicate, leave every padded dim empty), a ``value``
        with a non-constant mode.

    See Also
    --------
    pad_matrix : the same padding of a plane as the matrix ``P``.
    pad_adjoint : its adjoint ``Pᵀ``, the gradient of ``pad``.

    Notes
    -----
    A negative pad crops: the padded dim is then positions ``-low`` to
    ``size + high - 1`` of the input, through the mode's rule, so
    ``"reflect"`` and ``"replicate"`` can still copy an element the crop
    removed. ``"circular"`` crops first and wraps around what is left
    (PyTorch's order); PyTorch checks each circular pad against the whole dim
    and, where a crop on one side leaves fewer elements than the pad on the
    other, returns uninitialised memory: convmat refuses those pads.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.arange(1.0, 4.0).reshape(1, 1, 3)
    >>> cm.pad(x, (2, 1), "reflect")
    array([[[3., 2., 1., 2., 3., 2.]]])
    >>> cm.pad(x, (1, -1), value=9.0)  # a negative entry crops
    array([[[9., 1., 2.]]])
    >>> cm.pad(np.ones((2, 2)), (1, 1, 0, 1)).shape  # (left, right, top, bottom)
    (3, 4)
    """
    xa = as_array(x, "x")
    mode = check_choice(mode, "mode", PAD_MODES)
    fill = _fill_value(value, mode)
    pads, _ = pad_problem(xa.shape, pad, mode)
    result = pad_spatial(xa, pads, mode, fill)
    if np.may_share_memory(result, xa):  # nothing padded, or only crops: a view
        result = result.copy()
    return result


def pad_matrix(
    input_spatial: Sequence[int], pad: Sequence[int], mode: PadMode = "constant", max_bytes: int | None = None
) -> sp.csr_array:
    """The 0/1 matrix ``P`` of padding one plane: ``pad(x, pad, mode)[n, c].ravel() == P @ x[n, c].ravel()``.

    Row ``r`` is the ``r``-th element of the padded plane (C order); it holds a
    single 1 in the column of the input element that position copies, or
    nothing where ``"constant"`` padding is written (the map is linear for
    ``value=0``). ``Pᵀ`` folds a gradient of the padded plane back
    (:func:`pad_adjoint`).

    Parameters
    ----------
    input_spatial : sequence of int
        Shape of one plane, 1 to 3 dims.
    pad : tuple of int
        As in :func:`pad`: ``(low, high)`` per padded dim, last dim first, at
        most one pair per dim of the plane; negative entries crop.
    mode : {"constant", "reflect", "replicate", "circular"}
        As in :func:`pad`, with its rules per dim (the rank rules of
        :func:`pad`, which depend on the whole input, do not apply to a plane).
    max_bytes : int, optional
        Refuse a ``P`` larger than this many bytes (data + indices + indptr);
        by default :func:`convmat.get_matrix_limit`.

    Returns
    -------
    scipy.sparse.csr_array, shape (prod(padded), prod(input_spatial)), float64
        Its index arrays are cached and shared, read-only (``P.copy()`` before
        changing its structure in place).

    Raises
    ------
    convmat.MatrixTooLargeError
        If ``P`` would take more than ``max_bytes``, before anything is built.

    See Also
    --------
    pad, pad_adjoint : ``P·x`` and ``Pᵀ·g`` without building ``P``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> P = cm.pad_matrix((3,), (1, 2), "replicate")
    >>> P.toarray()
    array([[1., 0., 0.],
           [1., 0., 0.],
           [0., 1., 0.],
           [0., 0., 1.],
           [0., 0., 1.],
           [0., 0., 1.]])
    >>> P @ np.array([1.0, 2.0, 3.0])
    array([1., 1., 2., 3., 3., 3.])
    >>> cm.pad_matrix((4, 4), (1, 1, 1, 1)).shape, cm.pad_matrix((4, 4), (1, 1, 1, 1)).nnz  # zeros: empty rows
    ((36, 16), 16)
    """
    spatial = check_shape("input_spatial", input_spatial)
    pads, _ = pad_plane_problem(spatial, pad, mode)
    check_matrix_size(
        pad_plane_size(spatial, pads, mode),
        "pad_matrix: P",
        max_bytes,
        ways="convmat.pad and convmat.pad_adjoint apply P and its transpose without building it; ",
    )
    pattern = pad_plane_pattern(spatial, pads, mode)
    data = np.ones(pattern.indices.size, dtype=np.float64)
    matrix = sp.csr_array((data, pattern.indices, pattern.indptr), shape=pattern.shape, copy=False)
    matrix.has_sorted_indices = True
    matrix.has_canonical_format = True
    return matrix


def pad_adjoint(
    grad: ArrayLike, input_spatial: Sequence[int], pad: Sequence[int], mode: PadMode = "constant"
) -> np.ndarray:
    """Apply ``Pᵀ``: fold a gradient of the padded array back onto the input (the gradient of :func:`pad`).

    Every padded position sends its value back to the input element it
    copied; elements that several positions copy collect the sum, positions of
    ``"constant"`` padding send nothing, and cropped elements get zero. This
    is what autograd gives for the input of ``F.pad`` (the constant ``value``
    does not enter: it is not an input).

    Parameters
    ----------
    grad : array_like, shape (*leading, *padded)
        Gradient with respect to the padded array: any leading dims, then the
        padded shape of ``input_spatial``.
    input_spatial : sequence of int
        The trailing dims of the unpadded input (one or more; the dims
        ``pad`` pads, and any unpadded ones before them).
    pad : tuple of int
        As in :func:`pad`: ``(low, high)`` per padded dim, last dim first.
    mode : {"constant", "reflect", "replicate", "circular"}
        As in :func:`pad`, with its rules per dim.

    Returns
    -------
    ndarray, shape (*leading, *input_spatial)
        dtype of ``grad`` (integers promote to float64; float16 is summed in
        float32 and rounded once).

    See Also
    --------
    pad : the forward map ``P``.
    pad_matrix : ``P`` itself; ``pad_adjoint(g, s, p, m)`` is ``P.T @ g`` plane by plane.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> cm.pad_adjoint(np.ones((1, 1, 6)), (3,), (1, 2), "replicate")
    array([[[2., 1., 3.]]])
    >>> cm.pad_adjoint(np.arange(6.0).reshape(2, 3), (2, 2), (0, 1))  # the constant column sends nothing
    array([[0., 1.],
           [3., 4.]])
    """
    g = as_array(grad, "grad")
    spatial = check_shape("input_spatial", input_spatial)
    pads, padded = pad_plane_problem(spatial, pad, mode, plane=False)
    m = len(spatial)
    if g.ndim < m or g.shape[g.ndim - m :] != padded:
        raise ValueError(
            f"grad has shape {g.shape}, expected (*leading, *{padded}): its last {m} dim(s) the shape of "
            f"input_spatial {spatial} padded by pad {tuple(pad)} in mode {mode!r}"
        )
    work = g.astype(compute_dtype(g.dtype), copy=False)
    result = unpad_adjoint(work, pads, spatial[m - len(pads) :], mode)
    if np.may_share_memory(result, g):  # nothing padded: a view
        result = result.copy()
    return result.astype(g.dtype, copy=False)
