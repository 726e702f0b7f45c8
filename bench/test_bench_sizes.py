"""Size before you build: what asking for a matrix's size costs.

``conv_matrix_size`` counts ``W``'s entries one spatial axis at a time, so its
cost does not grow with ``nnz``: microseconds for ResNet's 256-channel layer
(1.7 billion entries), a 3-D U-Net layer (56 billion) or a reflect-padded layer
whose taps fold. Two cases each (group ``sizes-<layer>``):

* ``warm``: the call as a user repeats it (the per-axis counts of a geometry are
  remembered);
* ``cold``: the first call for a geometry (those counts forgotten before each round).

``sizes-build-<layer>`` times ``conv_matrix`` on a small layer beside its size,
for scale.
"""

from __future__ import annotations

import numpy as np
import pytest

import convmat as cm
from convmat.sizes import _axis_counts

LAYERS = {
    "resnet256": ((256, 256, 3, 3), (256, 56, 56), {"padding": 1}),
    "unet3d": ((128, 64, 3, 3, 3), (64, 64, 64, 64), {"padding": 1}),
    "reflect": ((64, 64, 7, 7), (64, 112, 112), {"padding": 3, "padding_mode": "reflect"}),
    "conv1d": ((128, 128, 9), (128, 4096), {"padding": "same"}),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
@pytest.mark.parametrize("state", ["warm", "cold"])
def test_conv_matrix_size(benchmark, layer, state):
    weight_shape, input_shape, kwargs = LAYERS[layer]
    benchmark.group = f"sizes-{layer}"
    benchmark.name = f"conv_matrix_size-{state}"
    if state == "warm":
        size = benchmark(cm.conv_matrix_size, weight_shape, input_shape, **kwargs)
    else:
        size = benchmark.pedantic(
            cm.conv_matrix_size,
            args=(weight_shape, input_shape),
            kwargs=kwargs,
            setup=_axis_counts.cache_clear,
            rounds=200,
        )
    assert size.nnz > 0


def test_size_beside_a_build(benchmark):
    """A small layer's ``W`` built, for scale (its size costs a few thousandth of this)."""
    w = np.ones((16, 16, 3, 3))
    benchmark.group = "sizes-build-small"
    benchmark.name = "conv_matrix"
    W = benchmark(cm.conv_matrix, w, (16, 32, 32), padding=1)
    assert W.nnz == cm.conv_matrix_size(w.shape, (16, 32, 32), padding=1).nnz
