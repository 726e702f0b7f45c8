"""Shape arithmetic and argument normalisation: the only place that knows geometry.

Every operation in convmat asks this module for its shapes; none recomputes them.
Nothing here touches array data, so the functions are cheap, pure and hashable
enough to key the pattern caches of :mod:`convmat.patterns`.

Conventions (PyTorch's): ``stride``, ``padding``, ``dilation``, ``kernel_size`` and
``output_padding`` are an int or a tuple with one entry per spatial dimension;
``padding`` also takes ``"valid"`` and ``"same"``.  Internally padding is always a
tuple of ``(low, high)`` pairs, one per spatial dimension, so that ``"same"`` with
an even effective kernel (extra padding on the high side) is no special case.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from math import prod
from typing import Literal, TypeVar, get_args

__all__ = [
    "PADDING_MODES",
    "PAD_MODES",
    "SPATIAL_RANKS",
    "ConvGeometry",
    "PoolGeometry",
    "batched_input_dims",
    "check_channels",
    "check_choice",
    "check_conv_channels",
    "check_divisor_override",
    "check_int",
    "check_padded_dims",
    "check_positive_int",
    "check_shape",
    "check_spatial_rank",
    "conv_geometry",
    "conv_output_shape",
    "conv_problem",
    "conv_transpose_geometry",
    "conv_transpose_output_shape",
    "conv_transpose_problem",
    "fold_problem",
    "input_grad_conv_geometry",
    "normalize_groups",
    "normalize_pad",
    "normalize_padding",
    "normalize_tuple",
    "output_padding_for_size",
    "pad_plane_problem",
    "pad_problem",
    "padded_length",
    "pool_geometry",
    "pool_output_shape",
    "pool_problem",
    "spatial_dims_of",
    "tap_output_range",
    "unfold_problem",
    "unpool_output_spatial",
]

PaddingMode = Literal["zeros", "circular", "reflect", "replicate"]
#: The padding modes of convolutions (PyTorch's ``padding_mode``).
PADDING_MODES: tuple[PaddingMode, ...] = get_args(PaddingMode)
PadMode = Literal["constant", "reflect", "replicate", "circular"]
#: The modes of :func:`convmat.pad` (PyTorch's ``F.pad``); ``"constant"`` is the convolutions' ``"zeros"``.
PAD_MODES: tuple[PadMode, ...] = get_args(PadMode)
#: The spatial ranks convmat supports.
SPATIAL_RANKS = (1, 2, 3)

IntOrTuple = int | Sequence[int]
Padding = int | Sequence[int] | Literal["same", "valid"]
Pads = tuple[tuple[int, int], ...]

_C = TypeVar("_C", bound=str)


# ---------------------------------------------------------------------------
# The validators: one per kind of argument, used by every public function
# ---------------------------------------------------------------------------


def check_int(value: object, name: str, minimum: int | None = None) -> int:
    """``value`` as an int: ``TypeError`` unless it is an integer (bool is not), ``ValueError`` below ``minimum``.

    Any integer type is accepted (``operator.index``: Python and NumPy integers).

    Examples
    --------
    >>> check_int(3, "n", minimum=0)
    3
    >>> check_int(2.0, "n")
    Traceback (most recent call last):
        ...
    TypeError: n must be an int, got 2.0 (float)
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {value!r} (bool)")
    try:
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{name} must be an int, got {value!r} ({type(value).__name__})") from None
    if minimum is not None and number < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {number}")
    return number


def check_positive_int(value: object, name: str) -> int:
    """``value`` as a positive int (see :func:`check_int`).

    Examples
    --------
    >>> check_positive_int(3, "n")
    3
    >>> check_positive_int(0, "n")
    Traceback (most recent call last):
        ...
    ValueError: n must be positive, got 0
    """
    return check_int(value, name, minimum=1)


def check_choice(value: object, name: str, choices: tuple[_C, ...]) -> _C:
    """``value`` if it is one of the strings ``choices``: else ``TypeError`` (not a str) or ``ValueError``.

    The message lists the allowed values.

    Examples
    --------
    >>> check_choice("reflect", "padding_mode", PADDING_MODES)
    'reflect'
    >>> check_choice("reflectt", "padding_mode", PADDING_MODES)
    Traceback (most recent call last):
        ...
    ValueError: padding_mode must be one of 'zeros', 'circular', 'reflect', 'replicate'; got 'reflectt'
    """
    allowed = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {allowed}; got {value!r} ({type(value).__name__})")
    if value not in choices:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")
    return value


def check_spatial_rank(n: int, name: str, got: str, layout: str | None = None) -> int:
    """``n`` if convmat supports that many spatial dims (1 to 3), else ``ValueError`` naming ``name`` and ``got``.

    The one rank check of convmat; ``layout`` (``"(N, C, *spatial)"``) says how
    an array argument is read.

    Examples
    --------
    >>> check_spatial_rank(2, "x", "an array of rank 4", "(N, C, *spatial)")
    2
    >>> check_spatial_rank(4, "x", "an array of rank 6", "(N, C, *spatial)")
    Traceback (most recent call last):
        ...
    ValueError: x must have shape (N, C, *spatial) with 1 to 3 spatial dims, got an array of rank 6
    """
    if n not in SPATIAL_RANKS:
        shape = f"shape {layout} with " if layout else ""
        raise ValueError(f"{name} must have {shape}1 to 3 spatial dims, got {got}")
    return n


def _tuple_entry(value: object, name: str) -> int:
    try:
        return check_int(value, name)
    except TypeError:
        raise TypeError(f"{name} must be an int or a tuple of ints, got {value!r}") from None


