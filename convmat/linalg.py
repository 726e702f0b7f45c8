"""Linear algebra on the layer: ``W`` as an operator, its singular values and its norm.

A convolution layer (bias excluded) is the linear map ``W`` of
:func:`convmat.conv_matrix`. Three views of it:

:func:`conv_operator`
    ``W`` as a :class:`scipy.sparse.linalg.LinearOperator` that never builds
    the matrix: ``W @ X`` is the convolution of the columns of ``X`` (samples),
    ``Wᴴ @ Y`` their transposed convolution (:func:`convmat.conv_input_grad`),
    both by the im2col route. ``svds``, ``eigsh``, ``lsqr`` … work on layers far
    too large to materialise. Every geometry of :func:`convmat.conv_matrix`.
:func:`conv_singular_values`
    Every singular value, exactly, for a stride-1 circular convolution whose
    output has the input's size: ``W`` is block-circulant, the DFT turns it into
    one ``C_out × C_in`` matrix per frequency (Sedghi, Gupta & Long, 2019).
:func:`conv_spectral_norm`
    The largest singular value for any geometry: Lanczos (ARPACK, through
    ``svds``) on the operator, to a stated relative tolerance.
:func:`conv_lstsq`
    The (damped) least-squares inverse of ``W``: ``lsqr`` on the operator, or,
    for a stride-1 circular convolution, one small solve per frequency.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod, sqrt
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike
from scipy.sparse.linalg import LinearOperator, lsqr, svds

from ._arrays import as_array, check_array_shape, result_dtype
from .conv import forward, input_grad
from .geometry import (
    ConvGeometry,
    IntOrTuple,
    Padding,
    PaddingMode,
    check_choice,
    check_positive_int,
    check_shape,
    conv_problem,
    normalize_groups,
    normalize_tuple,
    spatial_dims_of,
)

__all__ = ["LSTSQ_METHODS", "LstsqResult", "conv_lstsq", "conv_operator", "conv_singular_values", "conv_spectral_norm"]

#: Seed of the start vector of :func:`conv_spectral_norm` (the result is deterministic).
START_SEED = 0


class _ConvOperator(LinearOperator):
    """``W`` of one validated geometry; columns of the operands are samples.

    ``matmat``: ``[C_in*S, n] -> [n, C_in, *spatial] -> conv -> [n, C_out, *out] -> [C_out*L, n]``;
    ``rmatmat``: the same path backwards through the input gradient with ``conj(w)``, so that it
    is the adjoint ``Wᴴ`` that scipy expects (``Wᵀ`` for real kernels). scipy derives the vector
    forms (``matvec``, ``rmatvec``) from these two.
    """

    def __init__(self, weight: np.ndarray, geom: ConvGeometry, groups: int) -> None:
        c_out, cin_g = weight.shape[:2]
        self._weight, self._adjoint_weight = weight, weight.conj() if np.iscomplexobj(weight) else weight
        self._geom, self._groups = geom, groups
        self._in_shape = (cin_g * groups, *geom.input_spatial)
        self._out_shape = (c_out, *geom.output_spatial)
        super().__init__(weight.dtype, (prod(self._out_shape), prod(self._in_shape)))

    def _apply(
        self, route: Callable[..., np.ndarray], weight: np.ndarray, columns: np.ndarray, in_shape: tuple, out_rows: int
    ) -> np.ndarray:
        a = as_array(columns, "operand")
        samples = a.T.reshape(a.shape[1], *in_shape)
        result = route(samples, weight, self._geom, self._groups)
        return result.reshape(a.shape[1], out_rows).T

    def _matmat(self, X: np.ndarray) -> np.ndarray:
        return self._apply(forward, self._weight, X, self._in_shape, self.shape[0])

    def _rmatmat(self, Y: np.ndarray) -> np.ndarray:
        return self._apply(input_grad, self._adjoint_weight, Y, self._out_shape, self.shape[1])


def conv_operator(
    weight: ArrayLike,
    input_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
) -> LinearOperator:
    """The convolution matrix ``W`` as a matrix-free :class:`~scipy.sparse.linalg.LinearOperator`.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        Kernel, 1 to 3 spatial dims.
    input_shape : sequence of int
        ``(C_in, *spatial)`` of one sample, as in :func:`conv_matrix`.
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv` (every padding mode, ``"same"``, groups).

    Returns
    -------
    scipy.sparse.linalg.LinearOperator, shape (C_out * prod(out), C_in * prod(spatial))
        The same map as ``conv_matrix(weight, input_shape, ...)``, C order:
        ``A @ x`` (``matvec``) is ``conv(x.reshape(1, *input_shape), weight).ravel()``,
        ``A.H @ y`` (``rmatvec``) the transposed convolution
        (:func:`conv_input_grad`), both by the im2col route. ``matmat`` and
        ``rmatmat`` take one sample per *column* and convolve them as one
        batch. dtype is the weight's (integers promote to float64); an operand
        of a wider dtype widens the result, as in :func:`conv`.

    See Also
    --------
    conv_matrix : the same ``W``, materialised.
    conv_spectral_norm : its largest singular value, through this operator.

    Notes
    -----
    Each product costs one convolution of the batch of columns and holds only
    the im2col workspace, never ``W``, so :func:`scipy.sparse.linalg.svds`,
    ``eigsh``, ``lsqr`` or ``cg`` run on layers far too large to build. For a
    complex kernel ``rmatvec`` is the adjoint ``Wᴴ`` (the kernel conjugated), as
    scipy's operators require; :func:`conv_input_grad` is the plain ``Wᵀ``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> from scipy.sparse.linalg import svds
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_normal((4, 3, 3, 3))
    >>> A = cm.conv_operator(w, (3, 8, 8), stride=2, padding=1)
    >>> A.shape
    (64, 192)
    >>> x = rng.standard_normal((1, 3, 8, 8))
    >>> bool(np.allclose(A @ x.ravel(), cm.conv(x, w, stride=2, padding=1).ravel()))
    True
    >>> W = cm.conv_matrix(w, (3, 8, 8), stride=2, padding=1)
    >>> y = rng.standard_normal(64)
    >>> bool(np.allclose(A.rmatvec(y), W.T @ y))
    True
    >>> s = svds(A, k=1, return_singular_vectors=False, rng=0)
    >>> bool(np.isclose(s[0], np.linalg.norm(W.toarray(), 2)))
    True
    """
    w = as_array(weight, "weight")
    geom, groups = conv_problem(
        input_shape, w.shape, stride, padding, dilation, groups, padding_mode, batched=False, input_name="input_shape"
    )
    return _ConvOperator(w, geom, groups)


def _check_finite(w: np.ndarray) -> None:
    if not np.all(np.isfinite(w)):
        raise ValueError(f"weight must be finite (no NaN or inf) for singular values, got weight of shape {w.shape}")


def _torus_kernel(
    w: np.ndarray, spatial: tuple[int, ...], dilation: tuple[int, ...], shift: tuple[int, ...] | None = None
) -> np.ndarray:
    """The kernel on the torus ``spatial``, tap ``t`` at offset ``t * d - shift``: ``[co, ci, *k] -> [co, ci, *n]``.

    Taps that land on the same offset modulo ``n`` (a kernel larger than the input) add up.
    """
    folded = w
    shifts = shift if shift is not None else (0,) * len(spatial)
    for axis, (n, k, d, s) in enumerate(zip(spatial, w.shape[2:], dilation, shifts, strict=True), start=2):
        on_torus = np.zeros((*folded.shape[:axis], n, *folded.shape[axis + 1 :]), dtype=folded.dtype)
        # offset of each tap on this axis: t * d - s mod n (several taps can share one)
        np.add.at(np.moveaxis(on_torus, axis, 0), (np.arange(k) * d - s) % n, np.moveaxis(folded, axis, 0))
        folded = on_torus
    return folded


def _torus_spectrum(w: np.ndarray, spatial: tuple[int, ...], dilation: tuple[int, ...]) -> np.ndarray:
    """DFT on the torus ``spatial`` of the kernel, tap ``t`` at offset ``t * d``: ``[co, ci, *k] -> [co, ci, *n]``.

    Taps that land on the same offset modulo ``n`` (a kernel larger than the input) add up first.
    """
    return np.fft.fftn(_torus_kernel(w, spatial, dilation), axes=tuple(range(2, w.ndim)))


def conv_singular_values(
    weight: ArrayLike,
    input_spatial: Sequence[int],
    *,
    dilation: IntOrTuple = 1,
    groups: int = 1,
) -> np.ndarray:
    """Every singular value of a stride-1 circular convolution, exactly, from the DFT of the kernel.

    The convolution is the one on the torus of size ``input_spatial``, output the
    size of the input::

        y[o, i] = Σ_c Σ_t weight[o, c, t] · x[c, (i + t·dilation − p) mod n]

    which is ``conv_matrix(weight, (C_in, *input_spatial), padding="same",
    padding_mode="circular", dilation=dilation, groups=groups)`` (``p`` the low
    pad). The singular values do not depend on the shift ``p``, so any circular
    padding with total ``dilation·(k − 1)`` per dim gives the same values.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        Kernel, 1 to 3 spatial dims; real or complex.
    input_spatial : sequence of int
        Spatial shape of the input (positive, one entry per kernel dim).
    dilation : int or tuple of int, keyword-only
    groups : int, keyword-only
        ``W`` is then block-diagonal: the values of each group's layer together.

    Returns
    -------
    ndarray, shape (min(C_out, C_in) * prod(input_spatial),)
        Sorted in descending order, zeros included: the values
        ``np.linalg.svd(W.toarray(), compute_uv=False)`` returns. float64, or
        float32 for a float32/complex64 kernel (computed in double precision).

    Raises
    ------
    ValueError
        For a weight that is not 3- to 5-dimensional, has an empty dimension or
        is not finite, ``input_spatial`` of the wrong length or with a zero
        entry, non-positive ``dilation``, or ``C_out`` not divisible by ``groups``.

    See Also
    --------
    conv_spectral_norm : the largest singular value for any geometry.
    conv_operator : ``W`` as a matrix-free operator.

    Notes
    -----
    Per channel pair ``(o, c)`` the map is a polynomial in the cyclic shifts of
    the torus, which the unitary DFT diagonalises; the ``(o, c)`` entry of the
    diagonal at frequency ``f`` is, up to a factor of modulus one (the shift),
    ``K_f[o, c] = Σ_t w[o, c, t] · exp(2πi Σ_axes f·t·d / n)`` (numpy's FFT, of
    the opposite sign, gives the same matrices at frequency ``−f``). Regrouped by
    frequency, ``W`` is unitarily equivalent to the block diagonal of the
    ``C_out × C_in`` matrices ``K_f``: its singular values are those of all
    ``K_f`` together, ``P = prod(n)`` small SVDs instead of one of size
    ``(C_out·P) × (C_in·P)`` (Sedghi, Gupta & Long, *The singular values of
    convolutional layers*, ICLR 2019). The kernel may be larger than the input:
    taps that meet modulo ``n`` add up (PyTorch's circular padding allows this
    only while each pad is at most the input size; here there is no limit).
    Memory: ``C_out · (C_in // groups) · P`` complex numbers.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_normal((2, 3, 3, 3))
    >>> s = cm.conv_singular_values(w, (5, 5))
    >>> s.shape
    (50,)
    >>> W = cm.conv_matrix(w, (3, 5, 5), padding="same", padding_mode="circular")
    >>> bool(np.allclose(s, np.linalg.svd(W.toarray(), compute_uv=False)))
    True
    """
    w = as_array(weight, "weight")
    n = spatial_dims_of(w.ndim, "weight", "(C_out, C_in // groups, *kernel)")
    spatial = check_shape("input_spatial", input_spatial)
    if len(spatial) != n or 0 in spatial:
        raise ValueError(
            f"input_spatial must have {n} positive entries to match weight of shape {w.shape}, got {spatial}"
        )
    if 0 in w.shape:
        raise ValueError(f"weight must not have empty dimensions, got shape {w.shape}")
    dil = normalize_tuple(dilation, n, "dilation", minimum=1)
    groups = normalize_groups(groups)
    c_out, cin_g = w.shape[:2]
    if c_out % groups:
        raise ValueError(f"weight's C_out={c_out} (weight shape {w.shape}) is not divisible by groups={groups}")
    _check_finite(w)
    spectrum = _torus_spectrum(w.astype(np.result_type(w, np.float64), copy=False), spatial, dil)
    # [G*co, ci, *f] -> [G, co, ci, P] -> [P, G, co, ci]: one small matrix per frequency and group
    blocks = spectrum.reshape(groups, c_out // groups, cin_g, -1).transpose(3, 0, 1, 2)
    values = np.linalg.svd(blocks, compute_uv=False).ravel()
    return np.sort(values)[::-1].astype(np.finfo(w.dtype).dtype)


def _check_rtol(rtol: float) -> float:
    if isinstance(rtol, bool) or not isinstance(rtol, numbers.Real):
        raise TypeError(f"rtol must be a real number, got {rtol!r}")
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must satisfy 0 <= rtol < 1, got {rtol!r}")
    return float(rtol)


def conv_spectral_norm(
    weight: ArrayLike,
    input_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    *,
    rtol: float = 1e-6,
) -> float:
    """The largest singular value ``‖W‖₂`` of a convolution layer, for any geometry, without building ``W``.

    Parameters
    ----------
    weight : array_like, shape (C_out, C_in // groups, *kernel)
        Kernel, 1 to 3 spatial dims; must be finite.
    input_shape : sequence of int
        ``(C_in, *spatial)`` of one sample, as in :func:`conv_matrix`.
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv`.
    rtol : float, keyword-only
        Relative tolerance, ``0 <= rtol < 1``; ``0`` asks for machine precision.

    Returns
    -------
    float
        ``σ`` with ``σ_max·(1 − rtol) <= σ <= σ_max`` (up to rounding): the value
        approaches from below. ``0.0`` when ``W`` is zero or empty.

    Raises
    ------
    ValueError
        For an invalid geometry (as :func:`conv_matrix`), a weight that is not
        finite or ``rtol`` outside ``[0, 1)``.
    scipy.sparse.linalg.ArpackNoConvergence
        If Lanczos does not meet ``rtol`` within ARPACK's default iterations.

    See Also
    --------
    conv_singular_values : all of them, exactly, for stride-1 circular layers.
    conv_operator : the operator this runs on.

    Notes
    -----
    ``svds(conv_operator(...), k=1)``: implicitly restarted Lanczos (ARPACK) on
    the Gram matrix ``WᴴW`` (or ``WWᴴ``, the smaller), from a start vector drawn
    from ``np.random.default_rng(START_SEED)``, so the result is deterministic.
    The work runs in double precision whatever the weight's dtype. ARPACK stops
    when the residual of the Ritz value ``θ`` is at most ``rtol·θ``; since ``θ``
    is a Rayleigh quotient of ``WᴴW`` it lies below ``σ_max²`` and within
    ``rtol·θ`` of it, so ``√θ`` is within ``rtol/2`` of ``σ_max`` (Lanczos from a
    random start converges to the extreme eigenvalue first). A single-row or
    single-column ``W`` is measured directly.

    Which function to use: for a stride-1 circular layer whose output has the
    input's size, ``conv_singular_values(...)[0]`` is exact and cheaper; for
    any other layer this function; for a small layer the dense
    ``np.linalg.norm(conv_matrix(...).toarray(), 2)`` is exact as well.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> w = np.random.default_rng(0).standard_normal((4, 3, 3, 3))
    >>> sigma = cm.conv_spectral_norm(w, (3, 10, 10), stride=2, padding=1)
    >>> W = cm.conv_matrix(w, (3, 10, 10), stride=2, padding=1)
    >>> exact = np.linalg.norm(W.toarray(), 2)
    >>> bool(abs(sigma - exact) <= 1e-6 * exact)
    True
    """
    w = as_array(weight, "weight")
    geom, groups = conv_problem(
        input_shape, w.shape, stride, padding, dilation, groups, padding_mode, batched=False, input_name="input_shape"
    )
    tol = _check_rtol(rtol)
    _check_finite(w)
    op = _ConvOperator(w.astype(np.result_type(w, np.float64), copy=False), geom, groups)
    rows, cols = op.shape
    if min(rows, cols) == 0:
        return 0.0
    if min(rows, cols) == 1:
        # One row or one column: its Euclidean norm.
        edge = op.matvec(np.ones(1)) if cols == 1 else op.rmatvec(np.ones(1))
        return float(np.linalg.norm(edge))
    v0 = np.random.default_rng(START_SEED).standard_normal(min(rows, cols))
    # A zero W would stop ARPACK with an error; a random v0 lies in the null space of a non-zero W
    # with probability zero, so this one product tells them apart.
    if not np.any(op.matvec(v0) if cols <= rows else op.rmatvec(v0)):
        return 0.0
    # svds hands tol² to eigsh on the Gram matrix: its eigenvalue θ = σ² then meets rtol.
    sigma = svds(op, k=1, tol=sqrt(tol), v0=v0, return_singular_vectors=False)
    return float(sigma[0])


LstsqMethod = Literal["auto", "lsqr", "fft"]
#: The routes of :func:`conv_lstsq`: ``"auto"`` takes ``"fft"`` wherever it applies, else ``"lsqr"``.
LSTSQ_METHODS: tuple[LstsqMethod, ...] = get_args(LstsqMethod)

#: lsqr's reasons for stopping (``istop``) that mean it met ``atol``/``btol``: 0 (``x = 0`` solves it), 1, 2,
#: and 4, 5 (the same at machine precision). 3 and 6 (its condition-number limit) and 7 (``maxiter``) do not.
_LSQR_CONVERGED = (0, 1, 2, 4, 5)


@dataclass(frozen=True, eq=False)
class LstsqResult:
    """What :func:`conv_lstsq` returns: the solution, how it was found, and how well it fits.

    Attributes
    ----------
    x : ndarray, shape input_shape
        The solution, per sample ``argmin ‖W x − y‖² + damp²‖x‖²`` (with
        ``damp = 0`` the one of least norm); dtype that of ``y`` and the weight
        together (integers promote to float64), computed in double precision.
    method : {"lsqr", "fft"}
        The route taken.
    iterations : ndarray of int, shape (N,)
        lsqr's iterations per sample (each one convolution and one transposed
        convolution); zeros for the FFT route, which solves directly.
    converged : ndarray of bool, shape (N,)
        Whether lsqr stopped by ``atol``/``btol`` (``istop`` 0, 1, 2, 4 or 5),
        not by ``maxiter`` or its condition-number limit (``conlim=1e8``,
        ``istop`` 3, 6, 7). Always true for the FFT route.
    residual_norm : ndarray of float64, shape (N,)
        ``‖W x − y‖`` per sample, computed from ``x`` after the solve (one
        convolution of the batch, in double precision), not lsqr's running
        estimate.
    damped_residual_norm : ndarray of float64, shape (N,)
        ``sqrt(‖W x − y‖² + damp²‖x‖²)``, the square root of the minimised
        objective (lsqr's ``r2norm``); equal to ``residual_norm`` when
        ``damp = 0``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> w = np.array([[[1.0, 2.0]]])
    >>> result = cm.conv_lstsq(np.array([[[5.0, 8.0]]]), w, (1, 1, 3))  # x = [1, 2, 3] gives y = [5, 8]
    >>> result.method, result.x.shape, bool(result.converged[0]), bool(result.residual_norm[0] < 1e-12)
    ('lsqr', (1, 1, 3), True, True)
    """

    x: np.ndarray
    method: str
    iterations: np.ndarray
    converged: np.ndarray
    residual_norm: np.ndarray
    damped_residual_norm: np.ndarray


def _check_tolerance(value: float, name: str) -> float:
    """A finite real ``value >= 0``: ``TypeError`` unless a real number (bool is not), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not (np.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return number


def _on_torus(geom: ConvGeometry) -> bool:
    """Whether ``W`` is a convolution on the torus: stride 1, circular padding, output the size of the input."""
    return (
        geom.padding_mode == "circular"
        and all(s == 1 for s in geom.stride)
        and geom.output_spatial == geom.input_spatial
    )


def _lstsq_fft(y: np.ndarray, w: np.ndarray, geom: ConvGeometry, groups: int, damp: float) -> np.ndarray:
    """The damped least-squares solution on the torus, one ``C_out × C_in`` solve per frequency and group.

    ``y[o, i] = Σ_c Σ_m a[o, c, m] x[c, i + m]`` with ``a`` the kernel on the torus (tap ``t`` at offset
    ``t·d − p_low``), so with numpy's DFT ``Ŷ_f = K_f X̂_f``, ``K_f = Σ_m a[:, :, m] e^{+2πi f·m/n} = P·ifft(a)_f``.
    The DFT is unitary up to ``√P`` in both norms, so the objective splits over frequencies with the same damp.
    """
    spatial, batch = geom.input_spatial, y.shape[0]
    axes = tuple(range(2, 2 + geom.ndim))
    size = prod(spatial)
    c_out, cin_g = w.shape[:2]
    co = c_out // groups
    torus = _torus_kernel(w, spatial, geom.dilation, tuple(lo for lo, _ in geom.padding))
    # [G*co, ci, *n] -> [G, co, ci, P] -> [P, G, co, ci]: one small matrix per frequency and group
    blocks = (np.fft.ifftn(torus, axes=axes) * size).reshape(groups, co, cin_g, size).transpose(3, 0, 1, 2)
    # [N, G*co, *n] -> [N, G, co, P] -> [P, G, co, N]
    spectrum = np.fft.fftn(y, axes=axes).reshape(batch, groups, co, size).transpose(3, 1, 2, 0)
    u, s, vh = np.linalg.svd(blocks, full_matrices=False)
    if damp > 0:
        gain = s / (s * s + damp * damp)
    else:
        # numpy.linalg.lstsq's cut-off on the dense W: singular values below max(m, n)·eps·σ_max count as zero
        cutoff = np.finfo(np.float64).eps * max(c_out, cin_g * groups) * size * (s.max(initial=0.0))
        gain = np.divide(1.0, s, out=np.zeros_like(s), where=s > cutoff)
    # X_f = V diag(gain) Uᴴ Y_f: [P, G, ci, r] @ ([P, G, r, 1] * [P, G, r, N]) -> [P, G, ci, N]
    solved = np.swapaxes(vh.conj(), -1, -2) @ (gain[..., None] * (np.swapaxes(u.conj(), -1, -2) @ spectrum))
    x = np.fft.ifftn(solved.transpose(3, 1, 2, 0).reshape(batch, groups * cin_g, *spatial), axes=axes)
    return x if np.iscomplexobj(y) or np.iscomplexobj(w) else x.real


def conv_lstsq(
    y: ArrayLike,
    weight: ArrayLike,
    input_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: PaddingMode = "zeros",
    damp: float = 0.0,
    atol: float = 1e-10,
    btol: float = 1e-10,
    maxiter: int | None = None,
    *,
    method: LstsqMethod = "auto",
) -> LstsqResult:
    """The (damped) least-squares inverse of a convolution: the input that best explains ``y``.

    Per sample, ``x = argmin ‖W x − y‖² + damp²‖x‖²`` with ``W`` the layer's
    matrix (:func:`conv_matrix`, bias excluded). This is the deconvolution that
    :func:`conv_transpose` is not: ``conv_transpose`` applies ``Wᵀ``, which
    restores the shape of ``x``; this applies the (regularised) pseudo-inverse,
    which restores its values wherever ``W`` is injective.

    Parameters
    ----------
    y : array_like, shape (N, C_out, *out_spatial)
        The convolution outputs to invert.
    weight : array_like, shape (C_out, C_in // groups, *kernel)
    input_shape : sequence of int
        The full ``(N, C_in, *spatial)`` of the solution.
    stride, padding, dilation, groups, padding_mode
        As in :func:`conv`.
    damp : float
        Tikhonov damping ``>= 0``; ``0`` gives the least-squares solution of
        least norm.
    atol, btol : float
        lsqr's stopping tolerances (``>= 0``): it stops when the residual, or
        the residual of the normal equations, is that small relative to ``y``
        and ``‖W‖‖x‖``; roughly, ``x`` is then accurate to ``cond(W)·atol``.
        Not used by the FFT route.
    maxiter : int, optional
        lsqr's iteration limit per sample; by default scipy's, twice the
        number of unknowns of a sample.
    method : {"auto", "lsqr", "fft"}, keyword-only
        ``"lsqr"``: :func:`scipy.sparse.linalg.lsqr` on :func:`conv_operator`,
        one run per sample, for every geometry. ``"fft"``: exact, for a
        stride-1 circular convolution whose output has the input's size
        (``padding="same", padding_mode="circular"``), else ``ValueError``.
        ``"auto"``: ``"fft"`` where it applies, else ``"lsqr"``.

    Returns
    -------
    LstsqResult
        ``x`` (shape ``input_shape``), ``method``, and per sample
        ``iterations``, ``converged``, ``residual_norm`` ``‖W x − y‖`` and
        ``damped_residual_norm``.

    Raises
    ------
    ValueError
        For an invalid geometry (as :func:`conv`), ``y`` not of shape
        ``(N, C_out, *out_spatial)`` for ``input_shape``, a weight or ``y``
        that is not finite, ``damp``, ``atol`` or ``btol`` negative or not
        finite, ``maxiter < 1``, or ``method="fft"`` on a geometry it does not
        apply to.
    TypeError
        For a ``damp``, ``atol``, ``btol`` or ``maxiter`` of the wrong type.

    See Also
    --------
    conv_transpose : ``Wᵀ``, the adjoint, not the inverse.
    conv_operator : the operator lsqr runs on.
    conv_singular_values : the same diagonalisation as the FFT route.

    Notes
    -----
    **lsqr route.** Each iteration costs one convolution and one transposed
    convolution of one sample; ``W`` is never built. Started from zero, lsqr
    converges to the solution of least norm when ``W`` has a null space (a
    strided convolution: more unknowns than equations). Its accuracy depends
    on the conditioning of ``W``; ``damp > 0`` bounds it.

    **FFT route.** On the torus, ``W`` is block-circulant: the DFT turns it
    into one ``C_out × C_in`` matrix ``K_f`` per frequency (per group), as in
    :func:`conv_singular_values`, and the DFT being unitary (up to a scale
    that cancels) the objective splits into ``P = prod(spatial)`` small
    problems. Each is solved through the SVD ``K_f = U S Vᴴ``:
    ``x̂_f = V diag(s / (s² + damp²)) Uᴴ ŷ_f``; with ``damp = 0``, singular
    values below ``max(m, n)·eps·σ_max`` of the whole ``m × n`` matrix ``W``
    count as zero, the cut-off of :func:`numpy.linalg.lstsq`. Cost: two FFTs
    of the batch and ``P`` SVDs of ``C_out × C_in / groups``.

    Examples
    --------
    >>> import numpy as np, convmat as cm
    >>> rng = np.random.default_rng(0)
    >>> w = rng.standard_normal((4, 2, 3, 3))     # 2 -> 4 channels: W is 256 x 128, injective
    >>> x = rng.standard_normal((1, 2, 8, 8))
    >>> y = cm.conv(x, w, padding=1)
    >>> back = cm.conv_transpose(y, w, padding=1)
    >>> result = cm.conv_lstsq(y, w, x.shape, padding=1)
    >>> bool(np.allclose(back, x)), bool(np.allclose(result.x, x)), result.method
    (False, True, 'lsqr')
    >>> y_circ = cm.conv(x, w, padding=1, padding_mode="circular")
    >>> exact = cm.conv_lstsq(y_circ, w, x.shape, padding=1, padding_mode="circular")
    >>> exact.method, exact.iterations, bool(np.allclose(exact.x, x))
    ('fft', array([0]), True)
    """
    w = as_array(weight, "weight")
    shape = check_shape("input_shape", input_shape)
    geom, groups = conv_problem(
        shape, w.shape, stride, padding, dilation, groups, padding_mode, input_name="input_shape"
    )
    ya = as_array(y, "y")
    check_array_shape(ya, (shape[0], w.shape[0], *geom.output_spatial), "y", "(N, C_out, *out_spatial)")
    damp_value = _check_tolerance(damp, "damp")
    atol_value, btol_value = _check_tolerance(atol, "atol"), _check_tolerance(btol, "btol")
    iter_lim = None if maxiter is None else check_positive_int(maxiter, "maxiter")
    route = check_choice(method, "method", LSTSQ_METHODS)
    if route == "fft" and not _on_torus(geom):
        raise ValueError(
            f"method='fft' needs a stride-1 circular convolution whose output has the input's size, got "
            f"stride {geom.stride}, padding {geom.padding}, padding_mode {geom.padding_mode!r}: output "
            f"{geom.output_spatial} for input {geom.input_spatial}; use method='lsqr' (or 'auto')"
        )
    for name, a in (("weight", w), ("y", ya)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite (no NaN or inf) for least squares, got {name} of shape {a.shape}")
    work = np.result_type(ya, w, np.float64)
    yw, ww = ya.astype(work, copy=False), w.astype(work, copy=False)
    batch = shape[0]
    iterations = np.zeros(batch, dtype=np.int64)
    converged = np.ones(batch, dtype=bool)
    if route != "lsqr" and _on_torus(geom):
        used = "fft"
        x = _lstsq_fft(yw, ww, geom, groups, damp_value)
    else:
        used = "lsqr"
        op = _ConvOperator(ww, geom, groups)
        x = np.zeros(shape, dtype=work)
        for n in range(batch):
            solution, istop, itn = lsqr(
                op, yw[n].ravel(), damp=damp_value, atol=atol_value, btol=btol_value, iter_lim=iter_lim
            )[:3]
            x[n] = solution.reshape(shape[1:])
            iterations[n], converged[n] = itn, istop in _LSQR_CONVERGED
    residual_norm = np.linalg.norm((forward(x, ww, geom, groups) - yw).reshape(batch, prod(yw.shape[1:])), axis=1)
    x_norm = np.linalg.norm(x.reshape(batch, prod(shape[1:])), axis=1)
    damped = np.sqrt(residual_norm**2 + (damp_value * x_norm) ** 2)
    return LstsqResult(x.astype(result_dtype(ya, w), copy=False), used, iterations, converged, residual_norm, damped)
