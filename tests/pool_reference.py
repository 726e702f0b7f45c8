"""Naive loop references for pooling, written from the definitions, and the pooling case grid.

Everything here loops over samples, channels, output positions and window
elements one at a time, and computes its own output sizes: it shares no code
with convmat. The semantics are PyTorch's (checked against torch in
``test_pooling_torch.py``):

* A window of max pooling is the set of input elements it covers (padding is
  never a candidate). Its value is the largest; its index is the flat position
  in the plane of the *first* largest in row-major order. If the window holds a
  NaN, the value is NaN and the index is that of its *last* NaN.
* Average pooling sums the input elements of a window and divides by the
  window's length clipped to the padded input (``count_include_pad``) or by
  the number of input elements in it; the divisor is the product over axes.
* Max unpooling writes the pooled values in row-major order, so a shared
  switch keeps the last one; the max-pooling backward adds instead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np


def as_tuple(value, n):
    return tuple(value) if isinstance(value, tuple | list) else (value,) * n


def pool_out_size(size, kernel, stride, padding, dilation, ceil_mode):
    """One axis of PyTorch's pooling output size."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def _normalise(x_shape, kernel_size, stride, padding, dilation):
    n = len(x_shape) - 2
    kernel = as_tuple(kernel_size, n)
    stride = kernel if stride is None else as_tuple(stride, n)
    return n, kernel, stride, as_tuple(padding, n), as_tuple(dilation, n)


def _window_axis(o, kernel, stride, padding, dilation, size):
    """Input positions covered by window ``o`` along one axis, in order."""
    start = o * stride - padding
    return [start + j * dilation for j in range(kernel) if 0 <= start + j * dilation < size]