def normalize_tuple(value: IntOrTuple, n: int, name: str, minimum: int | None = None) -> tuple[int, ...]:
    """Turn an int or a length-``n`` sequence into a tuple of ``n`` ints.

    Parameters
    ----------
    value : int or sequence of int
        The argument as the user gave it.
    n : int
        Number of spatial dimensions.
    name : str
        Argument name, used in error messages.
    minimum : int, optional
        Smallest allowed entry.

    Returns
    -------
    tuple of int

    Raises
    ------
    TypeError
        If an entry is not an integer.
    ValueError
        If the length is not ``n`` or an entry is below ``minimum``.

    Examples
    --------
    >>> normalize_tuple(2, 3, "stride")
    (2, 2, 2)
    >>> normalize_tuple((1, 2), 2, "stride")
    (1, 2)
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != n:
            raise ValueError(
                f"{name} must be an int or a tuple of {n} ints (one per spatial dim), got {tuple(value)!r}"
            )
        result = tuple(_tuple_entry(v, name) for v in value)
    else:
        result = (_tuple_entry(value, name),) * n
    if minimum is not None and any(v < minimum for v in result):
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{name} must be {bound}, got {result!r}")
    return result


def normalize_padding(
    padding: Padding,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> Pads:
    """Normalise ``padding`` (int, tuple, ``"valid"``, ``"same"``) to ``(low, high)`` pairs.

    ``"same"`` pads ``dilation * (kernel - 1)`` in total per dimension, the odd
    extra element on the high side (PyTorch's rule); it requires stride 1.

    Examples
    --------
    >>> normalize_padding("same", (4, 3), (1, 1), (1, 1))
    ((1, 2), (1, 1))
    >>> normalize_padding(2, (3,), (1,), (1,))
    ((2, 2),)
    """
    n = len(kernel_size)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' is only supported with stride 1, got stride={stride}")
            totals = [d * (k - 1) for k, d in zip(kernel_size, dilation, strict=True)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
    pads = normalize_tuple(padding, n, "padding", minimum=0)
    return tuple((p, p) for p in pads)


def spatial_dims_of(ndim: int, name: str, what: str = "(N, C, *spatial)") -> int:
    """Number of spatial dims of an array of rank ``ndim`` laid out as ``what``.

    Raises ``ValueError`` unless there are 1 to 3 spatial dims.

    Examples
    --------
    >>> spatial_dims_of(4, "x")
    2
    """
    return check_spatial_rank(ndim - 2, name, f"an array of rank {ndim}", what)


def _unbatched_hint(name: str, spatial: int, function: str | None) -> str:
    """What to do with an input ``name`` that looks like one sample ``(C, *spatial)`` of ``spatial`` spatial dims.

    A name ending in ``_shape`` is a shape argument (``input_shape``), anything else an array.
    """
    if name.endswith("_shape"):
        return f"give the full shape (N, C, *spatial), e.g. (1, *{name}) for one sample"
    batch_axis = f"add a batch axis ({name}[None])"
    if function is not None and spatial in (1, 2, 3):
        return f"for an unbatched input (C, *spatial) use {function}{spatial}d, or {batch_axis}"
    return f"for an unbatched input (C, *spatial) {batch_axis}"


def check_channels(shape: Sequence[int], name: str, axis: int = 1) -> None:
    """Raise ``ValueError`` if the channel axis ``axis`` of ``shape`` is empty (``C == 0``, refused as in PyTorch).

    Examples
    --------
    >>> check_channels((0, 3, 4, 4), "x")  # no samples is fine
    >>> check_channels((2, 0, 4, 4), "x")
    Traceback (most recent call last):
        ...
    ValueError: x must have at least one channel (C > 0, as in PyTorch), got x of shape (2, 0, 4, 4)
    """
    if shape[axis] == 0:
        raise ValueError(
            f"{name} must have at least one channel (C > 0, as in PyTorch), got {name} of shape {tuple(shape)}"
        )


def batched_input_dims(
    shape: Sequence[int], name: str, *, function: str | None = None, **tuple_arguments: object
) -> int:
    """Number of spatial dims of an input read as ``(N, C, *spatial)``, validated against its arguments.

    The generic functions (``max_pool``, ``im2col``, …) read every input as a
    batch. One sample without the batch axis, ``(C, *spatial)``, is then one
    spatial dim short, which shows as a tuple argument with one entry too many:
    the error says how the input was read and names the ways on, the
    rank-specific ``{function}{n}d`` (which accepts unbatched input) or a batch
    axis. A batch of no samples (``N == 0``) is fine; no channels (``C == 0``)
    is not, as in PyTorch.

    Parameters
    ----------
    shape : tuple of int
        The input's shape.
    name : str
        The input's argument name, for messages (a name ending in ``_shape``
        is a shape argument rather than an array).
    function : str, optional
        The generic function whose rank-specific variants ``{function}1d`` …
        accept unbatched input.
    **tuple_arguments
        Arguments that take an int or one entry per spatial dim, by name;
        ``None``, ints and strings (``padding="same"``) are not checked here.

    Returns
    -------
    int
        The number of spatial dims, 1 to 3.

    Raises
    ------
    ValueError
        Unless there are 1 to 3 spatial dims, every tuple argument has one
        entry per spatial dim, and ``C > 0``.

    Examples
    --------
    >>> batched_input_dims((8, 3, 5, 5), "x", kernel_size=(3, 3), stride=2)
    2
    >>> batched_input_dims((3, 5, 5), "x", function="max_pool", kernel_size=(3, 3))
    Traceback (most recent call last):
        ...
    ValueError: kernel_size has 2 entries (3, 3) but x of shape (3, 5, 5) is read as ... use max_pool2d, or add ...
    """
    shape = tuple(shape)
    n = len(shape) - 2
    hint = f"; {_unbatched_hint(name, 1, function)}" if len(shape) == 2 else ""
    check_spatial_rank(n, name, f"an array of rank {len(shape)} (shape {shape}){hint}", "(N, C, *spatial)")
    for argument, value in tuple_arguments.items():
        if isinstance(value, Sequence) and not isinstance(value, str) and len(value) != n:
            m = len(value)
            hint = f"; {_unbatched_hint(name, m, function)}" if m == n + 1 else ""
            raise ValueError(
                f"{argument} has {m} entries {tuple(value)!r} but {name} of shape {shape} is read as (N, C, *spatial) "
                f"with {n} spatial dim(s): {argument} must be an int or a tuple of {n} int{'s' if n > 1 else ''} "
                f"(one per spatial dim){hint}"
            )
    check_channels(shape, name)
    return n


def check_shape(name: str, shape: Sequence[int]) -> tuple[int, ...]:
    """Validate a shape argument (a sequence of non-negative ints) and return it as a tuple.

    Examples
    --------
    >>> check_shape("input_shape", [1, 2, 3])
    (1, 2, 3)
    """
    if isinstance(shape, str) or not isinstance(shape, Sequence):
        raise TypeError(f"{name} must be a tuple of ints, got {shape!r}")
    try:
        result = tuple(check_int(s, name) for s in shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints, got {tuple(shape)!r}") from None
    if any(s < 0 for s in result):
        raise ValueError(f"{name} must have non-negative entries, got {result!r}")
    return result


def tap_output_range(size: int, out: int, stride: int, shift: int) -> tuple[int, int]:
    """Along one axis: the output positions ``[first, last)`` at which a tap reads inside the input.

    Output position ``o`` reads input position ``o * stride + shift`` through a
    tap whose ``shift`` is ``tap * dilation - pad_low``; the positions at which
    that lies in ``[0, size)`` form one range (empty when ``last <= first``).
    This is the per-axis window arithmetic every tap-by-tap computation shares.

    Examples
    --------
    >>> tap_output_range(5, 5, 1, -1)  # a 3-tap kernel's first tap, padding 1: output 0 reads the padding
    (1, 5)
    >>> tap_output_range(5, 3, 2, 2)
    (0, 2)
    """
    first = max(0, -(shift // stride))  # the first o with o * stride + shift >= 0
    last = min(out, (size - 1 - shift) // stride + 1) if size - 1 - shift >= 0 else 0
    return first, max(first, last)


def _window_arguments(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None,
    dilation: IntOrTuple,
    what: str,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The setup every windowed geometry shares: ``(spatial, kernel, stride, dilation)``, validated.

    The input plane has 1 to 3 non-empty dims (PyTorch refuses empty planes too);
    kernel, stride and dilation are positive, one entry per dim; a ``None``
    stride is the kernel size (pooling's default).
    """
    spatial = check_shape("input spatial shape", input_spatial)
    n = check_spatial_rank(len(spatial), "the input", f"input spatial shape {spatial}")
    if 0 in spatial:
        raise ValueError(f"{what} needs a non-empty input plane (as PyTorch), got input spatial shape {spatial}")
    kernel = normalize_tuple(kernel_size, n, "kernel_size", minimum=1)
    stride_t = kernel if stride is None else normalize_tuple(stride, n, "stride", minimum=1)
    return spatial, kernel, stride_t, normalize_tuple(dilation, n, "dilation", minimum=1)


