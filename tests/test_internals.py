"""The house rules of the package: floors that import only downward, and a map that names every module."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convmat"
INTERNALS = Path(__file__).resolve().parents[1] / "docs" / "internals.md"

#: The floors of docs/internals.md: a module imports only from its own floor or below.
FLOORS = {
    "geometry": 1,
    "adaptive_geometry": 1,
    "_arrays": 1,
    "config": 2,
    "parallel": 2,
    "_dask_dispatch": 2,
    "cache": 2,
    "windows": 3,
    "patterns": 3,
    "padding": 3,
    "pool_patterns": 3,
    "sizes": 3,
    "adaptive_patterns": 3,
    "batch_blocks": 3,
    "im2col": 4,
    "patch_gemm": 4,
    "tap_shifts": 4,
    "tap_gemm": 4,
    "conv_fft": 4,
    "route_choice": 4,
    "conv_matrices": 4,
    "pool_matrices": 4,
    "sparse_products": 4,
    "adaptive_matrices": 4,
    "conv": 5,
    "pooling": 5,
    "pad": 5,
    "_rank": 5,
    "adaptive_pooling": 5,
    "lp_pooling": 5,
    "identities": 6,
    "linalg": 6,
    "symbolic": 6,
    "plot": 6,
    "demo": 6,
    "nn": 6,
    "dask": 6,
    "__main__": 6,
}


def _modules():
    found = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    return found | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}


def _imported(path: Path) -> set[str]:
    """convmat modules imported by a file, by their top-level name inside the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    in_subpackage = path.parent != PACKAGE
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.level == 1 and in_subpackage:
                continue  # within the subpackage
            if node.module:
                names.add(node.module.split(".")[0])
            else:  # from . import x: a module, or a name the package itself re-exports (its version)
                names.update(alias.name for alias in node.names if alias.name in _modules())
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convmat."):
            names.add(node.module.split(".")[1])
    return names


def test_every_module_has_a_floor_and_is_on_the_map():
    assert _modules() == set(FLOORS)
    text = INTERNALS.read_text(encoding="utf-8")
    for module in FLOORS:
        assert f"`{module}`" in text, f"docs/internals.md does not name {module}"


@pytest.mark.parametrize(
    "path", sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)
)
def test_no_floor_reaches_up(path):
    module = path.stem if path.parent == PACKAGE else path.relative_to(PACKAGE).parts[0]
    floor = FLOORS[module]
    for imported in _imported(path):
        assert imported in FLOORS, f"{path.name} imports an unknown module {imported}"
        assert FLOORS[imported] <= floor, f"{module} (floor {floor}) imports {imported} (floor {FLOORS[imported]})"
