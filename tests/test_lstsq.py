"""conv_lstsq: the (damped) least-squares inverse of W, against the dense solution; W exported to Matrix Market."""

import io
import itertools

import numpy as np
import pytest
import scipy.io
from conftest import MODES, assert_close

import convmat as cm
from convmat.linalg import LSTSQ_METHODS, LstsqResult, conv_lstsq

TIGHT = {"atol": 1e-14, "btol": 1e-14, "maxiter": 1000}  # lsqr to machine precision: x within ~1e-14 * cond(W)


def dense_lstsq(y, w, input_shape, damp=0.0, **geometry):
    """``argmin ‖W x − y‖² + damp²‖x‖²`` per sample by numpy's dense least squares on ``[W; damp·I]``."""
    W = cm.conv_matrix(w, input_shape[1:], **geometry).toarray()
    unknowns = W.shape[1]
    A = np.vstack([W, damp * np.eye(unknowns)]) if damp else W
    solutions = []
    for sample in y.reshape(y.shape[0], -1):
        b = np.concatenate([sample, np.zeros(unknowns)]) if damp else sample
        solutions.append(np.linalg.lstsq(A, b, rcond=None)[0])
    return np.array(solutions).reshape(input_shape), np.linalg.cond(W)


def _cases():
    """Small 1-d and 2-d geometries: every padding mode, stride 1 and 2, fewer and more outputs than inputs."""
    cases = []
    for mode, stride, damp, (c_in, c_out), padding in itertools.product(
        MODES, (1, 2), (0.0, 0.5), ((1, 1), (2, 3), (3, 1)), (0, 1)
    ):
        spatial = (7,) if (c_in + padding) % 2 else (6, 5)
        cases.append((mode, stride, damp, c_in, c_out, padding, spatial))
    return cases


CASES = _cases()


@pytest.mark.parametrize(
    "case", CASES, ids=[f"{c[0]}-s{c[1]}-damp{c[2]}-{c[3]}to{c[4]}-p{c[5]}-{len(c[6])}d" for c in CASES]
)
def test_equals_the_dense_least_squares_solution(case):
    mode, stride, damp, c_in, c_out, padding, spatial = case
    rng = np.random.default_rng(CASES.index(case))
    w = rng.standard_normal((c_out, c_in, *(3,) * len(spatial)))
    input_shape = (2, c_in, *spatial)
    geometry = {"stride": stride, "padding": padding, "padding_mode": mode}
    y = rng.standard_normal((2, c_out, *cm.conv_output_shape(spatial, 3, stride, padding)))
    expected, cond = dense_lstsq(y, w, input_shape, damp, **geometry)
    result = conv_lstsq(y, w, input_shape, damp=damp, method="lsqr", **geometry, **TIGHT)
    assert result.method == "lsqr"
    assert result.converged.all()
    assert_close(result.x, expected, rtol=1e-13 * max(cond, 10.0))
    residual = cm.conv(result.x, w, **geometry) - y
    assert_close(result.residual_norm, np.linalg.norm(residual.reshape(2, -1), axis=1))
    damped = np.sqrt(result.residual_norm**2 + damp**2 * np.sum(result.x.reshape(2, -1) ** 2, axis=1))
    assert_close(result.damped_residual_norm, damped)
    if damp == 0:
        assert_close(result.damped_residual_norm, result.residual_norm)


def _torus_cases():
    """Stride-1 circular convolutions that keep the size: where the FFT route applies."""
    return [
        # (weight shape, input spatial, dilation, groups)
        ((3, 2, 3), (8,), 1, 1),
        ((1, 3, 3), (7,), 2, 1),  # fewer outputs than inputs per frequency: the least-norm solution
        ((4, 2, 3, 3), (6, 5), 1, 1),
        ((2, 2, 2, 4), (5, 6), (2, 1), 1),  # even kernels: the odd pad on the high side
        ((4, 1, 3, 2), (4, 5), 1, 2),
        ((2, 1, 2, 3, 2), (4, 3, 3), (1, 2, 1), 2),
        ((1, 1, 5), (3,), 1, 1),  # a kernel larger than the input wraps around the torus
    ]


TORUS = _torus_cases()


