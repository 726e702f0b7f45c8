"""Linear algebra on the layer: the matrix-free operator, exact singular values, the spectral norm.

The operator runs the im2col route; it is checked against ``W`` of the sparse
route (``conv_matrix``) over the whole geometry grid and, on the small slice,
against the naive column-by-column ``conv_matrix_reference``. Singular values
and norms are checked against dense SVDs of ``W`` (and, where PyTorch's circular
padding cannot express the layer, of a torus matrix written from the definition).
"""

from __future__ import annotations

import itertools
from math import prod

import numpy as np
import pytest
import scipy.sparse.linalg as spla
from conftest import GRID, GRID_IDS, SMALL, SMALL_IDS, assert_close, case_data, random_array
from reference import conv_matrix_reference, resolve_padding

import convmat as cm


def _columns(rng, rows, count, dtype=np.float64):
    return random_array(rng, (rows, count), dtype)


# ---------------------------------------------------------------------------
# conv_operator
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_operator_is_w(case, rng):
    _, w, _, _ = case_data(case)
    shape = case.x_shape[1:]
    W = cm.conv_matrix(w, shape, **case.kwargs)
    A = cm.conv_operator(w, shape, **case.kwargs)
    assert A.shape == W.shape
    assert A.dtype == np.float64
    X, Y = _columns(rng, W.shape[1], 3), _columns(rng, W.shape[0], 3)
    assert_close(A.matvec(X[:, 0]), W @ X[:, 0])
    assert_close(A.matvec(X[:, :1]), W @ X[:, :1])
    assert_close(A.rmatvec(Y[:, 0]), W.T @ Y[:, 0])
    assert_close(A @ X, W @ X)
    assert_close(A.rmatmat(Y), W.T @ Y)
    assert_close(A.H @ Y, W.T @ Y)
    assert_close(A.T @ Y, W.T @ Y)


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_operator_adjoint_identity(case, rng):
    """⟨A x, y⟩ = ⟨x, Aᴴ y⟩ for complex data and kernels: rmatvec is the conjugate transpose."""
    _, w, _, _ = case_data(case, np.complex128)
    A = cm.conv_operator(w, case.x_shape[1:], **case.kwargs)
    X, Y = _columns(rng, A.shape[1], 2, np.complex128), _columns(rng, A.shape[0], 2, np.complex128)
    lhs = np.einsum("ik,ik->k", (A @ X).conj(), Y)
    rhs = np.einsum("ik,ik->k", X.conj(), A.rmatmat(Y))
    assert_close(lhs, rhs)
    assert_close(np.vdot(A.matvec(X[:, 0]), Y[:, 0]), np.vdot(X[:, 0], A.rmatvec(Y[:, 0])))


@pytest.mark.parametrize("case", SMALL, ids=SMALL_IDS)
def test_operator_materialises_to_the_reference(case):
    """``A @ I`` column by column is the naive Jacobian; ``Aᴴ @ I`` its conjugate transpose."""
    _, w, _, _ = case_data(case, np.complex128)
    shape = case.x_shape[1:]
    A = cm.conv_operator(w, shape, **case.kwargs)
    expected = conv_matrix_reference(w, shape, **case.kwargs)
    assert_close(A @ np.eye(A.shape[1]), expected)
    assert_close(A.rmatmat(np.eye(A.shape[0])), expected.conj().T)


@pytest.mark.parametrize(
    ("weight_dtype", "operand_dtype", "expected"),
    [
        (np.float32, np.float32, np.float32),
        (np.float32, np.float64, np.float64),
        (np.int64, np.float64, np.float64),
        (np.float64, np.complex128, np.complex128),
        (np.complex64, np.float32, np.complex64),
    ],
)
def test_operator_dtypes(weight_dtype, operand_dtype, expected, rng):
    w = (rng.standard_normal((4, 2, 3, 3)) * 4).astype(weight_dtype)
    A = cm.conv_operator(w, (2, 5, 6), stride=(2, 1), padding=1, padding_mode="reflect")
    assert A.dtype == (np.float64 if w.dtype.kind == "i" else w.dtype)
    # the operator works in the result dtype: folded taps are summed in that precision too
    W = cm.conv_matrix(w.astype(expected), (2, 5, 6), stride=(2, 1), padding=1, padding_mode="reflect")
    x, y = random_array(rng, A.shape[1], operand_dtype), random_array(rng, A.shape[0], operand_dtype)
    assert (A @ x).dtype == expected
    assert A.rmatvec(y).dtype == expected
    assert_close(A @ x, W @ x, dtype=expected)
    assert_close(A.rmatvec(y), W.conj().T @ y, dtype=expected)


