"""The command line, run as a user would: in a subprocess."""

import subprocess
import sys

import pytest


def run(*args):
    return subprocess.run([sys.executable, "-m", "convmat", *args], capture_output=True, text=True, timeout=120)


def test_show_prints_w_symbolically():
    result = run("show", "--input", "4x4", "--kernel", "3x3")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("W: 4 x 16")
    assert lines[1].split() == "k11 k12 k13 0 k21 k22 k23 0 k31 k32 k33 0 0 0 0 0".split()


def test_show_stride_padding_dilation_numeric_and_channels():
    result = run("show", "--input", "5x5", "--kernel", "3", "--stride", "2", "--numeric")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[2].split()[:5] == ["0", "0", "1", "2", "3"]
    result = run("show", "--input", "6", "--kernel", "2", "--padding", "same", "--dilation", "2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("W: 6 x 6")
    result = run("show", "--input", "3x3", "--kernel", "2", "--channels", "2x3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].startswith("W: 12 x 18")
    result = run("show", "--input", "4", "--kernel", "3", "--padding", "1", "--padding-mode", "reflect")
    assert "k1+k3" in result.stdout


def test_show_png(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "w.png"
    result = run("show", "--input", "4x4", "--kernel", "3x3", "--png", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_holds_every_identity():
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILS" not in result.stdout
    assert result.stdout.rstrip().endswith("identities hold.")
    for claim in range(1, 6):
        assert f"== {claim}." in result.stdout
    assert result.stdout.count("[holds]") >= 20


@pytest.mark.parametrize(
    "args",
    [
        ("show", "--input", "2x2", "--kernel", "3"),
        ("show", "--input", "4xq", "--kernel", "3"),
        ("show", "--kernel", "3"),
        ("show", "--input", "4x4", "--kernel", "3", "--stride", "0"),
        ("show", "--input", "4x4", "--kernel", "3x3x3"),
        ("show", "--input", "4x4", "--kernel", "3", "--padding-mode", "mirror"),
        ("show", "--input", "4", "--kernel", "3", "--padding", "same", "--stride", "2"),
        ("bogus",),
        (),
    ],
)
def test_bad_arguments_one_line_exit_2(args):
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "error" in result.stderr


@pytest.mark.parametrize("command", ["show", "demo"])
def test_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "usage" in result.stdout
