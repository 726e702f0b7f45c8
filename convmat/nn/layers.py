"""Layers with an explicit forward and backward, each a thin shell around the pure ops.

A layer holds its parameters and, between ``forward`` and ``backward``, what
the backward needs (the input of a convolution, the switches of a max
pooling). The mathematics stays in the functions of :mod:`convmat`: a
:class:`Conv` calls :func:`convmat.conv` forward and
:func:`convmat.conv_input_grad` (``Wᵀ·dy``) and :func:`convmat.conv_weight_grad`
backward; a :class:`MaxPool` calls :func:`convmat.max_pool` and
:func:`convmat.max_pool_backward` (``Sᵀ·dy``).

The protocol, which your own layers follow by subclassing :class:`Layer`:

``forward(x) -> y``
    Computes the output and keeps what ``backward`` needs.
``backward(dy) -> dx``
    Takes the gradient of the loss with respect to the last output, stores
    the gradients of the parameters (overwriting, not accumulating) and
    returns the gradient with respect to the last input.
``params()``, ``grads()``
    Dicts from parameter name to array, the same keys in both. ``params()``
    gives the live arrays: optimizers update them in place.

Parameters are float32 unless a layer is built with ``dtype=np.float64`` (or
converted with :meth:`Layer.astype`); a layer with parameters casts its input
to their dtype.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Iterator, Mapping, Sequence
from math import prod
from typing import Any, Self, TypeVar, cast

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from .._arrays import as_array
from ..conv import BACKENDS, conv, conv_input_grad, conv_weight_grad
from ..geometry import (
    PADDING_MODES,
    IntOrTuple,
    Padding,
    PaddingMode,
    check_choice,
    check_divisor_override,
    check_positive_int,
    normalize_padding,
    normalize_tuple,
)
from ..pooling import avg_pool, avg_pool_backward, max_pool, max_pool_backward
from .init import Seed, bias_uniform, fan_in, float_dtype, kaiming_uniform

__all__ = ["AvgPool", "Conv", "Flatten", "Layer", "Linear", "MaxPool", "ReLU", "Sequential"]

_T = TypeVar("_T")


def _check_window(
    kernel_size: IntOrTuple, stride: IntOrTuple | None, padding: IntOrTuple, dilation: IntOrTuple
) -> None:
    """Validate pooling arguments up front (their rank comes from the first tuple, else any)."""
    tuples = [
        (name, v)
        for name, v in [("kernel_size", kernel_size), ("stride", stride), ("padding", padding), ("dilation", dilation)]
        if isinstance(v, Sequence)
    ]
    n = len(tuples[0][1]) if tuples else 1
    if not 1 <= n <= 3:
        raise ValueError(f"{tuples[0][0]} must be an int or a tuple of 1 to 3 ints, got {tuple(tuples[0][1])!r}")
    normalize_tuple(kernel_size, n, "kernel_size", minimum=1)
    if stride is not None:
        normalize_tuple(stride, n, "stride", minimum=1)
    normalize_tuple(padding, n, "padding", minimum=0)
    normalize_tuple(dilation, n, "dilation", minimum=1)


class Layer(abc.ABC):
    """Base class of the layers: ``forward``, ``backward``, ``params``, ``grads``.

    Subclasses implement :meth:`forward` and :meth:`backward`. A layer with
    parameters names the attributes holding them in ``param_names`` and, in
    ``backward``, sets ``self._grads`` to a dict of their gradients under the
    same names; :meth:`params`, :meth:`grads`, :meth:`load_params` and
    :meth:`astype` then work as they do for the built-in layers.

    Examples
    --------
    A layer that doubles its input:

    >>> import numpy as np
    >>> from convmat.nn import Layer
    >>> class Double(Layer):
    ...     def forward(self, x):
    ...         return 2 * np.asarray(x)
    ...     def backward(self, grad_output):
    ...         return 2 * np.asarray(grad_output)
    >>> Double()(np.ones(2)), Double().backward(np.ones(2)), Double().params()
    (array([2., 2.]), array([2., 2.]), {})
    """

    #: Names of the attributes holding the parameters (``None`` for an absent bias).
    param_names: tuple[str, ...] = ()
    _grads: dict[str, np.ndarray] | None = None

    @abc.abstractmethod
    def forward(self, x: ArrayLike) -> np.ndarray:
        """Output of the layer for ``x``; keeps what :meth:`backward` needs."""

    @abc.abstractmethod
    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """Gradient with respect to the last input; stores the parameters' gradients."""

    def __call__(self, x: ArrayLike) -> np.ndarray:
        return self.forward(x)

    def params(self) -> dict[str, np.ndarray]:
        """The parameters by name: the live arrays (updating them in place updates the layer)."""
        return {name: getattr(self, name) for name in self.param_names if getattr(self, name) is not None}

    def grads(self) -> dict[str, np.ndarray]:
        """The gradients of the last :meth:`backward`, keyed like :meth:`params`.

        Raises ``RuntimeError`` for a layer with parameters before its first backward.
        """
        if not self.params():
            return {}
        if self._grads is None:
            raise RuntimeError(f"{type(self).__name__} has no gradients yet: call backward first")
        return dict(self._grads)

    def load_params(self, values: Mapping[str, ArrayLike]) -> None:
        """Copy ``values`` (e.g. a loaded ``.npz``) into the parameters, in place.

        The keys must be exactly those of :meth:`params` and every shape must
        match; values are cast to the parameters' dtype.
        """
        own = self.params()
        missing, unexpected = sorted(set(own) - set(values)), sorted(set(values) - set(own))
        if missing or unexpected:
            raise ValueError(f"values must have the keys {sorted(own)}: missing {missing}, unexpected {unexpected}")
        for name, target in own.items():
            value = np.asarray(values[name])
            if value.shape != target.shape:
                raise ValueError(f"values[{name!r}] has shape {value.shape}, expected {target.shape}")
            target[...] = value

    def astype(self, dtype: DTypeLike) -> Self:
        """A copy of the layer with its parameters cast to ``dtype`` (and no gradients)."""
        dtype = float_dtype(dtype)
        new = copy.deepcopy(self)
        for name in new.param_names:
            value = getattr(new, name)
            if value is not None:
                setattr(new, name, value.astype(dtype))
        new._grads = None
        return new

    def _cached(self, value: _T | None, what: str = "backward") -> _T:
        """``value`` (kept by the last forward), or ``RuntimeError`` if there was no forward yet."""
        if value is None:
            raise RuntimeError(f"{type(self).__name__}.{what} needs a forward first")
        return value


