"""The training loop: minibatches, loss, backward, optimiser step, and a text progress bar.

Deterministic: the batches are drawn from a generator seeded by ``seed``, and
every operation underneath is deterministic, so the same model, data and seed
give the same parameters, whichever convolution backend the layers use (up to
float rounding).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from numpy.typing import ArrayLike

from .data import minibatches
from .layers import Layer
from .losses import softmax_cross_entropy
from .optim import Optimizer

__all__ = ["History", "evaluate", "fit", "predict", "progress_line"]

Loss = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]


@dataclass
class History:
    """Per-epoch record of :func:`fit`.

    Attributes
    ----------
    loss : list of float
        Mean training loss over the epoch's batches (weighted by batch size).
    accuracy : list of float
        Fraction of the epoch's training samples classified right as they
        were seen (before that batch's update).
    seconds : list of float
        Wall time of each epoch.

    Examples
    --------
    >>> History(loss=[0.5], accuracy=[0.9], seconds=[1.0]).loss
    [0.5]
    """

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def progress_line(
    epoch: int,
    epochs: int,
    done: int,
    total: int,
    loss: float,
    accuracy: float,
    seconds: float | None = None,
    width: int = 30,
) -> str:
    """One line of the progress bar: ``epoch 3/10 [#####.....] loss 0.123 acc 96.1%``.

    Examples
    --------
    >>> progress_line(3, 10, 5, 10, 0.1234, 0.961, width=10)
    'epoch  3/10 [#####.....] loss 0.1234 acc 96.1%'
    >>> progress_line(10, 10, 10, 10, 0.05, 0.99, seconds=1.25, width=10)
    'epoch 10/10 [##########] loss 0.0500 acc 99.0%  1.2 s'
    """
    filled = width * done // total if total else width
    digits = len(str(epochs))
    line = (
        f"epoch {epoch:>{digits}}/{epochs} [{'#' * filled}{'.' * (width - filled)}] "
        f"loss {loss:.4f} acc {100 * accuracy:.1f}%"
    )
    return line if seconds is None else f"{line}  {seconds:.1f} s"


def _checked_data(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    xa, ya = np.asarray(x), np.asarray(y)
    if ya.ndim != 1 or ya.dtype.kind not in "iu":
        raise ValueError(f"y must be a 1-d array of integer labels, got shape {ya.shape} and dtype {ya.dtype}")
    if xa.ndim < 1 or xa.shape[0] != ya.shape[0]:
        raise ValueError(f"x has shape {xa.shape} but y has {ya.shape[0]} labels: their first dims must match")
    return xa, ya


def fit(
    model: Layer,
    x: ArrayLike,
    y: ArrayLike,
    optimizer: Optimizer,
    *,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int = 0,
    loss: Loss = softmax_cross_entropy,
    progress: TextIO | None = None,
) -> History:
    """Train ``model`` in place by minibatch gradient descent.

    Every epoch visits the samples in a new random order (drawn from a
    generator seeded by ``seed``); each batch runs forward, ``loss``, backward
    and ``optimizer.step()``.

    Parameters
    ----------
    model : Layer
        Maps a batch of ``x`` to logits ``(batch, classes)``.
    x : array_like, shape (N, ...)
    y : array_like of int, shape (N,)
    optimizer : Optimizer
        Built on ``model``.
    epochs, batch_size : int
    seed : int
        Seed of the batch order.
    loss : callable
        ``loss(logits, labels) -> (value, dlogits)``.
    progress : text stream, optional
        Where to draw a progress bar per epoch. On a terminal the bar fills as
        the batches go; elsewhere (a file, a pipe) each epoch writes one line
        when it ends.

    Returns
    -------
    History

    Examples
    --------
    >>> import numpy as np
    >>> import convmat.nn as nn
    >>> rng = np.random.default_rng(0)
    >>> x = rng.standard_normal((64, 2)).astype(np.float32)
    >>> y = (x[:, 0] > x[:, 1]).astype(int)          # a linearly separable toy problem
    >>> model = nn.Linear(2, 2, rng=0)
    >>> history = nn.fit(model, x, y, nn.SGD(model, lr=0.5), epochs=20, batch_size=16)
    >>> history.loss[-1] < history.loss[0], nn.evaluate(model, x, y) > 0.95
    (True, True)
    """
    xa, ya = _checked_data(x, y)
    if epochs < 1:
        raise ValueError(f"epochs must be positive, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    rng = np.random.default_rng(seed)
    live = progress is not None and progress.isatty()
    history = History()
    n = ya.size
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        total_loss, correct, seen = 0.0, 0, 0
        for batch in minibatches(n, batch_size, rng):
            logits = model.forward(xa[batch])
            value, dlogits = loss(logits, ya[batch])
            model.backward(dlogits)
            optimizer.step()
            total_loss += value * batch.size
            correct += int(np.count_nonzero(logits.argmax(axis=1) == ya[batch]))
            seen += batch.size
            if live and progress is not None:
                progress.write("\r" + progress_line(epoch, epochs, seen, n, total_loss / seen, correct / seen))
                progress.flush()
        history.loss.append(total_loss / n)
        history.accuracy.append(correct / n)
        history.seconds.append(time.perf_counter() - start)
        if progress is not None:
            line = progress_line(epoch, epochs, n, n, history.loss[-1], history.accuracy[-1], history.seconds[-1])
            progress.write(("\r" if live else "") + line + "\n")
            progress.flush()
    return history


def predict(model: Layer, x: ArrayLike, batch_size: int = 512) -> np.ndarray:
    """Predicted class of every sample: the argmax of the logits, computed in batches.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat.nn as nn
    >>> model = nn.Linear(2, 2, bias=False)
    >>> model.weight[...] = [[1, 0], [0, 1]]            # the logits are the inputs
    >>> predict(model, [[2.0, 1.0], [0.0, 3.0], [5.0, 4.0]])
    array([0, 1, 0])
    """
    xa = np.asarray(x)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    parts = [model.forward(xa[i : i + batch_size]).argmax(axis=1) for i in range(0, xa.shape[0], batch_size)]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def evaluate(model: Layer, x: ArrayLike, y: ArrayLike, batch_size: int = 512) -> float:
    """Fraction of the samples that ``model`` classifies right.

    Examples
    --------
    >>> import numpy as np
    >>> import convmat.nn as nn
    >>> model = nn.Linear(1, 2, bias=False, rng=0)
    >>> model.weight[...] = [[-1], [1]]                 # class 1 if x > 0
    >>> evaluate(model, [[-2.0], [3.0], [1.0]], [0, 1, 0])
    0.6666666666666666
    """
    xa, ya = _checked_data(x, y)
    if ya.size == 0:
        raise ValueError("x and y hold no samples")
    return float(np.mean(predict(model, xa, batch_size) == ya))
