"""`nas spaces`: the registered search spaces."""

from __future__ import annotations

import argparse

from nas_common.registry import SPACES


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("spaces", help="list the search spaces", description="List the registered search spaces.")
    p.set_defaults(handler=run)
    p.epilog = "example: nas spaces"


def run(args: argparse.Namespace) -> int:
    from nas_common.errors import UserError

    rows = []
    for name in SPACES.names():  # built-in, and installed packages' (`nas.spaces` entry points)
        try:
            space = SPACES.get(name)()
        except (UserError, TypeError, ValueError) as err:  # a plug-in that does not build: say so, list the rest
            rows.append((name, "?", f"(does not build: {str(err)[:80]})"))
            continue
        size = space.size()
        rows.append((name, f"{size:.3e}" if size >= 10**6 else str(size), space.description))
    width = [max(len(r[i]) for r in rows + [("space", "size", "")]) for i in range(2)]
    print(f"{'space':<{width[0]}}  {'size':>{width[1]}}  description")
    for name, size, description in rows:
        print(f"{name:<{width[0]}}  {size:>{width[1]}}  {description}")
    print("\nyour own model with choice points: --space package.module:Class (docs/model_spaces.md)")
    return 0
