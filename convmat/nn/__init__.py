"""Neural-network layers with explicit forward and backward, built on convmat's operations.

.. code-block:: python

    import convmat.nn as nn

Layers (:class:`Conv`, :class:`MaxPool`, :class:`AvgPool`, :class:`ReLU`,
:class:`Flatten`, :class:`Linear`, :class:`Sequential`) each call the pure
functions of :mod:`convmat` forward and backward; :func:`softmax_cross_entropy`
is the loss, :class:`SGD` and :class:`Adam` update the parameters in place, and
:func:`gradcheck` compares any backward with finite differences. Training on
scikit-learn's digits (:func:`train_digits`, ``python -m convmat train``) needs
the ``train`` extra; the pictures (:mod:`convmat.nn.figures`) need matplotlib.

Examples
--------
>>> import numpy as np
>>> import convmat.nn as nn
>>> model = nn.Sequential(nn.Conv(1, 4, 3, rng=0), nn.ReLU(), nn.MaxPool(2), nn.Flatten(), nn.Linear(64, 10, rng=1))
>>> x = np.random.default_rng(0).random((8, 1, 10, 10), dtype=np.float32)
>>> loss, dlogits = nn.softmax_cross_entropy(model(x), np.arange(8))
>>> _ = model.backward(dlogits)
>>> nn.Adam(model, lr=1e-2).step()
>>> loss > 0
True
"""

from .data import minibatches, stratified_split
from .digits import Digits, DigitsRun, digits_cnn, load_digits, train_digits
from .gradcheck import GradcheckEntry, GradcheckReport, gradcheck
from .init import bias_uniform, fan_in, kaiming_uniform
from .layers import AvgPool, Conv, Flatten, Layer, Linear, MaxPool, ReLU, Sequential
from .losses import log_softmax, softmax_cross_entropy
from .optim import SGD, Adam, Optimizer
from .train import History, evaluate, fit, predict, progress_line
from .visualize import deconvnet, feature_maps, saliency

__all__ = [
    "SGD",
    "Adam",
    "AvgPool",
    "Conv",
    "Digits",
    "DigitsRun",
    "Flatten",
    "GradcheckEntry",
    "GradcheckReport",
    "History",
    "Layer",
    "Linear",
    "MaxPool",
    "Optimizer",
    "ReLU",
    "Sequential",
    "bias_uniform",
    "deconvnet",
    "digits_cnn",
    "evaluate",
    "fan_in",
    "feature_maps",
    "fit",
    "gradcheck",
    "kaiming_uniform",
    "load_digits",
    "log_softmax",
    "minibatches",
    "predict",
    "progress_line",
    "saliency",
    "softmax_cross_entropy",
    "stratified_split",
    "train_digits",
]
