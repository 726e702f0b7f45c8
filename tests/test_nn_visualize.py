"""Deconvnet projections and saliency maps: against their definitions, PyTorch and finite differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import convmat as cm
import convmat.nn as nn


def _net(dtype=np.float64):
    """digits_cnn's shape, small: conv, ReLU, pool, conv, ReLU, pool, flatten, linear."""
    return nn.digits_cnn(channels=(3, 4), seed=5, dtype=dtype)


def test_deconvnet_is_unpool_relu_transposed_conv(rng):
    """Layer by layer, with the pure ops, as Zeiler & Fergus describe it (conv_transpose with the forward weight)."""
    model = _net()
    conv1, conv2 = model[0], model[3]
    x = rng.random((3, 1, 8, 8))
    # forward, recording the switches
    h1 = np.maximum(cm.conv(x, conv1.weight, conv1.bias, padding=1), 0)
    p1, s1 = cm.max_pool(h1, 2, return_indices=True)
    h2 = np.maximum(cm.conv(p1, conv2.weight, conv2.bias, padding=1), 0)
    p2, s2 = cm.max_pool(h2, 2, return_indices=True)
    channel = 2
    kept = np.zeros_like(p2)
    for n in range(3):
        i, j = np.unravel_index(np.argmax(p2[n, channel]), p2.shape[2:])
        kept[n, channel, i, j] = p2[n, channel, i, j]
    # and down again
    r = np.maximum(cm.max_unpool(kept, s2, h2.shape[2:]), 0)
    r = np.maximum(cm.max_unpool(cm.conv_transpose(r, conv2.weight, padding=1), s1, h1.shape[2:]), 0)
    expected = cm.conv_transpose(r, conv1.weight, padding=1)
    projection = nn.deconvnet(model, x, layer=5, channel=channel)
    assert projection.shape == x.shape
    assert np.abs(projection).max() > 0
    assert_close(projection, expected)
    # the whole feature map instead of its strongest activation
    r = np.maximum(cm.max_unpool(np.where(np.arange(4)[:, None, None] == channel, p2, 0), s2, (4, 4)), 0)
    r = np.maximum(cm.max_unpool(cm.conv_transpose(r, conv2.weight, padding=1), s1, (8, 8)), 0)
    assert_close(nn.deconvnet(model, x, 5, channel, keep="map"), cm.conv_transpose(r, conv1.weight, padding=1))


