"""Seeing inside a trained network: deconvnet projections and saliency maps.

Both walk back down the network with the same linear maps as the backward pass,
but ask different questions.

:func:`deconvnet` (Zeiler & Fergus, *Visualizing and Understanding
Convolutional Networks*, 2014) asks what pattern in the image a feature
responds to. It keeps one activation, zeroes the rest, and goes down: through a
max pooling by unpooling at the recorded switches (:func:`convmat.max_unpool`),
through a ReLU by rectifying the reconstruction, through a convolution by its
transpose ``Wᵀ`` with the same weights (:func:`convmat.conv_input_grad`, which
for zero padding is :func:`convmat.conv_transpose` with the layer's weight as
it is). Unlike a backward pass, the ReLUs act on the signal going down, not on
the masks of the forward pass.

:func:`saliency` (Simonyan, Vedaldi & Zisserman, *Deep Inside Convolutional
Networks*, 2014) asks which pixels a class score is most sensitive to: the
gradient of that score with respect to the input, i.e. the backward pass.

Both run the model forward (updating the caches its layers keep for backward).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..conv import conv_input_grad
from ..pooling import avg_pool_backward, max_unpool
from .layers import AvgPool, Conv, Layer, MaxPool, ReLU, Sequential

__all__ = ["deconvnet", "feature_maps", "saliency"]


def _layers(model: Sequential | Layer) -> tuple[Layer, ...]:
    if isinstance(model, Sequential):
        return model.layers
    if isinstance(model, Layer):
        return (model,)
    raise TypeError(f"model must be a convmat.nn.Sequential or Layer, got {type(model).__name__}")


def _forward_to(layers: tuple[Layer, ...], x: ArrayLike, layer: int) -> tuple[np.ndarray, list[tuple[int, ...]], int]:
    """Run ``layers[:layer + 1]``; return the output, the input shape of each, and the index (negatives resolved)."""
    if isinstance(layer, bool) or not isinstance(layer, int | np.integer):
        raise TypeError(f"layer must be an int (an index into the model's layers), got {layer!r}")
    if not -len(layers) <= layer < len(layers):
        raise ValueError(f"layer must index one of the model's {len(layers)} layers, got {layer}")
    index = int(layer) % len(layers)
    h = np.asarray(x)
    shapes = []
    for current in layers[: index + 1]:
        shapes.append(h.shape)
        h = current.forward(h)
    return h, shapes, index


def feature_maps(model: Sequential | Layer, x: ArrayLike, layer: int) -> np.ndarray:
    """The output of ``model.layers[layer]`` for input ``x``.

    Examples
    --------
    >>> import numpy as np
    >>> from convmat.nn import Conv, MaxPool, ReLU, Sequential
    >>> from convmat.nn.visualize import feature_maps
    >>> model = Sequential(Conv(1, 4, 3, rng=0), ReLU(), MaxPool(2))
    >>> feature_maps(model, np.ones((2, 1, 6, 6)), 1).shape
    (2, 4, 4, 4)
    """
    return _forward_to(_layers(model), x, layer)[0]


def _down(layer: Layer, r: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """One step of the deconvnet: from ``layer``'s output space to its input space."""
    if isinstance(layer, MaxPool):
        return max_unpool(r, layer.indices, shape[2:])
    if isinstance(layer, ReLU):
        return np.maximum(r, 0)
    if isinstance(layer, Conv):
        return conv_input_grad(shape, layer.weight, r, **layer.options)
    if isinstance(layer, AvgPool):
        return avg_pool_backward(r, shape, **layer.options)
    raise TypeError(f"deconvnet cannot project through a {type(layer).__name__} layer")


