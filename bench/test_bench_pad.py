"""Padding as a linear map on a ResNet-sized feature map (8, 64, 56, 56), float32, against PyTorch.

Group ``pad-<mode>-forward-p<p>``: :func:`convmat.pad` against
``torch.nn.functional.pad``, padding the last two dims by ``p`` (1 and 3) on
every side. Group ``pad-<mode>-adjoint-p<p>``: :func:`convmat.pad_adjoint`
(``Pᵀ`` applied to the padded-shape gradient) against what autograd runs for
the input of ``F.pad`` (``torch.autograd.grad`` through a kept graph, so only the
backward is timed).
"""

from __future__ import annotations

import numpy as np
import pytest

from convmat.pad import pad, pad_adjoint

SHAPE = (8, 64, 56, 56)
MODES = ("constant", "reflect", "replicate", "circular")
PADS = (1, 3)


def _data(p: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE, dtype=np.float32)
    g = rng.standard_normal((*SHAPE[:2], SHAPE[2] + 2 * p, SHAPE[3] + 2 * p), dtype=np.float32)
    return x, g


@pytest.mark.parametrize("impl", ["convmat", "torch"])
@pytest.mark.parametrize("p", PADS)
@pytest.mark.parametrize("mode", MODES)
def test_pad_forward(benchmark, bench_run, request, mode, p, impl):
    x, _ = _data(p)
    pads = (p, p, p, p)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        xt = torch.from_numpy(x)

        def function():
            return torch.nn.functional.pad(xt, pads, mode=mode)

    else:

        def function():
            return pad(x, pads, mode)

    benchmark.extra_info["input_shape"] = list(SHAPE)
    result = bench_run(benchmark, f"pad-{mode}-forward-p{p}", function)
    assert tuple(result.shape) == (*SHAPE[:2], SHAPE[2] + 2 * p, SHAPE[3] + 2 * p)


@pytest.mark.parametrize("impl", ["convmat", "torch"])
@pytest.mark.parametrize("p", PADS)
@pytest.mark.parametrize("mode", MODES)
def test_pad_adjoint(benchmark, bench_run, request, mode, p, impl):
    x, g = _data(p)
    pads = (p, p, p, p)
    if impl == "torch":
        torch = request.getfixturevalue("torch")
        xt = torch.from_numpy(x).requires_grad_()
        yt = torch.nn.functional.pad(xt, pads, mode=mode)
        gt = torch.from_numpy(g)

        def function():
            return torch.autograd.grad(yt, xt, gt, retain_graph=True)[0]

    else:

        def function():
            return pad_adjoint(g, SHAPE[2:], pads, mode)

    benchmark.extra_info["input_shape"] = list(SHAPE)
    result = bench_run(benchmark, f"pad-{mode}-adjoint-p{p}", function)
    assert tuple(result.shape) == SHAPE
