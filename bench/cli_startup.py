"""How long `nas --help` and `nas runs list` take, against the bare interpreter (`python -c pass`).

Each command runs in a fresh process (what a user waits for), interleaved with the baseline so
machine noise hits both alike; medians over repeats. Target: at most 1 s over the interpreter.
Headline: cli_startup_over_python_s = median(`nas --help`) - median(`python -c pass`), seconds.
Run: python bench/cli_startup.py [--repeats 7]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import interleaved_medians  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def command(*args: str):
    return lambda: subprocess.run([sys.executable, *args], cwd=REPO, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    times = interleaved_medians({
        "python -c pass": command("-c", "pass"),
        "nas --help": command("-m", "nas", "--help"),
        "nas runs list": command("-m", "nas", "runs", "list", "runs"),
        "nas search --help": command("-m", "nas", "search", "--help"),
    }, repeats=args.repeats, warmup=1)
    base = times["python -c pass"]
    for name, seconds in times.items():
        print(f"{name:<20} {seconds * 1000:7.0f} ms  ({(seconds - base) * 1000:+.0f} ms over the interpreter)")
    over = times["nas --help"] - base
    print(f"target <= 1 s over the interpreter: {'met' if over <= 1.0 else 'MISSED'}")
    print(f"cli_startup_over_python_s={over:.3f}")


if __name__ == "__main__":
    main()
