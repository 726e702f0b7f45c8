"""Shared fixtures, tolerances and a deterministic grid of convolution geometries.

The grid is generated once, at import, from a fixed seed: every (spatial rank,
padding mode) pair gets cases with each kind of padding (int, per-dim tuple,
"same", "valid") and a rotating choice of groups (1, 2, 3, depthwise), with the
sizes, kernels, strides and dilations drawn at random. Geometries that are
invalid for their padding mode are rejected while generating, never passed on.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pytest
from reference import as_tuple, output_spatial, resolve_padding

BACKENDS = ("im2col", "sparse", "fft")
#: The routes whose outputs are sums of products, so that a NaN or inf reaches exactly the windows that read it
#: (the FFT route spreads it over its plane; "auto" keeps non-finite inputs off that route).
LOCAL_BACKENDS = ("im2col", "sparse", "auto")
MODES = ("zeros", "circular", "reflect", "replicate")


# ---------------------------------------------------------------------------
# tolerances
# ---------------------------------------------------------------------------


def rtol_for(dtype) -> float:
    """Relative tolerance for results of ``dtype`` (float64/complex128 vs float32/complex64)."""
    return 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10


def assert_close(actual, expected, dtype=None, rtol=None):
    """``|actual - expected| <= rtol * max(1, max|expected|)`` elementwise, shapes equal.

    NaN/inf must sit at the same places with the same values; only finite
    entries enter the tolerance.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != expected {expected.shape}"
    if rtol is None:
        rtol = rtol_for(dtype if dtype is not None else actual.dtype)
    if actual.size == 0:
        return
    nan_a, nan_e = np.isnan(actual), np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), "NaN pattern differs"
    inf_e = np.isinf(expected)
    assert np.array_equal(np.isinf(actual), inf_e), "inf pattern differs"
    assert np.array_equal(actual[inf_e], expected[inf_e]), "inf values differ"
    finite = ~(nan_e | inf_e)
    a, e = actual[finite].astype(np.complex128), expected[finite].astype(np.complex128)
    if a.size == 0:
        return
    scale = max(1.0, float(np.max(np.abs(e))))
    err = float(np.max(np.abs(a - e)))
    assert err <= rtol * scale, f"max abs error {err:.3e} > {rtol:.1e} * scale {scale:.3e}"


# ---------------------------------------------------------------------------
# random data
# ---------------------------------------------------------------------------


@pytest.fixture
def rng():
    """A fresh, seeded generator per test."""
    return np.random.default_rng(20240521)


