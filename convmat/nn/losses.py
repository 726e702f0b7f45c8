"""Softmax cross-entropy: the loss of a classifier and its gradient, in one numerically stable pass."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .._arrays import as_array

__all__ = ["log_softmax", "softmax_cross_entropy"]


def log_softmax(logits: ArrayLike) -> np.ndarray:
    """``log(softmax(logits))`` along the last axis, without overflow.

    Computed as ``z - max(z) - log(sum(exp(z - max(z))))``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import log_softmax
    >>> np.exp(log_softmax(np.array([[0.0, 1000.0]])))
    array([[0., 1.]])
    """
    z = as_array(logits, "logits", allow_complex=False)
    if z.ndim < 1:
        raise ValueError(f"logits must have at least one axis (the classes), got shape {z.shape}")
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(logits: ArrayLike, targets: ArrayLike) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(logits)`` against integer class labels, and its gradient.

    ``loss = mean_n(−log softmax(z_n)[t_n])`` (PyTorch's ``F.cross_entropy``
    with the default mean reduction) and
    ``dloss/dz = (softmax(z) − onehot(t)) / N``.

    Parameters
    ----------
    logits : array_like, shape (N, C)
        Unnormalised class scores.
    targets : array_like of int, shape (N,)
        Class labels in ``[0, C)``.

    Returns
    -------
    loss : float
    grad : ndarray, shape (N, C)
        Gradient of ``loss`` with respect to ``logits``, in their dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import softmax_cross_entropy
    >>> loss, grad = softmax_cross_entropy(np.zeros((2, 4)), np.array([0, 3]))
    >>> bool(np.isclose(loss, np.log(4)))
    True
    >>> grad
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
    """
    z = as_array(logits, "logits", allow_complex=False)
    t = np.asarray(targets)
    if z.ndim != 2:
        raise ValueError(f"logits must have shape (N, C), got {z.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"targets must be integer class labels, got dtype {t.dtype}")
    if t.shape != z.shape[:1]:
        raise ValueError(f"targets has shape {t.shape}, expected ({z.shape[0]},) for logits of shape {z.shape}")
    if t.size and (t.min() < 0 or t.max() >= z.shape[1]):
        raise ValueError(f"targets must lie in [0, {z.shape[1]}), got values from {t.min()} to {t.max()}")
    n = z.shape[0]
    if n == 0:
        raise ValueError("logits must hold at least one sample (the loss is a mean over the batch)")
    logp = log_softmax(z)
    rows = np.arange(n)
    loss = -float(logp[rows, t].mean(dtype=np.float64))
    grad = np.exp(logp)
    grad[rows, t] -= 1
    grad /= n
    return loss, grad