class Conv(Layer):
    """Convolution layer, 1-, 2- or 3-d: ``y = conv(x, weight) + bias``.

    ``weight`` has shape ``(out_channels, in_channels // groups, *kernel_size)``;
    the length of ``kernel_size`` sets the number of spatial dims (an int means
    a square 2-d kernel). Initialised as PyTorch's ``Conv{1,2,3}d``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or tuple of int
        An int is a 2-d ``k × k`` kernel; a tuple of 1 to 3 sizes gives 1-d to 3-d.
    stride, padding, dilation, groups, padding_mode
        As in :func:`convmat.conv`.
    bias : bool
        Whether to add a learned bias per output channel.
    backend : {"auto", "im2col", "sparse", "fft"}
        Route of the forward and both gradients (as in :func:`convmat.conv`); all give the same numbers.
        A plain attribute: it can be changed between steps.
    rng : numpy.random.Generator or int, optional
        Generator (advanced in place) or seed of the initialisation.
    dtype : floating dtype
        Of the parameters (float32 by default).

    Attributes
    ----------
    weight : ndarray, shape (out_channels, in_channels // groups, *kernel_size)
    bias : ndarray, shape (out_channels,), or None

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import Conv
    >>> layer = Conv(1, 4, 3, padding=1, rng=0)
    >>> layer
    Conv(1, 4, kernel_size=(3, 3), padding=1)
    >>> x = np.ones((2, 1, 5, 5), dtype=np.float32)
    >>> y = layer(x)
    >>> y.shape, y.dtype
    ((2, 4, 5, 5), dtype('float32'))
    >>> layer.backward(np.ones_like(y)).shape, layer.grads()["weight"].shape
    ((2, 1, 5, 5), (4, 1, 3, 3))
    """

    param_names = ("weight", "bias")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrTuple,
        stride: IntOrTuple = 1,
        padding: Padding = 0,
        dilation: IntOrTuple = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PaddingMode = "zeros",
        *,
        backend: str = "auto",
        rng: Seed = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        c_in = check_positive_int(in_channels, "in_channels")
        c_out = check_positive_int(out_channels, "out_channels")
        self.groups = check_positive_int(groups, "groups")
        if c_in % self.groups or c_out % self.groups:
            raise ValueError(
                f"in_channels ({c_in}) and out_channels ({c_out}) must both be divisible by groups ({self.groups})"
            )
        if isinstance(kernel_size, Sequence) and not 1 <= len(kernel_size) <= 3:
            raise ValueError(f"kernel_size must be an int or a tuple of 1 to 3 ints, got {tuple(kernel_size)!r}")
        n = len(kernel_size) if isinstance(kernel_size, Sequence) else 2
        self.kernel_size = normalize_tuple(kernel_size, n, "kernel_size", minimum=1)
        self.stride = normalize_tuple(stride, n, "stride", minimum=1)
        self.dilation = normalize_tuple(dilation, n, "dilation", minimum=1)
        normalize_padding(padding, self.kernel_size, self.stride, self.dilation)  # validates
        self.padding = padding if isinstance(padding, str | int) else tuple(padding)
        self.padding_mode = check_choice(padding_mode, "padding_mode", PADDING_MODES)
        self.backend = check_choice(backend, "backend", BACKENDS)
        generator = np.random.default_rng(rng)
        shape = (c_out, c_in // self.groups, *self.kernel_size)
        self.weight = kaiming_uniform(shape, rng=generator, dtype=dtype)
        self.bias = bias_uniform(c_out, fan_in(shape), rng=generator, dtype=dtype) if bias else None
        self._x: np.ndarray | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The geometry shared by the forward and both gradients (for :func:`convmat.conv` and friends)."""
        return {
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "padding_mode": self.padding_mode,
            "backend": self.backend,
        }

    def forward(self, x: ArrayLike) -> np.ndarray:
        """``conv(x, weight, bias)``; ``x`` has shape ``(N, in_channels, *spatial)``."""
        self._x = as_array(x, "x", allow_complex=False).astype(self.weight.dtype, copy=False)
        return conv(self._x, self.weight, self.bias, **self.options)

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """``dx = Wᵀ·dy``; stores ``dweight`` (``dy`` times the patches of ``x``) and ``dbias``."""
        x = self._cached(self._x)
        dy = as_array(grad_output, "grad_output", allow_complex=False).astype(self.weight.dtype, copy=False)
        self._grads = {"weight": conv_weight_grad(x, self.weight.shape, dy, **self.options)}
        if self.bias is not None:
            self._grads["bias"] = dy.sum(axis=(0, *range(2, dy.ndim)))
        return conv_input_grad(x.shape, self.weight, dy, **self.options)

    def __repr__(self) -> str:
        c_out, c_in_g = self.weight.shape[:2]
        n = len(self.kernel_size)
        defaults = {"stride": (1,) * n, "padding": 0, "dilation": (1,) * n, "groups": 1, "padding_mode": "zeros"}
        extra = [f"{k}={v!r}" for k, v in self.options.items() if k != "backend" and v != defaults[k]]
        extra += [] if self.bias is not None else ["bias=False"]
        extra += [] if self.backend == "auto" else [f"backend={self.backend!r}"]
        return (
            f"Conv({c_in_g * self.groups}, {c_out}, kernel_size={self.kernel_size}{''.join(', ' + e for e in extra)})"
        )


class Linear(Layer):
    """Fully connected layer: ``y = x @ weight.T + bias``, initialised as PyTorch's ``Linear``.

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    rng : numpy.random.Generator or int, optional
    dtype : floating dtype
        Of the parameters (float32 by default).

    Attributes
    ----------
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), or None

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import Linear
    >>> layer = Linear(3, 2, rng=0)
    >>> y = layer(np.ones((4, 3)))
    >>> y.shape, y.dtype
    ((4, 2), dtype('float32'))
    >>> layer.backward(np.ones((4, 2))).shape, layer.grads()["bias"]
    ((4, 3), array([4., 4.], dtype=float32))
    """

    param_names = ("weight", "bias")

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: Seed = None,
        dtype: DTypeLike = np.float32,
    ) -> None:
        shape = (check_positive_int(out_features, "out_features"), check_positive_int(in_features, "in_features"))
        generator = np.random.default_rng(rng)
        self.weight = kaiming_uniform(shape, rng=generator, dtype=dtype)
        self.bias = bias_uniform(shape[0], shape[1], rng=generator, dtype=dtype) if bias else None
        self._x: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """``x @ weight.T + bias`` for ``x`` of shape ``(N, in_features)``."""
        xa = as_array(x, "x", allow_complex=False).astype(self.weight.dtype, copy=False)
        if xa.ndim != 2 or xa.shape[1] != self.weight.shape[1]:
            raise ValueError(f"x has shape {xa.shape}, expected (N, {self.weight.shape[1]}) (N, in_features)")
        self._x = xa
        y = xa @ self.weight.T
        return y if self.bias is None else y + self.bias

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """``dx = dy @ weight``; stores ``dweight = dyᵀ @ x`` and ``dbias = Σ dy``."""
        x = self._cached(self._x)
        dy = as_array(grad_output, "grad_output", allow_complex=False).astype(self.weight.dtype, copy=False)
        if dy.shape != (x.shape[0], self.weight.shape[0]):
            raise ValueError(f"grad_output has shape {dy.shape}, expected {(x.shape[0], self.weight.shape[0])}")
        self._grads = {"weight": dy.T @ x}
        if self.bias is not None:
            self._grads["bias"] = dy.sum(axis=0)
        return dy @ self.weight

    def __repr__(self) -> str:
        out_features, in_features = self.weight.shape
        return f"Linear({in_features}, {out_features}{'' if self.bias is not None else ', bias=False'})"


class MaxPool(Layer):
    """Max pooling, 1- to 3-d (from the input's rank), recording the switches.

    Parameters
    ----------
    kernel_size, stride, padding, dilation, ceil_mode
        As in :func:`convmat.max_pool`.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import MaxPool
    >>> pool = MaxPool(2)
    >>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> pool(x), pool.indices
    (array([[[[4.]]]]), array([[[[2]]]]))
    >>> pool.backward(np.ones((1, 1, 1, 1)))
    array([[[[0., 0.],
             [1., 0.]]]])
    """

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        dilation: IntOrTuple = 1,
        ceil_mode: bool = False,
    ) -> None:
        _check_window(kernel_size, stride, padding, dilation)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode
        self._indices: np.ndarray | None = None
        self._input_shape: tuple[int, ...] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The arguments of :func:`convmat.max_pool`."""
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "ceil_mode": self.ceil_mode,
        }

    @property
    def indices(self) -> np.ndarray:
        """The switches of the last forward: each maximum's flat position in its input plane."""
        return self._cached(self._indices, "indices")

    def forward(self, x: ArrayLike) -> np.ndarray:
        """``max_pool(x)``; records the switches."""
        xa = as_array(x, "x", allow_complex=False)
        y, self._indices = max_pool(xa, return_indices=True, **self.options)
        self._input_shape = xa.shape
        return y

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """``dx = Sᵀ·dy``: each gradient to its window's switch."""
        return max_pool_backward(grad_output, self.indices, self._cached(self._input_shape))

    def __repr__(self) -> str:
        return f"MaxPool({self.kernel_size!r}{_extra(self.options, _POOL_DEFAULTS)})"