def random_array(rng, shape, dtype=np.float64):
    """Standard normal data of ``dtype`` (complex: independent real and imaginary parts)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# ---------------------------------------------------------------------------
# geometry grid
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One convolution problem; ``x_shape`` is ``(N, C_in, *spatial)``."""

    x_shape: tuple
    w_shape: tuple
    stride: object
    padding: object
    dilation: object
    groups: int
    padding_mode: str

    @property
    def ndim(self):
        return len(self.w_shape) - 2

    @property
    def pads(self):
        return resolve_padding(self.padding, self.w_shape[2:], as_tuple(self.dilation, self.ndim))

    @property
    def out_spatial(self):
        n = self.ndim
        return output_spatial(
            self.x_shape[2:], self.w_shape[2:], as_tuple(self.stride, n), self.pads, as_tuple(self.dilation, n)
        )

    @property
    def y_shape(self):
        return (self.x_shape[0], self.w_shape[0], *self.out_spatial)

    @property
    def kwargs(self):
        """Keyword arguments shared by conv, conv_input_grad, conv_weight_grad and the references."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "padding_mode": self.padding_mode,
        }

    def with_batch(self, batch):
        return replace(self, x_shape=(batch, *self.x_shape[1:]))

    def id(self):
        def fmt(v):
            return "x".join(map(str, v)) if isinstance(v, tuple) else str(v)

        return (
            f"{self.ndim}d-x{fmt(self.x_shape)}-w{fmt(self.w_shape)}-s{fmt(self.stride)}-p{fmt(self.padding)}"
            f"-d{fmt(self.dilation)}-g{self.groups}-{self.padding_mode}"
        )


def is_valid(case: Case) -> bool:
    """The geometry is legal for its padding mode (torch's rules)."""
    n = case.ndim
    spatial = case.x_shape[2:]
    kernel = case.w_shape[2:]
    stride, dilation = as_tuple(case.stride, n), as_tuple(case.dilation, n)
    if case.padding == "same" and any(s != 1 for s in stride):
        return False
    pads = case.pads
    for size, (lo, hi), k, d in zip(spatial, pads, kernel, dilation, strict=True):
        if case.padding_mode == "reflect" and max(lo, hi) >= size:
            return False
        if case.padding_mode == "circular" and max(lo, hi) > size:
            return False
        if size + lo + hi < d * (k - 1) + 1:
            return False
    return True


_SPATIAL_RANGE = {1: (2, 10), 2: (2, 7), 3: (2, 5)}
_KERNEL_RANGE = {1: (1, 5), 2: (1, 4), 3: (1, 3)}
_GROUPINGS = ("g1", "g2", "g3", "depthwise")
_PAD_KINDS = ("int", "tuple", "same", "valid")


def _per_dim(rng, n, lo, hi, as_int_sometimes=True):
    """A random int (same for every dim) or a per-dim tuple with entries in [lo, hi]."""
    if as_int_sometimes and rng.random() < 0.4:
        return int(rng.integers(lo, hi + 1))
    return tuple(int(v) for v in rng.integers(lo, hi + 1, size=n))


def _draw(rng, ndim, mode, pad_kind, grouping, batch):
    if grouping == "depthwise":
        c_in = int(rng.integers(1, 4))
        groups, cin_g, c_out = c_in, 1, c_in * int(rng.integers(1, 3))
    else:
        groups = int(grouping[1])
        cin_g = int(rng.integers(1, 6 // groups + 1))
        c_in = groups * cin_g
        c_out = groups * int(rng.integers(1, 6 // groups + 1))
    lo, hi = _SPATIAL_RANGE[ndim]
    spatial = tuple(int(v) for v in rng.integers(lo, hi + 1, size=ndim))
    klo, khi = _KERNEL_RANGE[ndim]
    kernel = tuple(int(v) for v in rng.integers(klo, khi + 1, size=ndim))
    dilation = _per_dim(rng, ndim, 1, 2)
    if pad_kind == "same":
        stride = 1 if rng.random() < 0.5 else (1,) * ndim
        padding = "same"
    else:
        stride = _per_dim(rng, ndim, 1, 3)
        padding = {"int": lambda: int(rng.integers(0, 3)), "valid": lambda: "valid"}.get(
            pad_kind, lambda: tuple(int(v) for v in rng.integers(0, 3, size=ndim))
        )()
    return Case((batch, c_in, *spatial), (c_out, cin_g, *kernel), stride, padding, dilation, groups, mode)


def make_grid(seed=0, per_pair=4):
    """``per_pair`` valid cases for each (rank, padding mode) pair, cycling padding kind, grouping and batch."""
    rng = np.random.default_rng(seed)
    cases = []
    batches = itertools.cycle((1, 3, 0, 1, 3))
    for pair, (ndim, mode) in enumerate(itertools.product((1, 2, 3), MODES)):
        for j in range(per_pair):
            pad_kind = _PAD_KINDS[j % len(_PAD_KINDS)]
            grouping = _GROUPINGS[(pair + j) % len(_GROUPINGS)]
            batch = next(batches)
            for _ in range(1000):
                case = _draw(rng, ndim, mode, pad_kind, grouping, batch)
                if is_valid(case):
                    break
            else:  # pragma: no cover - the ranges above always admit a valid draw
                raise RuntimeError("could not draw a valid case")
            cases.append(case)
    return cases


def _hand_picked():
    """Edge cases worth pinning explicitly."""
    return [
        # even kernel "same" with dilation: asymmetric pad (extra on the high side)
        Case((2, 2, 6, 5), (2, 2, 2, 4), 1, "same", (1, 2), 1, "zeros"),
        Case((1, 2, 5, 6), (4, 1, 4, 2), 1, "same", 1, 2, "reflect"),
        Case((1, 1, 7), (1, 1, 2), 1, "same", 3, 1, "circular"),
        Case((2, 3, 4, 4, 4), (3, 1, 2, 2, 2), 1, "same", 1, 3, "replicate"),
        # pads equal to the dim in circular mode, dim - 1 in reflect mode
        Case((1, 2, 3, 4), (2, 2, 3, 3), 1, (3, 4), 1, 1, "circular"),
        Case((1, 2, 3, 4), (2, 1, 3, 3), (2, 1), (2, 3), 1, 2, "reflect"),
        # kernel exactly the padded input; stride larger than the kernel; 1x1 kernels
        Case((2, 2, 5, 3), (3, 2, 7, 5), 1, 1, 1, 1, "replicate"),
        Case((1, 2, 7, 7), (2, 1, 2, 2), 3, 1, 1, 2, "zeros"),
        Case((3, 4, 5), (6, 2, 1), 2, 0, 1, 2, "zeros"),
        # a spatial dim of size 1
        Case((2, 1, 1, 6), (2, 1, 1, 3), 1, (0, 1), 1, 1, "replicate"),
    ]


GRID = make_grid() + _hand_picked()
GRID_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(GRID)]
# a smaller slice for the slower checks (dense Jacobians, finite differences)
SMALL = [c for c in GRID if np.prod(c.x_shape[1:]) <= 60 and np.prod(c.out_spatial) * c.w_shape[0] <= 150]
SMALL_IDS = [f"{i:02d}-{c.id()}" for i, c in enumerate(SMALL)]


def case_data(case: Case, dtype=np.float64, seed=0, bias=True):
    """Random ``x``, ``weight``, ``bias`` and ``grad_output`` for ``case``."""
    rng = np.random.default_rng(seed + 7919 * GRID.index(case) if case in GRID else seed)
    x = random_array(rng, case.x_shape, dtype)
    w = random_array(rng, case.w_shape, dtype)
    b = random_array(rng, (case.w_shape[0],), dtype) if bias else None
    dy = random_array(rng, case.y_shape, dtype)
    return x, w, b, dy
