"""Convolution and its two adjoints: the input gradient ``Wᵀ·dh`` and the kernel gradient.

A convolution is bilinear in ``(x, w)``. Holding ``w`` fixed it is the matrix
``W`` (:func:`convmat.conv_matrix`); its transpose carries the output gradient
back to the input. Holding ``x`` fixed it is the patch matrix of ``x``; its
transpose gives the kernel gradient. The functions below compute exactly these
three maps by three routes:

``backend="im2col"``
    Patches of the padded input, then one batched GEMM per group.
``backend="sparse"``
    The explicit sparse ``W``: ``W @ x``, ``W.T @ dy``; the kernel gradient as
    ``dy`` times the patch matrix built by the sparse 0/1 patch-selection matrix.
``backend="fft"``
    ``W`` diagonalised by the discrete Fourier transform (:mod:`convmat.conv_fft`).

``backend="auto"`` (the default) takes the im2col or the FFT route by the rule
of :mod:`convmat.route_choice`; :func:`choose_backend` says which. All give the
same numbers, which equal PyTorch's ``F.conv{1,2,3}d`` and
``torch.nn.grad.conv{1,2,3}d_input`` / ``_weight``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, get_args

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike

from . import patch_gemm, sparse_products, tap_gemm
from ._arrays import as_array, check_array_shape, compute_dtype, result_dtype
from ._dask_dispatch import on_dask
from ._rank import rank_specific, spatial_names
from .config import chunk_size
from .conv_fft import fft_forward, fft_input_grad, fft_weight_grad
from .conv_matrices import ROUTE_WAYS, matrix_for_geometry
from .geometry import (
    ConvGeometry,
    IntOrTuple,
    Padding,
    PaddingMode,
    check_choice,
    check_shape,
    conv_problem,
    conv_transpose_problem,
)
from .patterns import patch_selection_matrix
from .route_choice import pick_route
from .sizes import check_matrix_size, patch_selection_size

__all__ = [
    "BACKENDS",
    "choose_backend",
    "conv",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_input_grad",
    "conv_transpose",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "conv_weight_grad",
    "forward",
    "input_grad",
    "weight_grad",
]

Backend = Literal["auto", "im2col", "sparse", "fft"]
#: The routes of the convolutions: the rule's choice, patches + GEMM, the explicit sparse ``W``, the DFT.
BACKENDS: tuple[Backend, ...] = get_args(Backend)
Op = Literal["forward", "input_grad", "weight_grad"]
#: The three maps :func:`choose_backend` is asked about.
OPS: tuple[Op, ...] = get_args(Op)

#: How the sparse route names its ``W`` when refusing one over the matrix limit.
SPARSE_ROUTE_W = "the sparse route's W"


def _check_backend(backend: str) -> None:
    check_choice(backend, "backend", BACKENDS)


def _exact_if_integer(backend: Backend, *values: ArrayLike) -> Backend:
    """``"auto"`` keeps integer and boolean inputs on the im2col route, whose sums of integer products are exact
    (they are promoted to float64, where the FFT route would round them)."""
    if backend == "auto" and any(np.asarray(v).dtype.kind in "biu" for v in values):
        return "im2col"
    return backend


def _prebuilt_matrix(matrix: Any, backend: str, geom: ConvGeometry, c_in: int, c_out: int) -> sp.csr_array | None:
    """A user's ``W`` for the sparse route, checked against the call: a scipy.sparse array of the right shape."""
    if matrix is None:
        return None
    if backend not in ("auto", "sparse"):
        raise ValueError(f"matrix: a prebuilt W is used by the sparse route only, got backend={backend!r}")
    if not sp.issparse(matrix):
        got = type(matrix).__name__
        raise TypeError(f"matrix must be a scipy.sparse array or matrix (from conv_matrix), got {got}")
    expected = (c_out * geom.output_size, c_in * geom.input_size)
    if matrix.shape != expected:
        raise ValueError(
            f"matrix has shape {matrix.shape}, but this call's W is (C_out*prod(out), C_in*prod(in)) = {expected}"
        )
    return matrix if isinstance(matrix, sp.csr_array) else sp.csr_array(matrix)


