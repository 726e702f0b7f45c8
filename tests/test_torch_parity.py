"""Parity with PyTorch (skipped when torch is not installed).

First the naive references of ``reference.py`` are checked against torch (that
is what makes them trustworthy for the other test files), then convmat itself:
``F.conv{1,2,3}d`` (non-zero padding modes as torch's modules do them:
``F.pad(x, reversed pads, mode)`` then an unpadded convolution), autograd and
``torch.nn.grad.conv{1,2,3}d_input`` / ``_weight`` for the gradients, and
``F.unfold`` / ``F.fold`` (2-D only in torch).
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKENDS, GRID, GRID_IDS, Case, assert_close, case_data, random_array
from reference import (
    conv_input_grad_reference,
    conv_matrix_reference,
    conv_reference,
    conv_weight_grad_reference,
    fold_reference,
    pad_reference,
    unfold_reference,
)

import convmat as cm

torch = pytest.importorskip("torch")
F = torch.nn.functional

# torch warns that padding="same" with an even kernel copies the input; that is torch's business
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")

TORCH_MODE = {"zeros": "constant", "circular": "circular", "reflect": "reflect", "replicate": "replicate"}
CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
NN_GRAD_INPUT = {1: torch.nn.grad.conv1d_input, 2: torch.nn.grad.conv2d_input, 3: torch.nn.grad.conv3d_input}
NN_GRAD_WEIGHT = {1: torch.nn.grad.conv1d_weight, 2: torch.nn.grad.conv2d_weight, 3: torch.nn.grad.conv3d_weight}


def _t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def _torch_pad_arg(pads):
    """``[(lo, hi), ...]`` in dim order -> torch's flat tuple, last dim first."""
    return tuple(v for lo, hi in reversed(pads) for v in (lo, hi))


