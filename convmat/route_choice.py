"""What ``backend="auto"`` does: the rule that picks the im2col or the FFT route for one call.

The rule compares two cost estimates, in seconds, built from operation counts
and a handful of rates measured once for each of the three maps (:data:`RATES`,
on the machine named in :data:`REFERENCE_MACHINE`):

* **im2col**: ``2·N·C_out·(C_in/G)·K·L`` floating-point operations at the
  speed of the route's products, plus the ``N·C_in·K·L`` patch values it
  reads (``K`` kernel taps, ``L`` output positions per plane);
* **fft**: ``(N·(C_in + C_out) + C_out·C_in/G)·P`` transformed points at a cost
  of ``log2 P`` each (``P`` the points of the transform grid), plus the channel
  mixing, ``N·G·(C_out/G)·(C_in/G)·M`` complex multiply-adds at ``M``
  frequencies.

The rates differ by map: the kernel gradient of a depthwise layer is a
reduction over the batch and every output position for each tap, which the
im2col route does at a fraction of the speed of its forward, so the FFT route
takes over the kernel gradient at smaller kernels than the forward.

``"fft"`` is picked when its estimate is below the im2col estimate by the
factor :data:`FFT_MARGIN` (it must be clearly faster, not a coin toss), and its
rounding error, about ``eps · log2 P`` relative to the output's largest
magnitude, stays within :data:`FFT_TOLERANCE`. Integer and boolean inputs stay
on the im2col route, whose sums of integer products are exact. ``"auto"`` never
picks ``"sparse"``: building ``W`` costs more than using it once.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import log2, prod

import numpy as np
from numpy.typing import DTypeLike

from .conv_fft import fft_plan
from .geometry import ConvGeometry

__all__ = ["FFT_MARGIN", "FFT_TOLERANCE", "RATES", "REFERENCE_MACHINE", "RouteCosts", "pick_route", "route_costs"]

#: The three maps the rates are given for.
OPS = ("forward", "input_grad", "weight_grad")

#: Where :data:`RATES` were measured.
REFERENCE_MACHINE = "2 cores of an AMD EPYC processor (AVX-512), numpy 2.4 on OpenBLAS 0.3.31, scipy 1.17, 2 threads"

#: Rates of the reference machine by bytes of one real number (4: float32, 8: float64) and by map:
#: ``gemm`` flop/s of the im2col route's products, ``gather`` patch bytes/s (of the patch values the
#: route reads, most of them without writing them out), ``fft`` transformed
#: points·log2(points)/s, ``mix`` complex multiply-adds/s of the channel mixing. Fitted to measured
#: times of dense, grouped and depthwise layers of 1-3 dimensions with kernels from 1 to 65.
RATES: dict[int, dict[str, dict[str, float]]] = {
    4: {
        "forward": {"gemm": 138e9, "gather": 88e9, "fft": 3.7e9, "mix": 1.27e9},
        "input_grad": {"gemm": 120e9, "gather": 96e9, "fft": 3.5e9, "mix": 1.08e9},
        "weight_grad": {"gemm": 127e9, "gather": 22e9, "fft": 4.1e9, "mix": 0.35e9},
    },
    8: {
        "forward": {"gemm": 74e9, "gather": 159e9, "fft": 3.7e9, "mix": 0.47e9},
        "input_grad": {"gemm": 71e9, "gather": 163e9, "fft": 3.6e9, "mix": 0.45e9},
        "weight_grad": {"gemm": 79e9, "gather": 27e9, "fft": 4.7e9, "mix": 0.16e9},
    },
}

#: How many times faster the FFT route's estimate must be before ``"auto"`` picks it.
FFT_MARGIN = 1.7

#: Largest relative rounding error ``"auto"`` accepts from the FFT route, by bytes of one real number.
FFT_TOLERANCE = {4: 1e-5, 8: 1e-12}


@dataclass(frozen=True)
class RouteCosts:
    """The two estimates (seconds on the reference machine) and the FFT route's error estimate for one call.

    Attributes
    ----------
    im2col, fft : float
        Estimated seconds of each route.
    fft_error : float
        Estimated rounding error of the FFT route relative to the output's largest magnitude.
    fft_tolerance : float
        The largest such error ``"auto"`` accepts for this dtype.
    """

    im2col: float
    fft: float
    fft_error: float
    fft_tolerance: float


def _real_itemsize(dtype: np.dtype) -> int:
    return dtype.itemsize // 2 if np.issubdtype(dtype, np.complexfloating) else dtype.itemsize


def route_costs(
    geom: ConvGeometry,
    batch: int,
    c_in: int,
    c_out: int,
    groups: int,
    dtype: DTypeLike = "float32",
    op: str = "forward",
) -> RouteCosts:
    """The estimates :func:`pick_route` compares, for a validated geometry and one of the three maps.

    ``op`` is ``"forward"``, ``"input_grad"`` or ``"weight_grad"``.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> costs = route_costs(conv_geometry((56, 56), 31, padding=15), 2, 64, 64, 64)
    >>> costs.fft < costs.im2col
    True
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    dt = np.dtype(dtype)
    size = 8 if _real_itemsize(dt) >= 8 else 4
    rates = RATES[size][op]
    cin_g, co = c_in // groups, c_out // groups
    length, taps = geom.output_size, geom.kernel_numel
    im2col = 2 * batch * c_out * cin_g * taps * length / rates["gemm"]
    im2col += batch * c_in * taps * length * size / rates["gather"]
    plan = fft_plan(geom)
    points = prod(plan.shape)
    spectrum = prod(plan.spectrum_shape)
    transformed = (batch * (c_in + c_out) + c_out * cin_g) * points
    fft = transformed * log2(max(points, 2)) / rates["fft"] + batch * groups * co * cin_g * spectrum / rates["mix"]
    error = float(np.finfo(np.float64 if size == 8 else np.float32).eps) * log2(max(points, 2))
    return RouteCosts(im2col, fft, error, FFT_TOLERANCE[size])


def pick_route(
    geom: ConvGeometry, batch: int, c_in: int, c_out: int, groups: int, dtype: DTypeLike, op: str = "forward"
) -> str:
    """``"fft"`` or ``"im2col"``: the route ``backend="auto"`` takes for a validated call of map ``op``.

    Examples
    --------
    >>> from convmat.geometry import conv_geometry
    >>> pick_route(conv_geometry((56, 56), 31, padding=15), 2, 64, 64, 64, "float32")
    'fft'
    >>> pick_route(conv_geometry((32, 32), 3, padding=1), 32, 64, 64, 1, "float32")
    'im2col'

    The kernel gradient of a depthwise 13 x 13 layer goes to the FFT route, its forward does not:

    >>> dw13 = conv_geometry((56, 56), 13, padding=6)
    >>> pick_route(dw13, 8, 64, 64, 64, "float32"), pick_route(dw13, 8, 64, 64, 64, "float32", "weight_grad")
    ('im2col', 'fft')
    """
    dt = np.dtype(dtype)
    if not np.issubdtype(dt, np.inexact):
        return "im2col"
    costs = route_costs(geom, batch, c_in, c_out, groups, dt, op)
    if costs.fft * FFT_MARGIN < costs.im2col and costs.fft_error <= costs.fft_tolerance:
        return "fft"
    return "im2col"