class _Windows:
    """What every windowed geometry derives from its ``input_spatial``, ``kernel_size`` and ``dilation``."""

    input_spatial: tuple[int, ...]
    kernel_size: tuple[int, ...]
    dilation: tuple[int, ...]

    @cached_property
    def ndim(self) -> int:
        """Number of spatial dims."""
        return len(self.input_spatial)

    @cached_property
    def effective_kernel(self) -> tuple[int, ...]:
        """Extent of the dilated kernel, ``dilation * (kernel - 1) + 1``."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))

    @cached_property
    def kernel_numel(self) -> int:
        """Number of kernel taps."""
        return prod(self.kernel_size)


@dataclass(frozen=True)
class ConvGeometry(_Windows):
    """The complete, validated geometry of one convolution plane.

    Instances are immutable and hashable: they key the pattern caches.

    Attributes
    ----------
    input_spatial, kernel_size, stride, dilation : tuple of int
        One entry per spatial dim.
    padding : tuple of (int, int)
        ``(low, high)`` padding per spatial dim.
    padding_mode : str
        One of ``"zeros"``, ``"circular"``, ``"reflect"``, ``"replicate"``.
    """

    input_spatial: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: Pads
    dilation: tuple[int, ...]
    padding_mode: str = "zeros"

    @cached_property
    def padded_spatial(self) -> tuple[int, ...]:
        """Spatial shape after padding."""
        return tuple(n + lo + hi for n, (lo, hi) in zip(self.input_spatial, self.padding, strict=True))

    @cached_property
    def output_spatial(self) -> tuple[int, ...]:
        """Spatial shape of the output."""
        return tuple(
            (p - e) // s + 1 for p, e, s in zip(self.padded_spatial, self.effective_kernel, self.stride, strict=True)
        )

    @cached_property
    def is_padded(self) -> bool:
        """Whether some dim has padding on either side."""
        return any(lo or hi for lo, hi in self.padding)

    @cached_property
    def interior(self) -> tuple[slice, ...]:
        """Where the input sits inside the padded shape, one slice per spatial dim."""
        return tuple(slice(lo, lo + n) for n, (lo, _) in zip(self.input_spatial, self.padding, strict=True))

    @cached_property
    def symmetric_padding(self) -> bool:
        """Whether low and high padding agree in every dim."""
        return all(lo == hi for lo, hi in self.padding)

    @cached_property
    def input_size(self) -> int:
        """Number of elements in one input plane."""
        return prod(self.input_spatial)

    @cached_property
    def output_size(self) -> int:
        """Number of elements in one output plane."""
        return prod(self.output_spatial)


def conv_geometry(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
) -> ConvGeometry:
    """Validate a convolution's arguments and return its :class:`ConvGeometry`.

    Raises
    ------
    ValueError
        For non-positive kernel, stride or dilation, negative padding, ``"same"``
        with stride > 1, an unknown padding mode, reflect/circular padding too
        large for the input, or a kernel larger than the padded input.

    Examples
    --------
    >>> g = conv_geometry((5, 5), 3, stride=2, padding=1)
    >>> g.output_spatial
    (3, 3)
    """
    spatial, kernel, stride_t, dilation_t = _window_arguments(
        input_spatial, kernel_size, stride, dilation, "convolution"
    )
    pads = normalize_padding(padding, kernel, stride_t, dilation_t)
    check_choice(padding_mode, "padding_mode", PADDING_MODES)
    if padding_mode == "reflect" and any(max(p) >= s for p, s in zip(pads, spatial, strict=True)):
        raise ValueError(
            f"padding_mode='reflect' needs each pad smaller than the input dim, got padding {pads} "
            f"for input spatial shape {spatial}"
        )
    if padding_mode == "circular" and any(max(p) > s for p, s in zip(pads, spatial, strict=True)):
        raise ValueError(
            f"padding_mode='circular' needs each pad at most the input dim, got padding {pads} "
            f"for input spatial shape {spatial}"
        )
    geom = ConvGeometry(spatial, kernel, stride_t, pads, dilation_t, padding_mode)
    if any(p < e for p, e in zip(geom.padded_spatial, geom.effective_kernel, strict=True)):
        raise ValueError(
            f"kernel is larger than the padded input: effective kernel size {geom.effective_kernel} "
            f"(kernel_size {kernel}, dilation {dilation_t}) vs padded input {geom.padded_spatial} "
            f"(input {spatial}, padding {pads})"
        )
    return geom


def input_grad_conv_geometry(geom: ConvGeometry) -> tuple[ConvGeometry, Pads] | None:
    """For a stride-1 convolution: the convolution that gives its input gradient.

    With stride 1 the input gradient is a convolution of the output gradient
    with the flipped kernel, padded by ``dilation * (k - 1) - pad`` on each side
    (a negative amount crops the gradient instead). With zero padding it yields
    the input gradient directly; with another padding mode it yields the
    gradient of the *padded* input, which the padding's adjoint then folds back.

    Returns
    -------
    geometry : ConvGeometry
        Zero-padded, stride-1 geometry over the cropped output gradient.
    crop : tuple of (int, int)
        Elements to drop from each end of the output gradient first.

    ``None`` when some stride is > 1 (or the crop would leave nothing).

    Examples
    --------
    >>> g, crop = input_grad_conv_geometry(conv_geometry((5, 5), 3, padding=1))
    >>> g.input_spatial, g.padding, g.output_spatial, crop
    ((5, 5), ((1, 1), (1, 1)), (5, 5), ((0, 0), (0, 0)))
    """
    if any(s != 1 for s in geom.stride):
        return None
    zeros = geom.padding_mode == "zeros"
    target_pads = geom.padding if zeros else ((0, 0),) * geom.ndim
    spatial, pads, crops = [], [], []
    for o, k, d, (lo, hi) in zip(geom.output_spatial, geom.kernel_size, geom.dilation, target_pads, strict=True):
        full_lo, full_hi = d * (k - 1) - lo, d * (k - 1) - hi
        crop = (max(-full_lo, 0), max(-full_hi, 0))
        spatial.append(o - crop[0] - crop[1])
        pads.append((max(full_lo, 0), max(full_hi, 0)))
        crops.append(crop)
    if any(n <= 0 for n in spatial):
        return None
    flipped = ConvGeometry(tuple(spatial), geom.kernel_size, geom.stride, tuple(pads), geom.dilation)
    return flipped, tuple(crops)


def conv_output_shape(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> tuple[int, ...]:
    """Spatial output shape of a convolution.

    ``out = floor((n + pad_low + pad_high - dilation * (k - 1) - 1) / stride) + 1``
    per spatial dim.

    Parameters
    ----------
    input_spatial : sequence of int
        Spatial shape of the input (1 to 3 dims).
    kernel_size, stride, dilation : int or tuple of int
    padding : int, tuple of int, "valid" or "same"

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> import convmat as cm
    >>> cm.conv_output_shape((28, 28), 5, padding=2)
    (28, 28)
    >>> cm.conv_output_shape((5, 5), 3, stride=2)
    (2, 2)
    """
    return conv_geometry(input_spatial, kernel_size, stride, padding, dilation).output_spatial


def conv_transpose_geometry(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
) -> tuple[ConvGeometry | None, tuple[int, ...]]:
    """The forward convolution a transposed convolution is the transpose of.

    A transposed convolution of an input of spatial shape ``n`` is ``Wᵀ`` of the
    convolution that maps the transposed output back to ``n`` positions. With
    ``output_padding`` the output grows by ``op`` on the high side; the forward
    convolution then has padding ``(padding, padding - op)``. Where ``op`` exceeds
    the padding, the last ``op - padding`` output positions receive no input at all
    (they stay zero): they are returned as ``zero_tail`` and the forward geometry
    stops before them.

    With another ``padding_mode`` the forward convolution is the one with that
    mode and the symmetric ``padding`` on an input of the output's size: the
    padded border copies input elements, so every output position can be read
    and there is no zero tail. That convolution maps back to ``n`` positions only
    when ``output_padding`` is smaller than the stride (dilation does not widen
    the range as it does with zeros); ``"reflect"`` needs each pad smaller than
    the output dim, ``"circular"`` at most the output dim.

    Returns
    -------
    geometry : ConvGeometry or None
        Forward geometry (zero padding, possibly asymmetric, or ``padding_mode``
        with symmetric padding) with ``geometry.output_spatial == input_spatial``;
        ``None`` in the degenerate case where the padding swallows every position
        the input reaches (zero padding only).
    zero_tail : tuple of int
        Output positions appended as zeros on the high side, per dim (the whole
        output shape when ``geometry`` is ``None``).

    Examples
    --------
    >>> geom, tail = conv_transpose_geometry((2, 2), 3, stride=2, padding=1, output_padding=1)
    >>> geom.input_spatial, geom.padding, tail
    ((4, 4), ((1, 0), (1, 0)), (0, 0))
    >>> geom, tail = conv_transpose_geometry((2, 2), 3, stride=2, padding=1, output_padding=1, padding_mode="reflect")
    >>> geom.input_spatial, geom.padding, geom.padding_mode, tail
    ((4, 4), ((1, 1), (1, 1)), 'reflect', (0, 0))
    """
    spatial, kernel, stride_t, dil = _window_arguments(
        input_spatial, kernel_size, stride, dilation, "transposed convolution"
    )
    check_choice(padding_mode, "padding_mode", PADDING_MODES)
    n = len(spatial)
    pad = normalize_tuple(padding, n, "padding", minimum=0)
    out_pad = normalize_tuple(output_padding, n, "output_padding", minimum=0)
    for op, s, d in zip(out_pad, stride_t, dil, strict=True):
        if op >= max(s, d):
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got output_padding={out_pad}, "
                f"stride={stride_t}, dilation={dil}"
            )
    out = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + op + 1
        for i, s, p, d, k, op in zip(spatial, stride_t, pad, dil, kernel, out_pad, strict=True)
    )
    if any(o <= 0 for o in out):
        raise ValueError(
            f"transposed convolution output would be empty: output spatial shape {out} from input {spatial}, "
            f"kernel_size {kernel}, stride {stride_t}, padding {pad}, output_padding {out_pad}, dilation {dil}"
        )
    if padding_mode != "zeros":
        return _padded_transpose_geometry(out, kernel, stride_t, pad, out_pad, dil, padding_mode), (0,) * n
    tail = tuple(max(op - p, 0) for op, p in zip(out_pad, pad, strict=True))
    forward_in = tuple(o - t for o, t in zip(out, tail, strict=True))
    if any(i <= 0 for i in forward_in):
        # The padding swallows every position the input reaches: the output is all zeros.
        return None, out
    pads = tuple((p, max(p - op, 0)) for p, op in zip(pad, out_pad, strict=True))
    return ConvGeometry(forward_in, kernel, stride_t, pads, dil), tail


def _padded_transpose_geometry(
    out: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    pad: tuple[int, ...],
    out_pad: tuple[int, ...],
    dilation: tuple[int, ...],
    padding_mode: str,
) -> ConvGeometry:
    """The ``padding_mode`` convolution of an ``out``-sized input whose transpose a transposed convolution is."""
    if any(op >= s for op, s in zip(out_pad, stride, strict=True)):
        raise ValueError(
            f"output_padding must be smaller than the stride with padding_mode={padding_mode!r}, got "
            f"output_padding={out_pad}, stride={stride}: the {padding_mode}-padded convolution of an input of the "
            f"output's size {out} would not map back to the input's size"
        )
    too_large = (lambda p, o: p >= o) if padding_mode == "reflect" else (lambda p, o: p > o)
    if padding_mode in ("reflect", "circular") and any(too_large(p, o) for p, o in zip(pad, out, strict=True)):
        bound = "smaller than" if padding_mode == "reflect" else "at most"
        raise ValueError(
            f"padding_mode={padding_mode!r} needs each pad {bound} the output dim of the transposed convolution "
            f"(the input of the convolution it transposes), got padding {pad} for output spatial shape {out}"
        )
    return conv_geometry(out, kernel, stride, pad, dilation, padding_mode)


def output_padding_for_size(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    output_size: Sequence[int],
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> tuple[int, ...]:
    """The ``output_padding`` that gives a transposed convolution the spatial size ``output_size`` (PyTorch's rule).

    As ``torch.nn.ConvTranspose{1,2,3}d.forward(input, output_size)``:
    ``output_size`` is the spatial size, or the full ``(N, C, *spatial)`` whose
    two leading entries are not read (as in PyTorch, so the shape of any array
    of the wanted size will do). Each spatial entry must lie between the
    smallest size, ``(n - 1) * stride - 2 * padding + dilation * (k - 1) + 1``,
    and that plus ``stride - 1``; the result is the difference. An
    ``output_padding`` given as well must be zero or the one ``output_size``
    implies (PyTorch's module overrides its own; a call that says both, and
    says them differently, is refused).

    Raises
    ------
    ValueError
        For an ``output_size`` of the wrong length, out of the valid range
        (the message gives the range) or disagreeing with ``output_padding``.

    Examples
    --------
    >>> output_padding_for_size((2, 2), 3, (6, 6), stride=2)
    (1, 1)
    >>> output_padding_for_size((2, 2), 3, (1, 8, 5, 6), stride=2)
    (0, 1)
    >>> output_padding_for_size((2, 2), 3, (7, 7), stride=2)
    Traceback (most recent call last):
        ...
    ValueError: output_size (7, 7) is out of range: valid sizes range from (5, 5) to (6, 6) for an input of ...
    """
    spatial, kernel, stride_t, dil = _window_arguments(
        input_spatial, kernel_size, stride, dilation, "transposed convolution"
    )
    n = len(spatial)
    pad = normalize_tuple(padding, n, "padding", minimum=0)
    out_pad = normalize_tuple(output_padding, n, "output_padding", minimum=0)
    size = check_shape("output_size", output_size)
    if len(size) == n + 2:
        size = size[2:]
    elif len(size) != n:
        raise ValueError(
            f"output_size must have {n} entries (*spatial) or {n + 2} (N, C, *spatial) for an input of spatial "
            f"shape {spatial}, got {size}"
        )
    smallest = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + 1 for i, s, p, d, k in zip(spatial, stride_t, pad, dil, kernel, strict=True)
    )
    largest = tuple(lo + s - 1 for lo, s in zip(smallest, stride_t, strict=True))
    if any(not lo <= o <= hi for o, lo, hi in zip(size, smallest, largest, strict=True)):
        raise ValueError(
            f"output_size {size} is out of range: valid sizes range from {smallest} to {largest} for an input of "
            f"spatial shape {spatial} (kernel_size {kernel}, stride {stride_t}, padding {pad}, dilation {dil})"
        )
    chosen = tuple(o - lo for o, lo in zip(size, smallest, strict=True))
    if any(out_pad) and out_pad != chosen:
        raise ValueError(
            f"output_padding={out_pad} disagrees with output_size {size}, which needs output_padding={chosen}: "
            f"give output_size alone (it chooses output_padding)"
        )
    return chosen


def conv_transpose_output_shape(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
) -> tuple[int, ...]:
    """Spatial output shape of a transposed convolution (PyTorch's rule).

    ``out = (n - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1``.
    ``output_padding`` must be smaller than either the stride or the dilation.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.conv_transpose_output_shape((2, 2), 3, stride=2)
    (5, 5)
    >>> cm.conv_transpose_output_shape((2, 2), 3, stride=2, output_padding=1)
    (6, 6)
    """
    geom, tail = conv_transpose_geometry(input_spatial, kernel_size, stride, padding, output_padding, dilation)
    if geom is None:
        return tail
    return tuple(i + t for i, t in zip(geom.input_spatial, tail, strict=True))


def normalize_groups(groups: int) -> int:
    """Validate ``groups`` (a positive int).

    Examples
    --------
    >>> normalize_groups(2)
    2
    """
    return check_positive_int(groups, "groups")


def check_conv_channels(input_channels: int, weight_shape: Sequence[int], groups: int, input_name: str = "x") -> int:
    """Validate channels against ``groups`` for a weight ``(C_out, C_in // groups, *kernel)``.

    Returns the normalised ``groups``.

    Examples
    --------
    >>> check_conv_channels(4, (6, 2, 3, 3), 2)
    2
    """
    groups = normalize_groups(groups)
    c_out, c_in_g = weight_shape[0], weight_shape[1]
    if c_out % groups:
        raise ValueError(
            f"weight's C_out={c_out} (weight shape {tuple(weight_shape)}) is not divisible by groups={groups}"
        )
    if input_channels != c_in_g * groups:
        raise ValueError(
            f"{input_name} has {input_channels} channels but weight shape {tuple(weight_shape)} with groups={groups} "
            f"expects C_in = {c_in_g} * {groups} = {c_in_g * groups}"
        )
    return groups


def conv_problem(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    batched: bool = True,
    input_name: str = "x",
    weight_name: str = "weight",
    function: str | None = None,
) -> tuple[ConvGeometry, int]:
    """Validate a whole convolution call from its shapes; return its geometry and ``groups``.

    ``input_shape`` is ``(N, C_in, *spatial)`` (or ``(C_in, *spatial)`` with
    ``batched=False``), ``weight_shape`` is ``(C_out, C_in // groups, *kernel)``.
    The number of spatial dims is ``len(weight_shape) - 2``; the input must agree.
    A batched input one dim short is taken for one sample without its batch
    axis: the error names ``{function}{n}d`` (which accepts that) when
    ``function`` is given, and the batch axis to add.

    Examples
    --------
    >>> geom, groups = conv_problem((8, 4, 5, 5), (6, 2, 3, 3), groups=2)
    >>> geom.output_spatial, groups
    ((3, 3), 2)
    """
    input_shape = check_shape(input_name, input_shape)
    weight_shape = check_shape(weight_name, weight_shape)
    n = spatial_dims_of(len(weight_shape), weight_name, "(C_out, C_in // groups, *kernel)")
    lead = 2 if batched else 1
    layout = "(N, C_in, *spatial)" if batched else "(C_in, *spatial)"
    if len(input_shape) != lead + n:
        hint = f"; {_unbatched_hint(input_name, n, function)}" if batched and len(input_shape) == n + 1 else ""
        raise ValueError(
            f"{input_name} must have shape {layout} with {n} spatial dim(s) to match {weight_name} of shape "
            f"{weight_shape}, got shape {input_shape}{hint}"
        )
    if any(s == 0 for s in weight_shape):
        raise ValueError(f"{weight_name} must not have empty dimensions, got shape {weight_shape}")
    groups = check_conv_channels(input_shape[lead - 1], weight_shape, groups, input_name)
    geom = conv_geometry(input_shape[lead:], weight_shape[2:], stride, padding, dilation, padding_mode)
    return geom, groups


def conv_transpose_problem(
    input_shape: Sequence[int],
    weight_shape: Sequence[int],
    stride: IntOrTuple = 1,
    padding: IntOrTuple = 0,
    output_padding: IntOrTuple = 0,
    groups: int = 1,
    dilation: IntOrTuple = 1,
    padding_mode: str = "zeros",
    output_size: Sequence[int] | None = None,
) -> tuple[ConvGeometry | None, tuple[int, ...], int]:
    """Validate a transposed convolution call from its shapes.

    ``input_shape`` is ``(N, C_in, *spatial)``, ``weight_shape`` is
    ``(C_in, C_out // groups, *kernel)``. Returns the forward geometry and zero
    tail of :func:`conv_transpose_geometry` and the normalised ``groups``.
    An ``output_size`` chooses ``output_padding`` (:func:`output_padding_for_size`).

    Examples
    --------
    >>> geom, tail, groups = conv_transpose_problem((1, 4, 3, 3), (4, 1, 2, 2), stride=2, groups=2)
    >>> geom.input_spatial, tail, groups
    ((6, 6), (0, 0), 2)
    """
    input_shape = check_shape("x", input_shape)
    weight_shape = check_shape("weight", weight_shape)
    n = spatial_dims_of(len(weight_shape), "weight", "(C_in, C_out // groups, *kernel)")
    if len(input_shape) != n + 2:
        hint = f"; {_unbatched_hint('x', n, 'conv_transpose')}" if len(input_shape) == n + 1 else ""
        raise ValueError(
            f"x must have shape (N, C_in, *spatial) with {n} spatial dim(s) to match weight of shape "
            f"{weight_shape}, got shape {input_shape}{hint}"
        )
    if any(s == 0 for s in weight_shape):
        raise ValueError(f"weight must not have empty dimensions, got shape {weight_shape}")
    if input_shape[1] != weight_shape[0]:
        raise ValueError(
            f"x has {input_shape[1]} channels but weight of shape {weight_shape} expects C_in = {weight_shape[0]}"
        )
    # Its forward convolution maps C_out -> C_in channels with this very weight.
    groups = check_conv_channels(weight_shape[1] * normalize_groups(groups), weight_shape, groups, "x")
    if output_size is not None:
        output_padding = output_padding_for_size(
            input_shape[2:], weight_shape[2:], output_size, stride, padding, output_padding, dilation
        )
    geom, tail = conv_transpose_geometry(
        input_shape[2:], weight_shape[2:], stride, padding, output_padding, dilation, padding_mode
    )
    return geom, tail, groups


def unfold_problem(
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
    *,
    input_name: str = "x",
) -> ConvGeometry:
    """Validate an :func:`convmat.im2col` call from the input shape ``(N, C, *spatial)``; return its geometry.

    The number of spatial dims (1 to 3) is ``len(input_shape) - 2``; tuple
    arguments must agree and ``C`` must be positive (see :func:`batched_input_dims`).

    Examples
    --------
    >>> unfold_problem((2, 3, 5, 4), (2, 3)).output_spatial
    (4, 2)
    """
    shape = check_shape(input_name, input_shape)
    batched_input_dims(shape, input_name, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
    return conv_geometry(shape[2:], kernel_size, stride, padding, dilation)


def fold_problem(
    cols_shape: Sequence[int],
    output_size: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple = 1,
    padding: Padding = 0,
    dilation: IntOrTuple = 1,
) -> tuple[ConvGeometry, int]:
    """Validate a :func:`convmat.col2im` call: patch matrices ``(N, C * prod(kernel), L)`` folded into ``output_size``.

    Returns the geometry of the :func:`convmat.im2col` that ``col2im`` is the
    adjoint of, and the number of channels ``C`` (positive, as in PyTorch).

    Examples
    --------
    >>> geom, channels = fold_problem((2, 18, 8), (5, 4), (2, 3))
    >>> geom.output_spatial, channels
    ((4, 2), 3)
    """
    shape = check_shape("cols", cols_shape)
    spatial = check_shape("output_size", output_size)
    check_spatial_rank(len(spatial), "output_size", f"{spatial}")
    geom = conv_geometry(spatial, kernel_size, stride, padding, dilation)
    if len(shape) != 3:
        raise ValueError(f"cols must have shape (N, C * prod(kernel_size), L), got an array of shape {shape}")
    rows, length = shape[1:]
    if rows % geom.kernel_numel or length != geom.output_size:
        raise ValueError(
            f"cols has shape {shape}, which does not fit output_size {spatial} with kernel_size "
            f"{geom.kernel_size}: expected (N, C * {geom.kernel_numel}, {geom.output_size})"
        )
    if rows == 0:
        raise ValueError(
            f"cols must have at least one channel (C * prod(kernel_size) > 0 rows, as in PyTorch), "
            f"got cols of shape {shape}"
        )
    return geom, rows // geom.kernel_numel


@dataclass(frozen=True)
class PoolGeometry(_Windows):
    """The complete, validated geometry of one pooling plane (padding is symmetric).

    Attributes
    ----------
    input_spatial, kernel_size, stride, padding, dilation : tuple of int
    ceil_mode : bool
    output_spatial : tuple of int
    """

    input_spatial: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool
    output_spatial: tuple[int, ...]

    @cached_property
    def padded_spatial(self) -> tuple[int, ...]:
        """Extent the windows need: ``(out - 1) * stride + effective_kernel`` (ceil mode may reach past the padding)."""
        return tuple(
            (o - 1) * s + e for o, s, e in zip(self.output_spatial, self.stride, self.effective_kernel, strict=True)
        )

    @cached_property
    def high_padding(self) -> tuple[int, ...]:
        """Padding needed on the high side so that every window fits (``>=`` the low padding in ceil mode)."""
        return tuple(
            max(ps - n - p, 0) for ps, n, p in zip(self.padded_spatial, self.input_spatial, self.padding, strict=True)
        )


def pool_geometry(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> PoolGeometry:
    """Validate a pooling's arguments and return its :class:`PoolGeometry`.

    ``stride`` defaults to ``kernel_size``. Padding must be at most half the
    kernel size (PyTorch's rule). In ceil mode the last window must start inside
    the input or its low padding. Every window must read at least one input
    element: with dilation a window can otherwise fall entirely into the padding,
    where PyTorch returns ``-inf`` with an index outside the input plane.

    Examples
    --------
    >>> pool_geometry((5, 5), 2, ceil_mode=True).output_spatial
    (3, 3)
    """
    spatial, kernel, stride_t, dil = _window_arguments(input_spatial, kernel_size, stride, dilation, "pooling")
    pad = normalize_tuple(padding, len(spatial), "padding", minimum=0)
    if not isinstance(ceil_mode, bool | int):
        raise TypeError(f"ceil_mode must be a bool, got {ceil_mode!r}")
    if any(2 * p > k for p, k in zip(pad, kernel, strict=True)):
        raise ValueError(f"padding should be at most half of kernel_size, got padding={pad}, kernel_size={kernel}")
    out = []
    for i, k, s, p, d in zip(spatial, kernel, stride_t, pad, dil, strict=True):
        span = i + 2 * p - d * (k - 1) - 1
        if span < 0:
            raise ValueError(
                f"kernel is larger than the padded input: effective kernel size {d * (k - 1) + 1} "
                f"(kernel_size {kernel}, dilation {dil}) vs padded input {i + 2 * p} (input {spatial}, padding {pad})"
            )
        o = (span + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (o - 1) * s >= i + p:
            o -= 1
        # Only windows that start in the low padding can miss the input: find the first
        # tap j0 of each that is past the padding, and check it lies inside the input.
        for start in range(-p, min(o * s, p) - p, s):
            j0 = -(start // d)
            if j0 >= k or start + j0 * d >= i:
                raise ValueError(
                    f"a pooling window reads only padding: window at input position {start} with "
                    f"kernel_size {kernel}, dilation {dil}, padding {pad} skips every element of input {spatial}"
                )
        out.append(o)
    return PoolGeometry(spatial, kernel, stride_t, pad, dil, bool(ceil_mode), tuple(out))


def pool_problem(
    input_shape: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
    *,
    input_name: str = "x",
    function: str | None = None,
) -> PoolGeometry:
    """Validate a whole pooling call from the input shape ``(N, C, *spatial)``.

    The number of spatial dims (1 to 3) is ``len(input_shape) - 2``; tuple
    arguments must agree and ``C`` must be positive (see
    :func:`batched_input_dims`, which ``function`` is passed to).

    Examples
    --------
    >>> pool_problem((8, 3, 7, 7), 3, stride=2, padding=1).output_spatial
    (4, 4)
    """
    shape = check_shape(input_name, input_shape)
    batched_input_dims(
        shape, input_name, function=function, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation
    )
    return pool_geometry(shape[2:], kernel_size, stride, padding, dilation, ceil_mode)


def unpool_output_spatial(pooled_shape: Sequence[int], output_size: Sequence[int]) -> tuple[int, ...]:
    """Validate max unpooling's ``output_size`` against the pooled shape ``(N, C, *pooled)``.

    ``output_size`` is the spatial size ``(*spatial)`` or the full ``(N, C, *spatial)``
    (whose ``N, C`` must match), every dim positive: pooled outputs can be larger
    than their input (adaptive pooling), so the size is not tied to the pooled
    one; the switches are checked against it where they are used. ``C`` must be
    positive. Returns the spatial size.

    Examples
    --------
    >>> unpool_output_spatial((1, 3, 2, 2), (4, 4))
    (4, 4)
    >>> unpool_output_spatial((1, 3, 2, 2), (1, 3, 5, 5))
    (5, 5)
    """
    pooled = tuple(pooled_shape)
    n = batched_input_dims(pooled, "x")
    size = check_shape("output_size", output_size)
    if len(size) == n + 2:
        if size[:2] != pooled[:2]:
            raise ValueError(
                f"output_size {size} given as (N, C, *spatial) must have N, C = {pooled[:2]} like x of shape {pooled}"
            )
        size = size[2:]
    elif len(size) != n:
        raise ValueError(
            f"output_size must have {n} entries (*spatial) or {n + 2} (N, C, *spatial) for x of shape {pooled}, "
            f"got {size} (an unbatched x, (C, *pooled_spatial), has one axis more than output_size has entries)"
        )
    if any(s < 1 for s in size):
        raise ValueError(f"output_size {size} cannot be the input of a pooling: each dim must be positive")
    return size


def pool_output_shape(
    input_spatial: Sequence[int],
    kernel_size: IntOrTuple,
    stride: IntOrTuple | None = None,
    padding: IntOrTuple = 0,
    dilation: IntOrTuple = 1,
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """Spatial output shape of max or average pooling (PyTorch's rule).

    ``out = floor_or_ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride) + 1``,
    reduced by one in ceil mode when the last window would start in the high padding.

    Examples
    --------
    >>> import convmat as cm
    >>> cm.pool_output_shape((4, 4), 2)
    (2, 2)
    >>> cm.pool_output_shape((5, 5), 2, ceil_mode=True)
    (3, 3)
    """
    return pool_geometry(input_spatial, kernel_size, stride, padding, dilation, ceil_mode).output_spatial


def check_divisor_override(value: object) -> int | None:
    """Average pooling's ``divisor_override``: ``None``, or a non-zero int (PyTorch's int64, so bool is no int).

    Examples
    --------
    >>> check_divisor_override(None), check_divisor_override(-3)
    (None, -3)
    >>> check_divisor_override(0)
    Traceback (most recent call last):
        ...
    ValueError: divisor_override must be a non-zero int (the divisor of every window), got 0
    """
    if value is None:
        return None
    divisor = check_int(value, "divisor_override")
    if divisor == 0:
        raise ValueError(f"divisor_override must be a non-zero int (the divisor of every window), got {divisor}")
    if not -(2**63) <= divisor < 2**63:
        raise ValueError(f"divisor_override must fit in int64 (as in PyTorch), got {divisor}")
    return divisor


# ---------------------------------------------------------------------------
# Padding as an operation of its own: PyTorch's F.pad
# ---------------------------------------------------------------------------


def normalize_pad(pad: object, ndim: int, what: str) -> Pads:
    """PyTorch's flat ``pad`` (last dim first) as ``(low, high)`` pairs of the trailing dims, in dim order.

    ``pad`` is a tuple or list of ints, a ``(low, high)`` pair per padded dim
    starting from the last dim (``(left, right, top, bottom, front, back)``),
    so of even length and at most ``2 * ndim`` entries; ``what`` names the
    padded array in messages (``"x of shape (2, 3)"``).

    Examples
    --------
    >>> normalize_pad((1, 2, 3, 4), 3, "x")  # W by (1, 2), H by (3, 4)
    ((3, 4), (1, 2))
    >>> normalize_pad((1, 2, 3), 3, "x")
    Traceback (most recent call last):
        ...
    ValueError: pad must have an even number of entries, a (low, high) pair per padded dim (last dim first), got 3: ...
    """
    if isinstance(pad, str) or not isinstance(pad, Sequence):
        raise TypeError(
            f"pad must be a tuple of ints (left, right, top, bottom, ...), got {pad!r} ({type(pad).__name__})"
        )
    entries = tuple(pad)
    values = []
    for entry in entries:
        try:
            values.append(check_int(entry, "pad"))
        except TypeError:
            raise TypeError(
                f"pad must be a tuple of ints, got {entries!r}: {entry!r} is a {type(entry).__name__}"
            ) from None
    if len(values) % 2:
        raise ValueError(
            f"pad must have an even number of entries, a (low, high) pair per padded dim (last dim first), "
            f"got {len(values)}: {entries!r}"
        )
    if len(values) > 2 * ndim:
        raise ValueError(
            f"pad has {len(values)} entries {entries!r}, which pad {len(values) // 2} dims, but {what} has "
            f"{ndim} dim(s): at most {2 * ndim} entries"
        )
    return tuple((values[i], values[i + 1]) for i in range(len(values) - 2, -1, -2))


def padded_length(size: int, low: int, high: int, mode: str, where: str) -> int:
    """The length of one dim of ``size`` padded by ``(low, high)`` in ``mode`` (a negative pad crops), validated.

    PyTorch's rules (``F.pad``), per dim:

    * ``"constant"``: the crops take at most the ``size`` elements there are;
    * ``"reflect"``: each pad smaller than ``size``;
    * ``"circular"``: each pad at most ``size``, so the padding wraps around
      at most once; and, unless the result is empty, at most the elements the
      crops leave (where a crop on one side leaves fewer elements than the pad
      on the other, PyTorch returns uninitialised memory; convmat refuses those
      pads);
    * no mode leaves a negative length; an empty dim is fine here (but see
      :func:`check_padded_dims`).

    ``"reflect"`` and ``"replicate"`` cannot pad an empty dim. ``where`` locates
    the dim in messages (``"dim 2 of x of shape (1, 2, 3)"``).

    Examples
    --------
    >>> padded_length(3, 2, -1, "reflect", "dim 1 of x")
    4
    >>> padded_length(3, 3, 0, "reflect", "dim 1 of x")
    Traceback (most recent call last):
        ...
    ValueError: pad (3, 0) of dim 1 of x: reflect padding must be smaller than the dim's size 3 on each side
    """
    pair = f"pad ({low}, {high}) of {where}"
    kept = size + min(low, 0) + min(high, 0)  # what the crops leave
    length = size + low + high
    if mode in ("reflect", "replicate") and size == 0:
        raise ValueError(f"{pair}: mode {mode!r} cannot pad an empty dim (as PyTorch)")
    if mode == "constant" and kept < 0:
        raise ValueError(f"{pair} crops {size - kept} elements, but the dim has only {size}")
    if mode == "reflect" and max(low, high) >= size:
        raise ValueError(f"{pair}: reflect padding must be smaller than the dim's size {size} on each side")
    if mode == "circular" and max(low, high) > (size if length <= 0 else kept):
        raise ValueError(
            f"{pair}: circular padding wraps around at most once, so each pad must be at most the "
            f"{max(kept, 0)} element(s) that the crops leave of the dim's {size}"
        )
    if length < 0:
        raise ValueError(f"{pair} leaves {length} elements")
    return length


def check_padded_dims(padded: tuple[int, ...], mode: str, what: str) -> None:
    """PyTorch's rule for ``"reflect"`` and ``"replicate"``: the padded dims ``padded`` are not all empty.

    Examples
    --------
    >>> check_padded_dims((0, 3), "reflect", "pad (0, 0, -2, -1) of x of shape (1, 3, 3)")
    >>> check_padded_dims((0,), "replicate", "pad (-2, -1) of x of shape (1, 3)")
    Traceback (most recent call last):
        ...
    ValueError: pad (-2, -1) of x of shape (1, 3) leaves every padded dim empty (0,); mode 'replicate' needs ...
    """
    if padded and mode in ("reflect", "replicate") and not any(padded):
        raise ValueError(
            f"{what} leaves every padded dim empty {padded}; mode {mode!r} needs at least one of them non-empty "
            f"(as PyTorch)"
        )


def pad_problem(
    input_shape: Sequence[int], pad: Sequence[int], mode: str = "constant", *, input_name: str = "x"
) -> tuple[Pads, tuple[int, ...]]:
    """Validate a :func:`convmat.pad` call from the input shape; return its ``(low, high)`` pairs and output shape.

    The pairs are those of the last ``len(pad) // 2`` dims, in dim order. On
    top of :func:`normalize_pad` and :func:`padded_length`, PyTorch's rules of
    the non-constant modes: they pad the last 1 to 3 dims of an input with one
    or two dims more (2 pad entries for a 2-d or 3-d input, 4 for 3-d or 4-d,
    6 for 4-d or 5-d), and ``"reflect"`` and ``"replicate"`` need every dim
    non-empty but a leading batch dim.

    Examples
    --------
    >>> pad_problem((8, 3, 5, 5), (1, 1, 2, 0), "reflect")
    (((2, 0), (1, 1)), (8, 3, 7, 7))
    >>> pad_problem((5, 5), (-1, 1, 0, 2))
    (((0, 2), (-1, 1)), (7, 5))
    """
    shape = check_shape(input_name, input_shape)
    check_choice(mode, "mode", PAD_MODES)
    what = f"{input_name} of shape {shape}"
    pads = normalize_pad(pad, len(shape), what)
    lead = len(shape) - len(pads)
    if mode != "constant":
        if not (1 <= len(pads) <= 3 and lead in (1, 2)):
            raise ValueError(
                f"mode {mode!r} pads the last 1 to 3 dims of an input with one or two dims more (PyTorch's rule): "
                f"2 pad entries for a 2-d or 3-d {input_name}, 4 for 3-d or 4-d, 6 for 4-d or 5-d; got "
                f"{2 * len(pads)} pad entries for {what}"
            )
        if mode != "circular" and 0 in shape[lead - 1 :]:
            raise ValueError(
                f"mode {mode!r} needs every dim of {input_name} non-empty but a leading batch dim (as PyTorch), "
                f"got {what}"
            )
    out = [*shape[:lead]]
    for d, (low, high) in enumerate(pads):
        out.append(padded_length(shape[lead + d], low, high, mode, f"dim {lead + d} of {what}"))
    check_padded_dims(tuple(out[lead:]), mode, f"pad {tuple(pad)} of {what}")
    return pads, tuple(out)


def pad_plane_problem(
    input_spatial: Sequence[int],
    pad: Sequence[int],
    mode: str = "constant",
    *,
    name: str = "input_spatial",
    plane: bool = True,
) -> tuple[Pads, tuple[int, ...]]:
    """Validate the padding of a plane ``input_spatial``; return its ``(low, high)`` pairs and the padded shape.

    The matrix ``P`` of :func:`convmat.pad_matrix` maps one plane of 1 to 3
    dims (``plane=True``); :func:`convmat.pad_adjoint` takes the trailing dims
    of any input (``plane=False``: one dim or more). ``pad`` pads the last
    ``len(pad) // 2`` of them, with the rules of :func:`padded_length`; the
    rank rules of :func:`pad_problem`, which depend on the whole input, are
    not applied.

    Examples
    --------
    >>> pad_plane_problem((4, 5), (1, 1), "replicate")
    (((1, 1),), (4, 7))
    """
    spatial = check_shape(name, input_spatial)
    if plane:
        check_spatial_rank(len(spatial), name, f"{name} {spatial}")
    elif not spatial:
        raise ValueError(f"{name} must have at least one dim, got {spatial}")
    check_choice(mode, "mode", PAD_MODES)
    what = f"{name} {spatial}"
    pads = normalize_pad(pad, len(spatial), what)
    lead = len(spatial) - len(pads)
    out = [*spatial[:lead]]
    for d, (low, high) in enumerate(pads):
        out.append(padded_length(spatial[lead + d], low, high, mode, f"dim {lead + d} of {what}"))
    check_padded_dims(tuple(out[lead:]), mode, f"pad {tuple(pad)} of {what}")
    return pads, tuple(out)
