"""The documentation: complete API reference, examples that run, figures from convmat, a -W build.

The build itself (``python -m sphinx -W --keep-going -b html docs …``) runs only
where Sphinx, MyST, numpydoc and matplotlib are installed (the ``docs`` extra);
the other checks need only convmat.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
API = DOCS / "api"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.parts)
THEORY = sorted((DOCS / "theory").glob("*.md"))
#: Modules and pages that need an optional package: documented and run only where it is installed.
OPTIONAL_MODULES = {"convmat.dask": "dask"}
OPTIONAL_PAGES = {"scaling.md": "dask"}
DOCUMENTED_MODULES = (
    "convmat",
    "convmat.identities",
    "convmat.plot",
    *(module for module, package in OPTIONAL_MODULES.items() if importlib.util.find_spec(package) is not None),
)

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="no docs/ next to the tests (not a checkout)")


def _doccheck():
    """The example checker the Sphinx build uses (docs/_ext/convmat_doccheck.py)."""
    spec = importlib.util.spec_from_file_location("convmat_doccheck", DOCS / "_ext" / "convmat_doccheck.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented_objects() -> set[str]:
    """Fully qualified names of the ``autofunction``/``autoclass``/``autoexception`` entries of the API pages."""
    names = set()
    directive = re.compile(
        r"^\s*\.\. (currentmodule|module|automodule|autofunction|autoclass|autoexception)::\s*(\S+)", re.MULTILINE
    )
    for page in sorted(API.glob("*.md")):
        current = None
        for kind, target in directive.findall(page.read_text(encoding="utf-8")):
            if not kind.startswith("auto") or kind == "automodule":
                current = target
            elif target.startswith("convmat."):
                names.add(target)
            else:
                assert current is not None, f"{page.name}: autofunction {target} before any module is set"
                names.add(f"{current}.{target}")
    return names


def _public_names() -> list[str]:
    return [f"{m}.{n}" for m in DOCUMENTED_MODULES for n in importlib.import_module(m).__all__]


@pytest.mark.parametrize("name", _public_names())
def test_api_reference_documents_every_public_name(name):
    assert name in _documented_objects(), f"{name} is public but has no autofunction entry under docs/api/"


def test_api_reference_documents_only_real_objects():
    for qualified in sorted(_documented_objects()):
        module, _, attr = qualified.rpartition(".")
        if module in OPTIONAL_MODULES and importlib.util.find_spec(OPTIONAL_MODULES[module]) is None:
            continue
        assert hasattr(importlib.import_module(module), attr), f"docs/api documents {qualified}, which does not exist"


@pytest.mark.parametrize("page", [p for p in PAGES if "pycon" in p.read_text(encoding="utf-8")], ids=str)
def test_page_examples_run(page):
    """Every ``pycon`` example and ``$ python -m convmat …`` command prints what the page says."""
    if page.name in OPTIONAL_PAGES:
        pytest.importorskip(OPTIONAL_PAGES[page.name])
    failures = _doccheck().check_file(page)
    assert not failures, "\n".join(f"{page.relative_to(ROOT)}:{line}\n{report}" for line, report in failures)


def test_cli_examples_are_checked():
    checker = _doccheck()
    commands = [c for p in PAGES for c in checker.cli_examples(p.read_text(encoding="utf-8"))]
    assert any(args.startswith("show") for _, args, _ in commands)
    assert any(args.startswith("demo") for _, args, _ in commands)


@pytest.mark.parametrize("page", THEORY, ids=lambda p: p.stem)
def test_theory_page_has_formula_call_picture_and_check(page):
    if page.stem == "index":
        return
    text = page.read_text(encoding="utf-8")
    assert "$$" in text, "no displayed formula"
    assert re.search(r"\{func\}`convmat\.", text), "no link to the convmat call"
    assert ".. plot::" in text, "no figure generated from convmat"
    assert "```pycon" in text, "no executed check"


def test_every_figure_has_its_own_file():
    """Without a distinct ``:filename-prefix:`` the plot directive reuses one file name per
    ``{eval-rst}`` block, and the figures of a page silently overwrite each other."""
    plots, prefixes = 0, []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        plots += len(re.findall(r"^\s*\.\. plot::", text, flags=re.MULTILINE))
        prefixes += re.findall(r"^\s*:filename-prefix:\s*(\S+)", text, flags=re.MULTILINE)
    assert plots > 0
    assert len(prefixes) == plots, "every .. plot:: needs a :filename-prefix:"
    assert len(set(prefixes)) == len(prefixes), "duplicate :filename-prefix:"


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    """The documented build command, warnings as errors, into a temporary directory: (output, process)."""
    for module in ("sphinx", "myst_parser", "numpydoc", "matplotlib", "pydata_sphinx_theme", "sphinx_copybutton"):
        pytest.importorskip(module)
    pytest.importorskip("sphinx-mathjax-offline")  # the module's name has dashes
    out = tmp_path_factory.mktemp("docs") / "html"
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)]
    return out, subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)


def test_docs_build_without_warnings(built_docs):
    """The build succeeds, with every page, every figure and the rendered API reference."""
    out, result = built_docs
    assert result.returncode == 0, f"sphinx -W failed:\n{result.stdout}\n{result.stderr}"
    for page in PAGES:
        html = out / page.relative_to(DOCS).with_suffix(".html")
        assert html.is_file(), f"{html} was not built"
    images = {p.name for p in (out / "_images").glob("*.png")}
    expected = {f"{prefix}.png" for p in PAGES for prefix in re.findall(r":filename-prefix:\s*(\S+)", p.read_text())}
    assert expected <= images, f"figures missing from the build: {sorted(expected - images)}"
    api = (out / "api" / "convolution.html").read_text(encoding="utf-8")
    assert "conv_input_grad" in api, "the API reference lost its entries"
    assert "Parameters" in api, "numpydoc sections are not rendered"


def test_docs_ship_mathjax_and_need_no_network(built_docs):
    """MathJax (SVG output: no font files) is copied into the site; no page loads a script from elsewhere."""
    out, _ = built_docs
    assert (out / "_static" / "mathjax" / "tex-svg.js").is_file(), "MathJax is not shipped in _static/mathjax"
    for page in PAGES:
        html = out / page.relative_to(DOCS).with_suffix(".html")
        if not html.is_file():
            continue  # reported by test_docs_build_without_warnings
        text = html.read_text(encoding="utf-8")
        remote = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="(https?:[^"]*)"', text)
        assert not remote, f"{html.name} loads {remote}"
        local_mathjax = re.search(r'<script[^>]*src="(?:\.\./)*_static/mathjax/tex-svg\.js"', text)
        assert local_mathjax or 'class="math' not in text, f"{html.name} has formulas but no local MathJax"
    copybutton = (out / "_static" / "copybutton.js").read_text(encoding="utf-8")
    assert r"'>>> |\\.\\.\\. |\\$ ', true" in copybutton, "copy buttons do not strip the >>>, ... and $ prompts"


def test_docs_in_a_browser(built_docs):
    """docs/browser_check.py on the build: formulas typeset offline, copy buttons, nothing cut off."""
    out, _ = built_docs
    if shutil.which(os.environ.get("CHROMIUM") or "chromium") is None:
        pytest.skip("no Chromium to open the pages with")
    if not (out / "index.html").is_file():
        pytest.skip("nothing was built (see test_docs_build_without_warnings)")
    command = [sys.executable, str(DOCS / "browser_check.py"), str(out)]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"browser check failed:\n{result.stdout}\n{result.stderr}"