class AvgPool(Layer):
    """Average pooling, 1- to 3-d (from the input's rank): ``y = A·x`` on every plane.

    Parameters
    ----------
    kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override
        As in :func:`convmat.avg_pool`.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import AvgPool
    >>> pool = AvgPool(2)
    >>> pool(np.arange(4.0).reshape(1, 1, 4))
    array([[[0.5, 2.5]]])
    >>> pool.backward(np.ones((1, 1, 2)))
    array([[[0.5, 0.5, 0.5, 0.5]]])
    >>> AvgPool(2, divisor_override=1)(np.arange(4.0).reshape(1, 1, 4))  # window sums
    array([[[1., 5.]]])
    """

    def __init__(
        self,
        kernel_size: IntOrTuple,
        stride: IntOrTuple | None = None,
        padding: IntOrTuple = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        _check_window(kernel_size, stride, padding, 1)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = check_divisor_override(divisor_override)
        self._input_shape: tuple[int, ...] | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The arguments of :func:`convmat.avg_pool` after ``x``."""
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "ceil_mode": self.ceil_mode,
            "count_include_pad": self.count_include_pad,
            "divisor_override": self.divisor_override,
        }

    def forward(self, x: ArrayLike) -> np.ndarray:
        """``avg_pool(x)``."""
        xa = as_array(x, "x")
        y = avg_pool(xa, **self.options)
        self._input_shape = xa.shape
        return y

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """``dx = Aᵀ·dy``."""
        return avg_pool_backward(grad_output, self._cached(self._input_shape), **self.options)

    def __repr__(self) -> str:
        return f"AvgPool({self.kernel_size!r}{_extra(self.options, _POOL_DEFAULTS)})"


_POOL_DEFAULTS = {
    "stride": None,
    "padding": 0,
    "dilation": 1,
    "ceil_mode": False,
    "count_include_pad": True,
    "divisor_override": None,
}


def _extra(options: dict[str, Any], defaults: dict[str, Any]) -> str:
    return "".join(f", {k}={v!r}" for k, v in options.items() if k != "kernel_size" and v != defaults[k])


class ReLU(Layer):
    """Rectifier ``max(x, 0)``; the gradient passes where the input was positive.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import ReLU
    >>> relu = ReLU()
    >>> relu(np.array([-1.0, 0.0, 2.0])), relu.backward(np.array([5.0, 5.0, 5.0]))
    (array([0., 0., 2.]), array([0., 0., 5.]))
    """

    def __init__(self) -> None:
        self._positive: np.ndarray | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """``max(x, 0)`` (NaN propagates)."""
        xa = as_array(x, "x", allow_complex=False)
        self._positive = xa > 0
        return np.maximum(xa, 0)

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """``dy`` where the input was positive, 0 elsewhere."""
        positive = self._cached(self._positive)
        dy = as_array(grad_output, "grad_output", allow_complex=False)
        if dy.shape != positive.shape:
            raise ValueError(f"grad_output has shape {dy.shape}, expected {positive.shape} (the input's)")
        return np.where(positive, dy, np.zeros((), dy.dtype))

    def __repr__(self) -> str:
        return "ReLU()"


class Flatten(Layer):
    """``(N, *rest) -> (N, prod(rest))`` in C order, and back.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import Flatten
    >>> flat = Flatten()
    >>> flat(np.zeros((2, 3, 4))).shape, flat.backward(np.zeros((2, 12))).shape
    ((2, 12), (2, 3, 4))
    """

    def __init__(self) -> None:
        self._input_shape: tuple[int, ...] | None = None

    def forward(self, x: ArrayLike) -> np.ndarray:
        """``x.reshape(N, -1)``."""
        xa = as_array(x, "x")
        if xa.ndim < 1:
            raise ValueError(f"x must have a batch dimension, got shape {xa.shape}")
        self._input_shape = xa.shape
        return xa.reshape(xa.shape[0], prod(xa.shape[1:]))

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """``dy`` reshaped to the input's shape."""
        shape = self._cached(self._input_shape)
        dy = as_array(grad_output, "grad_output")
        if dy.size != prod(shape) or dy.shape[:1] != shape[:1]:
            raise ValueError(f"grad_output has shape {dy.shape}, expected {(shape[0], prod(shape[1:]))}")
        return dy.reshape(shape)

    def __repr__(self) -> str:
        return "Flatten()"


class Sequential(Layer):
    """Layers applied one after another; backward runs them in reverse.

    Parameters are named ``"<index>.<name>"`` (``"0.weight"``, ``"0.bias"``, …),
    as in PyTorch's ``state_dict``.

    Parameters
    ----------
    *layers : Layer

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import Conv, Flatten, Linear, ReLU, Sequential
    >>> model = Sequential(Conv(1, 2, 3, rng=0), ReLU(), Flatten(), Linear(8, 3, rng=1))
    >>> model
    Sequential(
      (0): Conv(1, 2, kernel_size=(3, 3))
      (1): ReLU()
      (2): Flatten()
      (3): Linear(8, 3)
    )
    >>> logits = model(np.ones((5, 1, 4, 4)))
    >>> dx = model.backward(np.ones_like(logits))
    >>> logits.shape, dx.shape, list(model.grads())
    ((5, 3), (5, 1, 4, 4), ['0.weight', '0.bias', '3.weight', '3.bias'])
    """

    def __init__(self, *layers: Layer) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}] must be a convmat.nn.Layer, got {type(layer).__name__}")
        self.layers: tuple[Layer, ...] = layers

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __getitem__(self, index: int) -> Layer:
        return self.layers[index]

    def forward(self, x: ArrayLike) -> np.ndarray:
        """Each layer's forward in turn."""
        for layer in self.layers:
            x = layer.forward(x)
        # an empty Sequential is the identity: it returns x as given (the cast only informs the checker)
        return cast(np.ndarray, x)

    def backward(self, grad_output: ArrayLike) -> np.ndarray:
        """Each layer's backward in reverse order."""
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        # an empty Sequential is the identity: it returns grad_output as given (the cast only informs the checker)
        return cast(np.ndarray, grad_output)

    def params(self) -> dict[str, np.ndarray]:
        """Every layer's parameters, named ``"<index>.<name>"``."""
        return {f"{i}.{name}": p for i, layer in enumerate(self.layers) for name, p in layer.params().items()}

    def grads(self) -> dict[str, np.ndarray]:
        """Every layer's gradients, named like :meth:`params`."""
        return {f"{i}.{name}": g for i, layer in enumerate(self.layers) for name, g in layer.grads().items()}

    def astype(self, dtype: DTypeLike) -> Self:
        """A copy with every layer's parameters cast to ``dtype``."""
        return type(self)(*(layer.astype(dtype) for layer in self.layers))

    def __repr__(self) -> str:
        lines = "".join(f"  ({i}): {layer!r}\n" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{lines})"
