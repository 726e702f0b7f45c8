"""conv_transpose: PyTorch's transposed convolution, computed as Wᵀ of the matching forward geometry."""

import itertools

import numpy as np
import pytest
from conftest import BACKENDS, assert_close

import convmat as cm


def conv_transpose_reference(x, w, bias, stride, padding, output_padding, groups, dilation):
    """Scatter form straight from the definition: ``y[co, i*s - p + k*d] += x[ci, i] * w[ci, co_local, k]``."""
    n = w.ndim - 2
    s, p, op, d = (
        tuple([v] * n) if isinstance(v, int) else tuple(v) for v in (stride, padding, output_padding, dilation)
    )
    batch, c_in = x.shape[:2]
    cout_g, kernel = w.shape[1], w.shape[2:]
    out = tuple(
        (i - 1) * s_ - 2 * p_ + d_ * (k - 1) + o_ + 1
        for i, s_, p_, d_, k, o_ in zip(x.shape[2:], s, p, d, kernel, op, strict=True)
    )
    y = np.zeros((batch, cout_g * groups, *out), dtype=np.result_type(x, w, np.float64))
    cin_g = c_in // groups
    for b, ci in itertools.product(range(batch), range(c_in)):
        g = ci // cin_g
        for i in itertools.product(*(range(m) for m in x.shape[2:])):
            for k in itertools.product(*(range(m) for m in kernel)):
                pos = tuple(i_ * s_ - p_ + k_ * d_ for i_, s_, p_, k_, d_ in zip(i, s, p, k, d, strict=True))
                if all(0 <= q < m for q, m in zip(pos, out, strict=True)):
                    for co in range(cout_g):
                        y[(b, g * cout_g + co, *pos)] += x[(b, ci, *i)] * w[(ci, co, *k)]
    if bias is not None:
        y += bias.reshape((-1,) + (1,) * n)
    return y


def _cases():
    rng = np.random.default_rng(11)
    cases = []
    for n, groups in itertools.product((1, 2, 3), (1, 2)):
        for _ in range(6 if n < 3 else 3):
            stride = tuple(int(v) for v in rng.integers(1, 4, n))
            dilation = tuple(int(v) for v in rng.integers(1, 3, n))
            padding = tuple(int(v) for v in rng.integers(0, 3, n))
            output_padding = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True))
            kernel = tuple(int(v) for v in rng.integers(1, 4, n))
            spatial = tuple(int(v) for v in rng.integers(1, 5 if n < 3 else 3, n) + 1)
            try:
                cm.conv_transpose_output_shape(spatial, kernel, stride, padding, output_padding, dilation)
            except ValueError:
                continue
            cases.append((n, groups, spatial, kernel, stride, padding, output_padding, dilation))
    return cases


CASES = _cases()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}d-{i}" for i, c in enumerate(CASES)])
def test_conv_transpose_matches_reference(case, backend):
    _n, groups, spatial, kernel, stride, padding, output_padding, dilation = case
    rng = np.random.default_rng(CASES.index(case))
    x = rng.standard_normal((2, 2 * groups, *spatial))
    w = rng.standard_normal((2 * groups, 3, *kernel))
    b = rng.standard_normal(3 * groups)
    got = cm.conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, backend=backend)
    expected = conv_transpose_reference(x, w, b, stride, padding, output_padding, groups, dilation)
    assert got.shape == (
        2,
        3 * groups,
        *cm.conv_transpose_output_shape(spatial, kernel, stride, padding, output_padding, dilation),
    )
    assert_close(got, expected)


def test_conv_transpose_is_w_transpose_of_the_forward_conv(rng):
    w = rng.standard_normal((4, 3, 3, 3))
    h = rng.standard_normal((2, 4, 4, 4))
    for size, output_padding in ((7, 0), (8, 1)):
        matrix = cm.conv_matrix(w, (3, size, size), stride=2, padding=1)
        y = cm.conv_transpose(h, w, stride=2, padding=1, output_padding=output_padding)
        assert_close(y, (matrix.T @ h.reshape(2, -1).T).T.reshape(2, 3, size, size))
        assert cm.conv(y, w, stride=2, padding=1).shape == h.shape  # shape inverted ...
    assert not np.allclose(
        cm.conv(cm.conv_transpose(h, w, stride=2, padding=1), w, stride=2, padding=1), h
    )  # ... not values


def test_conv_transpose_dtypes_and_degenerate_output(rng):
    x32 = rng.standard_normal((1, 2, 3)).astype(np.float32)
    w32 = rng.standard_normal((2, 1, 2)).astype(np.float32)
    assert cm.conv_transpose(x32, w32).dtype == np.float32
    assert cm.conv_transpose(np.ones((1, 1, 2), dtype=int), np.ones((1, 1, 2), dtype=int)).dtype == np.float64
    # padding swallows every position the input reaches: only output_padding positions remain (zeros + bias)
    y = cm.conv_transpose(
        np.ones((1, 1, 1)), np.ones((1, 1, 1)), np.array([0.5]), stride=3, padding=1, output_padding=2
    )
    assert y.shape == (1, 1, 1)
    assert y.tolist() == [[[0.5]]]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"stride": 2, "output_padding": 2}, "output_padding"),
        ({"stride": 1, "output_padding": 1}, "output_padding"),
        ({"stride": 0}, "stride"),
        ({"padding": -1}, "padding"),
        ({"groups": 3}, "groups"),
        ({"bias": np.ones(5)}, "bias"),
        ({"backend": "dense"}, "backend"),
    ],
)
def test_conv_transpose_bad_input(kwargs, name):
    with pytest.raises(ValueError, match=name):
        cm.conv_transpose(np.ones((1, 2, 4, 4)), np.ones((2, 3, 3, 3)), **kwargs)


def test_conv_transpose_channel_and_rank_errors():
    with pytest.raises(ValueError, match="channels"):
        cm.conv_transpose(np.ones((1, 3, 4, 4)), np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="x"):
        cm.conv_transpose(np.ones((1, 2, 4)), np.ones((2, 3, 3, 3)))
    with pytest.raises(ValueError, match="conv_transpose2d"):
        cm.conv_transpose2d(np.ones((1, 2, 4)), np.ones((2, 3, 3)))
    assert cm.conv_transpose1d(np.ones((1, 2, 4)), np.ones((2, 3, 3))).shape == (1, 3, 6)
    assert cm.conv_transpose3d(np.ones((1, 1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2))).shape == (1, 1, 3, 3, 3)


def test_conv_transpose_torch_parity():
    torch = pytest.importorskip("torch")
    functional = torch.nn.functional
    for n, groups, spatial, kernel, stride, padding, output_padding, dilation in CASES:
        rng = np.random.default_rng(n * 100 + groups)
        x = rng.standard_normal((2, 2 * groups, *spatial))
        w = rng.standard_normal((2 * groups, 3, *kernel))
        b = rng.standard_normal(3 * groups)
        fn = (functional.conv_transpose1d, functional.conv_transpose2d, functional.conv_transpose3d)[n - 1]
        expected = fn(
            torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, padding, output_padding, groups, dilation
        )
        for backend in BACKENDS:
            got = cm.conv_transpose(x, w, b, stride, padding, output_padding, groups, dilation, backend=backend)
            assert_close(got, expected.numpy())
