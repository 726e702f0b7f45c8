"""A whole network: its gradients (finite differences, PyTorch), the optimisers, training, and the CLI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_close

import convmat.nn as nn


def _small_net(backend="im2col", dtype=np.float64):
    """Every layer kind, small enough for finite differences."""
    rng = np.random.default_rng(3)
    return nn.Sequential(
        nn.Conv(2, 3, 3, padding=1, backend=backend, rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool(2),
        nn.Conv(3, 4, (2, 2), stride=1, padding="same", padding_mode="reflect", backend=backend, rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.AvgPool(2),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 5, rng=rng, dtype=dtype),
    )


def test_network_gradients_equal_finite_differences(rng):
    report = nn.gradcheck(_small_net(), rng.standard_normal((2, 2, 8, 8)))
    assert report.ok, report
    assert len(report.entries) == 7  # x and three (weight, bias) pairs


def test_network_with_loss_gradient_equals_finite_differences(rng):
    model = _small_net()
    labels = np.array([1, 4])

    def loss_of_input(x):
        value, dlogits = nn.softmax_cross_entropy(model.forward(x), labels)
        return value, lambda v: (model.backward(v * dlogits),)

    report = nn.gradcheck(loss_of_input, rng.standard_normal((2, 2, 8, 8)))
    assert report.ok, report


def _torch_twin(model, torch):
    """The same network in torch.nn (float64), with the same parameters."""
    tnn = torch.nn
    layers = []
    for layer in model:
        if isinstance(layer, nn.Conv):
            c_out, c_in = layer.weight.shape[:2]
            twin = tnn.Conv2d(
                c_in, c_out, layer.kernel_size, stride=layer.stride, padding=layer.padding,
                padding_mode=layer.padding_mode,
            )  # fmt: skip
        elif isinstance(layer, nn.Linear):
            twin = tnn.Linear(layer.weight.shape[1], layer.weight.shape[0])
        elif isinstance(layer, nn.MaxPool):
            twin = tnn.MaxPool2d(layer.kernel_size)
        elif isinstance(layer, nn.AvgPool):
            twin = tnn.AvgPool2d(layer.kernel_size)
        else:
            twin = {nn.ReLU: tnn.ReLU, nn.Flatten: tnn.Flatten}[type(layer)]()
        layers.append(twin)
    net = tnn.Sequential(*layers).double()
    net.load_state_dict({k: torch.from_numpy(v.astype(np.float64)) for k, v in model.params().items()})
    return net


def test_network_gradients_equal_pytorch_autograd(rng):
    torch = pytest.importorskip("torch")
    model = _small_net()
    net = _torch_twin(model, torch)
    x = rng.standard_normal((4, 2, 8, 8))
    labels = np.array([0, 1, 2, 4])
    xt = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(net(xt), torch.from_numpy(labels))
    expected.backward()
    loss, dlogits = nn.softmax_cross_entropy(model(x), labels)
    dx = model.backward(dlogits)
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    assert_close(dx, xt.grad.numpy())
    twin_params = dict(net.named_parameters())
    for name, grad in model.grads().items():
        assert_close(grad, twin_params[name].grad.numpy())


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda m: nn.SGD(m, lr=0.1), lambda p, t: t.optim.SGD(p, lr=0.1)),
        (
            lambda m: nn.SGD(m, lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=True),
            lambda p, t: t.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-3, nesterov=True),
        ),
        (lambda m: nn.SGD(m, lr=0.05, momentum=0.5), lambda p, t: t.optim.SGD(p, lr=0.05, momentum=0.5)),
        (lambda m: nn.Adam(m, lr=0.01), lambda p, t: t.optim.Adam(p, lr=0.01)),
        (
            lambda m: nn.Adam(m, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
            lambda p, t: t.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01),
        ),
    ],
    ids=["sgd", "sgd-nesterov-decay", "sgd-momentum", "adam", "adam-options"],
)
def test_optimisers_follow_pytorch_step_by_step(rng, ours, theirs):
    torch = pytest.importorskip("torch")
    model = _small_net()
    net = _torch_twin(model, torch)
    opt, topt = ours(model), theirs(net.parameters(), torch)
    for _ in range(4):
        x = rng.standard_normal((3, 2, 8, 8))
        labels = rng.integers(0, 5, size=3)
        _, dlogits = nn.softmax_cross_entropy(model(x), labels)
        model.backward(dlogits)
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(labels)).backward()
        topt.step()
    for name, p in net.named_parameters():
        assert_close(model.params()[name], p.detach().numpy())


def test_optimiser_arguments_are_checked():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"lr must lie in \(0, inf\)"):
        nn.SGD(model, lr=0)
    with pytest.raises(ValueError, match=r"momentum must lie in \[0, 1\)"):
        nn.SGD(model, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        nn.SGD(model, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"betas\[1\] must lie in \[0, 1\)"):
        nn.Adam(model, betas=(0.9, 1.5))
    with pytest.raises(TypeError, match="betas must be a pair"):
        nn.Adam(model, betas=0.9)
    with pytest.raises(TypeError, match=r"model must have params\(\) and grads\(\)"):
        nn.Adam([np.zeros(2)])
    with pytest.raises(RuntimeError, match="call backward first"):
        nn.Adam(model).step()


def _random_digits(n=96, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 1, 8, 8)), rng.integers(0, 10, size=n)


def test_backends_train_to_the_same_parameters_float64():
    x, y = _random_digits()
    models = [nn.digits_cnn(channels=(4, 8), backend=b, seed=1, dtype=np.float64) for b in ("im2col", "sparse")]
    for model in models:
        nn.fit(model, x, y, nn.Adam(model, lr=1e-2), epochs=2, batch_size=16, seed=2)
    for name, p in models[0].params().items():
        assert_close(models[1].params()[name], p, rtol=1e-10)
    assert not np.array_equal(
        models[0].params()["0.weight"], nn.digits_cnn(channels=(4, 8), seed=1).params()["0.weight"]
    )


def test_backends_train_to_the_same_parameters_float32():
    x, y = _random_digits()
    models = [nn.digits_cnn(channels=(4, 8), backend=b, seed=1) for b in ("im2col", "sparse")]
    for model in models:
        nn.fit(model, x.astype(np.float32), y, nn.SGD(model, lr=0.05, momentum=0.9), epochs=1, batch_size=16, seed=2)
    for name, p in models[0].params().items():
        assert p.dtype == np.float32
        assert_close(models[1].params()[name], p, rtol=1e-5)


def test_training_is_deterministic_given_the_seed():
    x, y = _random_digits(48)
    runs = []
    for _ in range(2):
        model = nn.digits_cnn(channels=(4, 8), seed=7)
        history = nn.fit(model, x, y, nn.Adam(model), epochs=2, batch_size=8, seed=3)
        runs.append((model.params(), history.loss))
    assert runs[0][1] == runs[1][1]
    for name, p in runs[0][0].items():
        assert np.array_equal(runs[1][0][name], p)


def test_a_short_run_on_the_digits_lowers_the_loss():
    pytest.importorskip("sklearn")
    digits = nn.load_digits()
    model = nn.digits_cnn(channels=(8, 16), seed=0)
    x, y = digits.x_train[:256], digits.y_train[:256]
    before, _ = nn.softmax_cross_entropy(model(x), y)
    history = nn.fit(model, x, y, nn.Adam(model, lr=1e-2), epochs=5, batch_size=32)
    after, _ = nn.softmax_cross_entropy(model(x), y)
    assert after < 0.25 * before
    assert history.loss[-1] < history.loss[0]
    assert nn.evaluate(model, digits.x_test, digits.y_test) > 0.5  # 10 classes: chance is 0.1


def test_progress_bar_lines():
    import io

    x, y = _random_digits(20)
    model = nn.digits_cnn(channels=(2, 2))
    stream = io.StringIO()
    history = nn.fit(model, x, y, nn.SGD(model, lr=0.01), epochs=2, batch_size=8, progress=stream)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2  # not a terminal: one line per epoch, no carriage returns
    assert lines[1].startswith("epoch 2/2 [" + "#" * 30 + "] loss ")
    assert f"loss {history.loss[1]:.4f}" in lines[1]


def test_progress_bar_fills_in_place_on_a_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    x, y = _random_digits(20)
    model = nn.digits_cnn(channels=(2, 2))
    stream = Terminal()
    nn.fit(model, x, y, nn.SGD(model, lr=0.01), epochs=1, batch_size=8, progress=stream)
    updates = stream.getvalue().split("\r")[1:]
    assert len(updates) == 3 + 1  # one per batch (8, 8, 4), then the final line with the time
    assert updates[0].startswith("epoch 1/1 [" + "#" * 12 + "." * 18 + "]")
    assert updates[-1].endswith(" s\n")


def test_fit_and_evaluate_check_their_data():
    model = nn.Linear(2, 2)
    with pytest.raises(ValueError, match=r"x has shape \(3, 2\) but y has 2 labels"):
        nn.fit(model, np.ones((3, 2)), np.zeros(2, int), nn.SGD(model, lr=0.1))
    with pytest.raises(ValueError, match="y must be a 1-d array of integer labels"):
        nn.evaluate(model, np.ones((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="epochs must be positive"):
        nn.fit(model, np.ones((3, 2)), np.zeros(3, int), nn.SGD(model, lr=0.1), epochs=0)


def test_stratified_split_keeps_class_shares():
    labels = np.repeat(np.arange(3), [10, 20, 30])
    train, test = nn.stratified_split(labels, 0.2, seed=4)
    assert np.bincount(labels[test]).tolist() == [2, 4, 6]
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(60))
    assert np.array_equal(nn.stratified_split(labels, 0.2, seed=4)[1], test)
    with pytest.raises(ValueError, match=r"test_fraction must lie in \(0, 1\)"):
        nn.stratified_split(labels, 1.0)


# --- the command line ------------------------------------------------------------------------


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "convmat", "train", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_cli_train_quick_run_saves_parameters_and_figures(tmp_path):
    pytest.importorskip("sklearn")
    with_figures = importlib.util.find_spec("matplotlib") is not None
    figures = tmp_path / "figs"
    args = ["--epochs", "1", "--limit", "200", "--backend", "sparse", "--save", str(tmp_path / "p")]
    result = _cli(*args, *(["--figures", str(figures)] if with_figures else []))
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert out[0].startswith("digits 8x8, adam lr 0.01, batch 32, 1 epoch, backend sparse, float32, seed 0")
    assert out[1].startswith("held-out accuracy: ")
    assert "trained on 200 in" in out[1]
    assert result.stderr.startswith("epoch 1/1 [" + "#" * 30 + "] loss ")
    params = np.load(tmp_path / "p.npz")
    assert sorted(params) == ["0.bias", "0.weight", "3.bias", "3.weight", "7.bias", "7.weight"]
    model = nn.digits_cnn()
    model.load_params(params)
    for name in ("deconvnet.png", "saliency.png") if with_figures else ():
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--epochs", "0"), "argument --epochs: expected a positive integer, got '0'"),
        (("--lr", "-1"), "argument --lr: expected a positive number"),
        (("--optimizer", "rmsprop"), "argument --optimizer: invalid choice"),
        (("--backend", "winograd"), "argument --backend: invalid choice"),
        (("--save", "/no/such/dir/p.npz"), "--save /no/such/dir/p.npz: the directory '/no/such/dir' does not exist"),
    ],
)
def test_cli_train_bad_arguments_one_line_exit_2(args, message):
    result = _cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 or result.stderr.startswith("usage:"), result.stderr
    assert message in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("missing", "figures", "extra"),
    [("sklearn", False, "train"), ("matplotlib", True, "plot")],
)
def test_cli_train_without_an_optional_dependency_names_the_extra(tmp_path, missing, figures, extra):
    args = ["--figures", str(tmp_path / "figs")] if figures else []
    code = (
        f"import sys; sys.modules[{missing!r}] = None; from convmat.__main__ import main; "
        f"sys.exit(main(['train', *{args!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "held-out accuracy" not in result.stdout  # it fails before training
    last = result.stderr.splitlines()[-1]
    assert last.startswith("python -m convmat train: error: ")
    assert f'pip install "convmat[{extra}]"' in last
    assert "Traceback" not in result.stderr
