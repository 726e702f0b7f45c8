"""gradcheck itself (it must catch wrong gradients and say where), and the loss it is used on."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_close

import convmat.nn as nn


class _WrongBiasConv(nn.Conv):
    """A convolution whose bias gradient is off by a factor of two."""

    def backward(self, grad_output):
        dx = super().backward(grad_output)
        self._grads["bias"] = 2 * self._grads["bias"]
        return dx


def test_catches_a_wrong_parameter_gradient_and_names_it(rng):
    layer = _WrongBiasConv(2, 3, 3, rng=0)
    report = nn.gradcheck(layer, rng.standard_normal((2, 2, 5, 5)))
    assert not report.ok
    assert {e.name: e.ok for e in report.entries} == {"x": True, "weight": True, "bias": False}
    bias = report.entries[2]
    assert bias.max_rel_error == pytest.approx(1.0, rel=1e-4)  # analytic is twice the numeric
    assert bias.analytic == pytest.approx(2 * bias.numeric, rel=1e-6)
    text = str(report)
    assert text.startswith("gradcheck FAILED")
    assert any(line.startswith("FAIL  bias") for line in text.splitlines())


def test_catches_a_wrong_vjp_and_reports_the_worst_entry():
    def f(a, b):
        def vjp(v):
            wrong = 2 * v * a**2 * b
            wrong[1, 2] += 1.0  # one entry off
            return 2 * v * a * b**2, wrong

        return (a * b) ** 2, vjp

    a = np.arange(1.0, 7.0).reshape(2, 3)
    report = nn.gradcheck(f, a, a + 1)
    assert [e.ok for e in report.entries] == [True, False]
    assert report.entries[1].worst_index == (1, 2)
    assert report.entries[1].max_abs_error == pytest.approx(1.0, rel=1e-5)
    assert report.entries[1].name == "arrays[1]"


def test_works_in_float64_on_a_copy(rng):
    layer = nn.Conv(1, 2, 3, rng=0)  # float32
    weight = layer.weight.copy()
    x = rng.standard_normal((1, 1, 4, 4)).astype(np.float32)
    x_before = x.copy()
    report = nn.gradcheck(layer, x)
    assert report.ok, report  # float32 would not pass 1e-6 with eps=1e-6
    assert layer.weight.dtype == np.float32
    assert np.array_equal(layer.weight, weight)
    assert np.array_equal(x, x_before)
    with pytest.raises(RuntimeError, match="no gradients yet"):
        layer.grads()  # the layer itself never ran backward


def test_scalar_output_and_custom_layer(rng):
    z = rng.standard_normal((4, 5))
    t = np.array([0, 4, 2, 2])

    def loss(logits):
        value, grad = nn.softmax_cross_entropy(logits, t)
        return value, lambda v: (v * grad,)

    report = nn.gradcheck(loss, z)
    assert report.ok, report

    class Square(nn.Layer):
        def forward(self, x):
            self.x = np.asarray(x)
            return self.x**2

        def backward(self, grad_output):
            return 2 * self.x * grad_output

    assert nn.gradcheck(Square(), z).ok

    class Scale(nn.Layer):
        """A layer with a parameter, following the Layer protocol."""

        param_names = ("scale",)

        def __init__(self):
            self.scale = np.array([1.5, -2.0, 0.5, 3.0, 1.0])

        def forward(self, x):
            self.x = np.asarray(x)
            return self.x * self.scale

        def backward(self, grad_output):
            self._grads = {"scale": (grad_output * self.x).sum(axis=0)}
            return grad_output * self.scale

    report = nn.gradcheck(Scale(), z)
    assert report.ok, report
    assert [e.name for e in report.entries] == ["x", "scale"]
    assert Scale().astype(np.float32).scale.dtype == np.float32


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: nn.gradcheck(nn.ReLU(), np.ones(2), np.ones(2)), TypeError, "one input x, got 2"),
        (lambda: nn.gradcheck(np.tanh(0.5), np.ones(2)), TypeError, "fn must be a convmat.nn.Layer or a callable"),
        (lambda: nn.gradcheck(lambda a: (a, lambda v: (v, v)), np.ones(2)), TypeError, "sequence of 1 gradient"),
        (lambda: nn.gradcheck(lambda a: (a, lambda v: (v[:1],)), np.ones(2)), ValueError, r"shape \(1,\)"),
        (lambda: nn.gradcheck(lambda: (0.0, lambda v: ())), TypeError, "at least one array"),
        (lambda: nn.gradcheck(nn.ReLU(), np.ones(2), eps=0), ValueError, "eps must be positive"),
        (lambda: nn.gradcheck(nn.ReLU(), np.array(["a"])), TypeError, "x must be a real numeric array"),
    ],
)
def test_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- softmax cross-entropy -----------------------------------------------------------------


def test_softmax_cross_entropy_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    z = rng.standard_normal((6, 10)) * 5
    t = rng.integers(0, 10, size=6)
    zt = torch.tensor(z, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(zt, torch.from_numpy(t))
    expected.backward()
    loss, grad = nn.softmax_cross_entropy(z, t)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert_close(grad, zt.grad.numpy())


def test_softmax_cross_entropy_is_stable_and_keeps_dtype():
    z = np.array([[1000.0, 0.0], [-1000.0, 0.0]], dtype=np.float32)
    loss, grad = nn.softmax_cross_entropy(z, np.array([0, 0]))
    assert np.isfinite(loss)
    assert loss == pytest.approx(500.0)
    assert grad.dtype == np.float32
    assert_close(grad, np.array([[0.0, 0.0], [-0.5, 0.5]], dtype=np.float32))
    assert_close(np.exp(nn.log_softmax(z)).sum(axis=1), np.ones(2, dtype=np.float32))


@pytest.mark.parametrize(
    ("logits", "targets", "error", "match"),
    [
        (np.zeros(3), np.zeros(3, int), ValueError, r"logits must have shape \(N, C\)"),
        (np.zeros((2, 3)), np.zeros(2), TypeError, "targets must be integer"),
        (np.zeros((2, 3)), np.zeros(3, int), ValueError, r"targets has shape \(3,\), expected \(2,\)"),
        (np.zeros((2, 3)), np.array([0, 3]), ValueError, r"targets must lie in \[0, 3\)"),
        (np.zeros((0, 3)), np.zeros(0, int), ValueError, "at least one sample"),
    ],
)
def test_softmax_cross_entropy_bad_input(logits, targets, error, match):
    with pytest.raises(error, match=match):
        nn.softmax_cross_entropy(logits, targets)