def test_deconvnet_matches_pytorch_ops(rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    model = _net()
    x = rng.random((2, 1, 8, 8))
    w1, b1 = (torch.from_numpy(a) for a in (model[0].weight, model[0].bias))
    w2, b2 = (torch.from_numpy(a) for a in (model[3].weight, model[3].bias))
    h1 = F.relu(F.conv2d(torch.from_numpy(x), w1, b1, padding=1))
    p1, s1 = F.max_pool2d(h1, 2, return_indices=True)
    h2 = F.relu(F.conv2d(p1, w2, b2, padding=1))
    kept = torch.zeros_like(h2)
    kept[:, 1] = h2[:, 1]
    r = F.relu(F.conv_transpose2d(kept, w2, padding=1))
    expected = F.conv_transpose2d(F.relu(F.max_unpool2d(r, s1, 2, output_size=(8, 8))), w1, padding=1)
    assert_close(nn.deconvnet(model, x, layer=4, channel=1, keep="map"), expected.numpy())


def test_deconvnet_through_avg_pool_and_a_reflect_padded_conv(rng):
    """Average pooling goes down as Aᵀ; a reflect-padded convolution as its exact Wᵀ (conv_input_grad)."""
    conv = nn.Conv(1, 2, 3, padding=1, padding_mode="reflect", rng=0, dtype=np.float64)
    model = nn.Sequential(conv, nn.AvgPool(2))
    x = rng.random((1, 1, 4, 4))
    kept = np.zeros((1, 2, 2, 2))
    kept[0, 1] = model(x)[0, 1]
    down = cm.avg_pool_backward(kept, (1, 2, 4, 4), 2)
    expected = cm.conv_input_grad(x.shape, conv.weight, down, padding=1, padding_mode="reflect")
    assert_close(nn.deconvnet(model, x, layer=1, channel=1, keep="map"), expected)


def test_saliency_is_the_gradient_of_the_class_score(rng):
    model = _net()
    x = rng.random((2, 1, 8, 8))
    target = np.array([3, 7])
    eps = 1e-6
    numeric = np.zeros(x.shape)
    for index in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[index] += eps
        down[index] -= eps
        n = index[0]
        numeric[index] = (model(up)[n, target[n]] - model(down)[n, target[n]]) / (2 * eps)
    sal = nn.saliency(model, x, target)
    assert sal.shape == (2, 8, 8)
    assert_close(sal, np.abs(numeric)[:, 0], rtol=1e-7)
    predicted = model(x).argmax(axis=1)
    assert_close(nn.saliency(model, x), nn.saliency(model, x, predicted))


def test_saliency_matches_pytorch_autograd(rng):
    torch = pytest.importorskip("torch")
    from test_nn_training import _torch_twin

    model = _net()
    net = _torch_twin(model, torch)
    x = rng.random((3, 1, 8, 8))
    xt = torch.tensor(x, requires_grad=True)
    net(xt)[:, 4].sum().backward()
    assert_close(nn.saliency(model, x, target=4), xt.grad.abs().amax(dim=1).numpy())


def test_bad_arguments_name_them(rng):
    model = _net()
    x = rng.random((2, 1, 8, 8))
    with pytest.raises(ValueError, match=r"layer must index one of the model's 8 layers, got 8"):
        nn.deconvnet(model, x, 8, 0)
    with pytest.raises(TypeError, match="layer must be an int"):
        nn.deconvnet(model, x, "conv", 0)
    with pytest.raises(ValueError, match=r"channel must be an int in \[0, 4\)"):
        nn.deconvnet(model, x, 4, 4)
    with pytest.raises(ValueError, match="not feature maps"):
        nn.deconvnet(model, x, -1, 0)
    with pytest.raises(ValueError, match="keep must be 'max' or 'map'"):
        nn.deconvnet(model, x, 4, 0, keep="all")
    with pytest.raises(ValueError, match=r"target must be a class index in \[0, 10\) or one per sample"):
        nn.saliency(model, x, target=10)
    with pytest.raises(ValueError, match=r"shape \(2,\), got \[1, 2, 3\]"):
        nn.saliency(model, x, target=[1, 2, 3])
    with pytest.raises(TypeError, match=r"model must be a convmat\.nn\.Sequential or Layer"):
        nn.saliency(lambda a: a, x)

    class Identity(nn.Layer):
        def forward(self, x):
            return np.asarray(x)

        def backward(self, grad_output):
            return grad_output

    with pytest.raises(TypeError, match="deconvnet cannot project through a Identity layer"):
        nn.deconvnet(nn.Sequential(Identity(), *model.layers), x, 1, 0)


def test_figures(rng):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convmat.nn.figures import plot_deconvnet, plot_saliency

    model = _net(np.float32)
    x = rng.random((6, 1, 8, 8))
    fig = plot_deconvnet(model, x, layer=4, channels=[0, 2], top=3)
    assert len(fig.axes) == 2 * 2 * 3
    plt.close(fig)
    fig = plot_saliency(model, x, labels=np.arange(6))
    assert len(fig.axes) == 2 * 6
    assert all(ax.get_title() for ax in fig.axes[:6])
    plt.close(fig)
    with pytest.raises(ValueError, match=r"top must lie in \[1, 6\]"):
        plot_deconvnet(model, x, layer=4, top=7)
    with pytest.raises(ValueError, match=r"labels has shape \(2,\), expected \(6,\)"):
        plot_saliency(model, x, labels=[1, 2])
