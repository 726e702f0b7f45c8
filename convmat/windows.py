"""The one windowing primitive: strided, dilated N-d windows as a view.

Convolution's patches (im2col) and max pooling read their input through
:func:`window_view`; neither slices windows on its own. Average pooling needs no
view: it is one fixed sparse matrix per plane, whose rows are the windows
(:func:`convmat.pool_patterns.avg_pool_plane_matrix`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["window_view"]


def window_view(
    xp: np.ndarray,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    output_spatial: tuple[int, ...],
) -> np.ndarray:
    """Read-only view of the windows of an already padded array.

    ``xp`` has shape ``(..., *padded_spatial)``; the result has shape
    ``(..., *output_spatial, *kernel_size)`` with
    ``view[..., o, k] == xp[..., o * stride + k * dilation]`` (per spatial dim).
    No data is copied.

    Examples
    --------
    >>> v = window_view(np.arange(6.0), (2,), (2,), (2,), (2,))
    >>> v.tolist()
    [[0.0, 2.0], [2.0, 4.0]]
    """
    n = len(kernel_size)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel_size, dilation, strict=True))
    view = sliding_window_view(xp, extent, axis=tuple(range(xp.ndim - n, xp.ndim)))
    out_slices = tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(output_spatial, stride, strict=True))
    win_slices = tuple(slice(None, None, d) for d in dilation)
    index: tuple[Any, ...] = (Ellipsis, *out_slices, *win_slices)
    return view[index]
