"""Sphinx configuration of the convmat documentation.

Build from the repository root (offline, warnings are errors):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Every figure is drawn at build time by convmat itself (matplotlib's plot
directive runs the code shown beside it), and every ``pycon`` example on a page
is run and its printed output compared (``_ext/convmat_doccheck.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
# Document the checkout these pages live in, whatever the working directory.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))

import convmat  # noqa: E402

project = "convmat"
author = "convmat developers"
copyright = "convmat developers, BSD-3-Clause"
release = version = convmat.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "convmat_doccheck",
    "convmat_sizes",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
# No intersphinx: the build must work offline.

# --- MyST (Markdown) ----------------------------------------------------------
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# --- autodoc / autosummary / numpydoc ------------------------------------------
autosummary_generate = False  # summary tables only; the entries are written out on the API pages
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# --- figures: matplotlib's plot directive runs convmat code --------------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_pre_code = """
import numpy as np
import matplotlib.pyplot as plt
import convmat as cm
from convmat.plot import plot_matrix
"""
plot_rcparams = {"figure.dpi": 110, "font.size": 9}
plot_apply_rcparams = True

# --- HTML ---------------------------------------------------------------------
html_theme = "alabaster"
html_title = f"convmat {release}"
html_theme_options = {
    "description": "The linear algebra of convolutional networks, explicit.",
    "fixed_sidebar": True,
    "page_width": "1240px",
    "body_max_width": "none",
    "sidebar_width": "230px",
}
html_show_sourcelink = False


# --- docstring types: ``shape (N, C, *spatial)`` is Python's star, not emphasis --
# numpydoc hands the type part of "name : type" lines to reST, where a bare ``*``
# opens emphasis ("Inline emphasis start-string without end-string"). convmat's
# docstrings write shapes as in Python (``(N, C_in, *spatial)``), which reads right
# in ``help()``; here, before numpydoc runs, the stars in type lines of the typed
# sections are escaped so that they render as written. Nothing else is touched.
import re  # noqa: E402

_TYPED_SECTIONS = {"Parameters", "Other Parameters", "Returns", "Yields", "Receives", "Raises", "Warns", "Attributes"}
_RULE = re.compile(r"-{3,}")
_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def _escape_stars(text: str) -> str:
    parts = _LITERAL.split(text)
    return "".join(p if i % 2 else re.sub(r"(?<!\\)\*", r"\\*", p) for i, p in enumerate(parts))


def _escape_stars_in_types(app, what, name, obj, options, lines):
    section = None
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and line.strip() and _RULE.fullmatch(lines[i + 1].strip()):
            section = line.strip()
        elif section in _TYPED_SECTIONS and line and not line[0].isspace() and not _RULE.fullmatch(line):
            head, sep, spec = line.partition(" : ")
            lines[i] = head + sep + _escape_stars(spec) if sep else _escape_stars(line)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_stars_in_types, priority=400)  # before numpydoc (500)