def deconvnet(model: Sequential | Layer, x: ArrayLike, layer: int, channel: int, *, keep: str = "max") -> np.ndarray:
    """Project a feature map of ``model.layers[layer]`` back to pixel space (Zeiler & Fergus).

    Forward to ``layer`` (recording the max-pooling switches); keep one
    activation of feature map ``channel`` per sample (the strongest), zero the
    rest; then down again, layer by layer: unpool at the switches, rectify,
    transposed convolution with the layer's own weights (``Wᵀ``, no bias).
    Average pooling goes down as ``Aᵀ``.

    Parameters
    ----------
    model : Sequential or Layer
        Up to ``layer``: :class:`~convmat.nn.Conv`, :class:`~convmat.nn.ReLU`,
        :class:`~convmat.nn.MaxPool` and :class:`~convmat.nn.AvgPool` layers.
    x : array_like, shape (N, C, *spatial)
        Input images.
    layer : int
        Index of the layer whose output holds the feature maps (negative counts
        from the end); typically a ReLU or pooling after a convolution.
    channel : int
        Which feature map of that output.
    keep : {"max", "map"}
        ``"max"``: only the strongest activation of the map in each sample (as
        Zeiler & Fergus). ``"map"``: the whole feature map.

    Returns
    -------
    ndarray, shape of ``x``
        The projection of each sample's kept activation(s), in the model's dtype.

    Examples
    --------
    One 3×3 filter (a vertical edge) and a pooling: the projection of the
    strongest activation is the filter, placed where it fired.

    >>> import numpy as np
    >>> from convmat.nn import Conv, MaxPool, ReLU, Sequential, deconvnet
    >>> conv = Conv(1, 1, 3, bias=False, dtype=np.float64)
    >>> conv.weight[...] = [[[[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]]]
    >>> model = Sequential(conv, ReLU(), MaxPool(2))
    >>> x = np.zeros((1, 1, 6, 6))
    >>> x[..., 3:] = 1.0                                  # dark left half, bright right half
    >>> deconvnet(model, x, layer=2, channel=0)[0, 0]
    array([[ 0., -3.,  0.,  3.,  0.,  0.],
           [ 0., -3.,  0.,  3.,  0.,  0.],
           [ 0., -3.,  0.,  3.,  0.,  0.],
           [ 0.,  0.,  0.,  0.,  0.,  0.],
           [ 0.,  0.,  0.,  0.,  0.,  0.],
           [ 0.,  0.,  0.,  0.,  0.,  0.]])
    """
    if keep not in ("max", "map"):
        raise ValueError(f"keep must be 'max' or 'map', got {keep!r}")
    layers = _layers(model)
    h, shapes, index = _forward_to(layers, x, layer)
    if h.ndim < 3:
        raise ValueError(
            f"layer {index} ({layers[index]!r}) outputs shape {h.shape}, not feature maps (N, C, *spatial)"
        )
    if isinstance(channel, bool) or not isinstance(channel, int | np.integer) or not 0 <= channel < h.shape[1]:
        raise ValueError(
            f"channel must be an int in [0, {h.shape[1]}) for layer {index}'s output {h.shape}, got {channel!r}"
        )
    r = np.zeros_like(h)
    if keep == "map":
        r[:, channel] = h[:, channel]
    else:
        flat = h[:, channel].reshape(h.shape[0], -1)
        samples, strongest = np.arange(h.shape[0]), flat.argmax(axis=1)
        r[(samples, channel, *np.unravel_index(strongest, h.shape[2:]))] = flat[samples, strongest]
    for current, shape in zip(reversed(layers[: index + 1]), reversed(shapes), strict=True):
        r = _down(current, r, shape)
    return r


def saliency(model: Sequential | Layer, x: ArrayLike, target: ArrayLike | None = None) -> np.ndarray:
    """Saliency map: how strongly each pixel moves a class score (Simonyan et al.).

    The gradient of the score (the logit, before softmax) of class ``target``
    with respect to the input, by one backward pass; the map is its absolute
    value, the largest over the input channels.

    Parameters
    ----------
    model : Sequential or Layer
        Maps ``x`` to logits ``(N, classes)``.
    x : array_like, shape (N, C, *spatial)
    target : int or array_like of int, shape (N,), optional
        The class of each sample whose score is differentiated; by default the
        predicted class.

    Returns
    -------
    ndarray, shape (N, *spatial)

    Notes
    -----
    This is a backward pass: afterwards the model's ``grads()`` are the
    gradients of the class scores, not of a loss.

    Examples
    --------
    For a linear model the gradient is the class's weight row:

    >>> import numpy as np
    >>> from convmat.nn import Flatten, Linear, Sequential, saliency
    >>> linear = Linear(4, 2, bias=False, dtype=np.float64)
    >>> linear.weight[...] = [[1, -2, 0, 0], [0, 0, 3, -4]]
    >>> model = Sequential(Flatten(), linear)
    >>> saliency(model, np.ones((1, 1, 2, 2)), target=0)
    array([[[1., 2.],
            [0., 0.]]])
    """
    xa = np.asarray(x)
    if xa.ndim < 3:
        raise ValueError(f"x must have shape (N, C, *spatial), got {xa.shape}")
    layers = _layers(model)
    logits = np.asarray(_forward_to(layers, xa, len(layers) - 1)[0])
    if logits.ndim != 2 or logits.shape[0] != xa.shape[0]:
        raise ValueError(f"model must map x {xa.shape} to logits (N, classes), got shape {logits.shape}")
    n, n_classes = logits.shape
    classes = logits.argmax(axis=1) if target is None else np.asarray(target)
    if classes.ndim == 0:
        classes = np.full(n, classes)
    if classes.shape != (n,) or classes.dtype.kind not in "iu" or np.any((classes < 0) | (classes >= n_classes)):
        raise ValueError(
            f"target must be a class index in [0, {n_classes}) or one per sample, shape ({n},), got {target!r}"
        )
    seed = np.zeros_like(logits)
    seed[np.arange(n), classes] = 1
    for current in reversed(layers):
        seed = current.backward(seed)
    return np.abs(seed).max(axis=1)
