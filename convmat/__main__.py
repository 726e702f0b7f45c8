"""Command line: ``python -m convmat {show,demo,train} …`` (``--help`` on each), also installed as ``convmat``.

``show`` prints a convolution matrix ``W`` in symbols (or numbers, or as a
picture); ``demo`` checks the gradient identities on concrete numbers and exits
non-zero if any fails; ``train`` trains a small CNN on scikit-learn's 8x8
digits on any route of the convolutions and reports its held-out accuracy. Bad arguments
give a one-line error and exit code 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from math import prod
from typing import TYPE_CHECKING, Any

import numpy as np

from . import __version__
from .conv import BACKENDS
from .conv_matrices import conv_matrix, conv_matrix_block
from .demo import run_demo
from .geometry import conv_problem
from .sizes import conv_matrix_size
from .symbolic import _cell_text, _format_shown, _kept, _shown, _symbolic_block, symbolic_conv_matrix

if TYPE_CHECKING:
    from .nn.digits import DigitsRun

PROG = "python -m convmat"

#: ``show --png`` draws a W of at most this many entries (rows x columns), e.g. 2000 x 2000: a picture
#: of a larger matrix has more cells than pixels.
MAX_PICTURE_ENTRIES = 4_000_000

#: The ``--help`` text of the command (plain text: argparse prints it as is).
DESCRIPTION = """\
The linear algebra of convolutional networks, explicit: print the convolution
matrix W of a layer, check the gradient identities of backpropagation on
concrete numbers, or train a small CNN on scikit-learn's 8x8 digits. Run a
command with --help for its options. Bad arguments give a one-line error and
exit code 2; Ctrl-C exits 130.
"""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _dims(text: str) -> tuple[int, ...]:
    """``"4x4"`` -> ``(4, 4)``; ``"3"`` -> ``(3,)``."""
    try:
        dims = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 4x4 or 5 or 3x3x3, got {text!r}") from None
    if not 1 <= len(dims) <= 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected 1 to 3 positive sizes like 4x4, got {text!r}")
    return dims


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer of at least ``minimum`` (``what`` names the kind in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {what} integer, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "positive")
_seed = _int_at_least(0, "non-negative")


def _png_path(text: str) -> str:
    """A file to write: not a directory, in a directory that exists."""
    if not text or text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} names a directory; give the file name of the picture, e.g. w.png")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: the directory {parent!r} does not exist")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _padding(text: str) -> int | tuple[int, ...] | str:
    if text in ("same", "valid"):
        return text
    dims = _dims(text) if text != "0" else (0,)
    return dims[0] if len(dims) == 1 else dims


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"convmat {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    show = commands.add_parser(
        "show",
        help="print the convolution matrix W (symbols by default)",
        description="Print the convolution matrix W of one input plane: kernel taps as symbols "
        "k11 … (1-based, C order), 0 for structural zeros. Beyond --max-size rows/columns only the "
        "first and last ones are printed, and as many columns as fit --width characters; only the printed "
        "entries are computed: W itself is never built (except for --png), so any layer size prints at once.",
    )
    show.add_argument("--input", type=_dims, required=True, metavar="HxW", help="input spatial size, e.g. 4x4")
    show.add_argument("--kernel", type=_dims, required=True, metavar="KxK", help="kernel size, e.g. 3x3")
    show.add_argument("--stride", type=_dims, default=(1,), metavar="S", help="stride (int or SxS, default 1)")
    show.add_argument(
        "--padding", type=_padding, default=0, metavar="P", help="padding: int, PxP, same or valid (default 0)"
    )
    show.add_argument("--dilation", type=_dims, default=(1,), metavar="D", help="dilation (int or DxD, default 1)")
    show.add_argument(
        "--padding-mode",
        default="zeros",
        choices=("zeros", "circular", "reflect", "replicate"),
        help="padding mode folded into W (default zeros)",
    )
    show.add_argument(
        "--channels",
        type=_dims,
        default=(1, 1),
        metavar="CINxCOUT",
        help="input and output channels, CIN or CINxCOUT (default 1x1); more than one prints numbers",
    )
    show.add_argument("--numeric", action="store_true", help="print numbers: kernel values 1, 2, … instead of symbols")
    show.add_argument(
        "--png",
        type=_png_path,
        metavar="FILE",
        help=f"also save a picture of W as PNG to exactly FILE (needs matplotlib; builds the whole W, so only "
        f"for W of at most {MAX_PICTURE_ENTRIES:,} entries, rows x columns, e.g. 2000 x 2000)",
    )
    show.add_argument(
        "--max-size", type=_positive_int, default=48, metavar="N", help="elide beyond N rows/columns (default 48)"
    )
    show.add_argument(
        "--width",
        type=_positive_int,
        default=100,
        metavar="N",
        help="print lines of at most N characters, eliding middle columns (default 100)",
    )

    demo = commands.add_parser(
        "demo",
        help="check the gradient identities on concrete numbers",
        description="Check the gradient identities of backpropagation through convolution and pooling on "
        "small concrete numbers: convolution is a matrix product W @ x; the input gradient W.T @ dh is a full "
        "convolution of the output gradient with the flipped kernel; the kernel gradient is a convolution of "
        "the input with the output gradient; transposed convolution inverts the shape, not the values; max "
        "pooling is a selection matrix S. Each identity prints whether it holds and its max error. Exits 1 if "
        "any fails.",
    )
    demo.add_argument("--seed", type=_seed, default=0, metavar="N", help="seed of the random example data (default 0)")

    train = commands.add_parser(
        "train",
        help="train a small CNN on scikit-learn's 8x8 digits",
        description="Train conv -> ReLU -> max-pool -> conv -> ReLU -> max-pool -> linear on scikit-learn's "
        '8x8 handwritten digits (bundled, no download; needs the train extra: pip install "convmat[train]"), '
        "with a progress bar per epoch, and report the accuracy on the held-out 20%. Every route of the "
        "convolutions trains to the same numbers.",
    )
    train.add_argument(
        "--epochs", type=_positive_int, default=20, metavar="N", help="passes over the data (default 20)"
    )
    train.add_argument("--batch-size", type=_positive_int, default=32, metavar="N", help="batch size (default 32)")
    train.add_argument(
        "--lr", type=_positive_float, default=None, help="learning rate (default 0.01 for adam, 0.1 for sgd)"
    )
    train.add_argument(
        "--optimizer", choices=("adam", "sgd"), default="adam", help="adam, or sgd with momentum 0.9 (default adam)"
    )
    train.add_argument("--backend", choices=BACKENDS, default="auto", help="route of the convolutions (default auto)")
    train.add_argument(
        "--seed", type=_seed, default=0, metavar="N", help="seed of the initialisation and batch order (default 0)"
    )
    train.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="default float32")
    train.add_argument("--limit", type=_positive_int, metavar="N", help="train on the first N training images only")
    train.add_argument("--save", metavar="FILE.npz", help="save the trained parameters (numpy .npz)")
    train.add_argument("--figures", metavar="DIR", help="save deconvnet.png and saliency.png there (needs matplotlib)")
    return parser


def _one(value: tuple[int, ...] | int | str) -> tuple[int, ...] | int | str:
    return value[0] if isinstance(value, tuple) and len(value) == 1 else value


def _fitting_columns(shown: np.ndarray, cols: int, max_cols: int, width: int) -> int:
    """The largest ``max_cols`` (at most the given one) whose text of the ``shown`` block fits ``width`` characters.

    ``shown`` holds the columns ``_shown(cols, max_cols)``; fewer columns keep a
    subset of them. A line is the column widths plus one space between columns,
    the ellipsis column one character wide. At least one column is kept.
    """
    if shown.shape[0] == 0:
        return max_cols
    lengths = np.vectorize(len, otypes=[int])(_cell_text(shown, 4)).max(axis=0)
    position = {j: i for i, j in enumerate(_shown(cols, max_cols))}
    for limit in range(min(max_cols, cols), 0, -1):
        kept = _kept(cols, limit)
        if sum(int(lengths[position[j]]) if j >= 0 else 1 for j in kept) + len(kept) - 1 <= width:
            return limit
    return 1


def _show(args: argparse.Namespace) -> int:
    if args.png and importlib.util.find_spec("matplotlib") is None:
        raise ImportError('--png needs matplotlib: pip install "convmat[plot]"')
    geometry = {
        "stride": _one(args.stride),
        "padding": args.padding,
        "dilation": _one(args.dilation),
        "padding_mode": args.padding_mode,
    }
    if len(args.kernel) not in (1, len(args.input)):
        raise ValueError(f"--kernel {args.kernel} and --input {args.input} have different numbers of dims")
    kernel = args.kernel * len(args.input) if len(args.kernel) == 1 else args.kernel
    channels = args.channels * 2 if len(args.channels) == 1 else args.channels
    if len(channels) != 2:
        raise ValueError(f"--channels takes CIN or CINxCOUT, got {args.channels}")
    c_in, c_out = channels
    weight_shape = (c_out, c_in, *kernel)
    geom, _ = conv_problem((c_in, *args.input), weight_shape, **geometry, batched=False, input_name="input_shape")
    size = conv_matrix_size(weight_shape, (c_in, *args.input), **geometry)
    rows, cols = size.shape
    if args.png and rows * cols > MAX_PICTURE_ENTRIES:
        raise ValueError(
            f"--png draws W of at most {MAX_PICTURE_ENTRIES} entries (rows x columns); this W is {rows} x {cols}: "
            "leave out --png to print it, or pick a smaller --input or --channels for the picture"
        )
    symbolic = not args.numeric and channels == (1, 1)
    # Only the rows and columns the text shows are computed, never the whole W.
    row_idx, col_idx = _shown(rows, args.max_size), _shown(cols, args.max_size)
    if symbolic:
        shown = _symbolic_block(geom, np.array(row_idx, dtype=np.intp), np.array(col_idx, dtype=np.intp))
    else:
        # the kernel numbered 1, 2, … in C order, evaluated only where the shown entries need it
        def numbered(co: np.ndarray, ci: np.ndarray, k: np.ndarray) -> np.ndarray:
            return 1.0 + (co * c_in + ci) * prod(kernel) + k

        shown = conv_matrix_block(numbered, geom, 1, row_idx, col_idx, weight_shape=weight_shape)
    # As many of those columns as fit --width: a subset of them, so nothing more is computed.
    max_cols = _fitting_columns(shown, cols, args.max_size, args.width)
    position = {j: i for i, j in enumerate(col_idx)}
    shown = shown[:, [position[j] for j in _shown(cols, max_cols)]]
    print(f"W: {rows} x {cols} (output {rows} values from input {cols} values), {size.nnz} stored entries")
    print(_format_shown(shown, (rows, cols), max_rows=args.max_size, max_cols=max_cols))
    if args.png:
        from .plot import plot_matrix

        if symbolic:
            matrix = symbolic_conv_matrix(args.input, kernel, **geometry)
        else:
            weight = np.arange(1.0, 1 + c_out * c_in * prod(kernel)).reshape(weight_shape)
            matrix = conv_matrix(weight, (c_in, *args.input), **geometry)
        title = f"W: input {'x'.join(map(str, args.input))}, kernel {'x'.join(map(str, kernel))}"
        if channels != (1, 1):
            title += f", {c_in} -> {c_out} channels"
        ax = plot_matrix(matrix, title=title, channels=(c_out, c_in))
        try:
            # exactly the given name: matplotlib would append .png to a name without an extension
            ax.figure.savefig(args.png, format="png", dpi=150)
        except OSError as exc:
            raise ValueError(f"--png {args.png}: {exc.strerror or exc}") from None
        print(f"picture saved to {args.png}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    checks = run_demo(sys.stdout, seed=args.seed)
    failed = [c for c in checks if not c.holds]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} identities hold.")
    return 1 if failed else 0


def _train(args: argparse.Namespace) -> int:
    from .nn.digits import LEARNING_RATES, train_digits

    if args.save and not os.path.isdir(os.path.dirname(os.path.abspath(args.save))):
        raise ValueError(f"--save {args.save}: the directory {os.path.dirname(args.save)!r} does not exist")
    if args.figures:
        from .nn.figures import _pyplot

        _pyplot().switch_backend("Agg")
        try:
            os.makedirs(args.figures, exist_ok=True)
        except OSError as exc:
            raise ValueError(f"--figures {args.figures}: {exc.strerror}") from None
    lr = LEARNING_RATES[args.optimizer] if args.lr is None else args.lr
    print(
        f"digits 8x8, {args.optimizer} lr {lr:g}, batch {args.batch_size}, "
        f"{args.epochs} epoch{'' if args.epochs == 1 else 's'}, "
        f"backend {args.backend}, {args.dtype}, seed {args.seed}"
        + (f", first {args.limit} training images" if args.limit else ""),
        flush=True,
    )
    run = train_digits(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=lr,
        optimizer=args.optimizer,
        backend=args.backend,
        seed=args.seed,
        dtype=args.dtype,
        limit=args.limit,
        progress=sys.stderr,
    )
    n_test = run.digits.y_test.size
    print(
        f"held-out accuracy: {100 * run.test_accuracy:.1f}% ({round(run.test_accuracy * n_test)}/{n_test} test "
        f"images; trained on {run.digits.y_train.size} in {run.seconds:.1f} s)"
    )
    if args.save:
        path = args.save if args.save.endswith(".npz") else args.save + ".npz"
        # Any: savez's stub types **kwds together with its allow_pickle: bool (no parameter is named that)
        params: dict[str, Any] = run.model.params()
        np.savez(path, **params)
        print(f"parameters saved to {path}")
    if args.figures:
        _save_figures(run, args.figures)
    return 0


def _save_figures(run: DigitsRun, directory: str) -> None:
    from .nn.figures import _pyplot, plot_deconvnet, plot_saliency

    plt = _pyplot()
    x, y = run.digits.x_test, run.digits.y_test
    # the feature maps of the second convolution (after its ReLU), projected back to the pixels
    figures = {
        "deconvnet.png": plot_deconvnet(run.model, x, layer=4),
        "saliency.png": plot_saliency(run.model, x[:12], labels=y[:12]),
    }
    for name, fig in figures.items():
        fig.savefig(os.path.join(directory, name), dpi=150)
        plt.close(fig)
        print(f"picture saved to {os.path.join(directory, name)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 an identity failed, 2 bad arguments, 130 interrupted)."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return {"show": _show, "demo": _demo, "train": _train}[args.command](args)
    except (ValueError, TypeError, ImportError) as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: one line, no traceback, the shell's exit code for SIGINT. A live progress bar
        # leaves the cursor mid-line on a terminal, hence the newline there.
        sys.stdout.flush()
        newline = "\n" if sys.stderr.isatty() else ""
        print(f"{newline}{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``python -m convmat demo | head``): stop quietly.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush silent
        return 0


if __name__ == "__main__":
    sys.exit(main())
