"""Check a backward against central finite differences, in float64 on a copy.

:func:`gradcheck` takes either a :class:`~convmat.nn.Layer` (checking the
gradient with respect to its input and every parameter) or a function that
returns its output together with a vector-Jacobian product, as JAX's ``vjp``
does. It projects the output on a fixed random direction ``v``, so that one
backward gives the gradient of the scalar ``s = Σ v·y``, and compares that with
``(s(a + ε) − s(a − ε)) / 2ε`` for every entry ``a`` of every array.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from .layers import Layer

__all__ = ["GradcheckEntry", "GradcheckReport", "gradcheck"]

VJPFunction = Callable[..., tuple[ArrayLike, Callable[[np.ndarray], Sequence[ArrayLike]]]]


@dataclass(frozen=True)
class GradcheckEntry:
    """The comparison for one array.

    Attributes
    ----------
    name : str
        ``"x"`` or a parameter name for a layer, ``"arrays[k]"`` for a function.
    shape : tuple of int
    max_abs_error : float
        ``max |analytic − numeric|``.
    max_rel_error : float
        ``max_abs_error / max |numeric|`` (0 when both gradients are 0, inf when
        only the analytic one is not).
    worst_index : tuple of int
        Where the largest absolute error is.
    analytic, numeric : float
        The two gradients there.
    ok : bool
        ``max_abs_error <= atol + rtol * max |numeric|``.

    Examples
    --------
    >>> e = GradcheckEntry("x", (2,), 1e-12, 1e-12, (0,), 1.0, 1.0, True)
    >>> e.ok
    True
    """

    name: str
    shape: tuple[int, ...]
    max_abs_error: float
    max_rel_error: float
    worst_index: tuple[int, ...]
    analytic: float
    numeric: float
    ok: bool


@dataclass(frozen=True)
class GradcheckReport:
    """What :func:`gradcheck` found: one :class:`GradcheckEntry` per array; ``str()`` is a table.

    Examples
    --------
    >>> import numpy as np
    >>> report = gradcheck(lambda a: (a * a, lambda v: (2 * a * v,)), np.arange(3.0))
    >>> report.ok, [e.name for e in report.entries]
    (True, ['arrays[0]'])
    """

    entries: tuple[GradcheckEntry, ...]
    eps: float
    atol: float
    rtol: float

    @property
    def ok(self) -> bool:
        """Whether every array passed."""
        return all(e.ok for e in self.entries)

    def __str__(self) -> str:
        head = (
            f"gradcheck {'passed' if self.ok else 'FAILED'}: central differences with eps={self.eps:g}, "
            f"an array passes when max abs error <= {self.atol:g} + {self.rtol:g} * max |numeric|"
        )
        columns = ("", "array", "shape", "max abs error", "rel error", "worst at", "analytic", "numeric")
        rows = [
            (
                "ok" if e.ok else "FAIL",
                e.name,
                str(e.shape),
                f"{e.max_abs_error:.3e}",
                f"{e.max_rel_error:.3e}",
                str(e.worst_index),
                f"{e.analytic:.6g}",
                f"{e.numeric:.6g}",
            )
            for e in self.entries
        ]
        widths = [max(len(r[i]) for r in [columns, *rows]) for i in range(len(columns))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in [columns, *rows]]
        return "\n".join([head, *lines])


def _as_float64(value: ArrayLike, name: str) -> np.ndarray:
    arr = np.array(value)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
    return arr.astype(np.float64)


def gradcheck(
    fn: Layer | VJPFunction,
    *arrays: ArrayLike,
    eps: float = 1e-6,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> GradcheckReport:
    """Compare analytic gradients with central finite differences.

    Parameters
    ----------
    fn : Layer or callable
        A :class:`~convmat.nn.Layer`: ``arrays`` is its one input ``x``; checked
        are ``backward``'s return value (the gradient with respect to ``x``) and
        every entry of ``grads()``. The layer is not touched: the check runs on
        ``fn.astype(np.float64)``.

        A callable: ``fn(*arrays)`` returns ``(y, vjp)`` where ``vjp(v)`` gives
        the gradients of ``Σ v·y`` with respect to each of ``arrays`` (a
        sequence, one per array, each of its shape). It is called with
        float64 copies and should compute in their dtype.
    *arrays : array_like
        Real inputs (copied to float64; the originals are not changed).
    eps : float
        Step of the central differences.
    atol, rtol : float
        An array passes when ``max |analytic − numeric| <= atol + rtol * max |numeric|``.
    seed : int
        Seed of the random projection ``v`` of the output.

    Returns
    -------
    GradcheckReport
        ``report.ok`` tells whether every array passed; ``print(report)``
        shows the errors. Nothing is raised for a failed check.

    Notes
    -----
    Each entry costs two evaluations of ``fn``: keep the arrays small (tens to
    hundreds of entries). Finite differences are meaningless across a kink
    (ReLU at 0, a tie in max pooling): random inputs avoid them.

    Examples
    --------
    A layer, input gradient and parameter gradients at once:

    >>> import numpy as np
    >>> from convmat.nn import Conv, gradcheck
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 5, 5))
    >>> report = gradcheck(Conv(3, 2, 3, stride=2, padding=1, rng=0), x)
    >>> report.ok
    True
    >>> print(report)  # doctest: +ELLIPSIS
    gradcheck passed: central differences with eps=1e-06, an array passes when ...
         array   shape         max abs error  rel error  worst at ...
    ok   x       (2, 3, 5, 5)  ...
    ok   weight  (2, 3, 3, 3)  ...
    ok   bias    (2,)          ...

    A function with its vector-Jacobian product, here a wrong one:

    >>> def square(a):
    ...     return a**2, lambda v: (v * a,)          # should be 2 * v * a
    >>> gradcheck(square, np.array([1.0, 2.0])).ok
    False
    """
    if eps <= 0 or atol < 0 or rtol < 0:
        raise ValueError(f"eps must be positive and atol, rtol non-negative, got eps={eps}, atol={atol}, rtol={rtol}")
    rng = np.random.default_rng(seed)
    if isinstance(fn, Layer):
        if len(arrays) != 1:
            raise TypeError(f"gradcheck of a layer takes its one input x, got {len(arrays)} arrays")
        layer = fn.astype(np.float64)
        x = _as_float64(arrays[0], "x")
        y = np.asarray(layer.forward(x))
        v = rng.standard_normal(y.shape)
        analytic = {"x": np.asarray(layer.backward(v)), **layer.grads()}
        targets = {"x": x, **layer.params()}

        def score() -> float:
            return float(np.sum(v * layer.forward(x)))

    elif callable(fn):
        inputs = [_as_float64(a, f"arrays[{k}]") for k, a in enumerate(arrays)]
        if not inputs:
            raise TypeError("gradcheck needs at least one array to differentiate with respect to")
        out, vjp = fn(*inputs)  # out: any array_like (y above is an ndarray)
        v = rng.standard_normal(np.shape(out))
        grads = vjp(v)
        if not isinstance(grads, Sequence) or len(grads) != len(inputs):
            raise TypeError(f"fn's vjp must return a sequence of {len(inputs)} gradient(s), one per array")
        analytic = {f"arrays[{k}]": np.asarray(g) for k, g in enumerate(grads)}
        targets = {f"arrays[{k}]": a for k, a in enumerate(inputs)}

        def score() -> float:
            return float(np.sum(v * np.asarray(fn(*inputs)[0])))

    else:
        raise TypeError(f"fn must be a convmat.nn.Layer or a callable returning (y, vjp), got {type(fn).__name__}")

    entries = []
    for name, target in targets.items():
        if analytic[name].shape != target.shape:
            raise ValueError(
                f"the analytic gradient of {name} has shape {analytic[name].shape}, expected {target.shape}"
            )
        numeric = np.empty(target.shape)
        flat = target.reshape(-1)  # a view: perturbing it perturbs the array fn reads
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            up = score()
            flat[i] = saved - eps
            down = score()
            flat[i] = saved
            numeric.flat[i] = (up - down) / (2 * eps)
        entries.append(_compare(name, analytic[name].astype(np.float64), numeric, atol, rtol))
    return GradcheckReport(tuple(entries), eps, atol, rtol)


def _compare(name: str, analytic: np.ndarray, numeric: np.ndarray, atol: float, rtol: float) -> GradcheckEntry:
    if analytic.size == 0:
        return GradcheckEntry(name, analytic.shape, 0.0, 0.0, (), 0.0, 0.0, True)
    error = np.abs(analytic - numeric)
    error[np.isnan(error)] = np.inf
    worst = np.unravel_index(int(np.argmax(error)), error.shape)
    max_abs = float(error[worst])
    scale = float(np.max(np.abs(numeric)))
    rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else np.inf)
    ok = max_abs <= atol + rtol * scale
    index = tuple(int(i) for i in worst)
    return GradcheckEntry(name, analytic.shape, max_abs, rel, index, float(analytic[worst]), float(numeric[worst]), ok)
