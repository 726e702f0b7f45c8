"""``convmat.plot.plot_matrix``: labels in the cells only when they fit, channel blocks marked."""

import numpy as np
import pytest

import convmat as cm

pytest.importorskip("matplotlib")


@pytest.fixture
def plot_matrix():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from convmat.plot import plot_matrix

    yield plot_matrix
    plt.close("all")


def legend_labels(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_short_labels_are_written_in_their_cells(plot_matrix):
    matrix = cm.symbolic_conv_matrix((4,), 3, padding=1, padding_mode="reflect")  # labels up to k1+k3
    ax = plot_matrix(matrix)
    assert sorted(t.get_text() for t in ax.texts) == sorted(s for s in matrix.ravel() if s != "0")
    assert legend_labels(ax) == ["k1", "k2", "k3", "k1+k3"]


def test_folded_labels_that_do_not_fit_are_listed_beside_the_matrix(plot_matrix):
    matrix = cm.symbolic_conv_matrix((5, 5), 3, padding=1, padding_mode="reflect")
    ax = plot_matrix(matrix)
    assert len(ax.texts) == 0  # k11+k13+k31+k33 would overlap its neighbours
    labels = legend_labels(ax)
    assert sorted(labels) == sorted(set(matrix.ravel()) - {"0"})
    assert "k11+k13+k31+k33" in labels
    assert len(plot_matrix(matrix, annotate=True).texts) == np.count_nonzero(matrix != "0")


def test_many_labels_are_listed_in_columns(plot_matrix, tmp_path):
    matrix = cm.symbolic_conv_matrix((7, 7), 5, padding=2, padding_mode="reflect")
    ax = plot_matrix(matrix)
    assert len(legend_labels(ax)) == len(set(matrix.ravel()) - {"0"}) > 27
    ax.figure.savefig(tmp_path / "w.png")


def test_channel_blocks_are_marked_and_labelled(plot_matrix):
    weight = np.arange(1.0, 1 + 3 * 2 * 4).reshape(3, 2, 2, 2)
    matrix = cm.conv_matrix(weight, (2, 3, 3))  # rows (co, 4 positions), columns (ci, 9 positions)
    ax = plot_matrix(matrix, channels=(3, 2))
    horizontal = sorted(line.get_ydata()[0] for line in ax.get_lines() if line.get_ydata()[0] == line.get_ydata()[1])
    vertical = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_xdata()[0] == line.get_xdata()[1])
    assert horizontal == [3.5, 7.5]
    assert vertical == [8.5]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["co=0", "co=1", "co=2"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ci=0", "ci=1"]
    assert list(ax.get_xticks()) == [4.0, 13.0]
    assert list(ax.get_yticks()) == [1.5, 5.5, 9.5]


def test_many_channels_label_some_blocks(plot_matrix):
    matrix = cm.conv_matrix(np.ones((40, 1, 1)), (1, 3))  # 40 output channels of 3 positions each
    ax = plot_matrix(matrix, channels=(40, 1))
    assert len(ax.get_lines()) == 39
    assert [t.get_text() for t in ax.get_yticklabels()][:3] == ["co=0", "co=3", "co=6"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ci=0"]


def test_one_channel_is_a_plain_picture(plot_matrix):
    matrix = cm.conv_matrix(np.ones((1, 1, 3, 3)), (1, 5, 5))
    ax = plot_matrix(matrix, channels=(1, 1))
    assert ax.get_lines() == []
    assert ax.get_xlabel() == "input index (0 … 24)"


@pytest.mark.parametrize("channels", [(2, 2), (4, 1), (0, 1), (1.5, 1), (2,), "ab"])
def test_channels_must_divide_the_matrix(plot_matrix, channels):
    matrix = cm.conv_matrix(np.ones((2, 1, 3, 3)), (1, 5, 5))  # 18 x 25
    with pytest.raises(ValueError, match="channels"):
        plot_matrix(matrix, channels=channels)
