"""Command line: ``python -m convmat demo``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .demo import run_demo


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m convmat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="check every identity on concrete numbers")
    demo.add_argument("--seed", type=int, default=0, help="seed of the random example data (default 0)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (2 for bad arguments, 1 if an identity fails)."""
    args = _parser().parse_args(argv)
    checks = run_demo(sys.stdout, seed=args.seed)
    failed = [c for c in checks if not c.holds]
    print(f"\n{len(checks) - len(failed)} of {len(checks)} identities hold.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
