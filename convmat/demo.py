"""The walk-through behind ``python -m convmat demo``: the gradient identities checked on concrete numbers.

Six sections: convolution as a matrix product, the input gradient (a full
convolution with the flipped kernel), the kernel gradient (a convolution of the
input with the output gradient), transposed convolution, max pooling, and the
least-squares inverse that recovers what the transposed convolution does not.
Each prints its small matrices and one line per identity saying whether it holds
and its max error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import numpy as np

from .conv import conv, conv_input_grad, conv_transpose, conv_weight_grad
from .conv_matrices import conv_matrix
from .identities import input_grad_by_full_conv, insert_zeros, weight_grad_by_dilated_conv
from .im2col import im2col
from .linalg import conv_lstsq
from .pool_matrices import max_pool_matrix
from .pooling import max_pool, max_pool_backward, max_unpool
from .symbolic import format_matrix, symbolic_conv_matrix

__all__ = ["TOLERANCE", "Check", "run_demo"]

TOLERANCE = 1e-10


@dataclass(frozen=True)
class Check:
    """One identity checked on numbers: its name and the largest absolute error."""

    name: str
    max_error: float

    @property
    def holds(self) -> bool:
        """Whether the error is within the demo's tolerance (1e-10, float64)."""
        return bool(self.max_error <= TOLERANCE)


def _check(name: str, a: np.ndarray, b: np.ndarray) -> Check:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return Check(f"{name} (shapes {a.shape} vs {b.shape})", float("inf"))
    return Check(name, float(np.max(np.abs(a - b), initial=0.0)))


def _show(out: TextIO, title: str, matrix) -> None:
    out.write(f"{title}\n{format_matrix(matrix)}\n")