def test_operator_with_no_columns():
    A = cm.conv_operator(np.ones((2, 3, 3, 3)), (3, 5, 5), padding=1)
    assert (A @ np.zeros((75, 0))).shape == (50, 0)
    assert A.rmatmat(np.zeros((50, 0))).shape == (75, 0)


def test_scipy_solvers_on_the_operator(rng):
    """svds, eigsh and lsqr on the operator agree with the dense matrix."""
    w = rng.standard_normal((3, 2, 3, 3))
    kw = {"stride": 1, "padding": "same", "dilation": 2, "padding_mode": "replicate"}
    A = cm.conv_operator(w, (2, 7, 6), **kw)
    W = cm.conv_matrix(w, (2, 7, 6), **kw).toarray()
    dense = np.linalg.svd(W, compute_uv=False)
    top = spla.svds(A, k=3, return_singular_vectors=False, rng=1)
    assert_close(np.sort(top)[::-1], dense[:3])
    gram = spla.eigsh(A.H @ A, k=2, return_eigenvectors=False, v0=np.ones(A.shape[1]))
    assert_close(np.sort(gram)[::-1], dense[:2] ** 2)
    b = rng.standard_normal(A.shape[0])
    solution = spla.lsqr(A, b, atol=1e-14, btol=1e-14, iter_lim=5000)[0]
    assert_close(solution, np.linalg.lstsq(W, b, rcond=None)[0], rtol=1e-7)


def test_operator_bad_input():
    w = np.ones((4, 2, 3, 3))
    with pytest.raises(ValueError, match="input_shape"):
        cm.conv_operator(w, (3, 5, 5), groups=2)
    with pytest.raises(ValueError, match="input_shape"):
        cm.conv_operator(w, (1, 4, 5, 5))
    with pytest.raises(ValueError, match="padding_mode"):
        cm.conv_operator(w, (2, 5, 5), padding=1, padding_mode="wrap")
    with pytest.raises(ValueError, match="kernel is larger"):
        cm.conv_operator(w, (2, 2, 5))
    with pytest.raises(ValueError, match="weight"):
        cm.conv_operator(np.ones((4, 2)), (2, 5))
    with pytest.raises(TypeError, match="weight"):
        cm.conv_operator(np.array([["a"]]), (2, 5))
    with pytest.raises(ValueError, match="dimension mismatch"):
        cm.conv_operator(w, (2, 5, 5)) @ np.ones(49)


# ---------------------------------------------------------------------------
# conv_singular_values
# ---------------------------------------------------------------------------


