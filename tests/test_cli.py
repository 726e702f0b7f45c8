"""The command line, run as a user would: in a subprocess."""

import re
import signal
import subprocess
import sys

import pytest

import convmat
from convmat.__main__ import main


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


def one_line_error(result, *words):
    """Exit 2 with one line on stderr naming ``words``, nothing printed on stdout."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("python -m convmat ")
    assert ": error: " in result.stderr
    for word in words:
        assert word in result.stderr
    assert result.stdout == ""


def test_version():
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"convmat {convmat.__version__}"


def test_show_png(tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "w.png"
    result = run("show", "--input", "4x4", "--kernel", "3x3", "--png", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["w", "w.picture", "w.jpg"])
def test_show_png_writes_exactly_the_given_path(tmp_path, name):
    pytest.importorskip("matplotlib")
    target = tmp_path / name
    result = run("show", "--input", "3x3", "--kernel", "2", "--channels", "2x3", "--png", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"picture saved to {target}"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("where", ["directory", "directory/", "missing/w.png"])
def test_show_png_refuses_a_directory_or_a_missing_parent(tmp_path, where):
    (tmp_path / "directory").mkdir()
    target = str(tmp_path / where.rstrip("/")) + ("/" if where.endswith("/") else "")
    result = run("show", "--input", "4x4", "--kernel", "3x3", "--png", target)
    one_line_error(result, "--png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["directory"]
    assert list((tmp_path / "directory").iterdir()) == []


def widths(text):
    """Characters (not bytes) of each line."""
    return [len(line) for line in text.splitlines()]


@pytest.mark.parametrize(
    "args",
    [
        "--input 8x8 --kernel 3",
        "--input 4x4 --kernel 3 --channels 4x4 --numeric",
        "--input 4x4 --kernel 3 --channels 4x4",
        "--input 5x5 --kernel 3 --padding 1 --padding-mode reflect",
        "--input 9x9 --kernel 5 --padding 2 --padding-mode reflect",
        "--input 7x7 --kernel 3 --padding 1 --padding-mode circular",
        "--input 56x56 --kernel 3 --channels 256x256 --padding 1",
    ],
)
def test_show_fits_100_columns_by_default(args):
    result = run("show", *args.split())
    assert result.returncode == 0, result.stderr
    assert max(widths(result.stdout)) <= 100, result.stdout
    assert "…" in result.stdout  # every one of these W is wider than 100 characters in full


def test_show_width_chooses_the_number_of_columns():
    narrow = run("show", "--input", "8x8", "--kernel", "3")
    wide = run("show", "--input", "8x8", "--kernel", "3", "--width", "200")
    assert narrow.returncode == wide.returncode == 0
    assert 100 < max(widths(wide.stdout)) <= 200
    n_narrow, n_wide = (len(r.stdout.splitlines()[1].split()) for r in (narrow, wide))
    assert n_narrow < n_wide
    assert wide.stdout.splitlines()[1].split()[:11] == "k11 k12 k13 0 0 0 0 0 k21 k22 k23".split()
    # --max-size still bounds the columns: 10 of them and the ellipsis, however wide the line may be
    bounded = run("show", "--input", "8x8", "--kernel", "3", "--width", "1000", "--max-size", "10")
    assert [len(line.split()) for line in bounded.stdout.splitlines()[1:]] == [11] * 11
    # a matrix that fits prints whole (the line above the matrix is not cut)
    small = run("show", "--input", "4x4", "--kernel", "3", "--width", "63")
    assert "…" not in small.stdout
    assert max(widths(small.stdout)[1:]) == 63
    cut = run("show", "--input", "4x4", "--kernel", "3", "--width", "62")
    assert "…" in cut.stdout
    assert max(widths(cut.stdout)[1:]) <= 62


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("show", "--input", "4", "--kernel", "3", "--max-size", "0"), "--max-size"),
        (("show", "--input", "4", "--kernel", "3", "--max-size", "-5"), "--max-size"),
        (("show", "--input", "4", "--kernel", "3", "--max-size", "2.5"), "--max-size"),
        (("show", "--input", "4", "--kernel", "3", "--width", "0"), "--width"),
        (("show", "--input", "4", "--kernel", "3", "--width", "wide"), "--width"),
        (("demo", "--seed", "-1"), "--seed"),
        (("demo", "--seed", "x"), "--seed"),
        (("train", "--seed", "-1"), "--seed"),
        (("train", "--epochs", "0"), "--epochs"),
        (("train", "--batch-size", "-2"), "--batch-size"),
        (("train", "--lr", "0"), "--lr"),
        (("train", "--lr", "nan"), "--lr"),
        (("train", "--limit", "0"), "--limit"),
    ],
)
def test_numeric_options_are_validated_by_name(args, option):
    one_line_error(run(*args), f"argument {option}:")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a subprocess is POSIX")
def test_ctrl_c_exits_130_with_one_line():
    pytest.importorskip("sklearn")
    process = subprocess.Popen(
        [sys.executable, "-m", "convmat", "train", "--epochs", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().startswith("digits 8x8")  # it has started
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "python -m convmat train: interrupted"


def test_ctrl_c_in_any_command(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("convmat.__main__.run_demo", interrupted)
    assert main(["demo"]) == 130
    assert capsys.readouterr().err == "python -m convmat demo: interrupted\n"
    monkeypatch.setattr("convmat.__main__._symbolic_block", interrupted)
    assert main(["show", "--input", "4", "--kernel", "3"]) == 130
    assert capsys.readouterr().err == "python -m convmat show: interrupted\n"


def test_demo_holds_every_identity():
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILS" not in result.stdout
    assert result.stdout.rstrip().endswith("identities hold.")
    for claim in range(1, 7):
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


@pytest.mark.parametrize("command", [(), ("show",), ("demo",), ("train",)])
def test_help_is_plain_text(command):
    result = run(*command, "--help")
    assert result.returncode == 0
    assert "usage" in result.stdout
    assert not re.search(r"``|:[a-z]+:`|\{[a-z]+\}`", result.stdout), result.stdout  # no reST or MyST markup
    assert "seed" not in result.stdout.replace("--seed", "").replace("seed of the", "")


def test_demo_help_names_the_gradient_identities():
    assert "the gradient identities" in run("--help").stdout
    assert "the gradient identities" in run("demo", "--help").stdout
