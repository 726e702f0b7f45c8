"""conv_transpose completed: every padding mode (the exact Wᵀ of that convolution) and PyTorch's output_size."""

import itertools

import numpy as np
import pytest
from conftest import BACKENDS, MODES, assert_close

import convmat as cm


def _cases():
    """Transposed-convolution geometries with every padding mode, valid for that mode."""
    rng = np.random.default_rng(46027)
    cases = []
    for n, mode, groups in itertools.product((1, 2, 3), MODES, (1, 2)):
        found = 0
        while found < (3 if n < 3 else 2):
            stride = tuple(int(v) for v in rng.integers(1, 4, n))
            dilation = tuple(int(v) for v in rng.integers(1, 3, n))
            padding = tuple(int(v) for v in rng.integers(0, 3, n))
            output_padding = tuple(int(rng.integers(0, s)) for s in stride)
            kernel = tuple(int(v) for v in rng.integers(1, 4, n))
            spatial = tuple(int(v) for v in rng.integers(1, 5 if n < 3 else 3, n))
            try:
                out = cm.conv_transpose_output_shape(spatial, kernel, stride, padding, output_padding, dilation)
            except ValueError:
                continue
            if mode == "reflect" and any(p >= o for p, o in zip(padding, out, strict=True)):
                continue
            if mode == "circular" and any(p > o for p, o in zip(padding, out, strict=True)):
                continue
            cases.append((mode, groups, spatial, kernel, stride, padding, output_padding, dilation, out))
            found += 1
    return cases


CASES = _cases()
IDS = [f"{c[0]}-{len(c[2])}d-g{c[1]}-{i}" for i, c in enumerate(CASES)]


def _data(case, batch=2):
    _mode, groups, spatial, kernel, *_ = case
    rng = np.random.default_rng(CASES.index(case))
    h = rng.standard_normal((batch, 2 * groups, *spatial))
    w = rng.standard_normal((2 * groups, 3, *kernel))  # (C_in, C_out // groups, *kernel) of the transpose
    return h, w


def _geometry(case):
    mode, groups, _, _, stride, padding, _output_padding, dilation, _ = case
    return {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups, "padding_mode": mode}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_conv_transpose_is_the_transpose_of_the_padded_convolution(case, backend):
    mode, groups, _, _, stride, padding, output_padding, dilation, out = case
    h, w = _data(case)
    c_out = 3 * groups
    # the weight read as a forward kernel (C_out_fwd, C_in_fwd // groups, *kernel) of a convolution
    # from the transposed convolution's output (C_out, *out) back to the shape of h
    W = cm.conv_matrix(w, (c_out, *out), **_geometry(case))
    expected = (W.T @ h.reshape(h.shape[0], -1).T).T.reshape(h.shape[0], c_out, *out)
    got = cm.conv_transpose(h, w, None, stride, padding, output_padding, groups, dilation, mode, backend=backend)
    assert_close(got, expected)
    by_size = cm.conv_transpose(
        h, w, stride=stride, padding=padding, groups=groups, dilation=dilation, padding_mode=mode, output_size=out
    )
    assert_close(by_size, expected)
    # and it is the input gradient of that convolution
    assert_close(cm.conv_input_grad((h.shape[0], c_out, *out), w, h, **_geometry(case), backend=backend), expected)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_adjoint_identity_with_the_padding_mode(case):
    mode, groups, _, _, stride, padding, output_padding, dilation, out = case
    h, w = _data(case)
    x = np.random.default_rng(1).standard_normal((h.shape[0], 3 * groups, *out))
    left = np.vdot(cm.conv(x, w, **_geometry(case)), h)
    right = np.vdot(x, cm.conv_transpose(h, w, None, stride, padding, output_padding, groups, dilation, mode))
    assert abs(left - right) <= 1e-10 * max(1.0, abs(left))