def torus_matrix(w, spatial, dilation=1, groups=1):
    """Dense ``W`` of the circular convolution on the torus, from the definition (any kernel size).

    ``y[o, i] = Σ_c Σ_t w[o, c, t] · x[g·ci + c, (i + t·d − lo) mod n]`` with the "same" low pad ``lo``.
    """
    n = len(spatial)
    c_out, cin_g, *kernel = w.shape
    dil = (dilation,) * n if isinstance(dilation, int) else tuple(dilation)
    low = [lo for lo, _ in resolve_padding("same", kernel, dil)]
    size = prod(spatial)
    out = np.zeros((c_out * size, cin_g * groups * size), dtype=np.result_type(w, float))
    positions = list(itertools.product(*map(range, spatial)))
    for o, c, t in itertools.product(range(c_out), range(cin_g), itertools.product(*map(range, kernel))):
        c_global = (o // (c_out // groups)) * cin_g + c
        for row, i in enumerate(positions):
            j = np.ravel_multi_index(
                [(a + b * d - lo) % m for a, b, d, lo, m in zip(i, t, dil, low, spatial, strict=True)], spatial
            )
            out[o * size + row, c_global * size + j] += w[(o, c, *t)]
    return out


# (weight shape, input spatial, keyword arguments, expressible with PyTorch's circular padding)
SV_CASES = [
    ((3, 2, 4), (7,), {}, True),  # even kernel, C_out > C_in
    ((2, 5, 3), (6,), {}, True),  # C_out < C_in
    ((2, 3, 3, 2), (4, 5), {}, True),
    ((4, 4, 3, 3), (6, 6), {}, True),
    ((4, 2, 5, 5), (3, 3), {}, True),  # kernel larger than the input: taps alias
    ((2, 2, 7), (3,), {}, True),  # pad 3 = input size, the largest PyTorch allows
    ((4, 1, 3, 3), (5, 4), {"groups": 2, "dilation": (2, 1)}, True),
    ((6, 2, 3), (5,), {"groups": 3, "dilation": 2}, True),
    ((2, 2, 2, 3, 2), (3, 3, 4), {}, True),
    ((3, 2, 3, 3, 3), (3, 4, 2), {}, True),
    ((2, 3, 9), (3,), {}, False),  # pad (4, 4) > 3: a torus only
    ((2, 2, 6, 2), (2, 3), {"dilation": (1, 3)}, False),  # pad (2, 3) > 2; the dilation wraps around too
]
SV_IDS = [f"w{'x'.join(map(str, c[0]))}-n{'x'.join(map(str, c[1]))}-{c[2]}" for c in SV_CASES]


def _circular_same(w, spatial, **kw):
    """conv_matrix of the documented layer (PyTorch's circular padding, "same")."""
    groups = kw.get("groups", 1)
    return cm.conv_matrix(w, (w.shape[1] * groups, *spatial), padding="same", padding_mode="circular", **kw)


@pytest.mark.parametrize(("w_shape", "spatial", "kw", "in_torch"), SV_CASES, ids=SV_IDS)
def test_singular_values_are_the_dense_svd(w_shape, spatial, kw, in_torch, rng):
    w = rng.standard_normal(w_shape)
    if in_torch:
        matrix = _circular_same(w, spatial, **kw).toarray()
        assert_close(torus_matrix(w, spatial, **kw), matrix)  # the definition is PyTorch's layer
    else:
        with pytest.raises(ValueError, match="circular"):
            _circular_same(w, spatial, **kw)
        matrix = torus_matrix(w, spatial, **kw)
    expected = np.linalg.svd(matrix, compute_uv=False)
    s = cm.conv_singular_values(w, spatial, **kw)
    assert s.dtype == np.float64
    assert s.shape == (min(w_shape[0], w_shape[1] * kw.get("groups", 1)) * prod(spatial),)
    assert np.all(np.diff(s) <= 0), "not sorted in descending order"
    assert_close(s, expected)


@pytest.mark.parametrize(
    "case", [c for c in GRID if c.padding == "same" and c.padding_mode == "circular"], ids=lambda c: c.id()
)
def test_singular_values_on_grid_cases(case):
    _, w, _, _ = case_data(case)
    W = cm.conv_matrix(w, case.x_shape[1:], **case.kwargs).toarray()
    s = cm.conv_singular_values(w, case.x_shape[2:], dilation=case.dilation, groups=case.groups)
    assert_close(s, np.linalg.svd(W, compute_uv=False))


def test_singular_values_complex_and_float32(rng):
    wc = random_array(rng, (2, 3, 3, 2), np.complex128)
    W = cm.conv_matrix(wc, (3, 4, 5), padding="same", padding_mode="circular").toarray()
    assert_close(cm.conv_singular_values(wc, (4, 5)), np.linalg.svd(W, compute_uv=False))
    w32 = random_array(rng, (3, 2, 3, 3), np.float32)
    s32 = cm.conv_singular_values(w32, (4, 4))
    assert s32.dtype == np.float32
    W64 = cm.conv_matrix(w32.astype(np.float64), (2, 4, 4), padding="same", padding_mode="circular").toarray()
    assert_close(s32, np.linalg.svd(W64, compute_uv=False), rtol=1e-6)
    assert cm.conv_singular_values(wc.astype(np.complex64), (4, 5)).dtype == np.float32
    assert cm.conv_singular_values(np.ones((1, 1, 2), dtype=int), (3,)).dtype == np.float64


def test_singular_values_of_known_layers():
    """A delta kernel is a permutation (all ones); a kernel of ones on a 1-channel torus has |DFT| values."""
    delta = np.zeros((1, 1, 3, 3))
    delta[0, 0, 0, 2] = 1.0
    assert_close(cm.conv_singular_values(delta, (4, 5)), np.ones(20))
    s = cm.conv_singular_values(np.ones((1, 1, 3)), (8,))
    assert_close(s, np.sort(np.abs(1 + 2 * np.cos(2 * np.pi * np.arange(8) / 8)))[::-1])


@pytest.mark.parametrize(
    ("kw", "error", "name"),
    [
        pytest.param({"weight": np.ones((2, 2))}, ValueError, "weight", id="weight-rank-2"),
        pytest.param({"weight": np.ones((2, 2, 3, 3, 3, 3))}, ValueError, "weight", id="weight-rank-6"),
        pytest.param({"weight": np.ones((0, 2, 3, 3))}, ValueError, "weight", id="weight-empty"),
        pytest.param({"weight": np.full((2, 2, 3, 3), np.nan)}, ValueError, "weight", id="weight-nan"),
        pytest.param({"weight": np.full((2, 2, 3, 3), "a")}, TypeError, "weight", id="weight-str"),
        pytest.param({"input_spatial": (4,)}, ValueError, "input_spatial", id="spatial-length"),
        pytest.param({"input_spatial": (4, 0)}, ValueError, "input_spatial", id="spatial-zero"),
        pytest.param({"input_spatial": (4, -1)}, ValueError, "input_spatial", id="spatial-negative"),
        pytest.param({"input_spatial": 4}, TypeError, "input_spatial", id="spatial-int"),
        pytest.param({"input_spatial": (4, 4.5)}, TypeError, "input_spatial", id="spatial-float"),
        pytest.param({"dilation": 0}, ValueError, "dilation", id="dilation-zero"),
        pytest.param({"groups": 4}, ValueError, "groups", id="groups-not-dividing"),
        pytest.param({"groups": 0}, ValueError, "groups", id="groups-zero"),
    ],
)
def test_singular_values_bad_input(kw, error, name):
    args = {"weight": np.ones((2, 2, 3, 3)), "input_spatial": (4, 4), **kw}
    with pytest.raises(error, match=name):
        cm.conv_singular_values(**args)


# ---------------------------------------------------------------------------
# conv_spectral_norm
# ---------------------------------------------------------------------------

RTOL = 1e-6  # the documented default


def _dense_norm(W):
    return float(np.linalg.norm(W.toarray(), 2)) if min(W.shape) else 0.0


def _assert_from_below(sigma, exact, rtol):
    """``exact·(1 − rtol) <= sigma <= exact`` up to rounding."""
    assert exact * (1 - rtol) - 1e-13 * exact <= sigma <= exact * (1 + 1e-13) + 1e-300, (sigma, exact, rtol)


@pytest.mark.parametrize("case", GRID, ids=GRID_IDS)
def test_spectral_norm_is_the_dense_2_norm(case):
    _, w, _, _ = case_data(case)
    shape = case.x_shape[1:]
    sigma = cm.conv_spectral_norm(w, shape, **case.kwargs)
    assert isinstance(sigma, float)
    _assert_from_below(sigma, _dense_norm(cm.conv_matrix(w, shape, **case.kwargs)), RTOL)


# Layers with W of a few hundred rows and columns, where Lanczos stops on its tolerance rather
# than exhausting the space: strided, padded, dilated, grouped, every padding mode.
LARGER = [
    ((4, 4, 3, 3), (4, 11, 11), {"padding": 1}),
    ((8, 8, 3, 3), (8, 12, 12), {"stride": 2, "padding": 1}),
    ((5, 3, 5, 5), (3, 12, 12), {"padding": 4, "dilation": 2, "padding_mode": "reflect"}),
    ((6, 2, 3, 3), (6, 13, 11), {"stride": (1, 2), "padding": "valid", "groups": 3, "dilation": (2, 1)}),
    ((4, 4, 3), (4, 150), {"padding": 2, "padding_mode": "replicate"}),
    ((3, 3, 2, 2, 2), (3, 5, 5, 5), {"padding": 1, "padding_mode": "circular"}),
]


@pytest.mark.parametrize(("w_shape", "input_shape", "kw"), LARGER, ids=[str(c[2]) for c in LARGER])
def test_spectral_norm_meets_its_tolerance(w_shape, input_shape, kw):
    w = np.random.default_rng(sum(w_shape)).standard_normal(w_shape)
    exact = _dense_norm(cm.conv_matrix(w, input_shape, **kw))
    for rtol in (1e-2, 1e-4, RTOL):
        _assert_from_below(cm.conv_spectral_norm(w, input_shape, **kw, rtol=rtol), exact, rtol)
    assert abs(cm.conv_spectral_norm(w, input_shape, **kw, rtol=0) - exact) <= 1e-12 * exact


def test_spectral_norm_is_deterministic():
    w = np.random.default_rng(3).standard_normal((4, 4, 3, 3))
    first = cm.conv_spectral_norm(w, (4, 16, 16), padding=1, rtol=1e-2)
    assert all(cm.conv_spectral_norm(w, (4, 16, 16), padding=1, rtol=1e-2) == first for _ in range(3))


def test_spectral_norm_matches_the_exact_circular_values(rng):
    w = rng.standard_normal((6, 4, 3, 3))
    exact = cm.conv_singular_values(w, (12, 10))[0]
    _assert_from_below(cm.conv_spectral_norm(w, (4, 12, 10), padding=1, padding_mode="circular"), exact, RTOL)


def test_spectral_norm_dtypes(rng):
    w32 = random_array(rng, (4, 3, 3, 3), np.float32)
    exact32 = _dense_norm(cm.conv_matrix(w32.astype(np.float64), (3, 9, 9), stride=2))
    _assert_from_below(cm.conv_spectral_norm(w32, (3, 9, 9), stride=2), exact32, RTOL)
    wc = random_array(rng, (4, 3, 3, 3), np.complex128)
    _assert_from_below(
        cm.conv_spectral_norm(wc, (3, 9, 9), padding=2), _dense_norm(cm.conv_matrix(wc, (3, 9, 9), padding=2)), RTOL
    )
    assert cm.conv_spectral_norm(np.full((1, 1, 2), 3), (1, 2)) == np.sqrt(18.0)  # int weight, one row


@pytest.mark.parametrize(
    ("w", "input_shape", "kw", "expected"),
    [
        (np.zeros((2, 3, 3, 3)), (3, 6, 6), {}, 0.0),  # zero kernel
        (np.ones((1, 1, 1)), (1, 1), {"padding": 5, "stride": 3}, 0.0),  # every tap reads padding: W = 0
        (np.arange(1.0, 7.0).reshape(1, 2, 3), (2, 3), {}, np.sqrt(91.0)),  # one row
        (np.array([[[2.0]], [[-1.0]], [[2.0]]]), (1, 1), {}, 3.0),  # one column
    ],
)
def test_spectral_norm_degenerate_layers(w, input_shape, kw, expected):
    assert cm.conv_spectral_norm(w, input_shape, **kw) == pytest.approx(expected, rel=1e-15)
    W = cm.conv_matrix(w, input_shape, **kw)
    assert _dense_norm(W) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("kw", "error", "name"),
    [
        ({"rtol": -1e-3}, ValueError, "rtol"),
        ({"rtol": 1.0}, ValueError, "rtol"),
        ({"rtol": "tight"}, TypeError, "rtol"),
        ({"rtol": True}, TypeError, "rtol"),
        ({"groups": 3}, ValueError, "groups"),
        ({"input_shape": (2, 5)}, ValueError, "input_shape"),
        ({"input_shape": (3, 5, 5)}, ValueError, "input_shape"),
        ({"stride": 0}, ValueError, "stride"),
        ({"padding": "same", "stride": 2}, ValueError, "same"),
        ({"weight": np.full((4, 2, 3, 3), np.inf)}, ValueError, "weight"),
    ],
)
def test_spectral_norm_bad_input(kw, error, name):
    args = {"weight": np.ones((4, 2, 3, 3)), "input_shape": (2, 5, 5), **kw}
    with pytest.raises(error, match=name):
        cm.conv_spectral_norm(**args)


def test_empty_input_plane_is_rejected_as_in_pytorch():
    with pytest.raises(ValueError, match="input"):
        cm.conv_spectral_norm(np.ones((2, 3, 3)), (3, 0), padding=2)
    with pytest.raises(ValueError, match="input"):
        cm.conv_operator(np.ones((2, 3, 3)), (3, 0), padding=2)
