"""Pictures of what a trained network sees (needs matplotlib: ``pip install "convmat[plot]"``).

:func:`plot_deconvnet` shows, for some feature maps of a layer, the images that
excite each map most and the deconvnet projections of those activations;
:func:`plot_saliency` shows images beside their saliency maps. Both draw with
:mod:`matplotlib.pyplot` and return the figure (save it with ``fig.savefig``,
close it with ``plt.close(fig)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from .layers import Layer, Sequential
from .visualize import deconvnet, feature_maps, saliency

__all__ = ["plot_deconvnet", "plot_saliency"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without matplotlib
        raise ImportError('convmat.nn.figures needs matplotlib: pip install "convmat[plot]"') from exc
    return plt


def _image(ax, picture: np.ndarray, cmap: str, symmetric: bool = False) -> None:
    """One picture (channels averaged) on ``ax``, without ticks."""
    plane = picture.mean(axis=0) if picture.ndim == 3 else picture
    if symmetric:
        bound = float(np.abs(plane).max()) or 1.0
        ax.imshow(plane, cmap=cmap, vmin=-bound, vmax=bound, interpolation="nearest")
    else:
        ax.imshow(plane, cmap=cmap, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_deconvnet(
    model: Sequential | Layer,
    x: ArrayLike,
    layer: int,
    channels: Sequence[int] | None = None,
    top: int = 4,
):
    """For each feature map, the images that excite it most and the deconvnet projections.

    One row per channel: on the left the projections (:func:`convmat.nn.deconvnet`)
    of its ``top`` strongest activations over ``x``, red positive and blue
    negative; on the right the images they come from.

    Parameters
    ----------
    model : Sequential or Layer
    x : array_like, shape (N, C, H, W)
        Candidate images (2-d).
    layer : int
        Index of the layer whose feature maps are shown.
    channels : sequence of int, optional
        Which maps; by default the 6 with the strongest activation over ``x``.
    top : int
        Images per map.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from convmat.nn import Conv, MaxPool, ReLU, Sequential
    >>> from convmat.nn.figures import plot_deconvnet
    >>> model = Sequential(Conv(1, 3, 3, padding=1, rng=0), ReLU(), MaxPool(2))
    >>> x = np.random.default_rng(0).random((10, 1, 8, 8))
    >>> fig = plot_deconvnet(model, x, layer=2, top=2)
    >>> len(fig.axes)
    12
    """
    plt = _pyplot()
    xa = np.asarray(x)
    if xa.ndim != 4:
        raise ValueError(f"x must hold 2-d images (N, C, H, W), got shape {xa.shape}")
    if top < 1 or top > xa.shape[0]:
        raise ValueError(f"top must lie in [1, {xa.shape[0]}] (the number of images), got {top}")
    maps = feature_maps(model, xa, layer)
    strength = maps.reshape(*maps.shape[:2], -1).max(axis=2)  # [N, C]
    if channels is None:
        channels = np.argsort(-strength.max(axis=0), kind="stable")[:6].tolist()
    if not channels:
        raise ValueError("channels must name at least one feature map")
    fig, axes = plt.subplots(
        len(channels), 2 * top, figsize=(1.1 * 2 * top, 1.15 * len(channels)), squeeze=False, layout="constrained"
    )
    for row, channel in zip(axes, channels, strict=True):
        best = np.argsort(-strength[:, channel], kind="stable")[:top]
        projections = deconvnet(model, xa[best], layer, channel)
        for k, n in enumerate(best):
            _image(row[k], projections[k], "RdBu_r", symmetric=True)
            _image(row[top + k], xa[n], "gray_r")
        row[0].set_ylabel(f"map {channel}", fontsize=8)
    axes[0, 0].set_title("projections", fontsize=8, loc="left")
    axes[0, top].set_title("images", fontsize=8, loc="left")
    return fig


def plot_saliency(
    model: Sequential | Layer,
    x: ArrayLike,
    target: ArrayLike | None = None,
    labels: ArrayLike | None = None,
):
    """Images (top row) above their saliency maps (bottom row).

    Each image is titled with the predicted class (and the true one, from
    ``labels``, when it differs); its saliency map (:func:`convmat.nn.saliency`)
    is for class ``target``, by default the predicted one.

    Parameters
    ----------
    model : Sequential or Layer
    x : array_like, shape (N, C, H, W)
    target : int or array_like of int, optional
    labels : array_like of int, shape (N,), optional
        True classes, for the titles.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from convmat.nn import Conv, Flatten, Linear, ReLU, Sequential
    >>> from convmat.nn.figures import plot_saliency
    >>> model = Sequential(Conv(1, 2, 3, rng=0), ReLU(), Flatten(), Linear(72, 10, rng=0))
    >>> fig = plot_saliency(model, np.random.default_rng(0).random((5, 1, 8, 8)))
    >>> len(fig.axes)
    10
    """
    plt = _pyplot()
    xa = np.asarray(x)
    if xa.ndim != 4:
        raise ValueError(f"x must hold 2-d images (N, C, H, W), got shape {xa.shape}")
    maps = saliency(model, xa, target)
    predicted = np.asarray(feature_maps(model, xa, -1)).argmax(axis=1)
    truth = None if labels is None else np.asarray(labels)
    if truth is not None and truth.shape != predicted.shape:
        raise ValueError(f"labels has shape {truth.shape}, expected {predicted.shape} (one per image)")
    fig, axes = plt.subplots(2, xa.shape[0], figsize=(1.1 * xa.shape[0], 2.4), squeeze=False, layout="constrained")
    for k in range(xa.shape[0]):
        _image(axes[0, k], xa[k], "gray_r")
        _image(axes[1, k], maps[k], "hot")
        title = f"{predicted[k]}" if truth is None or truth[k] == predicted[k] else f"{predicted[k]} (is {truth[k]})"
        axes[0, k].set_title(title, fontsize=8)
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("saliency", fontsize=8)
    return fig
