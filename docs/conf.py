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
    "sphinx-mathjax-offline",  # ships MathJax 3 in _static/mathjax (the module's name has dashes)
    "sphinx_copybutton",
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

# --- HTML: pydata-sphinx-theme, nothing fetched when a page is viewed --------
html_theme = "pydata_sphinx_theme"
html_title = f"convmat {release}"
html_static_path = ["_static"]
html_css_files = ["convmat.css"]
html_theme_options = {
    "logo": {"text": "convmat"},
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "primary_sidebar_end": [],
    "navbar_end": ["theme-switcher"],
    # No icon links, analytics, announcement, version switcher or links out of the site.
    "footer_start": ["copyright"],
    "footer_end": [],
    "icon_links": [],
    "use_edit_page_button": False,
    "show_version_warning_banner": False,
}
html_show_sourcelink = False

# --- mathematics: MathJax 3 from the built site, SVG output -----------------------
# sphinx-mathjax-offline copies MathJax into _static/mathjax; its SVG output draws
# the glyphs as paths, so no font file is loaded (the CHTML output would load woff
# fonts, which browsers may refuse for pages opened from the file system).
# ``mathjax_path`` is set again in ``setup`` below, after the extension set it to
# its CHTML build.
MATHJAX_PATH = "mathjax/tex-svg.js"
mathjax_path = MATHJAX_PATH
mathjax3_config = {"svg": {"fontCache": "global"}}

# --- copy buttons: copy the code of ``pycon`` and the commands of ``console`` -----
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True


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


def _svg_mathjax(app, config):
    config.mathjax_path = MATHJAX_PATH


def _no_empty_section_nav(app, pagename, templatename, context, doctree):
    """Drop the primary sidebar of a page whose section has no subpages (its "Section
    Navigation" would be empty), so that the text and the code get the width."""
    includes = app.env.toctree_includes
    parents = {child: parent for parent, children in includes.items() for child in children}
    section = pagename
    for _ in range(len(parents)):  # up to the top-level page of this section
        if parents.get(section, root_doc) == root_doc:
            break
        section = parents[section]
    if section == root_doc or not includes.get(section):
        context["sidebars"] = []


def setup(app):
    app.connect("autodoc-process-docstring", _escape_stars_in_types, priority=400)  # before numpydoc (500)
    app.connect("config-inited", _svg_mathjax)
    app.connect("html-page-context", _no_empty_section_nav)
