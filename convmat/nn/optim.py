"""Optimisers that update a model's parameters in place: SGD with momentum, and Adam.

Both follow PyTorch's update rules exactly (``torch.optim.SGD`` and
``torch.optim.Adam``, weight decay added to the gradient), so a model trained
here and one trained by PyTorch from the same parameters on the same batches
stay equal up to rounding. An optimiser works on anything with ``params()``
and ``grads()`` (a :class:`~convmat.nn.Layer`, usually a
:class:`~convmat.nn.Sequential`); its state is kept per parameter name.
"""

from __future__ import annotations

import abc
import math
from typing import Protocol

import numpy as np

__all__ = ["SGD", "Adam", "Optimizer"]


class _Model(Protocol):
    def params(self) -> dict[str, np.ndarray]: ...

    def grads(self) -> dict[str, np.ndarray]: ...


def _number(value: float, name: str, low: float, high: float = math.inf, *, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (low < value if low_open else low <= value) or not value < high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g})"
        raise ValueError(f"{name} must lie in {interval}, got {value!r}")
    return value


class Optimizer(abc.ABC):
    """Base of the optimisers: a model, a learning rate ``lr`` and a :meth:`step`.

    Examples
    --------
    >>> from convmat.nn import SGD, Linear, Optimizer
    >>> opt = SGD(Linear(2, 1), lr=0.1)
    >>> isinstance(opt, Optimizer), opt.lr
    (True, 0.1)
    """

    def __init__(self, model: _Model, lr: float) -> None:
        if not callable(getattr(model, "params", None)) or not callable(getattr(model, "grads", None)):
            raise TypeError(f"model must have params() and grads() (a convmat.nn layer), got {type(model).__name__}")
        self.model = model
        #: Learning rate; may be changed between steps (a schedule).
        self.lr = _number(lr, "lr", 0.0, low_open=True)

    @abc.abstractmethod
    def step(self) -> None:
        """Update every parameter in place from the gradients of the last backward."""

    def _pairs(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        params, grads = self.model.params(), self.model.grads()
        if params.keys() != grads.keys():
            raise ValueError(f"params() and grads() have different keys: {sorted(params)} vs {sorted(grads)}")
        for name, p in params.items():
            if grads[name].shape != p.shape:
                raise ValueError(f"gradient of {name!r} has shape {grads[name].shape}, expected {p.shape}")
        return [(name, params[name], grads[name]) for name in params]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (PyTorch's rule).

    ``d = g + weight_decay·p``; with momentum ``b = momentum·b + d`` (``b = d``
    at the first step) and ``d = b`` (Nesterov: ``d = d + momentum·b``);
    then ``p -= lr·d``.

    Parameters
    ----------
    model : Layer
        Anything with ``params()`` and ``grads()``.
    lr : float
        Learning rate, positive.
    momentum : float
        In ``[0, 1)``.
    weight_decay : float
        L2 penalty coefficient, non-negative.
    nesterov : bool
        Nesterov momentum (needs ``momentum > 0``).

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import SGD, Linear
    >>> layer = Linear(1, 1, bias=False, dtype=np.float64)
    >>> layer.weight[...] = 1.0
    >>> opt = SGD(layer, lr=0.5, momentum=0.9)
    >>> for _ in range(2):
    ...     _ = layer.backward(layer(np.ones((1, 1))))   # gradient of ½y² is y
    ...     opt.step()
    ...     print(layer.weight)
    [[0.5]]
    [[-0.2]]
    """

    def __init__(
        self, model: _Model, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False
    ) -> None:
        super().__init__(model, lr)
        self.momentum = _number(momentum, "momentum", 0.0, 1.0)
        self.weight_decay = _number(weight_decay, "weight_decay", 0.0)
        if nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        self.nesterov = nesterov
        self._buffers: dict[str, np.ndarray] = {}

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        for name, p, g in self._pairs():
            d = g + self.weight_decay * p if self.weight_decay else g
            if self.momentum:
                buf = self._buffers.get(name)
                if buf is None:
                    buf = self._buffers[name] = np.array(d, dtype=p.dtype)
                else:
                    buf *= self.momentum
                    buf += d
                d = d + self.momentum * buf if self.nesterov else buf
            p -= self.lr * d


class Adam(Optimizer):
    """Adam (Kingma & Ba), PyTorch's rule with bias correction.

    ``m = β₁m + (1−β₁)g``, ``v = β₂v + (1−β₂)g²`` and
    ``p -= lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + eps)``, with ``g`` the gradient plus
    ``weight_decay·p``.

    Parameters
    ----------
    model : Layer
        Anything with ``params()`` and ``grads()``.
    lr : float
        Learning rate, positive.
    betas : tuple of float
        ``(β₁, β₂)``, each in ``[0, 1)``.
    eps : float
        Added to the denominator, positive.
    weight_decay : float
        L2 penalty coefficient, non-negative.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import Adam, Linear
    >>> layer = Linear(1, 1, bias=False, dtype=np.float64)
    >>> layer.weight[...] = 1.0
    >>> opt = Adam(layer, lr=0.1)
    >>> _ = layer.backward(layer(np.ones((1, 1))))
    >>> opt.step()                                     # the first step moves by lr
    >>> layer.weight
    array([[0.9]])
    """

    def __init__(
        self,
        model: _Model,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(model, lr)
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_number(betas[0], "betas[0]", 0.0, 1.0), _number(betas[1], "betas[1]", 0.0, 1.0))
        self.eps = _number(eps, "eps", 0.0, low_open=True)
        self.weight_decay = _number(weight_decay, "weight_decay", 0.0)
        self.steps = 0
        self._moments: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def step(self) -> None:
        """Update every parameter in place from its current gradient."""
        pairs = self._pairs()
        self.steps += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**self.steps)
        root_correction2 = math.sqrt(1 - beta2**self.steps)
        for name, p, g in pairs:
            if self.weight_decay:
                g = g + self.weight_decay * p
            if name not in self._moments:
                self._moments[name] = (np.zeros_like(p), np.zeros_like(p))
            m, v = self._moments[name]
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * (g * g)
            p -= step_size * (m / (np.sqrt(v) / root_correction2 + self.eps))