def max_pool_reference(x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Values and indices of max pooling ``x`` of shape ``(N, C, *spatial)``."""
    n, kernel, stride, padding, dilation = _normalise(x.shape, kernel_size, stride, padding, dilation)
    spatial = x.shape[2:]
    out = tuple(pool_out_size(spatial[d], kernel[d], stride[d], padding[d], dilation[d], ceil_mode) for d in range(n))
    values = np.empty(x.shape[:2] + out, dtype=x.dtype)
    indices = np.empty(x.shape[:2] + out, dtype=np.int64)
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o in itertools.product(*(range(v) for v in out)):
            axes = [_window_axis(o[d], kernel[d], stride[d], padding[d], dilation[d], spatial[d]) for d in range(n)]
            positions = list(itertools.product(*axes))
            window = [x[(b, c, *q)] for q in positions]
            nans = [i for i, v in enumerate(window) if np.isnan(v)]
            pick = nans[-1] if nans else window.index(max(window))
            values[(b, c, *o)] = window[pick]
            indices[(b, c, *o)] = np.ravel_multi_index(positions[pick], spatial)
    return values, indices


def max_pool_backward_reference(grad_output, indices, input_shape):
    """Each output gradient added at its switch."""
    dx = np.zeros(input_shape, dtype=grad_output.dtype)
    spatial = tuple(input_shape[2:])
    for pos in np.ndindex(*grad_output.shape):
        b, c = pos[:2]
        dx[(b, c, *np.unravel_index(indices[pos], spatial))] += grad_output[pos]
    return dx


def max_unpool_reference(x, indices, output_spatial):
    """Each value written at its switch, in row-major order (a shared switch keeps the last)."""
    out = np.zeros(x.shape[:2] + tuple(output_spatial), dtype=x.dtype)
    for pos in np.ndindex(*x.shape):
        b, c = pos[:2]
        out[(b, c, *np.unravel_index(indices[pos], output_spatial))] = x[pos]
    return out


def _avg_windows(x_shape, kernel_size, stride, padding, ceil_mode, count_include_pad):
    """Yield ``(o, positions, divisor)`` for every window of one plane."""
    n, kernel, stride, padding, _ = _normalise(x_shape, kernel_size, stride, padding, 1)
    spatial = x_shape[2:]
    out = tuple(pool_out_size(spatial[d], kernel[d], stride[d], padding[d], 1, ceil_mode) for d in range(n))
    for o in itertools.product(*(range(v) for v in out)):
        axes = [_window_axis(o[d], kernel[d], stride[d], padding[d], 1, spatial[d]) for d in range(n)]
        if count_include_pad:
            divisor = 1
            for d in range(n):
                start = o[d] * stride[d] - padding[d]
                divisor *= min(start + kernel[d], spatial[d] + padding[d]) - start
        else:
            divisor = int(np.prod([len(a) for a in axes]))
        yield o, list(itertools.product(*axes)), divisor


def avg_pool_out_spatial(x_shape, kernel_size, stride=None, padding=0, ceil_mode=False):
    n, kernel, stride, padding, _ = _normalise(x_shape, kernel_size, stride, padding, 1)
    return tuple(pool_out_size(x_shape[2 + d], kernel[d], stride[d], padding[d], 1, ceil_mode) for d in range(n))


def avg_pool_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Average pooling of ``x`` of shape ``(N, C, *spatial)``."""
    out = avg_pool_out_spatial(x.shape, kernel_size, stride, padding, ceil_mode)
    y = np.zeros(x.shape[:2] + out, dtype=x.dtype)
    windows = list(_avg_windows(x.shape, kernel_size, stride, padding, ceil_mode, count_include_pad))
    for b, c in itertools.product(range(x.shape[0]), range(x.shape[1])):
        for o, positions, divisor in windows:
            total = sum((x[(b, c, *q)] for q in positions), start=x.dtype.type(0))
            y[(b, c, *o)] = total / divisor
    return y


def avg_pool_backward_reference(
    grad_output, input_shape, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
):
    """Each output gradient divided by its divisor and added to every input element of its window."""
    dx = np.zeros(input_shape, dtype=grad_output.dtype)
    windows = list(_avg_windows(tuple(input_shape), kernel_size, stride, padding, ceil_mode, count_include_pad))
    for b, c in itertools.product(range(input_shape[0]), range(input_shape[1])):
        for o, positions, divisor in windows:
            for q in positions:
                dx[(b, c, *q)] += grad_output[(b, c, *o)] / divisor
    return dx


# ---------------------------------------------------------------------------
# the case grid
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolCase:
    """One pooling problem; ``x_shape`` is ``(N, C, *spatial)``."""

    x_shape: tuple
    kernel_size: object
    stride: object = None
    padding: object = 0
    dilation: object = 1
    ceil_mode: bool = False

    @property
    def ndim(self):
        return len(self.x_shape) - 2

    @property
    def kwargs(self):
        """Keyword arguments of max pooling (and of the max references)."""
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "ceil_mode": self.ceil_mode,
        }

    @property
    def avg_kwargs(self):
        """Keyword arguments of average pooling (no dilation)."""
        kwargs = self.kwargs
        del kwargs["dilation"]
        return kwargs

    @property
    def out_spatial(self):
        n, kernel, stride, padding, dilation = _normalise(
            self.x_shape, self.kernel_size, self.stride, self.padding, self.dilation
        )
        return tuple(
            pool_out_size(self.x_shape[2 + d], kernel[d], stride[d], padding[d], dilation[d], self.ceil_mode)
            for d in range(n)
        )

    @property
    def y_shape(self):
        return self.x_shape[:2] + self.out_spatial

    @property
    def overlapping(self):
        """Whether some input element can belong to two windows along an axis."""
        _, kernel, stride, _, dilation = _normalise(
            self.x_shape, self.kernel_size, self.stride, self.padding, self.dilation
        )
        return any(s < d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation, strict=True))

    def id(self):
        def fmt(v):
            return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)

        return (
            f"{self.ndim}d-x{fmt(self.x_shape)}-k{fmt(self.kernel_size)}-s{fmt(self.stride)}-p{fmt(self.padding)}"
            f"-d{fmt(self.dilation)}{'-ceil' if self.ceil_mode else ''}"
        )


def is_valid(case: PoolCase) -> bool:
    """PyTorch accepts the geometry and every window reads at least one input element."""
    n, kernel, stride, padding, dilation = _normalise(
        case.x_shape, case.kernel_size, case.stride, case.padding, case.dilation
    )
    for d in range(n):
        size, k, s, p, dil = case.x_shape[2 + d], kernel[d], stride[d], padding[d], dilation[d]
        if 2 * p > k or size + 2 * p < dil * (k - 1) + 1:
            return False
        out = pool_out_size(size, k, s, p, dil, case.ceil_mode)
        if any(not _window_axis(o, k, s, p, dil, size) for o in range(out)):
            return False
    return True


_SIZES = {1: (1, 11), 2: (1, 8), 3: (1, 5)}
_KERNELS = {1: (1, 4), 2: (1, 3), 3: (1, 3)}
KINDS = ("plain", "overlapping", "dilated", "padded", "ceil", "padded-ceil")


