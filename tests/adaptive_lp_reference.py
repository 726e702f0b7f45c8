"""Naive loop references for adaptive pooling and LP pooling, written from the definitions, and their case grids.

Everything here loops over samples, channels, output positions and window
elements one at a time, and computes its own windows and sizes: it shares no
code with convmat. The semantics are PyTorch's (checked against torch in
``test_adaptive_pooling_torch.py`` and ``test_lp_pooling_torch.py``):

* Adaptive pooling: along an axis of ``n`` inputs pooled to ``m``, window ``i``
  covers ``[floor(i*n/m), ceil((i+1)*n/m))``; a window of a plane is the product
  of one window per axis. The average divides the window's sum by its number of
  elements. The maximum scans the window in row-major order and lets an element
  take over when it is greater than the running maximum (``-inf`` at first, the
  index at the window's first element) or is NaN.
* LP pooling with power ``p``: the sum of ``x**p`` over each window (no
  padding; ceil mode adds windows that run past the input), multiplied by
  ``prod(kernel) / (elements in the window)``, to the power ``1/p``; ``p = inf``
  is the maximum of ``|x|``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np


def adaptive_windows(size, out):
    """Windows ``[start, stop)`` of an axis of ``size`` pooled to ``out``."""
    return [(math.floor(i * size / out), math.ceil((i + 1) * size / out)) for i in range(out)]


def resolve_output_size(output_size, spatial):
    """An int, or a tuple with ``None`` keeping the input size."""
    if isinstance(output_size, int):
        return (output_size,) * len(spatial)
    return tuple(s if o is None else o for o, s in zip(output_size, spatial, strict=True))


def _plane_windows(spatial, out):
    """Yield ``(o, positions)`` for every window of a plane, positions in row-major order."""
    axes = [adaptive_windows(n, m) for n, m in zip(spatial, out, strict=True)]
    for o in itertools.product(*(range(m) for m in out)):
        ranges = [range(*axes[d][o[d]]) for d in range(len(out))]
        yield o, list(itertools.product(*ranges))


def adaptive_avg_pool_reference(x, output_size):
    spatial = x.shape[2:]
    out = resolve_output_size(output_size, spatial)
    y = np.zeros(x.shape[:2] + out, dtype=x.dtype)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o, positions in _plane_windows(spatial, out):
            total = sum((x[(b, c, *q)] for q in positions), start=x.dtype.type(0))
            y[(b, c, *o)] = total / len(positions)
    return y


def adaptive_avg_pool_backward_reference(grad_output, input_shape):
    spatial = tuple(input_shape[2:])
    out = grad_output.shape[2:]
    dx = np.zeros(input_shape, dtype=grad_output.dtype)
    for b, c in itertools.product(range(input_shape[0]), range(input_shape[1])):
        for o, positions in _plane_windows(spatial, out):
            for q in positions:
                dx[(b, c, *q)] += grad_output[(b, c, *o)] / len(positions)
    return dx


def adaptive_max_pool_reference(x, output_size):
    """Values and switches (flat position in the plane) by PyTorch's scan."""
    spatial = x.shape[2:]
    out = resolve_output_size(output_size, spatial)
    values = np.empty(x.shape[:2] + out, dtype=x.dtype)
    indices = np.empty(x.shape[:2] + out, dtype=np.int64)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o, positions in _plane_windows(spatial, out):
            best, pick = -np.inf, positions[0]
            for q in positions:
                v = x[(b, c, *q)]
                if v > best or np.isnan(v):
                    best, pick = v, q
            values[(b, c, *o)] = best
            indices[(b, c, *o)] = np.ravel_multi_index(pick, spatial)
    return values, indices


def adaptive_avg_pool_matrix_reference(spatial, output_size):
    """The dense plane matrix: row ``o`` holds ``1/len`` at window ``o``."""
    out = resolve_output_size(output_size, spatial)
    A = np.zeros((int(np.prod(out)), int(np.prod(spatial))))
    for o, positions in _plane_windows(spatial, out):
        row = np.ravel_multi_index(o, out)
        for q in positions:
            A[row, np.ravel_multi_index(q, spatial)] = 1.0 / len(positions)
    return A


# ---------------------------------------------------------------------------
# LP pooling
# ---------------------------------------------------------------------------