def _grad_output(grad_output: ArrayLike, geom: ConvGeometry, batch: int, c_out: int) -> np.ndarray:
    dy = as_array(grad_output, "grad_output")
    check_array_shape(dy, (batch, c_out, *geom.output_spatial), "grad_output", "(N, C_out, *out_spatial)")
    return dy


# ---------------------------------------------------------------------------
# The three maps, one function per route. Shapes, with G groups,
# K = prod(kernel), L = prod(out), S = prod(spatial), n samples per chunk:
#   x [N, G*ci, *spatial]   w [G*co, ci, *kernel]   y, dy [N, G*co, *out]
# ---------------------------------------------------------------------------


def _sparse_w(w: np.ndarray, geom: ConvGeometry, groups: int, matrix: sp.csr_array | None) -> sp.csr_array:
    """The sparse route's ``W``: the one given (in the route's dtype), or built from the kernel."""
    if matrix is not None:
        return matrix.astype(w.dtype, copy=False)
    return matrix_for_geometry(w, geom, groups, what=SPARSE_ROUTE_W, ways=ROUTE_WAYS)


def _forward_sparse(
    x: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int, matrix: sp.csr_array | None = None
) -> np.ndarray:
    batch, c_out = x.shape[0], w.shape[0]
    matrix = _sparse_w(w, geom, groups, matrix)
    # [C_out*L, C_in*S] @ [C_in*S, N] -> [C_out*L, N]
    y = sparse_products.matmul(matrix, x.reshape(batch, matrix.shape[1]).T)
    return y.T.reshape(batch, c_out, *geom.output_spatial)


def _input_grad_sparse(
    dy: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int, matrix: sp.csr_array | None = None
) -> np.ndarray:
    batch, cin = dy.shape[0], w.shape[1] * groups
    matrix = _sparse_w(w, geom, groups, matrix)
    # [C_in*S, C_out*L] @ [C_out*L, N] -> [C_in*S, N]
    dx = sparse_products.rmatmul(matrix, dy.reshape(batch, matrix.shape[0]).T)
    return dx.T.reshape(batch, cin, *geom.input_spatial)


def _sparse_patch_chunks(x: np.ndarray, geom: ConvGeometry) -> Iterator[tuple[slice, np.ndarray]]:
    """Patches from the sparse 0/1 patch-selection matrix ``U``, chunk by chunk of the batch."""
    batch, cin = x.shape[:2]
    check_matrix_size(patch_selection_size(geom), "the sparse route's patch-selection matrix", ways=ROUTE_WAYS)
    select = patch_selection_matrix(geom)
    step = chunk_size(batch, cin * geom.kernel_numel * geom.output_size * x.itemsize)
    for start in range(0, batch, step):
        stop = min(start + step, batch)
        n = stop - start
        # [K*L, S] @ [S, n*C_in] -> [K*L, n*C_in] -> [n, C_in, K, L]
        cols = sparse_products.matmul(select, x[start:stop].reshape(n * cin, geom.input_size).T)
        yield slice(start, stop), cols.T.reshape(n, cin, geom.kernel_numel, geom.output_size)


def _weight_grad_sparse(
    x: np.ndarray, dy: np.ndarray, weight_shape: tuple[int, ...], geom: ConvGeometry, groups: int
) -> np.ndarray:
    return patch_gemm.weight_grad_per_sample(_sparse_patch_chunks(x, geom), dy, weight_shape, geom, groups)


def _patch_way(geom: ConvGeometry, groups: int) -> bool:
    """Whether the im2col route takes :mod:`convmat.patch_gemm`'s way: dense 2-d layers.

    Their products are large enough that the patch matrix's one GEMM wins;
    grouped, depthwise, 1-d and 3-d layers go tap by tap (:mod:`convmat.tap_gemm`),
    whose gathers and products are cheaper there (measured on the layers of
    ``bench/``: 1.2-5x faster on 3-d, 1-d, grouped and depthwise layers, up to 3x
    slower on a LeNet-sized 2-d layer).
    """
    return groups == 1 and geom.ndim == 2


