"""Run the examples of the documentation pages and compare what they print.

Every fenced block marked ``pycon`` on a Markdown page is a doctest: the blocks
of one page run in order in one namespace. In blocks marked ``console``, every
command ``$ python -m convmat …`` is run (in-process, through
``convmat.__main__.main``) and its output, stdout and stderr together, compared
with the lines that follow it; it must exit 0 unless that output shows an
``error:``. Other commands there are shown, not run. Any
difference is a Sphinx warning (an error under ``-W``). ``tests/test_docs.py``
runs the same checks without Sphinx.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shlex
from pathlib import Path

FENCE = r"^(?P<fence>`{3,}|:{3,})%s[ \t]*\n(?P<body>.*?)^(?P=fence)[ \t]*$"
OPTIONFLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
CLI = "$ python -m convmat "


def page_examples(text: str, language: str = "pycon") -> list[tuple[int, str]]:
    """The ``language`` blocks of a page as ``(line number of their first line, text)``."""
    fence = re.compile(FENCE % re.escape(language), re.MULTILINE | re.DOTALL)
    return [(text.count("\n", 0, m.start("body")) + 1, m.group("body")) for m in fence.finditer(text)]


def cli_examples(text: str) -> list[tuple[int, str, str]]:
    """``(line, argument string, expected output)`` of every ``$ python -m convmat`` command."""
    examples = []
    for start, body in page_examples(text, "console"):
        lines = body.splitlines()
        for i, line in enumerate(lines):
            if line.startswith(CLI):
                end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("$ ")), len(lines))
                examples.append((start + i, line[len(CLI) :], "\n".join(lines[i + 1 : end]) + "\n"))
    return examples


def run_cli(arguments: str) -> tuple[int, str]:
    """Exit status and output (stdout and stderr) of ``python -m convmat ARGUMENTS``, run in-process."""
    from convmat.__main__ import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        try:
            status = main(shlex.split(arguments))
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
    return status, buffer.getvalue()


def check_text(text: str, name: str) -> list[tuple[int, str]]:
    """Run a page's ``pycon`` blocks in one namespace; return ``(line, report)`` per failure."""
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    globs: dict = {"__name__": "__convmat_docs__"}
    failures: list[tuple[int, str]] = []
    for lineno, block in page_examples(text):
        test = parser.get_doctest(block, globs, f"{name}:{lineno}", name, lineno - 1)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        globs = test.globs
        if report:
            failures.append((lineno, "".join(report)))
    checker = doctest.OutputChecker()
    for lineno, arguments, expected in cli_examples(text):
        status, got = run_cli(arguments)
        # A failing command must show its error; any other must succeed.
        expected_ok = "error:" not in expected
        if not checker.check_output(expected, got, OPTIONFLAGS) or (status == 0) != expected_ok:
            failures.append(
                (lineno, f"$ python -m convmat {arguments}\nExpected:\n{expected}Got (exit status {status}):\n{got}")
            )
    return failures


def check_file(path: Path) -> list[tuple[int, str]]:
    """:func:`check_text` of a file."""
    return check_text(Path(path).read_text(encoding="utf-8"), str(path))


def _on_source_read(app, docname: str, source: list[str]) -> None:
    from sphinx.util import logging

    logger = logging.getLogger(__name__)
    for lineno, report in check_text(source[0], docname):
        logger.warning("example failed:\n%s", report, location=(docname, lineno), type="convmat", subtype="doccheck")


def setup(app):
    app.connect("source-read", _on_source_read)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