def _apply(matrix, batch: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``matrix @ x[n].ravel()`` for every sample, reshaped to ``shape``."""
    return (matrix @ batch.reshape(batch.shape[0], -1).T).T.reshape(shape)


def _claim_matrix_product(rng: np.random.Generator, out: TextIO) -> list[Check]:
    symbols = symbolic_conv_matrix((4, 4), (3, 3))
    _show(out, "W for a 4x4 input and a 3x3 kernel, 4 x 16 (k11 … are the kernel taps, 1-based):", symbols)
    kernel = rng.standard_normal((1, 1, 3, 3))
    x = rng.standard_normal((2, 1, 4, 4))
    matrix = conv_matrix(kernel, (1, 4, 4))
    out.write(
        f"Sparse connections: {matrix.nnz} of {matrix.shape[0] * matrix.shape[1]} entries are non-zero; "
        f"shared weights: those {matrix.nnz} entries take only the {kernel.size} kernel values.\n"
    )
    textbook = ["k11", "k12", "k13", "0", "k21", "k22", "k23", "0", "k31", "k32", "k33", "0", "0", "0", "0", "0"]
    via_matrix = _apply(matrix, x, (2, 1, 2, 2))
    return [
        Check("row 1 of W is k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0 0 0 0 0", float(np.sum(symbols[0] != textbook))),
        _check("conv(x, w) == W @ x  (im2col route)", conv(x, kernel), via_matrix),
        _check("conv(x, w) == W @ x  (sparse route)", conv(x, kernel, backend="sparse"), via_matrix),
        _check(
            "W is the Jacobian: column j of W is conv(e_j)",
            matrix.toarray(),
            conv(np.eye(16).reshape(16, 1, 4, 4), kernel).reshape(16, 4).T,
        ),
    ]


def _claim_input_gradient(rng: np.random.Generator, out: TextIO) -> list[Check]:
    checks = []
    kernel = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    out.write("Kernel w and w flipped 180° (flipped, not transposed):\n")
    out.write(format_matrix(kernel[0, 0]) + "\n\n" + format_matrix(kernel[0, 0, ::-1, ::-1]) + "\n")
    for size, stride in ((4, 1), (5, 2)):
        shape = (1, 1, size, size)
        dy = rng.standard_normal((1, 1, 2, 2))
        matrix = conv_matrix(kernel, shape[1:], stride=stride)
        dx = conv_input_grad(shape, kernel, dy, stride=stride)
        if stride > 1:
            _show(
                out,
                f"stride {stride}: dh with {stride - 1} zero(s) between its elements:",
                insert_zeros(dy, (stride, stride))[0, 0],
            )
        label = f"{size}x{size} input, stride {stride}"
        checks += [
            _check(f"{label}: conv_input_grad == W.T @ dh", dx, _apply(matrix.T, dy, shape)),
            _check(
                f"{label}: W.T @ dh == full conv of dh (zeros inserted, padded k-1) with the flipped kernel",
                dx,
                input_grad_by_full_conv(dy, kernel, shape, stride=stride),
            ),
        ]
    x_shape, w = (2, 4, 7, 6), rng.standard_normal((6, 2, 3, 2))
    geometry: dict[str, Any] = {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2}
    dy = rng.standard_normal(conv(np.zeros(x_shape), w, **geometry).shape)
    checks.append(
        _check(
            "with padding, dilation and groups too: W.T @ dh == full conv with the flipped kernel",
            _apply(conv_matrix(w, x_shape[1:], **geometry).T, dy, x_shape),
            input_grad_by_full_conv(dy, w, x_shape, **geometry),
        )
    )
    return checks


def _claim_kernel_gradient(rng: np.random.Generator, out: TextIO) -> list[Check]:
    checks = []
    for size, stride in ((4, 1), (5, 2)):
        x = rng.standard_normal((1, 1, size, size))
        dy = rng.standard_normal((1, 1, 2, 2))
        dw = conv_weight_grad(x, (1, 1, 3, 3), dy, stride=stride)
        if stride > 1:
            _show(
                out,
                f"stride {stride}: the gradient used as a kernel, dilated by {stride}:",
                insert_zeros(dy, (stride, stride))[0, 0],
            )
        label = f"{size}x{size} input, stride {stride}"
        checks += [
            _check(
                f"{label}: kernel gradient == conv of x with dh as kernel (dilated by the stride)",
                dw,
                conv(x, insert_zeros(dy, (stride, stride))),
            ),
            _check(
                f"{label}: kernel gradient == dh times the patch matrix (im2col) of x",
                dw.reshape(1, 9),
                dy.reshape(1, 4) @ im2col(x, 3, stride=stride)[0].T,
            ),
        ]
    x, w = rng.standard_normal((2, 4, 7, 6)), rng.standard_normal((6, 2, 3, 2))
    geometry: dict[str, Any] = {"stride": (2, 1), "padding": (1, 2), "dilation": (2, 1), "groups": 2}
    dy = rng.standard_normal(conv(x, w, **geometry).shape)
    checks.append(
        _check(
            "with padding, dilation and groups too: kernel gradient == the stride-dilated conv",
            conv_weight_grad(x, w.shape, dy, **geometry),
            weight_grad_by_dilated_conv(x, dy, w.shape, **geometry),
        )
    )
    return checks


def _claim_transposed_convolution(rng: np.random.Generator, out: TextIO) -> list[Check]:
    kernel = rng.standard_normal((1, 1, 3, 3))
    h = rng.standard_normal((1, 1, 2, 2))
    out.write("A 3x3 kernel with stride 2 maps both 5x5 and 6x6 inputs to 2x2;\n")
    out.write("conv_transpose maps 2x2 back to 5x5, and to 6x6 with output_padding=1.\n")
    checks = []
    for size, output_padding in ((5, 0), (6, 1)):
        matrix = conv_matrix(kernel, (1, size, size), stride=2)
        y = conv_transpose(h, kernel, stride=2, output_padding=output_padding)
        checks.append(
            _check(
                f"conv_transpose(2x2, output_padding={output_padding}) == W.T @ h for the {size}x{size} convolution",
                y,
                _apply(matrix.T, h, (1, 1, size, size)),
            )
        )
    matrix = conv_matrix(kernel, (1, 5, 5), stride=2)
    gram = (matrix @ matrix.T).toarray()
    out.write("W W.T for the 5x5 case is not the identity (it inverts the shape, not the values):\n")
    out.write(format_matrix(gram, precision=3) + "\n")
    x = rng.standard_normal((1, 1, 5, 5))
    roundtrip = conv_transpose(conv(x, kernel, stride=2), kernel, stride=2)
    out.write(f"conv_transpose(conv(x)) differs from x by {np.max(np.abs(roundtrip - x)):.3g} (max abs).\n")
    checks.append(_check("conv_transpose(conv(x)) has the shape of x", np.array(roundtrip.shape), np.array(x.shape)))
    return checks


def _claim_max_pooling(rng: np.random.Generator, out: TextIO) -> list[Check]:
    x = rng.uniform(0.0, 1.0, (1, 1, 4, 4)).round(2)
    for row, col, value in ((1, 0, 9.0), (0, 3, 8.0), (2, 0, 7.0), (3, 2, 6.0)):  # a21, a14, a31, a43
        x[0, 0, row, col] = value
    _show(out, "a 4x4 map whose window maxima sit at a21, a14, a31, a43 (1-based):", x[0, 0])
    y, switches = max_pool(x, 2, return_indices=True)
    selection = max_pool_matrix(x, 2)
    _show(out, "pooled (2x2 windows, stride 2):", y[0, 0])
    _show(out, "switches (0-based flat index in the 4x4 plane):", switches[0, 0])
    _show(out, "S, the 4 x 16 selection matrix (one 1 per row):", selection)
    dy = rng.standard_normal(y.shape)
    unpooled = max_unpool(y, switches, (4, 4))
    _show(out, "max_unpool puts the maxima back at their switches, zeros elsewhere:", unpooled[0, 0])
    checks = [
        _check("pooled values are a21, a14, a31, a43", y.ravel(), np.array([9.0, 8.0, 7.0, 6.0])),
        _check("switches are 4, 3, 8, 14", switches.ravel(), np.array([4, 3, 8, 14])),
        _check("max_pool(x) == S @ x", y.ravel(), selection @ x.ravel()),
        _check(
            "max_pool_backward(dy) == S.T @ dy",
            max_pool_backward(dy, switches, x.shape).ravel(),
            selection.T @ dy.ravel(),
        ),
        _check("max_unpool(y) == S.T @ y", unpooled.ravel(), selection.T @ y.ravel()),
        _check("unpooling is a partial inverse: S @ max_unpool(y) == y", selection @ unpooled.ravel(), y.ravel()),
    ]
    # Overlapping windows (kernel 3, stride 1): one input is the max of both windows.
    line = np.array([[[1.0, 5.0, 2.0, 0.0]]])
    pooled, idx = max_pool(line, 3, stride=1, return_indices=True)
    grad = np.array([[[1.0, 10.0]]])
    out.write(
        f"overlapping windows on {line.ravel().tolist()}: both maxima are x[1] (switches {idx.ravel().tolist()});\n"
        f"  backward adds their gradients {grad.ravel().tolist()}, unpooling places one value.\n"
    )
    checks += [
        _check(
            "overlapping windows: the backward adds at a shared switch",
            max_pool_backward(grad, idx, line.shape),
            np.array([[[0.0, 11.0, 0.0, 0.0]]]),
        ),
        _check(
            "overlapping windows: unpooling places (the shared switch keeps one value)",
            max_unpool(pooled, idx, (4,)),
            np.array([[[0.0, 5.0, 0.0, 0.0]]]),
        ),
    ]
    return checks


def _relative_error(a: np.ndarray, x: np.ndarray) -> float:
    return float(np.linalg.norm(a - x) / np.linalg.norm(x))


def _claim_least_squares(rng: np.random.Generator, out: TextIO) -> list[Check]:
    kernel = np.array([[0.05, 0.1, 0.05], [0.1, 1.0, 0.1], [0.05, 0.1, 0.05]]).reshape(1, 1, 3, 3)
    x = rng.standard_normal((1, 1, 6, 6))
    tight = 1e-14  # lsqr to machine precision
    matrix = conv_matrix(kernel, (1, 6, 6), padding="same")
    _show(out, "A mild 3x3 blur, padding 'same' (zeros), stride 1:", kernel[0, 0])
    out.write(
        f"W is 36 x 36 with condition number {np.linalg.cond(matrix.toarray()):.3g}: injective, so conv(x) "
        "determines x.\n"
    )
    y = conv(x, kernel, padding="same")
    back = conv_transpose(y, kernel, padding=1)
    solved = conv_lstsq(y, kernel, x.shape, padding="same", atol=tight, btol=tight)
    out.write(
        f"relative error of conv_transpose(conv(x)), W.T W x:  {_relative_error(back, x):.3g}\n"
        f"relative error of conv_lstsq(conv(x)), lsqr on W:    {_relative_error(solved.x, x):.1e} "
        f"({solved.iterations[0]} iterations)\n"
    )
    y_circular = conv(x, kernel, padding="same", padding_mode="circular")
    exact = conv_lstsq(y_circular, kernel, x.shape, padding="same", padding_mode="circular")
    out.write(
        f"with circular padding, one solve per frequency ({exact.method}): relative error "
        f"{_relative_error(exact.x, x):.1e}\n"
    )
    strided = conv_matrix(kernel, (1, 6, 6), stride=2, padding=1)
    y_strided = conv(x, kernel, stride=2, padding=1)
    least_norm = conv_lstsq(y_strided, kernel, x.shape, stride=2, padding=1, atol=tight, btol=tight)
    out.write(
        f"stride 2 maps 36 values to 9: no inverse. conv_lstsq gives the solution of least norm,\n"
        f"  relative error {_relative_error(least_norm.x, x):.3g} from x, yet its convolution is conv(x).\n"
    )
    return [
        _check("conv_lstsq(conv(x)) == x  (stride 1, 'same' zero padding: W is injective)", solved.x, x),
        _check(
            "conv_lstsq(y) == the dense least-squares solution np.linalg.lstsq(W, y)",
            solved.x.ravel(),
            np.linalg.lstsq(matrix.toarray(), y.ravel(), rcond=None)[0],
        ),
        _check("circular padding: conv_lstsq(conv(x)) == x  (FFT, one 1 x 1 solve per frequency)", exact.x, x),
        _check(
            "stride 2: conv_lstsq(y) == pinv(W) @ y, the least-norm solution",
            least_norm.x.ravel(),
            np.linalg.pinv(strided.toarray()) @ y_strided.ravel(),
        ),
        _check("stride 2: conv(conv_lstsq(y)) == y", conv(least_norm.x, kernel, stride=2, padding=1), y_strided),
    ]


SECTIONS: list[tuple[str, Callable[[np.random.Generator, TextIO], list[Check]]]] = [
    ("1. Convolution is a matrix product", _claim_matrix_product),
    ("2. The input gradient is W.T @ dh: a full convolution with the flipped kernel", _claim_input_gradient),
    ("3. The kernel gradient is a convolution of the input with the output gradient", _claim_kernel_gradient),
    ("4. Transposed convolution inverts the shape, not the values", _claim_transposed_convolution),
    ("5. Max pooling selects: S, its transpose, and unpooling", _claim_max_pooling),
    ("6. Least squares inverts the values: conv_lstsq, not conv_transpose", _claim_least_squares),
]


def run_demo(out: TextIO, seed: int = 0) -> list[Check]:
    """Run every section, print it to ``out`` and return all checks.

    Examples
    --------
    >>> import io
    >>> checks = run_demo(io.StringIO())
    >>> all(c.holds for c in checks)
    True
    """
    rng = np.random.default_rng(seed)
    checks: list[Check] = []
    for title, section in SECTIONS:
        out.write(f"\n== {title}\n")
        results = section(rng, out)
        for check in results:
            verdict = "holds" if check.holds else "FAILS"
            out.write(f"  [{verdict}] {check.name}  (max error {check.max_error:.1e})\n")
        checks.extend(results)
    return checks