def lp_out_size(size, kernel, stride, ceil_mode):
    """One axis of the output size (no padding, no dilation)."""
    span = size - kernel
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size:
            out -= 1
        return out
    return span // stride + 1


def _as_tuple(value, n):
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


def lp_pool_reference(x, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Window by window: ``(K / count · Σ x**p) ** (1/p)``, or ``max |x|`` for ``p = inf``."""
    n = x.ndim - 2
    kernel = _as_tuple(kernel_size, n)
    stride = kernel if stride is None else _as_tuple(stride, n)
    spatial = x.shape[2:]
    out = tuple(lp_out_size(spatial[d], kernel[d], stride[d], ceil_mode) for d in range(n))
    y = np.empty(x.shape[:2] + out, dtype=x.dtype)
    full = math.prod(kernel)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(m) for m in out)):
            ranges = [range(o[d] * stride[d], min(o[d] * stride[d] + kernel[d], spatial[d])) for d in range(n)]
            window = [x[(b, c, *q)] for q in itertools.product(*ranges)]
            if math.isinf(norm_type):
                y[(b, c, *o)] = max(abs(v) for v in window) if not any(np.isnan(window)) else np.nan
                continue
            with np.errstate(invalid="ignore"):
                total = sum(np.power(np.float64(v), norm_type) for v in window)
                y[(b, c, *o)] = np.power(total * full / len(window), 1.0 / norm_type)
    return y


# ---------------------------------------------------------------------------
# case grids
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AdaptiveCase:
    """One adaptive pooling problem; ``x_shape`` is ``(N, C, *spatial)``."""

    x_shape: tuple
    output_size: object

    @property
    def ndim(self):
        return len(self.x_shape) - 2

    @property
    def out_spatial(self):
        return resolve_output_size(self.output_size, self.x_shape[2:])

    @property
    def y_shape(self):
        return self.x_shape[:2] + self.out_spatial

    def id(self):
        size = "x".join("N" if o is None else str(o) for o in _as_tuple(self.output_size, self.ndim))
        return f"{self.ndim}d-x{'x'.join(map(str, self.x_shape))}-o{size}"


ADAPTIVE_KINDS = ("divisible", "overlapping", "larger", "none-entries", "mixed")


def _draw_adaptive(rng, n, kind, batch):
    hi = {1: 13, 2: 9, 3: 6}[n]
    spatial = tuple(int(v) for v in rng.integers(1, hi + 1, size=n))
    if kind == "divisible":
        out = tuple(int(s // rng.choice([d for d in range(1, s + 1) if s % d == 0])) for s in spatial)
    elif kind == "overlapping":
        out = tuple(int(rng.integers(1, s + 1)) for s in spatial)
    elif kind == "larger":
        out = tuple(int(rng.integers(s + 1, 2 * s + 3)) for s in spatial)
    elif kind == "none-entries":
        out = tuple(None if rng.random() < 0.5 else int(rng.integers(1, s + 2)) for s in spatial)
    else:
        out = tuple(int(rng.integers(1, 2 * s + 2)) for s in spatial)
    if rng.random() < 0.3 and kind != "none-entries":
        out = out[0]  # an int for every dim
    return AdaptiveCase((batch, int(rng.integers(1, 4)), *spatial), out)


def _shows_kind(case, kind):
    spatial, out = case.x_shape[2:], case.out_spatial
    return {
        "divisible": all(s % o == 0 for s, o in zip(spatial, out, strict=True)),
        "overlapping": any(s % o and o < s for s, o in zip(spatial, out, strict=True)),
        "larger": any(o > s + 1 for s, o in zip(spatial, out, strict=True)),
        "none-entries": None in _as_tuple(case.output_size, case.ndim),
        "mixed": True,
    }[kind]


def make_adaptive_grid(seed=1, per_kind=3):
    rng = np.random.default_rng(seed)
    batches = itertools.cycle((1, 2, 1, 3))
    cases = []
    for n, kind in itertools.product((1, 2, 3), ADAPTIVE_KINDS):
        for _ in range(per_kind):
            for _ in range(1000):
                case = _draw_adaptive(rng, n, kind, next(batches))
                if _shows_kind(case, kind):
                    break
            else:  # pragma: no cover - the ranges above always admit a draw
                raise RuntimeError("could not draw an adaptive case")
            cases.append(case)
    return [
        *cases,
        AdaptiveCase((2, 3, 7, 7), 1),  # global pooling
        AdaptiveCase((1, 2, 56), 5),  # windows of 12 every 11
        AdaptiveCase((1, 1, 10, 9), (4, 2)),
        AdaptiveCase((1, 1, 3, 2), (7, 5)),  # every window re-reads elements
        AdaptiveCase((1, 2, 5, 1, 4), (2, 3, None)),
        AdaptiveCase((1, 1, 100), 3),  # long windows
        AdaptiveCase((1, 1, 70, 3), (2, 3)),  # long windows on the first axis
        AdaptiveCase((0, 2, 5, 5), 3),  # empty batch
    ]


ADAPTIVE_GRID = make_adaptive_grid()
ADAPTIVE_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(ADAPTIVE_GRID)]
ADAPTIVE_SMALL = [c for c in ADAPTIVE_GRID if 0 < np.prod(c.x_shape) <= 60 and np.prod(c.y_shape) <= 120]
ADAPTIVE_SMALL_IDS = [c.id() for c in ADAPTIVE_SMALL]


@dataclass(frozen=True)
class LpCase:
    """One LP pooling problem."""

    x_shape: tuple
    norm_type: float
    kernel_size: object
    stride: object = None
    ceil_mode: bool = False

    @property
    def ndim(self):
        return len(self.x_shape) - 2

    @property
    def kwargs(self):
        return {"kernel_size": self.kernel_size, "stride": self.stride, "ceil_mode": self.ceil_mode}

    @property
    def out_spatial(self):
        n = self.ndim
        kernel = _as_tuple(self.kernel_size, n)
        stride = kernel if self.stride is None else _as_tuple(self.stride, n)
        return tuple(lp_out_size(self.x_shape[2 + d], kernel[d], stride[d], self.ceil_mode) for d in range(n))

    @property
    def y_shape(self):
        return self.x_shape[:2] + self.out_spatial

    def id(self):
        def fmt(v):
            return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)

        return (
            f"{self.ndim}d-x{fmt(self.x_shape)}-p{self.norm_type}-k{fmt(self.kernel_size)}-s{fmt(self.stride)}"
            f"{'-ceil' if self.ceil_mode else ''}"
        )


NORMS = (1, 2, 3, 1.5, 0.75, 4.0, math.inf)


def make_lp_grid(seed=2, per_rank=14):
    rng = np.random.default_rng(seed)
    cases = []
    for n in (1, 2, 3):
        hi = {1: 11, 2: 7, 3: 5}[n]
        drawn = 0
        while drawn < per_rank:
            spatial = tuple(int(v) for v in rng.integers(1, hi + 1, size=n))
            kernel = tuple(int(rng.integers(1, s + 1)) for s in spatial)
            stride = None if rng.random() < 0.3 else tuple(int(v) for v in rng.integers(1, 4, size=n))
            ceil_mode = drawn % 2 == 1
            if len(set(kernel)) == 1 and rng.random() < 0.5:
                kernel = kernel[0]  # an int for every dim
            shape = (int(rng.integers(1, 3)), int(rng.integers(1, 3)), *spatial)
            case = LpCase(shape, NORMS[drawn % len(NORMS)], kernel, stride, ceil_mode)
            if ceil_mode:  # keep the ceil cases that add a window running past the input
                plain = LpCase(case.x_shape, case.norm_type, case.kernel_size, case.stride, False)
                if plain.out_spatial == case.out_spatial:
                    continue
            cases.append(case)
            drawn += 1
    return [
        *cases,
        LpCase((2, 3, 6, 6), 2, 2),
        LpCase((1, 2, 7), 2, 3, 2, True),  # ceil window of one element, scaled by 3
        LpCase((1, 1, 5, 5), 1, 3, 1),  # overlapping sum pooling
        LpCase((1, 1, 4, 5, 3), 3, (2, 2, 1), (1, 2, 1), True),
        LpCase((0, 2, 4, 4), 2, 2),  # empty batch
    ]


LP_GRID = make_lp_grid()
LP_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(LP_GRID)]
LP_SMALL = [c for c in LP_GRID if 0 < np.prod(c.x_shape) <= 80]
LP_SMALL_IDS = [c.id() for c in LP_SMALL]