def torch_conv(x, w, b, case):
    """torch's convolution for ``case``, as ``nn.ConvNd`` computes it for each padding mode."""
    conv = CONV[case.ndim]
    if case.padding_mode == "zeros":
        return conv(x, w, b, stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    xp = F.pad(x, _torch_pad_arg(case.pads), mode=TORCH_MODE[case.padding_mode])
    return conv(xp, w, b, stride=case.stride, padding=0, dilation=case.dilation, groups=case.groups)


@pytest.fixture(scope="module")
def torch_results():
    """Forward output and autograd gradients for every grid case (batch >= 1)."""
    cache = {}

    def get(index):
        if index not in cache:
            case = _nonempty(GRID[index])
            x, w, b, dy = case_data(case, seed=21)
            xt, wt, bt = _t(x, True), _t(w, True), _t(b, True)
            y = torch_conv(xt, wt, bt, case)
            y.backward(_t(dy))
            cache[index] = (case, (x, w, b, dy), y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy())
        return cache[index]

    return get


def _nonempty(case):
    return case if case.x_shape[0] > 0 else case.with_batch(2)


GRID_PARAMS = [pytest.param(i, id=GRID_IDS[i]) for i in range(len(GRID))]


# ---------------------------------------------------------------------------
# the references agree with torch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("index", GRID_PARAMS)
def test_references_match_torch(index, torch_results):
    case, (x, w, b, dy), y, gx, gw = torch_results(index)
    kw = case.kwargs
    assert_close(conv_reference(x, w, b, **kw), y)
    assert_close(conv_input_grad_reference(case.x_shape, w, dy, **kw), gx)
    assert_close(conv_weight_grad_reference(x, case.w_shape, dy, **kw), gw)


@pytest.mark.parametrize("mode", ["zeros", "circular", "reflect", "replicate"])
@pytest.mark.parametrize(
    ("shape", "pads"),
    [
        ((2, 3, 5), [(2, 3)]),
        ((1, 2, 4), [(4, 4)]),
        ((2, 1, 4, 5), [(1, 3), (0, 2)]),
        ((1, 2, 3, 4), [(3, 2), (3, 4)]),
        ((1, 1, 3, 4, 2), [(1, 2), (0, 3), (2, 1)]),
    ],
)
def test_pad_reference_matches_torch(shape, pads, mode, rng):
    if mode == "reflect" and any(max(p) >= n for p, n in zip(pads, shape[2:], strict=True)):
        pads = [(min(lo, n - 1), min(hi, n - 1)) for (lo, hi), n in zip(pads, shape[2:], strict=True)]
    x = random_array(rng, shape)
    expected = F.pad(_t(x), _torch_pad_arg(pads), mode=TORCH_MODE[mode]).numpy()
    np.testing.assert_array_equal(pad_reference(x, pads, mode), expected)


@pytest.mark.parametrize(
    ("x_shape", "kernel", "stride", "padding", "dilation"),
    [
        ((2, 3, 5, 6), (2, 3), 1, 0, 1),
        ((1, 2, 7, 5), (3, 2), (2, 1), (1, 2), (1, 2)),
        ((2, 1, 4, 4), 4, 3, 2, 1),
        ((1, 2, 6, 7), (1, 3), (3, 2), 0, (2, 2)),
    ],
)
def test_unfold_fold_references_match_torch(x_shape, kernel, stride, padding, dilation, rng):
    x = random_array(rng, x_shape)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    expected = F.unfold(_t(x), kernel, **kw).numpy()
    assert_close(unfold_reference(x, kernel, **kw), expected)
    assert_close(cm.im2col(x, kernel, **kw), expected)
    c = random_array(rng, expected.shape)
    folded = F.fold(_t(c), x_shape[2:], kernel, **kw).numpy()
    assert_close(fold_reference(c, x_shape[2:], kernel, **kw), folded)
    assert_close(cm.col2im(c, x_shape[2:], kernel, **kw), folded)


def test_conv_matrix_reference_matches_torch_jacobian(rng):
    case = Case((1, 2, 4, 3), (4, 1, 2, 2), (1, 2), 1, (2, 1), 2, "reflect")
    w = random_array(rng, case.w_shape)
    wt = _t(w)

    def f(flat):
        return torch_conv(flat.reshape(case.x_shape), wt, None, case).reshape(-1)

    jac = torch.autograd.functional.jacobian(f, torch.zeros(int(np.prod(case.x_shape)), dtype=torch.float64))
    ref = conv_matrix_reference(w, case.x_shape[1:], **case.kwargs)
    assert_close(ref, jac.numpy())
    assert_close(cm.conv_matrix(w, case.x_shape[1:], **case.kwargs).toarray(), jac.numpy())


# ---------------------------------------------------------------------------
# convmat agrees with torch
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", GRID_PARAMS)
def test_conv_matches_torch(index, backend, torch_results):
    case, (x, w, b, dy), y, gx, gw = torch_results(index)
    kw = {**case.kwargs, "backend": backend}
    assert_close(cm.conv(x, w, b, **kw), y)
    assert_close(cm.conv_input_grad(case.x_shape, w, dy, **kw), gx)
    assert_close(cm.conv_weight_grad(x, case.w_shape, dy, **kw), gw)


def _nn_grad_params():
    """Zero-padded grid cases with symmetric padding: torch.nn.grad takes only int/tuple padding."""
    out = []
    for i, case in enumerate(GRID):
        if case.padding_mode != "zeros" and case.padding != "valid":
            continue
        if any(lo != hi for lo, hi in case.pads):
            continue
        out.append(pytest.param(i, id=GRID_IDS[i]))
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", _nn_grad_params())
def test_grads_match_torch_nn_grad(index, backend):
    case = _nonempty(GRID[index])
    x, w, _, dy = case_data(case, seed=22)
    padding = tuple(lo for lo, _ in case.pads)
    args = {"stride": case.stride, "padding": padding, "dilation": case.dilation, "groups": case.groups}
    gx = NN_GRAD_INPUT[case.ndim](case.x_shape, _t(w), _t(dy), **args).numpy()
    gw = NN_GRAD_WEIGHT[case.ndim](_t(x), case.w_shape, _t(dy), **args).numpy()
    kw = {**case.kwargs, "backend": backend}
    assert_close(cm.conv_input_grad(case.x_shape, w, dy, **kw), gx)
    assert_close(cm.conv_weight_grad(x, case.w_shape, dy, **kw), gw)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("index", GRID_PARAMS[::4])
def test_float32_matches_torch_float32(index, backend):
    case = _nonempty(GRID[index])
    x, w, b, _ = case_data(case, np.float32, seed=23)
    xt, wt, bt = (torch.from_numpy(a) for a in (x, w, b))
    expected = torch_conv(xt, wt, bt, case).numpy()
    y = cm.conv(x, w, b, **case.kwargs, backend=backend)
    assert y.dtype == np.float32
    assert_close(y, expected, np.float32)


@pytest.mark.parametrize("stride", [1, 2, (1, 3)])
@pytest.mark.parametrize("padding", [0, 1, (2, 1)])
def test_im2col_col2im_match_torch_2d(stride, padding, rng):
    x = random_array(rng, (2, 3, 6, 7))
    kernel, dilation = (3, 2), (1, 2)
    kw = {"stride": stride, "padding": padding, "dilation": dilation}
    expected = F.unfold(_t(x), kernel, **kw).numpy()
    cols = cm.im2col(x, kernel, **kw)
    assert_close(cols, expected)
    c = random_array(rng, expected.shape)
    assert_close(cm.col2im(c, (6, 7), kernel, **kw), F.fold(_t(c), (6, 7), kernel, **kw).numpy())


@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_same_padding_even_kernel_matches_torch(ndim, rng):
    """torch's own padding='same' (extra on the high side), even kernels and dilations."""
    x = random_array(rng, (2, 2, *(5, 6, 4)[:ndim]))
    w = random_array(rng, (3, 2, *(2, 4, 3)[:ndim]))
    dilation = (1, 2, 3)[:ndim]
    expected = CONV[ndim](_t(x), _t(w), padding="same", dilation=dilation).numpy()
    for backend in BACKENDS:
        assert_close(cm.conv(x, w, padding="same", dilation=dilation, backend=backend), expected)
    assert expected.shape[2:] == x.shape[2:]
