"""Inspection: symbolic W, aligned text, pictures."""

import numpy as np
import pytest
import scipy.sparse as sp
from reference import conv_matrix_reference

import convmat as cm
from convmat.symbolic import kernel_labels


@pytest.mark.parametrize(
    ("spatial", "kernel", "kwargs"),
    [
        ((4, 4), (3, 3), {}),
        ((5, 6), (2, 3), {"stride": (2, 1), "padding": 1, "dilation": (1, 2)}),
        ((7,), (3,), {"padding": "same", "dilation": 2}),
        ((3, 3, 4), (2, 2, 2), {"stride": 2, "padding": (1, 0, 1)}),
    ],
)
def test_symbolic_matrix_matches_numeric_w(spatial, kernel, kwargs):
    symbols = cm.symbolic_conv_matrix(spatial, kernel, **kwargs)
    values = np.arange(1.0, 1 + np.prod(kernel)).reshape(1, 1, *kernel)
    value_of = dict(zip(kernel_labels(kernel), values.ravel(), strict=True))
    numeric = np.vectorize(lambda s: value_of.get(s, 0.0))(symbols)
    np.testing.assert_array_equal(numeric, conv_matrix_reference(values, (1, *spatial), **kwargs))


@pytest.mark.parametrize("mode", ["circular", "reflect", "replicate"])
def test_symbolic_matrix_folds_padding_modes(mode):
    symbols = cm.symbolic_conv_matrix((4, 2), (3, 3), padding=1, padding_mode=mode)
    values = np.array([1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]).reshape(1, 1, 3, 3)
    value_of = dict(zip(kernel_labels((3, 3)), values.ravel(), strict=True))
    numeric = np.vectorize(lambda s: sum(value_of.get(t, 0.0) for t in s.split("+")))(symbols)
    np.testing.assert_array_equal(numeric, conv_matrix_reference(values, (1, 4, 2), padding=1, padding_mode=mode))
    assert any("+" in s for s in symbols.ravel())


def test_kernel_labels():
    assert kernel_labels((3,)).tolist() == ["k1", "k2", "k3"]
    assert kernel_labels((1, 1, 2)).tolist() == ["k111", "k112"]
    assert kernel_labels((10, 1))[-1] == "k10,1"


def test_symbolic_matrix_rejects_huge_and_bad_geometry():
    with pytest.raises(ValueError, match="small"):
        cm.symbolic_conv_matrix((64, 64), 3)
    with pytest.raises(ValueError, match="kernel"):
        cm.symbolic_conv_matrix((2, 2), 3)


def test_format_matrix_dense_sparse_symbolic():
    assert cm.format_matrix(np.array([[1.0, 0.0], [0.5, -2.0]])) == "  1  0\n0.5 -2"
    assert cm.format_matrix(sp.csr_array(np.eye(2))) == "1 0\n0 1"
    assert cm.format_matrix(cm.symbolic_conv_matrix((3,), 2)) == "k1 k2  0\n 0 k1 k2"
    assert cm.format_matrix(np.array([1, 2, 3])) == "1 2 3"
    assert cm.format_matrix(np.array([[True, False]])) == "1 0"
    assert cm.format_matrix(np.array([[1 + 2j]])) == "1+2j"


def test_format_matrix_elides_large_matrices():
    matrix = cm.conv_matrix(np.ones((1, 1, 3, 3)), (1, 30, 30))
    text = cm.format_matrix(matrix, max_rows=6, max_cols=8)
    lines = text.splitlines()
    assert len(lines) == 7
    assert all(line.split()[4] == "…" for line in lines)
    assert set(lines[3].split()) == {"…"}
    assert len(cm.format_matrix(matrix, max_rows=None, max_cols=None).splitlines()) == 784


def test_format_matrix_rejects_3d():
    with pytest.raises(ValueError, match="M"):
        cm.format_matrix(np.zeros((2, 2, 2)))


@pytest.fixture
def pyplot():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def test_plot_symbolic_colours_each_tap(pyplot):
    from convmat.plot import plot_matrix

    ax = plot_matrix(cm.symbolic_conv_matrix((4, 4), 3), title="W")
    assert ax.get_title() == "W"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == kernel_labels((3, 3)).tolist()
    assert len(ax.texts) == 36  # every non-zero entry annotated with its label
    image = ax.get_images()[0].get_array()
    assert image.shape == (4, 16)
    assert len(np.unique(image)) == 10  # nine taps + white zeros


def test_plot_numeric_dense_sparse_and_huge(pyplot, tmp_path):
    from convmat.plot import plot_matrix

    matrix = cm.conv_matrix(np.random.default_rng(0).standard_normal((2, 2, 3, 3)), (2, 6, 6), padding=1)
    ax = plot_matrix(matrix)
    assert ax.get_images()[0].get_array().mask.sum() == matrix.shape[0] * matrix.shape[1] - matrix.nnz
    ax.figure.savefig(tmp_path / "w.png")
    assert (tmp_path / "w.png").stat().st_size > 0
    big = cm.conv_matrix(np.ones((1, 1, 3, 3)), (1, 2100, 2100))
    assert plot_matrix(big).get_images() == []  # drawn as a sparsity pattern


def test_plot_rejects_non_matrix(pyplot):
    from convmat.plot import plot_matrix

    with pytest.raises(ValueError, match="M"):
        plot_matrix(np.zeros((2, 2, 2)))
