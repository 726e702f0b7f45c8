"""The geometry of adaptive pooling: the output size asked for, and PyTorch's windows.

Adaptive pooling is told the size of its output, not its kernel: along an axis
of ``n`` input elements pooled to ``m`` outputs, window ``i`` covers the input
elements ``[floor(i·n/m), ceil((i+1)·n/m))`` (PyTorch's rule). Windows have one
of at most two lengths per axis, cover the input without a gap, and overlap by
an element where ``m`` does not divide ``n``; with ``m > n`` several windows read
the same element. When ``m`` divides ``n`` the windows are those of a pooling
with ``kernel_size = stride = n // m``.

Like :mod:`convmat.geometry`, nothing here touches array data; the validated
:class:`AdaptiveGeometry` is hashable and keys the pattern caches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from math import prod

from .geometry import batched_input_dims, check_int, check_shape, check_spatial_rank

__all__ = [
    "AdaptiveGeometry",
    "OutputSize",
    "adaptive_pool_geometry",
    "adaptive_pool_output_shape",
    "adaptive_pool_problem",
    "adaptive_window",
    "normalize_output_size",
]

#: An adaptive pooling's ``output_size``: an int (every spatial dim) or one entry per spatial dim, ``None``
#: keeping that dim's input size.
OutputSize = int | Sequence[int | None]


def adaptive_window(i: int, size: int, out: int) -> tuple[int, int]:
    """Window ``i`` of an axis of ``size`` input elements pooled to ``out``: ``[start, stop)`` (PyTorch's rule).

    ``start = floor(i·size/out)``, ``stop = ceil((i+1)·size/out)``.

    Examples
    --------
    >>> [adaptive_window(i, 5, 3) for i in range(3)]  # overlapping: 5 is not a multiple of 3
    [(0, 2), (1, 4), (3, 5)]
    >>> [adaptive_window(i, 2, 3) for i in range(3)]  # more outputs than inputs
    [(0, 1), (0, 2), (1, 2)]
    """
    return (i * size) // out, -((-(i + 1) * size) // out)


def normalize_output_size(
    output_size: OutputSize, input_spatial: Sequence[int], name: str = "output_size"
) -> tuple[int, ...]:
    """``output_size`` as one positive int per spatial dim, a ``None`` entry replaced by that dim's input size.

    Raises
    ------
    TypeError
        Unless ``output_size`` is an int or a sequence of ints and ``None`` (bool is not an int).
    ValueError
        For a sequence of the wrong length or an entry that is not positive.

    Examples
    --------
    >>> normalize_output_size(3, (7, 5)), normalize_output_size((None, 2), (7, 5))
    ((3, 3), (7, 2))
    >>> normalize_output_size((2, 0), (7, 5))
    Traceback (most recent call last):
        ...
    ValueError: output_size must have positive entries (None keeps the input size), got (2, 0)
    """
    n = len(input_spatial)
    form = f"an int or a tuple of {n} entries, each an int or None (None keeps that input size)"
    if isinstance(output_size, Sequence) and not isinstance(output_size, str):
        entries = tuple(output_size)
        if len(entries) != n:
            raise ValueError(f"{name} must be {form}, one per spatial dim; got {entries!r} for {n} spatial dim(s)")
        try:
            sizes = tuple(
                size if v is None else check_int(v, name) for v, size in zip(entries, input_spatial, strict=True)
            )
        except TypeError:
            raise TypeError(f"{name} must be {form}; got {entries!r}") from None
        if any(s < 1 for s in sizes):
            raise ValueError(f"{name} must have positive entries (None keeps the input size), got {entries!r}")
        return sizes
    if output_size is None or isinstance(output_size, str):
        raise TypeError(f"{name} must be {form}; got {output_size!r}")
    try:
        value = check_int(output_size, name, minimum=1)
    except TypeError:
        raise TypeError(f"{name} must be {form}; got {output_size!r} ({type(output_size).__name__})") from None
    return (value,) * n


@dataclass(frozen=True)
class AdaptiveGeometry:
    """The validated geometry of one adaptive pooling plane: input and output sizes, both non-empty.

    Instances are immutable and hashable: they key the pattern caches.

    Attributes
    ----------
    input_spatial, output_spatial : tuple of int
        One positive entry per spatial dim (1 to 3).
    """

    input_spatial: tuple[int, ...]
    output_spatial: tuple[int, ...]

    @cached_property
    def ndim(self) -> int:
        """Number of spatial dims."""
        return len(self.input_spatial)

    @cached_property
    def input_size(self) -> int:
        """Number of elements in one input plane."""
        return prod(self.input_spatial)

    @cached_property
    def output_size(self) -> int:
        """Number of elements in one output plane."""
        return prod(self.output_spatial)

    def axis_windows(self, d: int) -> tuple[tuple[int, int], ...]:
        """The ``[start, stop)`` of every window along spatial dim ``d``."""
        size, out = self.input_spatial[d], self.output_spatial[d]
        return tuple(adaptive_window(i, size, out) for i in range(out))

    @cached_property
    def uniform(self) -> tuple[bool, ...]:
        """Per dim: whether the output size divides the input size (windows of one length, side by side)."""
        return tuple(n % m == 0 for n, m in zip(self.input_spatial, self.output_spatial, strict=True))


def adaptive_pool_geometry(input_spatial: Sequence[int], output_size: OutputSize) -> AdaptiveGeometry:
    """Validate an adaptive pooling's plane and ``output_size``; return its :class:`AdaptiveGeometry`.

    The plane has 1 to 3 non-empty dims (PyTorch refuses empty ones too).

    Examples
    --------
    >>> adaptive_pool_geometry((7, 5), (3, None))
    AdaptiveGeometry(input_spatial=(7, 5), output_spatial=(3, 5))
    """
    spatial = check_shape("input spatial shape", input_spatial)
    check_spatial_rank(len(spatial), "the input", f"input spatial shape {spatial}")
    if 0 in spatial:
        raise ValueError(
            f"adaptive pooling needs a non-empty input plane (as PyTorch), got input spatial shape {spatial}"
        )
    return AdaptiveGeometry(spatial, normalize_output_size(output_size, spatial))


def adaptive_pool_problem(
    input_shape: Sequence[int],
    output_size: OutputSize,
    *,
    input_name: str = "x",
    function: str | None = None,
) -> AdaptiveGeometry:
    """Validate a whole adaptive pooling call from the input shape ``(N, C, *spatial)``.

    The number of spatial dims (1 to 3) is ``len(input_shape) - 2``; a tuple
    ``output_size`` must agree and ``C`` must be positive (see
    :func:`convmat.geometry.batched_input_dims`, which ``function`` is passed to).

    Examples
    --------
    >>> adaptive_pool_problem((8, 3, 56, 56), 7).output_spatial
    (7, 7)
    """
    shape = check_shape(input_name, input_shape)
    batched_input_dims(shape, input_name, function=function, output_size=output_size)
    return adaptive_pool_geometry(shape[2:], output_size)


def adaptive_pool_output_shape(input_spatial: Sequence[int], output_size: OutputSize) -> tuple[int, ...]:
    """Spatial output shape of adaptive pooling: ``output_size`` per dim, ``None`` entries keeping the input size.

    Examples
    --------
    >>> adaptive_pool_output_shape((7, 5, 4), (2, None, 1))
    (2, 5, 1)
    """
    return adaptive_pool_geometry(input_spatial, output_size).output_spatial