@pytest.mark.parametrize("damp", [0.0, 0.3])
@pytest.mark.parametrize("case", TORUS, ids=[f"w{'x'.join(map(str, c[0]))}-n{'x'.join(map(str, c[1]))}" for c in TORUS])
def test_fft_route_equals_lsqr_and_dense(case, damp):
    w_shape, spatial, dilation, groups = case
    rng = np.random.default_rng(TORUS.index(case))
    w = rng.standard_normal(w_shape)
    input_shape = (2, w_shape[1] * groups, *spatial)
    geometry = {"padding": "same", "dilation": dilation, "groups": groups, "padding_mode": "circular"}
    y = rng.standard_normal((2, w_shape[0], *spatial))
    fft = conv_lstsq(y, w, input_shape, damp=damp, **geometry)
    assert fft.method == "fft"
    assert fft.iterations.tolist() == [0, 0]
    assert fft.converged.all()
    assert fft.x.dtype == np.float64
    iterative = conv_lstsq(y, w, input_shape, damp=damp, method="lsqr", **geometry, **TIGHT)
    expected, cond = dense_lstsq(y, w, input_shape, damp, **geometry)
    assert_close(fft.x, expected)
    assert_close(iterative.x, fft.x, rtol=1e-13 * max(cond, 10.0))
    assert_close(fft.residual_norm, iterative.residual_norm, rtol=1e-8)
    assert_close(fft.damped_residual_norm, iterative.damped_residual_norm, rtol=1e-8)
    assert conv_lstsq(y, w, input_shape, damp=damp, method="fft", **geometry).method == "fft"


def test_circular_padding_that_changes_the_size_takes_lsqr(rng):
    w, y = rng.standard_normal((2, 1, 3)), rng.standard_normal((1, 2, 10))
    assert conv_lstsq(y, w, (1, 1, 8), padding=2, padding_mode="circular").method == "lsqr"  # output 10 != 8
    with pytest.raises(ValueError, match="method='fft' needs a stride-1 circular convolution"):
        conv_lstsq(y, w, (1, 1, 8), padding=2, padding_mode="circular", method="fft")


def test_complex(rng):
    w = rng.standard_normal((2, 2, 3)) + 1j * rng.standard_normal((2, 2, 3))
    y = rng.standard_normal((1, 2, 6)) + 1j * rng.standard_normal((1, 2, 6))
    expected, _ = dense_lstsq(y, w, (1, 2, 6), padding=1, padding_mode="circular")
    for method in ("fft", "lsqr"):
        result = conv_lstsq(y, w, (1, 2, 6), padding=1, padding_mode="circular", method=method, **TIGHT)
        assert result.x.dtype == np.complex128
        assert_close(result.x, expected, rtol=1e-11)


def test_recovers_the_input_of_an_injective_layer_where_the_transpose_does_not(rng):
    w = rng.standard_normal((3, 2, 3, 3))  # 2 -> 3 channels, stride 1, "same": injective
    x = rng.standard_normal((2, 2, 7, 6))
    y = cm.conv(x, w, padding="same")
    assert not np.allclose(cm.conv_transpose(y, w, padding=1), x)
    result = conv_lstsq(y, w, x.shape, padding="same")
    assert_close(result.x, x, rtol=1e-8)  # the default tolerances
    assert result.converged.all()
    assert (result.iterations > 0).all()
    assert (result.residual_norm < 1e-8 * np.linalg.norm(y.reshape(2, -1), axis=1)).all()


def test_dtypes_shapes_and_empty_batch():
    w = np.ones((1, 1, 3), dtype=np.float32)
    result = conv_lstsq(np.ones((1, 1, 4), dtype=np.float32), w, (1, 1, 6))
    assert isinstance(result, LstsqResult)
    assert result.x.dtype == np.float32
    assert result.residual_norm.dtype == np.float64
    assert conv_lstsq(np.ones((1, 1, 4), dtype=np.float16), w.astype(np.float16), (1, 1, 6)).x.dtype == np.float16
    assert conv_lstsq([[[1, 2, 3, 4]]], [[[1, 1, 1]]], (1, 1, 6)).x.dtype == np.float64
    for padding, mode in ((0, "zeros"), (1, "circular")):
        empty = conv_lstsq(
            np.ones((0, 1, 6 - 2 * (1 - padding))), np.ones((1, 1, 3)), (0, 1, 6), padding=padding, padding_mode=mode
        )
        assert empty.x.shape == (0, 1, 6)
        assert empty.iterations.shape == empty.residual_norm.shape == (0,)