def test_bias_and_unbatched_input_with_a_padding_mode(rng):
    h, w, b = rng.standard_normal((2, 5, 5)), rng.standard_normal((2, 3, 3, 3)), rng.standard_normal(3)
    batched = cm.conv_transpose(h[None], w, b, stride=2, padding=1, output_padding=1, padding_mode="reflect")
    assert batched.shape == (1, 3, 10, 10)
    unbatched = cm.conv_transpose2d(h, w, b, stride=2, padding=1, output_padding=1, padding_mode="reflect")
    assert_close(unbatched, batched[0])
    W = cm.conv_matrix(w, (3, 10, 10), stride=2, padding=1, padding_mode="reflect")
    assert_close(batched[0] - b[:, None, None], (W.T @ h.ravel()).reshape(3, 10, 10))


def test_padding_zero_makes_every_mode_the_same(rng):
    h, w = rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((2, 1, 3, 2))
    zeros = cm.conv_transpose(h, w, stride=(2, 1), dilation=2)
    for mode in MODES:
        assert_close(cm.conv_transpose(h, w, stride=(2, 1), dilation=2, padding_mode=mode), zeros)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("mode", [m for m in MODES if m != "zeros"])
def test_torch_input_gradient_of_pad_then_convolution(n, mode):
    """``F.pad(x, mode)`` followed by an unpadded convolution; its input gradient by autograd is conv_transpose."""
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    conv_nd = (functional.conv1d, functional.conv2d, functional.conv3d)[n - 1]
    for case in [c for c in CASES if c[0] == mode and len(c[2]) == n]:
        _, groups, _, _, stride, padding, output_padding, dilation, out = case
        h, w = _data(case)
        x = torch.zeros((h.shape[0], 3 * groups, *out), dtype=torch.float64, requires_grad=True)
        pads = tuple(q for p in reversed(padding) for q in (p, p))  # last dim first
        padded = functional.pad(x, pads, mode=mode) if any(padding) else x
        y = conv_nd(padded, torch.tensor(w), None, stride, 0, dilation, groups)
        assert tuple(y.shape) == h.shape
        y.backward(torch.tensor(h))
        for backend in BACKENDS:
            got = cm.conv_transpose(
                h, w, None, stride, padding, output_padding, groups, dilation, mode, backend=backend
            )
            assert_close(got, x.grad.numpy())


def test_torch_refuses_what_convmat_defines():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="zeros"):
        torch.nn.ConvTranspose2d(2, 3, 3, padding=1, padding_mode="reflect")
    assert cm.conv_transpose(np.ones((1, 2, 4, 4)), np.ones((2, 3, 3, 3)), padding=1, padding_mode="reflect").shape == (
        1,
        3,
        4,
        4,
    )


def _size_cases():
    rng = np.random.default_rng(7)
    cases = []
    for n, groups in itertools.product((1, 2, 3), (1, 2)):
        for _ in range(3 if n < 3 else 2):
            stride = tuple(int(v) for v in rng.integers(1, 4, n))
            dilation = tuple(int(v) for v in rng.integers(1, 3, n))
            padding = tuple(int(v) for v in rng.integers(0, 2, n))
            kernel = tuple(int(v) for v in rng.integers(2, 4, n))
            spatial = tuple(int(v) for v in rng.integers(2, 5 if n < 3 else 3, n))
            cases.append((n, groups, spatial, kernel, stride, padding, dilation))
    return cases


SIZE_CASES = _size_cases()


