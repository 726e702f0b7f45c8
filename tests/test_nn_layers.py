"""convmat.nn layers: every backward against finite differences (gradcheck) and PyTorch; the layer contract."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BACKENDS, assert_close

import convmat as cm
import convmat.nn as nn

# (kernel_size, options, input shape): 1-, 2- and 3-d, strides, dilation, groups, every padding mode
CONV_CASES = [
    pytest.param(3, {"in": 2, "out": 3}, (2, 2, 5, 6), id="2d-plain"),
    pytest.param((3,), {"in": 2, "out": 4, "stride": 2, "padding": 1, "groups": 2}, (2, 2, 9), id="1d-stride-groups"),
    pytest.param(
        (2, 2, 2), {"in": 1, "out": 2, "padding": "same", "padding_mode": "circular"}, (1, 1, 3, 3, 3), id="3d-same"
    ),
    pytest.param((3, 2), {"in": 2, "out": 2, "dilation": (1, 2), "padding": (1, 2)}, (2, 2, 5, 6), id="2d-dilation"),
    pytest.param(3, {"in": 3, "out": 3, "groups": 3, "padding": 1, "padding_mode": "reflect"}, (1, 3, 4, 5), id="dw"),
    pytest.param(
        (2, 3), {"in": 2, "out": 2, "stride": (2, 1), "padding": 2, "padding_mode": "replicate"}, (2, 2, 4, 4), id="rep"
    ),
    pytest.param(2, {"in": 1, "out": 2, "bias": False}, (3, 1, 4, 4), id="no-bias"),
]


def _conv(kernel_size, options, backend="im2col", dtype=np.float64, rng=0):
    opts = dict(options)
    return nn.Conv(opts.pop("in"), opts.pop("out"), kernel_size, backend=backend, rng=rng, dtype=dtype, **opts)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("kernel_size", "options", "x_shape"), CONV_CASES)
def test_conv_backward_passes_gradcheck(rng, kernel_size, options, x_shape, backend):
    layer = _conv(kernel_size, options, backend)
    report = nn.gradcheck(layer, rng.standard_normal(x_shape))
    assert report.ok, report
    expected = ["x", "weight"] + ([] if options.get("bias") is False else ["bias"])
    assert [e.name for e in report.entries] == expected


@pytest.mark.parametrize(("kernel_size", "options", "x_shape"), CONV_CASES)
def test_conv_layer_is_the_conv_ops(rng, kernel_size, options, x_shape):
    """Forward and backward are exactly conv / conv_input_grad / conv_weight_grad, in both backends."""
    layers = [_conv(kernel_size, options, b) for b in BACKENDS]
    x = rng.standard_normal(x_shape)
    outputs = [layer(x) for layer in layers]
    dy = rng.standard_normal(outputs[0].shape)
    dxs = [layer.backward(dy) for layer in layers]
    geometry = {k: v for k, v in layers[0].options.items() if k != "backend"}
    w, b = layers[0].weight, layers[0].bias
    assert_close(outputs[0], cm.conv(x, w, b, **geometry))
    assert_close(dxs[0], cm.conv_input_grad(x.shape, w, dy, **geometry))
    assert_close(layers[0].grads()["weight"], cm.conv_weight_grad(x, w.shape, dy, **geometry))
    assert_close(outputs[1], outputs[0])
    assert_close(dxs[1], dxs[0])
    for name, grad in layers[0].grads().items():
        assert_close(layers[1].grads()[name], grad)


@pytest.mark.parametrize(
    ("layer", "x_shape"),
    [
        pytest.param(nn.MaxPool(2), (2, 3, 4, 6), id="maxpool-2d"),
        pytest.param(nn.MaxPool(3, stride=1, padding=1), (2, 2, 5), id="maxpool-1d-overlap"),
        pytest.param(nn.MaxPool((2, 2, 2), dilation=2, ceil_mode=True), (1, 2, 5, 5, 5), id="maxpool-3d"),
        pytest.param(nn.AvgPool(2), (2, 3, 4, 5), id="avgpool-2d"),
        pytest.param(nn.AvgPool(3, stride=2, padding=1, count_include_pad=False), (2, 2, 7), id="avgpool-1d"),
        pytest.param(nn.AvgPool((2, 3, 2), ceil_mode=True), (1, 2, 3, 4, 5), id="avgpool-3d"),
        pytest.param(nn.AvgPool(3, stride=2, padding=1, divisor_override=5), (2, 2, 7, 6), id="avgpool-divisor"),
        pytest.param(nn.ReLU(), (3, 4, 5), id="relu"),
        pytest.param(nn.Flatten(), (3, 2, 3, 2), id="flatten"),
        pytest.param(nn.Linear(6, 4, rng=0), (5, 6), id="linear"),
        pytest.param(nn.Linear(6, 4, bias=False, rng=0), (5, 6), id="linear-no-bias"),
    ],
)
def test_other_layers_pass_gradcheck(rng, layer, x_shape):
    report = nn.gradcheck(layer, rng.standard_normal(x_shape))
    assert report.ok, report


def test_layers_match_pytorch(rng):
    """Forward, input gradient and parameter gradients of every layer kind against torch.nn."""
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    x = rng.standard_normal((2, 2, 6, 7))
    pairs = [
        (nn.Conv(2, 4, (3, 2), stride=(2, 1), padding=1, groups=2, padding_mode="reflect", rng=1),
         tnn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=1, groups=2, padding_mode="reflect")),
        (nn.MaxPool(3, stride=2, padding=1), tnn.MaxPool2d(3, stride=2, padding=1)),
        (nn.AvgPool(2, ceil_mode=True), tnn.AvgPool2d(2, ceil_mode=True)),
        (nn.ReLU(), tnn.ReLU()),
        (nn.Flatten(), tnn.Flatten()),
    ]  # fmt: skip
    for ours, theirs in pairs:
        ours = ours.astype(np.float64)
        theirs = theirs.double()
        with torch.no_grad():
            for name, p in ours.params().items():
                getattr(theirs, name).copy_(torch.from_numpy(p))
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        y = ours(x)
        dy = rng.standard_normal(y.shape)
        yt.backward(torch.from_numpy(dy))
        assert_close(y, yt.detach().numpy())
        assert_close(ours.backward(dy), xt.grad.numpy())
        for name, grad in ours.grads().items():
            assert_close(grad, getattr(theirs, name).grad.numpy())
        x = y
    linear = nn.Linear(x.shape[1], 3, rng=2).astype(np.float64)
    tlin = tnn.Linear(x.shape[1], 3).double()
    with torch.no_grad():
        tlin.weight.copy_(torch.from_numpy(linear.weight))
        tlin.bias.copy_(torch.from_numpy(linear.bias))
    xt = torch.tensor(x, requires_grad=True)
    tlin(xt).sum().backward()
    assert_close(linear(x), tlin(xt).detach().numpy())
    assert_close(linear.backward(np.ones((x.shape[0], 3))), xt.grad.numpy())
    assert_close(linear.grads()["weight"], tlin.weight.grad.numpy())


def test_initialisation_is_pytorchs_distribution():
    """Weights and biases uniform on ±1/sqrt(fan_in), seeded, float32 by default."""
    layer = nn.Conv(8, 16, 3, groups=2, rng=0)
    bound = 1 / np.sqrt(4 * 9)
    assert layer.weight.shape == (16, 4, 3, 3)
    assert layer.weight.dtype == layer.bias.dtype == np.float32
    assert np.abs(layer.weight).max() <= bound
    assert np.abs(layer.weight).max() > 0.9 * bound  # it fills the interval
    assert np.abs(layer.bias).max() <= bound
    assert np.array_equal(nn.Conv(8, 16, 3, groups=2, rng=0).weight, layer.weight)
    assert not np.array_equal(nn.Conv(8, 16, 3, groups=2, rng=1).weight, layer.weight)
    big = nn.Linear(400, 300, rng=0).weight
    assert abs(big.std() - (1 / np.sqrt(400)) / np.sqrt(3)) < 1e-3  # the std of U(-b, b) is b/sqrt(3)


def test_float32_by_default_and_input_cast():
    layer = nn.Conv(1, 2, 3, rng=0)
    y = layer(np.ones((1, 1, 4, 4)))  # float64 input, float32 layer
    assert y.dtype == np.float32
    assert layer.backward(np.ones_like(y, dtype=np.float64)).dtype == np.float32
    assert layer.grads()["weight"].dtype == np.float32
    double = layer.astype(np.float64)
    assert double.weight.dtype == np.float64
    assert layer.weight.dtype == np.float32
    assert double(np.ones((1, 1, 4, 4))).dtype == np.float64


def test_params_are_live_and_grads_overwrite(rng):
    model = nn.Sequential(nn.Conv(1, 2, 3, rng=0), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2, rng=1))
    assert list(model.params()) == ["0.weight", "0.bias", "3.weight", "3.bias"]
    model.params()["3.bias"][...] = 7
    assert np.all(model[3].bias == 7)
    x = rng.standard_normal((3, 1, 4, 4))
    model.backward(np.ones_like(model(x)))
    first = {k: v.copy() for k, v in model.grads().items()}
    model.backward(np.ones_like(model(x)))
    for name, grad in model.grads().items():
        assert_close(grad, first[name])  # overwritten, not accumulated


def test_load_params_round_trip(tmp_path):
    model = nn.Sequential(nn.Conv(1, 2, 3, rng=0), nn.Flatten(), nn.Linear(8, 2, rng=1))
    np.savez(tmp_path / "p.npz", **model.params())
    other = nn.Sequential(nn.Conv(1, 2, 3, rng=5), nn.Flatten(), nn.Linear(8, 2, rng=6))
    other.load_params(np.load(tmp_path / "p.npz"))
    for name, p in model.params().items():
        assert np.array_equal(other.params()[name], p)
    with pytest.raises(ValueError, match=r"missing \['2.bias'\]"):
        other.load_params({k: v for k, v in model.params().items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"values\['0.weight'\] has shape \(2, 1, 2, 2\)"):
        other.load_params({**model.params(), "0.weight": np.zeros((2, 1, 2, 2))})


def test_repr_shows_the_non_default_options():
    assert repr(nn.Conv(2, 4, (3,), stride=2, groups=2, bias=False, backend="sparse")) == (
        "Conv(2, 4, kernel_size=(3,), stride=(2,), groups=2, bias=False, backend='sparse')"
    )
    assert repr(nn.MaxPool(3, stride=1, padding=1)) == "MaxPool(3, stride=1, padding=1)"
    assert repr(nn.AvgPool(2, count_include_pad=False)) == "AvgPool(2, count_include_pad=False)"
    assert repr(nn.AvgPool(2, divisor_override=3)) == "AvgPool(2, divisor_override=3)"
    assert repr(nn.Linear(3, 2, bias=False)) == "Linear(3, 2, bias=False)"


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: nn.Conv(3, 4, 3, groups=2), ValueError, r"in_channels \(3\) .* divisible by groups \(2\)"),
        (lambda: nn.Conv(0, 4, 3), ValueError, "in_channels must be positive"),
        (lambda: nn.Conv(1.5, 4, 3), TypeError, "in_channels must be an int"),
        (lambda: nn.Conv(1, 4, (3, 3, 3, 3)), ValueError, "kernel_size must be an int or a tuple of 1 to 3"),
        (lambda: nn.Conv(1, 4, 3, stride=(1, 2, 3)), ValueError, "stride must be an int or a tuple of 2"),
        (lambda: nn.Conv(1, 4, 3, stride=2, padding="same"), ValueError, "padding='same'"),
        (lambda: nn.Conv(1, 4, 3, padding_mode="wrap"), ValueError, "padding_mode must be one of"),
        (lambda: nn.Conv(1, 4, 3, backend="winograd"), ValueError, "backend must be one of"),
        (lambda: nn.Conv(1, 4, 3, dtype=np.int32), TypeError, "dtype must be a real floating dtype"),
        (lambda: nn.Linear(3, 0), ValueError, "out_features must be positive"),
        (lambda: nn.MaxPool(0), ValueError, "kernel_size must be positive"),
        (lambda: nn.MaxPool((2, 2), stride=(1, 1, 1)), ValueError, "stride must be an int or a tuple of 2 ints"),
        (lambda: nn.AvgPool(2, padding=-1), ValueError, "padding must be >= 0"),
        (lambda: nn.Sequential(nn.ReLU(), np.tanh), TypeError, r"layers\[1\] must be a convmat.nn.Layer"),
    ],
)
def test_bad_construction_names_the_argument(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_bad_use_names_the_argument():
    conv = nn.Conv(2, 3, 3)
    with pytest.raises(RuntimeError, match=r"Conv.backward needs a forward first"):
        conv.backward(np.ones((1, 3, 2, 2)))
    with pytest.raises(RuntimeError, match=r"Conv has no gradients yet"):
        conv.grads()
    with pytest.raises(RuntimeError, match=r"MaxPool.indices needs a forward first"):
        _ = nn.MaxPool(2).indices
    with pytest.raises(ValueError, match=r"x .*channels|C_in"):
        conv(np.ones((1, 1, 5, 5)))
    conv(np.ones((1, 2, 5, 5)))
    with pytest.raises(ValueError, match="grad_output"):
        conv.backward(np.ones((1, 3, 2, 2)))
    linear = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"x has shape \(3, 5\), expected \(N, 4\)"):
        linear(np.ones((3, 5)))
    linear(np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(3, 3\), expected \(3, 2\)"):
        linear.backward(np.ones((3, 3)))
    relu = nn.ReLU()
    relu(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"grad_output has shape \(2,\), expected \(2, 2\)"):
        relu.backward(np.ones(2))
    with pytest.raises(TypeError, match="x must be real"):
        conv(np.ones((1, 2, 5, 5), dtype=complex))


def test_avgpool_layer_divisor_override_is_the_op(rng):
    x = rng.standard_normal((2, 3, 6, 5))
    layer = nn.AvgPool(2, padding=1, divisor_override=3)
    np.testing.assert_array_equal(layer(x), cm.avg_pool(x, 2, padding=1, divisor_override=3))
    dy = rng.standard_normal(layer(x).shape)
    expected = cm.avg_pool_backward(dy, x.shape, 2, padding=1, divisor_override=3)
    np.testing.assert_array_equal(layer.backward(dy), expected)
    for bad, error in ((0, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="divisor_override"):
            nn.AvgPool(2, divisor_override=bad)
