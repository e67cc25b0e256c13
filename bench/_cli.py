"""The `nas` command as the benchmarks run it: a subprocess, as a user types it (benchmarks never
import the CLI; tests/test_layering.py checks)."""

from __future__ import annotations

import subprocess
import sys


def nas(argv: list[str], capture: bool = True) -> subprocess.CompletedProcess:
    """Run `nas ARGV` in this directory; its output is captured unless `capture` is False."""
    return subprocess.run([sys.executable, "-m", "nas", *map(str, argv)], text=True, capture_output=capture)
