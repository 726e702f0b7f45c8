"""The walk-through behind ``python -m convmat demo``: each identity checked on concrete numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import numpy as np

from .conv import conv, conv_input_grad, conv_weight_grad
from .conv_matrices import conv_matrix

__all__ = ["Check", "run_demo"]

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


def _max_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)), initial=0.0))


def _convolution_is_a_matrix_product(rng: np.random.Generator, out: TextIO) -> list[Check]:
    kernel = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    x = rng.standard_normal((2, 1, 4, 4))
    matrix = conv_matrix(kernel, (1, 4, 4))
    out.write("W for a 4x4 input and the 3x3 kernel 1..9 (4 x 16, the kernel rows spread along each row):\n")
    out.write(np.array2string(matrix.toarray(), precision=0, suppress_small=True, max_line_width=120) + "\n")
    via_matrix = (matrix @ x.reshape(2, 16).T).T.reshape(2, 1, 2, 2)
    return [
        Check("conv(x, w) == W @ x (im2col route)", _max_error(conv(x, kernel), via_matrix)),
        Check("conv(x, w) == W @ x (sparse route)", _max_error(conv(x, kernel, backend="sparse"), via_matrix)),
    ]


def _gradients_are_adjoints(rng: np.random.Generator, out: TextIO) -> list[Check]:
    x = rng.standard_normal((3, 2, 7, 6))
    w = rng.standard_normal((4, 2, 3, 2))
    geometry = {"stride": 2, "padding": 1, "dilation": 1}
    y = conv(x, w, **geometry)
    h = rng.standard_normal(y.shape)
    matrix = conv_matrix(w, x.shape[1:], **geometry)
    dx = conv_input_grad(x.shape, w, h, **geometry)
    dw = conv_weight_grad(x, w.shape, h, **geometry)
    out.write(f"stride 2, padding 1: W is {matrix.shape[0]} x {matrix.shape[1]} with {matrix.nnz} non-zeros\n")
    return [
        Check("conv_input_grad == W.T @ dh", _max_error(dx, (matrix.T @ h.reshape(3, -1).T).T.reshape(x.shape))),
        Check("<W a, h> == <a, W.T h>", abs(float(np.vdot(y, h) - np.vdot(x, dx)))),
        Check("<conv(x, w), h> == <w, conv_weight_grad(x, h)>", abs(float(np.vdot(y, h) - np.vdot(w, dw)))),
        Check(
            "both backends agree on the input gradient",
            _max_error(dx, conv_input_grad(x.shape, w, h, **geometry, backend="sparse")),
        ),
        Check(
            "both backends agree on the kernel gradient",
            _max_error(dw, conv_weight_grad(x, w.shape, h, **geometry, backend="sparse")),
        ),
    ]


SECTIONS: list[tuple[str, Callable[[np.random.Generator, TextIO], list[Check]]]] = [
    ("Convolution is a matrix product", _convolution_is_a_matrix_product),
    ("The gradients are the adjoints of the convolution", _gradients_are_adjoints),
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
