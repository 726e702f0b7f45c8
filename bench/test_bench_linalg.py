"""Linear algebra on layer C: the matrix-free operator against the materialised ``W``.

Layer C is (N, C_in, H, W, C_out, k, stride, pad) = (32, 64, 32, 32, 64, 3, 1, 1):
``W`` is 65536 × 65536 with 36 M stored entries (about 430 MB as float64 CSR).

* ``linalg-C-matvec-<dtype>``: ``A @ x`` (``conv_operator``) against ``W @ x`` on a
  prebuilt ``csr_array``, one sample; beside them the transposes ``A.H @ y`` / ``W.T @ y``
  in ``linalg-C-rmatvec-<dtype>``.
* ``linalg-C-matmat-<dtype>``: the same with the batch (32 samples) as columns.
* ``linalg-C-svds-float64``: ``svds(k=1)`` on each, same seeded start vector and
  tolerance as :func:`convmat.conv_spectral_norm`. Building ``W`` is not timed here
  (``test_bench_sparse.py`` times it); a few rounds only, a call takes seconds.
* ``linalg-C-circular_norm-float64``: layer C with circular padding, where the exact
  ``conv_singular_values(...)[0]`` (FFT, one 64 × 64 SVD per frequency) and
  ``conv_spectral_norm`` (Lanczos on the operator) both apply.
"""

from __future__ import annotations

import cases
import numpy as np
import pytest
from scipy.sparse.linalg import svds

import convmat as cm
from convmat.linalg import START_SEED

CFG = cases.CONFIGS["C"]
INPUT_SHAPE = CFG.x_shape[1:]
SIDES = ("operator", "csr")
SVDS_ROUNDS = 3


@pytest.fixture(scope="module", autouse=True)
def _drop_patterns():
    yield
    cases.clear_pattern_caches()


@pytest.fixture(scope="module")
def matrices():
    """``{dtype: (operator, csr W)}`` of layer C, built once for the module."""
    built = {}
    for dtype in cases.DTYPES:
        w = cases.make_data("C", dtype).w
        built[dtype] = (cm.conv_operator(w, INPUT_SHAPE, **CFG.kwargs), cm.conv_matrix(w, INPUT_SHAPE, **CFG.kwargs))
    return built


def _operands(dtype: str):
    d = cases.make_data("C", dtype)
    x_cols = d.x.reshape(CFG.n, -1).T  # [C_in*S, N]
    dy_cols = d.dy.reshape(CFG.n, -1).T  # [C_out*L, N]
    return {
        "matvec": (x_cols[:, 0].copy(), False),
        "rmatvec": (dy_cols[:, 0].copy(), True),
        "matmat": (np.ascontiguousarray(x_cols), False),
    }


@pytest.mark.parametrize("dtype", cases.DTYPES)
@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("product", ["matvec", "rmatvec", "matmat"])
def test_products(benchmark, bench_run, matrices, product, side, dtype):
    operand, adjoint = _operands(dtype)[product]
    op, csr = matrices[dtype]
    matrix = {"operator": (op, op.H), "csr": (csr, csr.T)}[side][adjoint]
    benchmark.extra_info.update(nnz=csr.nnz, columns=1 if operand.ndim == 1 else operand.shape[1])
    result = bench_run(benchmark, f"linalg-C-{product}-{dtype}", lambda: matrix @ operand)
    assert result.dtype == np.dtype(dtype)


@pytest.mark.parametrize("side", SIDES)
def test_svds(benchmark, matrices, side):
    op, csr = matrices["float64"]
    matrix = op if side == "operator" else csr
    v0 = np.random.default_rng(START_SEED).standard_normal(min(op.shape))
    benchmark.group = "linalg-C-svds-float64"
    benchmark.extra_info["nnz"] = csr.nnz
    # conv_spectral_norm's default rtol=1e-6 is svds tol=1e-3 (svds squares it for the Gram matrix)
    sigma = benchmark.pedantic(
        lambda: svds(matrix, k=1, tol=1e-3, v0=v0, return_singular_vectors=False), rounds=SVDS_ROUNDS, iterations=1
    )
    benchmark.extra_info["sigma"] = float(sigma[0])


@pytest.mark.parametrize("method", ["conv_singular_values", "conv_spectral_norm"])
def test_circular_norm(benchmark, method):
    w = cases.make_data("C", "float64").w
    if method == "conv_singular_values":
        function = lambda: cm.conv_singular_values(w, INPUT_SHAPE[1:])[0]  # noqa: E731
    else:
        function = lambda: cm.conv_spectral_norm(w, INPUT_SHAPE, padding=CFG.pad, padding_mode="circular")  # noqa: E731
    benchmark.group = "linalg-C-circular_norm-float64"
    sigma = benchmark.pedantic(function, rounds=SVDS_ROUNDS, iterations=1)
    benchmark.extra_info["sigma"] = float(sigma)