def _forward_im2col(x: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    return (patch_gemm if _patch_way(geom, groups) else tap_gemm).forward(x, w, geom, groups)


def _input_grad_im2col(dy: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int) -> np.ndarray:
    return (patch_gemm if _patch_way(geom, groups) else tap_gemm).input_grad(dy, w, geom, groups)


def _weight_grad_im2col(
    x: np.ndarray, dy: np.ndarray, weight_shape: tuple[int, ...], geom: ConvGeometry, groups: int
) -> np.ndarray:
    return (patch_gemm if _patch_way(geom, groups) else tap_gemm).weight_grad(x, dy, weight_shape, geom, groups)


_FORWARD: dict[str, Callable] = {"im2col": _forward_im2col, "sparse": _forward_sparse, "fft": fft_forward}
_INPUT_GRAD: dict[str, Callable] = {"im2col": _input_grad_im2col, "sparse": _input_grad_sparse, "fft": fft_input_grad}
_WEIGHT_GRAD: dict[str, Callable] = {
    "im2col": _weight_grad_im2col,
    "sparse": _weight_grad_sparse,
    "fft": fft_weight_grad,
}


def _route(
    backend: str,
    op: str,
    geom: ConvGeometry,
    channels: tuple[int, int],
    groups: int,
    operands: tuple[np.ndarray, np.ndarray],
) -> str:
    """The route a call takes: ``backend`` itself, or the rule's choice for ``"auto"``.

    ``channels`` is ``(C_in, C_out)``; ``operands`` are the map's two arrays, the batched one first (its
    dtype is the one computed in). ``"auto"`` keeps
    non-finite operands off the FFT route, where a NaN or inf would spread over
    every output of its plane instead of the windows that read it (one sum tells:
    the sum of finite numbers is finite unless it overflows, and then the im2col
    route is taken needlessly, not wrongly).
    """
    if backend != "auto":
        return backend
    batched = operands[0]
    route = pick_route(geom, batched.shape[0], *channels, groups, batched.dtype, op)
    if route == "fft" and not all(np.isfinite(np.sum(a)) for a in operands):
        return "im2col"
    return route


# ---------------------------------------------------------------------------
# The entry points of the three maps for validated arrays: the routes' dtype rule in one place.
# Every public function below, and convmat.linalg's operator, goes through these.
# ---------------------------------------------------------------------------


def forward(
    x: np.ndarray,
    w: np.ndarray,
    geom: ConvGeometry,
    groups: int,
    backend: Backend = "auto",
    matrix: sp.csr_array | None = None,
) -> np.ndarray:
    """``y = W x`` (no bias) of validated arrays, in their common dtype (float16 computed in float32).

    ``matrix``, if given, is the sparse route's ``W`` (checked by the caller).

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> forward(np.ones((1, 1, 4)), np.ones((1, 1, 3)), conv_geometry((4,), 3), 1)
    array([[[3., 3.]]])
    """
    dtype = result_dtype(x, w)
    work = compute_dtype(dtype)
    xw, ww = x.astype(work, copy=False), w.astype(work, copy=False)
    if matrix is not None:
        return _forward_sparse(xw, ww, geom, groups, matrix).astype(dtype, copy=False)
    route = _route(backend, "forward", geom, (x.shape[1], w.shape[0]), groups, (xw, ww))
    return _FORWARD[route](xw, ww, geom, groups).astype(dtype, copy=False)


def input_grad(
    dy: np.ndarray,
    w: np.ndarray,
    geom: ConvGeometry,
    groups: int,
    backend: Backend = "auto",
    matrix: sp.csr_array | None = None,
) -> np.ndarray:
    """``dx = Wᵀ dy`` of validated arrays, in their common dtype (float16 computed in float32).

    ``matrix``, if given, is the sparse route's ``W`` (checked by the caller).

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> input_grad(np.ones((1, 1, 2)), np.ones((1, 1, 3)), conv_geometry((4,), 3), 1)
    array([[[1., 2., 2., 1.]]])
    """
    dtype = result_dtype(dy, w)
    work = compute_dtype(dtype)
    dyw, ww = dy.astype(work, copy=False), w.astype(work, copy=False)
    if matrix is not None:
        return _input_grad_sparse(dyw, ww, geom, groups, matrix).astype(dtype, copy=False)
    route = _route(backend, "input_grad", geom, (w.shape[1] * groups, w.shape[0]), groups, (dyw, ww))
    return _INPUT_GRAD[route](dyw, ww, geom, groups).astype(dtype, copy=False)


def weight_grad(
    x: np.ndarray,
    dy: np.ndarray,
    weight_shape: tuple[int, ...],
    geom: ConvGeometry,
    groups: int,
    backend: Backend = "auto",
) -> np.ndarray:
    """The kernel gradient of validated arrays, in their common dtype (float16 computed in float32).

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> weight_grad(np.arange(4.0).reshape(1, 1, 4), np.ones((1, 1, 2)), (1, 1, 3), conv_geometry((4,), 3), 1)
    array([[[1., 3., 5.]]])
    """
    dtype = result_dtype(x, dy)
    work = compute_dtype(dtype)
    xw, dyw = x.astype(work, copy=False), dy.astype(work, copy=False)
    route = _route(backend, "weight_grad", geom, (x.shape[1], weight_shape[0]), groups, (xw, dyw))
    return _WEIGHT_GRAD[route](xw, dyw, weight_shape, geom, groups).astype(dtype, copy=False)


def conv(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    backend: Backend = "auto",
    *,
    matrix: sp.csr_array | None = None,
) -> np.ndarray:
    """N-d convolution (cross-correlation, as in deep learning): ``y = W·x + b``.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial)
        Input batch with 1 to 3 spatial dims.
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        Kernel; its rank fixes the number of spatial dims.
    bias : array_like, shape (C_out,), optional
    stride, dilation : int or tuple of int
    padding : int, tuple of int, "valid" or "same"
        ``"same"`` pads ``dilation * (k - 1)`` in total, the odd extra on the
        high side; it requires stride 1.
    groups : int
        Input and output channels are split into this many independent groups.
    padding_mode : {"zeros", "circular", "reflect", "replicate"}
        As PyTorch's ``F.pad(x, pad, mode)`` followed by an unpadded convolution.
    backend : {"auto", "im2col", "sparse", "fft"}
        ``"auto"`` (default): the im2col or the FFT route, whichever the rule of
        :func:`choose_backend` expects to be faster. ``"im2col"``: patches and
        one GEMM per group. ``"sparse"``: ``W @ x`` with the explicit matrix of
        :func:`conv_matrix`. ``"fft"``: ``W`` diagonalised by the discrete Fourier
        transform. All give the same numbers, the FFT route to within rounding
        (about ``eps · log2(P)`` of the output's largest magnitude, ``P`` the
        points of the transform grid).
    matrix : scipy.sparse array, optional
        A ``W`` built beforehand by :func:`conv_matrix` with the same arguments,
        for the sparse route: repeated calls then skip filling ``W`` from the
        kernel. Its entries are used in place of ``weight``'s. Implies the
        sparse route (``backend`` must be ``"auto"`` or ``"sparse"``).

    Returns
    -------
    ndarray, shape (N, C_out, *out_spatial)
        dtype is ``np.result_type`` of the inputs (integers promote to float64).

    See Also
    --------
    conv_input_grad, conv_weight_grad : the two adjoints.
    conv_matrix : the matrix ``W``.

    Notes
    -----
    NaN and inf propagate as in any sum of products. One corner differs between
    the routes: with a non-zero ``padding_mode``, ``W`` stores the *sum* of the
    kernel taps that read the same input element, so an infinite input meets
    ``w1 + w2`` in the sparse route but ``w1`` and ``w2`` separately in the
    im2col route (``inf·(1 - 1)`` is NaN, ``inf·1 + inf·(-1)`` is NaN too, but
    ``inf·(2 - 1)`` is ``inf`` where ``inf·2 + inf·(-1)`` is NaN). Finite inputs
    give the same numbers either way.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 3, 3))
    >>> cm.conv(x, w)[0, 0]
    array([[45., 54.],
           [81., 90.]])
    >>> cm.conv(x, w, backend="fft")[0, 0].round(12)
    array([[45., 54.],
           [81., 90.]])
    >>> W = cm.conv_matrix(w, (1, 4, 4))
    >>> cm.conv(x, w, matrix=W)[0, 0]
    array([[45., 54.],
           [81., 90.]])
    """
    if (on_dask_array := on_dask("conv", x=x, weight=weight, bias=bias)) is not None:
        return on_dask_array(x, weight, bias, stride, padding, dilation, groups, padding_mode, backend, matrix=matrix)
    _check_backend(backend)
    backend = _exact_if_integer(backend, x, weight)
    xa, w = as_array(x, "x"), as_array(weight, "weight")
    b = None if bias is None else as_array(bias, "bias")
    geom, groups = conv_problem(xa.shape, w.shape, stride, padding, dilation, groups, padding_mode, function="conv")
    if b is not None:
        check_array_shape(b, (w.shape[0],), "bias", f"(C_out,) for weight of shape {w.shape}")
    prebuilt = _prebuilt_matrix(matrix, backend, geom, xa.shape[1], w.shape[0])
    dtype = result_dtype(xa, w, b)
    y = forward(xa.astype(dtype, copy=False), w.astype(dtype, copy=False), geom, groups, backend, prebuilt)
    if b is not None:
        y += b.reshape((-1,) + (1,) * geom.ndim)
    return y


def conv_input_grad(
    input_shape: Sequence[int],
    weight: ArrayLike,
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    backend: Backend = "auto",
    *,
    matrix: sp.csr_array | None = None,
) -> np.ndarray:
    """Gradient of a convolution with respect to its input: ``dx = Wᵀ·dy``.

    This is the transposed convolution (a full convolution of ``dy`` with the
    kernel flipped 180°, with ``stride - 1`` zeros inserted between gradient
    elements); mirrors ``torch.nn.grad.conv{1,2,3}d_input``.

    Parameters
    ----------
    input_shape : sequence of int
        Full input shape ``(N, C_in, *spatial)``.
    weight : array_like, shape (C_out, C_in // groups, *kernel)
    grad_output : array_like, shape (N, C_out, *out_spatial)
    stride, padding, dilation, groups, padding_mode, backend, matrix
        As in :func:`conv`; the sparse route multiplies by ``W.T``.

    Returns
    -------
    ndarray, shape ``input_shape``

    Notes
    -----
    For complex arrays this is the plain transpose ``Wᵀ``, the adjoint of the
    bilinear map (as the kernel gradient is); apply ``np.conj`` around it for
    the conjugate transpose ``Wᴴ``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> w = np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    >>> cm.conv_input_grad((1, 1, 3, 3), w, np.ones((1, 1, 2, 2)))[0, 0]
    array([[ 1.,  3.,  2.],
           [ 4., 10.,  6.],
           [ 3.,  7.,  4.]])
    """
    if (on_dask_array := on_dask("conv_input_grad", weight=weight, grad_output=grad_output)) is not None:
        options = {"groups": groups, "padding_mode": padding_mode, "backend": backend, "matrix": matrix}
        return on_dask_array(input_shape, weight, grad_output, stride, padding, dilation, **options)
    _check_backend(backend)
    backend = _exact_if_integer(backend, weight, grad_output)
    shape = check_shape("input_shape", input_shape)
    w = as_array(weight, "weight")
    geom, groups = conv_problem(
        shape, w.shape, stride, padding, dilation, groups, padding_mode, input_name="input_shape"
    )
    dy = _grad_output(grad_output, geom, shape[0], w.shape[0])
    prebuilt = _prebuilt_matrix(matrix, backend, geom, shape[1], w.shape[0])
    return input_grad(dy, w, geom, groups, backend, prebuilt)


def conv_weight_grad(
    x: ArrayLike,
    weight_shape: Sequence[int],
    grad_output: ArrayLike,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    backend: Backend = "auto",
) -> np.ndarray:
    """Gradient of a convolution with respect to its kernel: ``dy`` times the patch matrix of ``x``.

    Equivalently the input convolved with the output gradient used as a kernel,
    dilated by the stride; mirrors ``torch.nn.grad.conv{1,2,3}d_weight``.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial)
    weight_shape : sequence of int
        ``(C_out, C_in // groups, *kernel)``.
    grad_output : array_like, shape (N, C_out, *out_spatial)
    stride, padding, dilation, groups, padding_mode, backend
        As in :func:`conv`. With ``backend="sparse"`` the patch matrix is built
        by the sparse patch-selection matrix instead of strided windows.

    Returns
    -------
    ndarray, shape ``weight_shape``

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> cm.conv_weight_grad(x, (1, 1, 2, 2), np.ones((1, 1, 2, 2)))[0, 0]
    array([[ 8., 12.],
           [20., 24.]])
    """
    if (on_dask_array := on_dask("conv_weight_grad", x=x, grad_output=grad_output)) is not None:
        options = {"groups": groups, "padding_mode": padding_mode, "backend": backend}
        return on_dask_array(x, weight_shape, grad_output, stride, padding, dilation, **options)
    _check_backend(backend)
    backend = _exact_if_integer(backend, x, grad_output)
    xa = as_array(x, "x")
    wshape = check_shape("weight_shape", weight_shape)
    geom, groups = conv_problem(
        xa.shape, wshape, stride, padding, dilation, groups, padding_mode, weight_name="weight_shape"
    )
    dy = _grad_output(grad_output, geom, xa.shape[0], wshape[0])
    return weight_grad(xa, dy, wshape, geom, groups, backend)


def choose_backend(
    x_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    op: Op = "forward",
    dtype: DTypeLike = "float32",
    padding_mode: PaddingMode = "zeros",
) -> str:
    """The route ``backend="auto"`` takes for a convolution call: ``"im2col"`` or ``"fft"``.

    The rule (the model is scipy's ``choose_conv_method``) compares two
    estimates of the call's time, from operation counts and rates measured once
    on a reference machine, and takes the FFT route only where it is clearly
    faster and its rounding error stays within the dtype's tolerance; it never
    takes the sparse route. Its constants and the machine they were measured on
    are in :mod:`convmat.route_choice`, and
    :func:`convmat.route_choice.route_costs` gives the two estimates.

    Parameters
    ----------
    x_shape : sequence of int
        ``(N, C_in, *spatial)``: the input of the convolution (for
        ``op="input_grad"``, the shape of the gradient it returns).
    weight_shape : sequence of int
        ``(C_out, C_in // groups, *kernel)``.
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv`.
    op : {"forward", "input_grad", "weight_grad"}
        Which of the three maps: :func:`conv`, :func:`conv_input_grad`,
        :func:`conv_weight_grad`.
    dtype : dtype
        The dtype of the arrays. Integer and boolean arrays stay on the im2col
        route, whose integer sums are exact.

    Returns
    -------
    str
        ``"im2col"`` or ``"fft"``.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.choose_backend((32, 64, 32, 32), (64, 64, 3, 3), padding=1)
    'im2col'
    >>> cm.choose_backend((2, 64, 56, 56), (64, 1, 31, 31), padding=15, groups=64)
    'fft'
    >>> dw13 = {"padding": 6, "groups": 64}
    >>> cm.choose_backend((8, 64, 56, 56), (64, 1, 13, 13), **dw13, op="weight_grad")
    'fft'
    >>> cm.choose_backend((8, 64, 56, 56), (64, 1, 13, 13), **dw13)
    'im2col'
    """
    check_choice(op, "op", OPS)
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be a NumPy dtype or its name, got {dtype!r}") from exc
    shape, wshape = check_shape("x_shape", x_shape), check_shape("weight_shape", weight_shape)
    geom, groups = conv_problem(
        shape, wshape, stride, padding, dilation, groups, padding_mode, input_name="x_shape", weight_name="weight_shape"
    )
    return pick_route(geom, shape[0], shape[1], wshape[0], groups, compute_dtype(dt), op)


def conv_transpose(
    x: ArrayLike,
    weight: ArrayLike,
    bias: ArrayLike | None = None,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    padding_mode: PaddingMode = "zeros",
    output_size: Sequence[int] | None = None,
    backend: Backend = "auto",
    *,
    matrix: sp.csr_array | None = None,
) -> np.ndarray:
    """Transposed convolution (PyTorch's ``conv_transpose{1,2,3}d``): ``y = Wᵀ·x + b``.

    ``W`` is the convolution that maps an input of the output's shape back to the
    shape of ``x``, so this inverts the *shape* of a convolution, not its values
    (it is ``Wᵀ``, not ``W⁻¹``; :func:`conv_lstsq` inverts the values). A strided
    convolution maps several input sizes to the same output size;
    ``output_padding`` (or ``output_size``) picks which one to return.

    Parameters
    ----------
    x : array_like, shape (N, C_in, *spatial)
    weight : array_like, shape (C_in, C_out // groups, *kernel)
        PyTorch's layout for transposed convolutions (input channels first).
        Read as a forward kernel ``(C_out_fwd, C_in_fwd // groups, *kernel)``
        it is the weight of the convolution ``W`` this is the transpose of.
    bias : array_like, shape (C_out,), optional
    stride, padding, dilation : int or tuple of int
        Those of the forward convolution this is the transpose of.
    output_padding : int or tuple of int
        Extra size on the high side of each output dim; smaller than either
        the stride or the dilation (than the stride, with a non-zero
        ``padding_mode``).
    groups : int
    padding_mode : {"zeros", "circular", "reflect", "replicate"}
        The padding mode of the forward convolution. ``"zeros"`` is PyTorch's
        transposed convolution. The others, which PyTorch refuses
        (pytorch#46027), give the exact transpose ``Wᵀ`` of the convolution
        with that mode: ``W = conv_matrix(weight, (C_out, *out_spatial),
        stride, padding, dilation, groups, padding_mode)``, whose output has the
        shape of ``x``; the result is the input gradient of that convolution.
        They need ``output_padding`` smaller than the stride (else that
        convolution would not map back to ``x``'s size), ``"reflect"`` each
        pad smaller than the output dim and ``"circular"`` at most the output
        dim.
    output_size : sequence of int, optional
        The spatial size of the output, or the full ``(N, C_out, *spatial)``
        (the two leading entries are not read), as in PyTorch's
        ``ConvTranspose{1,2,3}d.forward(input, output_size)``: it chooses
        ``output_padding``. Each entry must lie in ``[m, m + stride - 1]`` with
        ``m`` the size for ``output_padding=0``, else ``ValueError`` giving the
        range. A non-zero ``output_padding`` given as well must be the one
        ``output_size`` implies.
    backend : {"auto", "im2col", "sparse", "fft"}
        As in :func:`conv`; ``"sparse"`` multiplies by the explicit ``W.T``.
    matrix : scipy.sparse array, optional
        The ``W`` above, built beforehand, for the sparse route (as in :func:`conv`).

    Returns
    -------
    ndarray, shape (N, C_out, *out_spatial)
        ``out = (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``.

    See Also
    --------
    conv_input_grad : the same ``Wᵀ``, given the forward convolution's input shape.
    conv_lstsq : the least-squares inverse of ``W``, which recovers values.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> y = cm.conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2)
    >>> y.shape
    (1, 1, 5, 5)
    >>> y[0, 0]
    array([[1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.],
           [2., 2., 4., 2., 2.],
           [1., 1., 2., 1., 1.],
           [1., 1., 2., 1., 1.]])
    >>> cm.conv_transpose(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3)), stride=2, output_size=(6, 5)).shape
    (1, 1, 6, 5)

    With circular padding, the transpose of the circular convolution's ``W``:

    >>> h, w = np.array([[[1.0, 2.0, 3.0, 4.0]]]), np.array([[[1.0, 10.0, 100.0]]])
    >>> cm.conv_transpose(h, w, padding=1, padding_mode="circular")
    array([[[412., 123., 234., 341.]]])
    >>> cm.conv_matrix(w, (1, 4), padding=1, padding_mode="circular").T @ h.ravel()
    array([412., 123., 234., 341.])
    """
    if (on_dask_array := on_dask("conv_transpose", x=x, weight=weight, bias=bias)) is not None:
        options = {"dilation": dilation, "padding_mode": padding_mode, "output_size": output_size, "backend": backend}
        return on_dask_array(x, weight, bias, stride, padding, output_padding, groups, **options, matrix=matrix)
    _check_backend(backend)
    backend = _exact_if_integer(backend, x, weight)
    xa, w = as_array(x, "x"), as_array(weight, "weight")
    b = None if bias is None else as_array(bias, "bias")
    geom, zero_tail, groups = conv_transpose_problem(
        xa.shape, w.shape, stride, padding, output_padding, groups, dilation, padding_mode, output_size
    )
    dtype = result_dtype(xa, w, b)
    c_out = w.shape[1] * groups
    if b is not None:
        check_array_shape(b, (c_out,), "bias", f"(C_out,) for weight of shape {w.shape} and groups={groups}")
    if geom is None:
        if matrix is not None:
            raise ValueError(f"matrix: this transposed convolution reads no input (output zeros of shape {zero_tail})")
        y = np.zeros((xa.shape[0], c_out, *zero_tail), dtype=dtype)
    else:
        prebuilt = _prebuilt_matrix(matrix, backend, geom, c_out, xa.shape[1])
        y = input_grad(xa.astype(dtype, copy=False), w.astype(dtype, copy=False), geom, groups, backend, prebuilt)
        if any(zero_tail):
            y = np.pad(y, [(0, 0), (0, 0), *((0, t) for t in zero_tail)])
    if b is not None:
        y += b.reshape((-1,) + (1,) * len(zero_tail))
    return y


def _examples(name: str, n: int, weight_shape: tuple[int, ...], out: int) -> list[tuple[str, str]]:
    """A batched and an unbatched call of ``name`` on a 4-wide input of one channel."""
    w = f"np.ones({weight_shape})"
    c_out = weight_shape[1] if name.startswith("conv_transpose") else weight_shape[0]
    unbatched = f"cm.{name}(np.ones({(1,) + (4,) * n}), {w}).shape  # unbatched (C, {spatial_names(n)})"
    return [
        (f"cm.{name}(np.ones({(1, 1) + (4,) * n}), {w}).shape", str((1, c_out) + (out,) * n)),
        (unbatched, str((c_out,) + (out,) * n)),
    ]


def _conv_nd(n: int) -> Callable[..., np.ndarray]:
    return rank_specific(
        conv,
        n,
        what="convolution",
        examples=_examples(f"conv{n}d", n, (2, 1) + (3,) * n, 2),
        weight_layout="(C_out, C_in // groups, *kernel)",
    )


def _conv_transpose_nd(n: int) -> Callable[..., np.ndarray]:
    variant = rank_specific(
        conv_transpose,
        n,
        what="transposed convolution",
        examples=_examples(f"conv_transpose{n}d", n, (1, 2) + (3,) * n, 6),
        weight_layout="(C_in, C_out // groups, *kernel)",
    )
    signature = inspect.signature(conv_transpose)

    def with_unbatched_output_size(*args: Any, **kwargs: Any) -> np.ndarray:
        # PyTorch's module takes output_size as (C, *spatial) too for an unbatched input (C, *spatial).
        bound = signature.bind(*args, **kwargs)
        size = bound.arguments.get("output_size")
        if isinstance(size, Sequence) and len(size) == n + 1 and np.ndim(bound.arguments["x"]) == n + 1:
            bound.arguments["output_size"] = tuple(size)[1:]
        return variant(*bound.args, **bound.kwargs)

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__", "__signature__"):
        setattr(with_unbatched_output_size, attribute, getattr(variant, attribute))
    return with_unbatched_output_size


conv1d = _conv_nd(1)
conv2d = _conv_nd(2)
conv3d = _conv_nd(3)
conv_transpose1d = _conv_transpose_nd(1)
conv_transpose2d = _conv_transpose_nd(2)
conv_transpose3d = _conv_transpose_nd(3)