def test_iteration_limit_and_trivial_solutions():
    stopped = conv_lstsq(np.ones((1, 1, 4)), np.ones((1, 1, 3)), (1, 1, 6), maxiter=1)
    assert stopped.iterations.tolist() == [1]
    assert stopped.converged.tolist() == [False]
    zero = conv_lstsq(np.zeros((2, 1, 4)), np.ones((1, 1, 3)), (2, 1, 6))
    assert zero.iterations.tolist() == [0, 0]
    assert not zero.x.any()
    assert zero.converged.all()
    for mode in ("zeros", "circular"):  # a zero kernel: x = 0, the residual is y
        result = conv_lstsq(np.ones((1, 1, 6)), np.zeros((1, 1, 3)), (1, 1, 6), padding=1, padding_mode=mode)
        assert not result.x.any()
        assert_close(result.residual_norm, [np.sqrt(6.0)])


Y, W, SHAPE = np.ones((1, 2, 4, 4)), np.ones((2, 2, 3, 3)), (1, 2, 6, 6)


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"damp": -1.0}, ValueError, "damp must be finite and >= 0"),
        ({"damp": np.nan}, ValueError, "damp must be finite"),
        ({"damp": "1"}, TypeError, "damp must be a real number"),
        ({"damp": True}, TypeError, "damp must be a real number"),
        ({"atol": -1e-3}, ValueError, "atol must be finite and >= 0"),
        ({"btol": np.inf}, ValueError, "btol must be finite"),
        ({"maxiter": 0}, ValueError, "maxiter must be positive"),
        ({"maxiter": 2.5}, TypeError, "maxiter must be an int"),
        ({"method": "qr"}, ValueError, "method must be one of 'auto', 'lsqr', 'fft'"),
        ({"method": "fft"}, ValueError, "method='fft' needs a stride-1 circular convolution"),
        ({"y": np.ones((1, 2, 5, 5))}, ValueError, r"y has shape \(1, 2, 5, 5\), expected \(1, 2, 4, 4\)"),
        ({"y": np.ones((2, 2, 4, 4))}, ValueError, r"y has shape \(2, 2, 4, 4\), expected \(1, 2, 4, 4\)"),
        ({"input_shape": (2, 6, 6)}, ValueError, "input_shape must have shape"),
        ({"input_shape": (1, 3, 6, 6)}, ValueError, "input_shape has 3 channels"),
        ({"y": np.full((1, 2, 4, 4), np.nan)}, ValueError, "y must be finite"),
        ({"weight": np.full((2, 2, 3, 3), np.inf)}, ValueError, "weight must be finite"),
        ({"stride": 0}, ValueError, "stride must be positive"),
        ({"padding_mode": "mirror"}, ValueError, "padding_mode must be one of"),
    ],
)
def test_bad_input(kwargs, error, pattern):
    call = {"y": Y, "weight": W, "input_shape": SHAPE, **kwargs}
    with pytest.raises(error, match=pattern):
        conv_lstsq(**call)


def test_methods_are_named():
    assert LSTSQ_METHODS == ("auto", "lsqr", "fft")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_matrix_market_round_trip_is_exact(tmp_path, mode, dtype):
    """W written with scipy.io.mmwrite and read back with mmread: the same matrix, bit for bit."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 2, 3, 3)).astype(dtype)
    if dtype == np.complex128:
        w = w + 1j * rng.standard_normal(w.shape)
    W = cm.conv_matrix(w, (2, 6, 5), stride=(2, 1), padding=1, padding_mode=mode)
    path = tmp_path / "W.mtx"
    scipy.io.mmwrite(path, W)
    back = scipy.io.mmread(path).tocsr()
    assert back.shape == W.shape
    assert back.dtype == W.dtype
    assert back.nnz == W.nnz
    assert np.array_equal(back.indptr, W.indptr)
    assert np.array_equal(back.indices, W.indices)
    assert np.array_equal(back.data, W.data)
    stream = io.BytesIO()  # any file object does as well
    scipy.io.mmwrite(stream, W)
    stream.seek(0)
    assert np.array_equal(scipy.io.mmread(stream).toarray(), W.toarray())