@pytest.mark.parametrize("case", SIZE_CASES, ids=[f"{c[0]}d-g{c[1]}-{i}" for i, c in enumerate(SIZE_CASES)])
def test_output_size_matches_torch_module(case):
    torch = pytest.importorskip("torch")
    n, groups, spatial, kernel, stride, padding, dilation = case
    module_type = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)[n - 1]
    module = module_type(2 * groups, 3 * groups, kernel, stride, padding, 0, groups, True, dilation).double()
    rng = np.random.default_rng(SIZE_CASES.index(case))
    w, b = rng.standard_normal(tuple(module.weight.shape)), rng.standard_normal(3 * groups)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(w))
        module.bias.copy_(torch.tensor(b))
    x = rng.standard_normal((2, 2 * groups, *spatial))
    smallest = cm.conv_transpose_output_shape(spatial, kernel, stride, padding, 0, dilation)
    for extra in itertools.product(*(range(s) for s in stride)):
        size = tuple(m + e for m, e in zip(smallest, extra, strict=True))
        with torch.no_grad():
            expected = module(torch.tensor(x), output_size=list(size)).numpy()
            expected_unbatched = module(torch.tensor(x[0]), output_size=[3 * groups, *size]).numpy()
        kwargs = {"stride": stride, "padding": padding, "groups": groups, "dilation": dilation}
        for backend in BACKENDS:
            assert_close(cm.conv_transpose(x, w, b, output_size=size, backend=backend, **kwargs), expected)
        # as the full (N, C, *spatial), whose leading entries are not read (as in PyTorch)
        assert_close(cm.conv_transpose(x, w, b, output_size=(7, 1, *size), **kwargs), expected)
        rank_specific = getattr(cm, f"conv_transpose{n}d")
        assert_close(rank_specific(x[0], w, b, output_size=(3 * groups, *size), **kwargs), expected_unbatched)
        assert_close(rank_specific(x[0], w, b, output_size=size, **kwargs), expected_unbatched)
        # an output_padding that agrees is accepted
        assert_close(cm.conv_transpose(x, w, b, output_padding=extra, output_size=size, **kwargs), expected)


def test_bad_output_size_gives_the_valid_range():
    torch = pytest.importorskip("torch")
    x, w = np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3))
    module = torch.nn.ConvTranspose2d(2, 1, 3, stride=2, padding=1, bias=False)
    for size in ((4, 5), (5, 7), (7, 7)):
        with pytest.raises(ValueError, match=r"from \[5, 5\] to \[6, 6\]"):
            module(torch.ones(1, 2, 3, 3), output_size=list(size))
        with pytest.raises(
            ValueError, match=r"output_size .* out of range: valid sizes range from \(5, 5\) to \(6, 6\)"
        ):
            cm.conv_transpose(x, w, stride=2, padding=1, output_size=size)


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"output_size": (5,)}, r"output_size must have 2 entries \(\*spatial\) or 4"),
        ({"output_size": (1, 5, 5)}, r"output_size must have 2 entries"),
        ({"output_size": (5, -5)}, r"output_size must have non-negative entries"),
        ({"output_size": (6, 6), "output_padding": (0, 1)}, r"output_padding=\(0, 1\) disagrees with output_size"),
        (
            {"output_padding": 1, "stride": 1, "dilation": 2, "padding_mode": "circular"},
            r"output_padding must be smaller than the stride with padding_mode='circular'",
        ),
        ({"padding": 2, "padding_mode": "reflect"}, r"'reflect' needs each pad smaller than the output dim"),
        ({"padding": 2, "padding_mode": "circular"}, r"'circular' needs each pad at most the output dim"),
        ({"padding_mode": "mirror"}, r"padding_mode must be one of"),
    ],
)
def test_conv_transpose_refusals(kwargs, pattern):
    kwargs = {"stride": 2, **kwargs}
    with pytest.raises(ValueError, match=pattern):
        cm.conv_transpose(np.ones((1, 2, 2, 2)), np.ones((2, 1, 3, 3)), **kwargs)


def test_output_size_of_the_wrong_type():
    with pytest.raises(TypeError, match="output_size must be a tuple of ints"):
        cm.conv_transpose(np.ones((1, 2, 2, 2)), np.ones((2, 1, 3, 3)), stride=2, output_size=5)


def test_output_padding_beyond_the_stride_stays_a_zeros_rule():
    # with zeros, output_padding may reach the dilation (PyTorch's rule); the output_size range stops at the stride
    h, w = np.ones((1, 1, 3)), np.ones((1, 1, 2))
    assert cm.conv_transpose(h, w, dilation=3, output_padding=2).shape == (1, 1, 8)
    with pytest.raises(ValueError, match=r"valid sizes range from \(6,\) to \(6,\)"):
        cm.conv_transpose(h, w, dilation=3, output_size=(8,))
