"""A small CNN on scikit-learn's 8×8 handwritten digits: the data, the network, the run.

scikit-learn ships the digits (1797 images of 8×8 pixels, values 0–16) with
the package, so nothing is downloaded; it is needed only here, imported when
:func:`load_digits` is called (``pip install "convmat[train]"``).
``python -m convmat train`` is :func:`train_digits` with a progress bar.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, TextIO, TypedDict

import numpy as np
from numpy.typing import DTypeLike

from .data import stratified_split
from .init import float_dtype
from .layers import Conv, Flatten, Linear, MaxPool, ReLU, Sequential
from .optim import SGD, Adam
from .train import History, evaluate, fit

__all__ = ["Digits", "DigitsRun", "digits_cnn", "load_digits", "train_digits"]

#: The held-out split is the same for every run: 20 % of each class, drawn with this seed.
SPLIT_SEED = 0
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class Digits:
    """A train/test split of the digits.

    Attributes
    ----------
    x_train, x_test : ndarray, shape (N, 1, 8, 8)
        Pixel values scaled to ``[0, 1]``.
    y_train, y_test : ndarray of int64, shape (N,)
        The digit shown, 0–9.

    Examples
    --------
    >>> import numpy as np
    >>> d = Digits(np.zeros((3, 1, 8, 8)), np.zeros(3, int), np.zeros((1, 1, 8, 8)), np.zeros(1, int))
    >>> d.x_train.shape
    (3, 1, 8, 8)
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits(
    *, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED, dtype: DTypeLike = np.float32
) -> Digits:
    """scikit-learn's 1797 digits as ``(N, 1, 8, 8)`` images in ``[0, 1]``, split by class.

    Parameters
    ----------
    test_fraction : float
        Share of each class held out (default 20 %: 1438 training, 359 test images).
    seed : int
        Seed of the split.
    dtype : floating dtype
        Of the images.

    Returns
    -------
    Digits

    Raises
    ------
    ImportError
        Without scikit-learn, naming the extra to install.

    Examples
    --------
    >>> d = load_digits()
    >>> d.x_train.shape, d.x_test.shape, d.x_train.dtype, float(d.x_train.max())
    ((1438, 1, 8, 8), (359, 1, 8, 8), dtype('float32'), 1.0)
    >>> np.bincount(d.y_test)
    array([36, 36, 35, 37, 36, 36, 36, 36, 35, 36])
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        raise ImportError(
            'the digits data set comes with scikit-learn, which is not installed: pip install "convmat[train]"'
        ) from exc
    bunch = sklearn_digits()
    images = (bunch.images / 16.0).astype(float_dtype(dtype))[:, None]
    labels = bunch.target.astype(np.int64)
    train, test = stratified_split(labels, test_fraction, seed)
    return Digits(images[train], labels[train], images[test], labels[test])


def digits_cnn(
    *, channels: tuple[int, int] = (32, 64), backend: str = "auto", seed: int = 0, dtype: DTypeLike = np.float32
) -> Sequential:
    """conv → ReLU → max-pool → conv → ReLU → max-pool → linear, for 8×8 images and 10 classes.

    Both convolutions are 3×3 with padding 1 (the size stays), both poolings
    2×2: ``8×8 → 4×4 → 2×2``, then a linear layer from ``channels[1]·2·2`` to 10.

    Parameters
    ----------
    channels : (int, int)
        Output channels of the two convolutions.
    backend : {"auto", "im2col", "sparse", "fft"}
        Route of both convolutions (as in :func:`convmat.conv`).
    seed : int
        Seed of the initialisation (PyTorch's default scheme).
    dtype : floating dtype

    Returns
    -------
    Sequential

    Examples
    --------
    >>> digits_cnn()
    Sequential(
      (0): Conv(1, 32, kernel_size=(3, 3), padding=1)
      (1): ReLU()
      (2): MaxPool(2)
      (3): Conv(32, 64, kernel_size=(3, 3), padding=1)
      (4): ReLU()
      (5): MaxPool(2)
      (6): Flatten()
      (7): Linear(256, 10)
    )
    """
    if len(channels) != 2:
        raise ValueError(f"channels must be a pair (first conv, second conv), got {channels!r}")
    rng = np.random.default_rng(seed)
    c1, c2 = channels
    options: dict[str, Any] = {"padding": 1, "backend": backend, "rng": rng, "dtype": dtype}
    return Sequential(
        Conv(1, c1, 3, **options),
        ReLU(),
        MaxPool(2),
        Conv(c1, c2, 3, **options),
        ReLU(),
        MaxPool(2),
        Flatten(),
        Linear(c2 * 2 * 2, 10, rng=rng, dtype=dtype),
    )


@dataclass(frozen=True)
class DigitsRun:
    """What :func:`train_digits` returns.

    Attributes
    ----------
    model : Sequential
        The trained network.
    history : History
    digits : Digits
        The data it was trained (``x_train[:limit]``) and tested on.
    test_accuracy : float
        Fraction of the held-out images classified right.
    seconds : float
        Wall time of the training (without loading the data and testing).

    Examples
    --------
    >>> run = DigitsRun(digits_cnn(), History(), None, 0.98, 10.0)
    >>> run.test_accuracy
    0.98
    """

    model: Sequential
    history: History
    digits: Digits
    test_accuracy: float
    seconds: float


class _Defaults(TypedDict):
    epochs: int
    batch_size: int
    optimizer: str


#: The defaults of ``python -m convmat train``: ≥ 97 % held-out accuracy in seconds.
DEFAULTS: _Defaults = {"epochs": 20, "batch_size": 32, "optimizer": "adam"}
#: Default learning rate of each optimiser (SGD with momentum 0.9).
LEARNING_RATES = {"adam": 1e-2, "sgd": 0.1}


def train_digits(
    *,
    epochs: int = DEFAULTS["epochs"],
    batch_size: int = DEFAULTS["batch_size"],
    lr: float | None = None,
    optimizer: str = DEFAULTS["optimizer"],
    backend: str = "auto",
    seed: int = 0,
    dtype: DTypeLike = np.float32,
    limit: int | None = None,
    progress: TextIO | None = None,
) -> DigitsRun:
    """Train :func:`digits_cnn` on the digits and test it on the held-out 20 %.

    Parameters
    ----------
    epochs, batch_size : int
    lr : float, optional
        Learning rate; by default 0.01 for Adam, 0.1 for SGD.
    optimizer : {"adam", "sgd"}
        Adam, or SGD with momentum 0.9.
    backend : {"auto", "im2col", "sparse", "fft"}
        Route of the convolutions (as in :func:`convmat.conv`); all train to the same numbers.
    seed : int
        Seed of the initialisation and of the batch order (the split is fixed).
    dtype : floating dtype
    limit : int, optional
        Train on the first ``limit`` training images only (a quick run).
    progress : text stream, optional
        Where to draw the progress bar (see :func:`convmat.nn.fit`).

    Returns
    -------
    DigitsRun

    Examples
    --------
    >>> run = train_digits(epochs=1, limit=100)
    >>> run.history.loss[0] > 0, 0 <= run.test_accuracy <= 1
    (True, True)
    """
    if optimizer not in LEARNING_RATES:
        raise ValueError(f"optimizer must be one of {sorted(LEARNING_RATES)}, got {optimizer!r}")
    rate = LEARNING_RATES[optimizer] if lr is None else lr
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    digits = load_digits(dtype=dtype)
    if limit is not None:
        digits = Digits(digits.x_train[:limit], digits.y_train[:limit], digits.x_test, digits.y_test)
    model = digits_cnn(backend=backend, seed=seed, dtype=dtype)
    opt = Adam(model, lr=rate) if optimizer == "adam" else SGD(model, lr=rate, momentum=0.9)
    start = time.perf_counter()
    history = fit(
        model,
        digits.x_train,
        digits.y_train,
        opt,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    return DigitsRun(model, history, digits, evaluate(model, digits.x_test, digits.y_test), seconds)