def _pick(rng, n, lo, hi):
    """A random int (the same for every axis) or a per-axis tuple, entries in [lo, hi]."""
    if rng.random() < 0.4:
        return int(rng.integers(lo, hi + 1))
    return tuple(int(v) for v in rng.integers(lo, hi + 1, size=n))


def _draw(rng, n, kind, batch):
    lo, hi = _SIZES[n]
    spatial = tuple(int(v) for v in rng.integers(lo, hi + 1, size=n))
    kernel = _pick(rng, n, *_KERNELS[n])
    k_max = max(as_tuple(kernel, n))
    stride = {
        "plain": lambda: None,
        "overlapping": lambda: 1 if k_max > 1 else _pick(rng, n, 1, 2),
        "dilated": lambda: _pick(rng, n, 1, 3),
        "padded": lambda: _pick(rng, n, 1, 3),
        "ceil": lambda: _pick(rng, n, 2, 3),
        "padded-ceil": lambda: _pick(rng, n, 1, 3),
    }[kind]()
    dilation = _pick(rng, n, 1, 3) if kind in ("dilated", "padded-ceil") else 1
    padding = 0
    if kind in ("padded", "padded-ceil") or (kind == "dilated" and rng.random() < 0.5):
        padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in as_tuple(kernel, n))
    return PoolCase((batch, int(rng.integers(1, 4)), *spatial), kernel, stride, padding, dilation, "ceil" in kind)


def _shows_kind(case: PoolCase, kind: str) -> bool:
    """The drawn case really exercises its kind (a pad, a dilation, an overlap, a window added by ceil mode)."""
    n = case.ndim
    checks = {
        "plain": True,
        "overlapping": case.overlapping,
        "dilated": max(as_tuple(case.dilation, n)) > 1,
        "padded": max(as_tuple(case.padding, n)) > 0,
        "ceil": case.out_spatial != replace(case, ceil_mode=False).out_spatial,
    }
    checks["padded-ceil"] = checks["padded"] and checks["ceil"]
    return checks[kind]


def make_grid(seed=0, per_kind=3):
    """``per_kind`` valid cases for each (rank, kind) pair, each showing its kind."""
    rng = np.random.default_rng(seed)
    batches = itertools.cycle((1, 2, 1, 3))
    cases = []
    for n, kind in itertools.product((1, 2, 3), KINDS):
        for _ in range(per_kind):
            batch = next(batches)
            for _ in range(1000):
                case = _draw(rng, n, kind, batch)
                if is_valid(case) and _shows_kind(case, kind):
                    break
            else:  # pragma: no cover - the ranges above always admit a valid draw
                raise RuntimeError("could not draw a valid pooling case")
            cases.append(case)
    return cases


def _hand_picked():
    """Edge cases worth pinning explicitly."""
    return [
        PoolCase((2, 3, 4, 4), 2),  # the textbook 2x2 / stride 2
        PoolCase((1, 2, 7, 7), 3, 2, 1),  # ResNet-style stem pooling on an odd size
        PoolCase((1, 1, 5, 5), 5),  # one window = the whole input
        PoolCase((2, 1, 9), 2, 3),  # stride larger than the kernel: skipped elements
        PoolCase((1, 2, 6, 7), (2, 3), (2, 1), (1, 1), (2, 1), True),  # per-axis everything
        PoolCase((1, 1, 1, 6), (1, 3), (1, 2), (0, 1), 1, True),  # an axis of size 1
        PoolCase((1, 1, 6), 3, 2, 1, 1, True),  # ceil window in the overhang, divisor clipped at the padding
        PoolCase((1, 1, 5), 2, 2, 1, 1, True),  # ceil: the window that would start in the high padding is dropped
        PoolCase((1, 1, 3, 4, 5), (2, 2, 3), (1, 2, 2), (1, 0, 1), (1, 2, 1), True),
        PoolCase((0, 2, 5, 5), 2),  # empty batch
    ]


GRID = make_grid() + _hand_picked()
GRID_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(GRID)]
AVG_GRID = [c for c in GRID if all(d == 1 for d in as_tuple(c.dilation, c.ndim))]
AVG_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(AVG_GRID)]
SMALL = [c for c in GRID if 0 < np.prod(c.x_shape) <= 80]
SMALL_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(SMALL)]


def case_data(case: PoolCase, dtype=np.float64, seed=0):
    """Random ``x`` and ``grad_output`` for ``case`` (standard normal: every window has a unique max)."""
    rng = np.random.default_rng(seed + 7919 * GRID.index(case) if case in GRID else seed)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    dy = rng.standard_normal(case.y_shape).astype(dtype)
    return x, dy
