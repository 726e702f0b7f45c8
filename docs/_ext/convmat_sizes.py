"""The table of real layers on the "How big is W?" page, computed by convmat when the docs build.

The directive ``convmat-layer-sizes`` writes one row per layer of ResNet-18 (on a
224×224 image) and of a 3-D U-Net encoder (on a 128³ volume): the shape of
``W``, its stored entries, its size in float32, and whether the default matrix
limit lets :func:`convmat.conv_matrix` build it. Every number comes from
:func:`convmat.conv_matrix_size`, so the table cannot drift from the code.
"""

from __future__ import annotations

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

import convmat

#: (network, layer, C_in, C_out, kernel, stride, padding, input spatial)
LAYERS = [
    ("ResNet-18", "conv1", 3, 64, 7, 2, 3, (224, 224)),
    ("ResNet-18", "layer1 conv", 64, 64, 3, 1, 1, (56, 56)),
    ("ResNet-18", "layer2 first conv", 64, 128, 3, 2, 1, (56, 56)),
    ("ResNet-18", "layer2 shortcut", 64, 128, 1, 2, 0, (56, 56)),
    ("ResNet-18", "layer2 conv", 128, 128, 3, 1, 1, (28, 28)),
    ("ResNet-18", "layer3 first conv", 128, 256, 3, 2, 1, (28, 28)),
    ("ResNet-18", "layer3 conv", 256, 256, 3, 1, 1, (14, 14)),
    ("ResNet-18", "layer4 first conv", 256, 512, 3, 2, 1, (14, 14)),
    ("ResNet-18", "layer4 conv", 512, 512, 3, 1, 1, (7, 7)),
    ("3-D U-Net", "level 1, first conv", 1, 32, 3, 1, 1, (128, 128, 128)),
    ("3-D U-Net", "level 1, second conv", 32, 64, 3, 1, 1, (128, 128, 128)),
    ("3-D U-Net", "level 2 conv", 64, 128, 3, 1, 1, (64, 64, 64)),
    ("3-D U-Net", "level 3 conv", 128, 256, 3, 1, 1, (32, 32, 32)),
    ("3-D U-Net", "level 4 conv", 256, 512, 3, 1, 1, (16, 16, 16)),
]


def _count(n: int) -> str:
    for bound, suffix in ((10**9, " G"), (10**6, " M"), (10**3, " k")):
        if n >= bound:
            return f"{n / bound:.3g}{suffix}"
    return str(n)


def layer_rows() -> list[list[str]]:
    """The table's rows, as text."""
    limit = convmat.get_matrix_limit()
    rows = []
    for network, name, c_in, c_out, kernel, stride, padding, spatial in LAYERS:
        kernel_shape = (kernel,) * len(spatial)
        size = convmat.conv_matrix_size(
            (c_out, c_in, *kernel_shape), (c_in, *spatial), stride=stride, padding=padding, dtype="float32"
        )
        geometry = f"{c_in}→{c_out}, {'×'.join(map(str, kernel_shape))}" + (f", stride {stride}" if stride > 1 else "")
        rows.append(
            [
                network,
                name,
                geometry,
                "×".join(map(str, spatial)),
                f"{size.shape[0]:,} × {size.shape[1]:,}",
                _count(size.nnz),
                f"{size.gib:.2f}",
                "yes" if size.nbytes <= limit else "no",
            ]
        )
    return rows


HEADER = ["network", "layer", "channels, kernel", "input", "W shape", "nnz", "GiB (float32)", "default limit"]


def _row(cells: list[str], cell_type: type[nodes.Element] = nodes.entry) -> nodes.row:
    row = nodes.row()
    for text in cells:
        entry = cell_type()
        entry += nodes.paragraph(text=text)
        row += entry
    return row


class LayerSizes(SphinxDirective):
    """``convmat-layer-sizes``: the table of real layers' ``W``, as docutils nodes (any source parser)."""

    def run(self) -> list[nodes.Node]:
        group = nodes.tgroup(cols=len(HEADER))
        for _ in HEADER:
            group += nodes.colspec(colwidth=1)
        head = nodes.thead()
        head += _row(HEADER)
        body = nodes.tbody()
        for cells in layer_rows():
            body += _row(cells)
        group += head
        group += body
        table = nodes.table(classes=["convmat-layer-sizes"])
        table += group
        return [table]


def setup(app):
    app.add_directive("convmat-layer-sizes", LayerSizes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
