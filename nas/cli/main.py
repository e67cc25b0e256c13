"""`nas` entry point: one sub-command per module, user errors as one line and exit status 2."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from nas import __version__
from nas.errors import UserError

COMMANDS = ("spaces", "train_supernet", "evaluate", "search", "runs", "export", "bench", "predictor", "retrain",
            "rank_check")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors also exit 2, in one line
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nas", description="Neural architecture search: supernets, strategies, Ray.")
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    import importlib

    for name in COMMANDS:
        importlib.import_module(f"nas.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except (UserError, ValueError) as err:
        if os.environ.get("NAS_DEBUG"):
            raise
        print(f"nas {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; everything recorded so far is on disk", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
