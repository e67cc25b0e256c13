"""`nas` entry point: one sub-command per module, user errors as one line and exit status 2."""

from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from typing import Any, Callable, Sequence

from nas import __version__
from nas_common.errors import UserError

# command -> (module in nas.cli, one-line help). Only the command being run is imported, so
# `nas --help` and `nas runs list` answer without importing torch (tests check the help matches).
COMMANDS: dict[str, tuple[str, str]] = {
    "spaces": ("spaces", "list the search spaces"),
    "strategies": ("components", "list the search strategies and their -o options"),
    "evaluators": ("components", "list the evaluator kinds and their settings"),
    "predictors": ("components", "list the performance predictors and their settings"),
    "train-supernet": ("train_supernet", "train a weight-sharing supernet"),
    "evaluate": ("evaluate", "score one architecture on a trained supernet"),
    "search": ("search", "search a space (trains a supernet first unless --supernet)"),
    "runs": ("runs", "list runs, show one, compare several"),
    "export": ("export", "write the stand-alone net of a searched architecture"),
    "bench": ("bench", "benchmark strategies on the NB201 table over many seeds"),
    "predictor": ("predictor", "train and evaluate performance predictors on run archives"),
    "retrain": ("retrain", "train architectures from scratch (Ray Tune, one trial each)"),
    "rank-check": ("rank_check", "does the supernet rank architectures like stand-alone training?"),
    "lut": ("lut", "build and check latency lookup tables of this machine"),
    "scale": ("scale", "compound scaling (EfficientNet) of an architecture, trained on Ray Tune"),
    "ui": ("ui", "a web dashboard over a runs folder (read-only, on 127.0.0.1)"),
    "report": ("ui", "a run's dashboard page as one self-contained HTML file"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own usage errors also exit 2, in one line
        # a pasted file or a runaway value is echoed by its first characters, not in full
        message = re.sub(r"\S{80,}", lambda m: m.group()[:60] + "...", " ".join(message.split()))
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command it names is loaded in full (the others are stubs
    that carry their help line). Without `argv`, every command is loaded (tests, docs)."""
    import importlib

    parser = _Parser(prog="nas", description="Neural architecture search: supernets, strategies, Ray.",
                     epilog="examples: nas search --space shufflenet --strategy evolution;  nas runs list;  "
                            "nas <command> --help")
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, (module, help_text) in COMMANDS.items():
        if chosen is not None and name != chosen:
            sub.add_parser(name, help=help_text)
        elif module == "components":
            importlib.import_module("nas.cli.components").add_parser(sub, name)
        elif name == "report":
            importlib.import_module("nas.cli.ui").add_report_parser(sub)
        else:
            importlib.import_module(f"nas.cli.{module}").add_parser(sub)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    """User warnings (the platform's: a skipped log line, dropped boxes) as one line of their own,
    without Python's file, line and source; other warnings (deprecations) as Python formats them."""
    if issubclass(category, UserWarning):
        return f"warning: {message}\n"
    return _python_format_warning(message, category, filename, lineno, line)


_python_format_warning = warnings.formatwarning


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    warnings.formatwarning = _format_warning
    args = build_parser(argv).parse_args(argv)
    from nas.archive import lock, run_dir

    restore = _stop_on_sigterm()
    try:
        code = int(args.handler(args) or 0)
        run_dir.forget_started()
        return code
    except (UserError, ValueError) as err:
        removed = run_dir.discard_failed_starts()  # a failed start leaves no directory that blocks the retry
        if os.environ.get("NAS_DEBUG"):
            raise
        # the "run directory: X" printed at the start no longer exists: say so, on the same line
        kept = f" (nothing was recorded; {', '.join(map(str, removed))} removed)" if removed else ""
        print(f"nas {args.command}: error: {_one_line(err)}{kept}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `nas runs show RUN | head`: the reader has what it wanted, as with git or grep
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no "Exception ignored" when Python flushes stdout at exit
        return 0
    except OSError as err:  # the disk said no (read-only run directory, disk full): what was recorded stays
        if os.environ.get("NAS_DEBUG"):
            raise
        where = f" {err.filename}" if err.filename else ""
        print(f"nas {args.command}: error: cannot write{where}: {err.strerror or err}; everything recorded before "
              "is on disk (fix the permissions or space, then --resume)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted; everything recorded so far is on disk", file=sys.stderr)
        return 130
    finally:
        lock.release_all()
        restore()


def _stop_on_sigterm() -> Callable[[], Any]:
    """`kill PID` (SIGTERM: a scheduler's, a container's or systemd's stop) ends a command as Ctrl-C
    does: records and checkpoints written so far stay, locks are released, exit 130, and --resume
    continues exactly. Only the main thread of the main interpreter can take signals."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except (ValueError, OSError):
        return lambda: None
    return lambda: signal.signal(signal.SIGTERM, previous)


def _one_line(err: BaseException) -> str:
    """The error as one line (a library's multi-line message keeps its first line)."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    # a value echoed from a pasted file or a runaway string: its first characters are enough
    return re.sub(r"\S{120,}", lambda m: m.group()[:60] + "...", line)


if __name__ == "__main__":
    sys.exit(main())
