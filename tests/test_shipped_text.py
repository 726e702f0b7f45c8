"""What convmat ships speaks of convmat: no development diary, no issue numbers, no paths of one machine.

README, docs (pages, configuration, extensions and the stored benchmark run),
the package and the benchmark suite are read as text.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "README.md", ROOT / "LICENSE", ROOT / "pyproject.toml"]
for folder in ("convmat", "docs", "bench"):
    SHIPPED += [
        p
        for p in sorted((ROOT / folder).rglob("*"))
        if p.is_file() and p.suffix in {".py", ".md", ".json", ".txt", ".toml"} and "_build" not in p.parts
    ]

#: Wording about how convmat was developed, or where: none of it belongs in what users read.
FORBIDDEN = {
    "an issue number": re.compile(r"\bissues? ?#?\d+", re.IGNORECASE),
    "a session": re.compile(r"\b(this|the|a|each|every|previous|last|next) sessions?\b", re.IGNORECASE),
    "a machine path": re.compile(r"(?<![\w.])/(work|root|home|tmp)/"),
    "the development machine": re.compile(r"development machine|authors happened", re.IGNORECASE),
    "private notes": re.compile(r"\b(source|seed) notes\b|\bthe notes'", re.IGNORECASE),
    "seed identities": re.compile(r"\bseed identit", re.IGNORECASE),
    "a commit diary": re.compile(r"\b(at|since|before|after) commit\b|\bcommit [0-9a-f]{7,}\b", re.IGNORECASE),
}


def test_there_is_shipped_text():
    assert len(SHIPPED) > 50


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_shipped_text_speaks_of_the_project(path):
    text = path.read_text(encoding="utf-8", errors="replace")
    found = []
    for what, pattern in FORBIDDEN.items():
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"line {line}: {what}: {match.group(0)!r}")
    assert not found, f"{path.relative_to(ROOT)}:\n" + "\n".join(found)
