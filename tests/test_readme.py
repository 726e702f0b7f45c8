"""The README's Python examples run as written, in order, in one namespace."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_examples():
    assert len(_blocks()) >= 2


def test_readme_examples_run(capsys):
    pytest.importorskip("numpy")
    namespace: dict = {}
    for block in _blocks():
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "(4, 16)" in printed
    assert "(2048, 8192) 70688" in printed
    assert "(1, 3, 28, 28)" in printed
    assert "k11 k12 k13   0 k21" in printed
