"""Every public name is documented with a runnable example, and every example runs."""

import doctest
import importlib
import pkgutil

import pytest

import convmat

MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(convmat.__path__, prefix="convmat.") if not name.endswith("__main__")
)


OPTIONAL = {
    "convmat.dask": "dask",
    "convmat.plot": "matplotlib",
    "convmat.nn.digits": "sklearn",
    "convmat.nn.figures": "matplotlib",
}


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"


@pytest.mark.parametrize("name", sorted(convmat.__all__))
def test_public_names_have_numpydoc_examples(name):
    doc = getattr(convmat, name).__doc__ or ""
    assert "Examples" in doc, f"convmat.{name} has no Examples section"
    assert ">>>" in doc, f"convmat.{name} has no runnable example"
