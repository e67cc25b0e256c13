"""`nas runs list [ROOT]` and `nas runs show RUN_DIR`."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.archive import RunDir, runs_table, summarize, top_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list runs and show their best architectures",
                       description="Inspect run directories.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="a table of the runs under ROOT")
    listing.add_argument("root", nargs="?", type=Path, default=Path("runs"), help="default: runs/")
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="a run's config and best architectures")
    show.add_argument("run", type=Path, help="a run directory")
    show.add_argument("--top", type=int, default=10)
    show.set_defaults(handler=run_show)


def run_list(args: argparse.Namespace) -> int:
    print(runs_table(args.root))
    return 0


def run_show(args: argparse.Namespace) -> int:
    run = RunDir.open(args.run)
    config = run.read_config()
    records = run.read_records(strict=False)
    objective = run.objective()
    summary = summarize(records, args.top, objective)
    print(f"run        {run.path}")
    print(f"kind       {config.get('kind', '-')}   space {config.get('space', '-')}   "
          f"strategy {config.get('strategy', '-')}   seed {config.get('seed', '-')}")
    print(f"evaluated  {summary['evaluations']} records, {summary['unique_architectures']} architectures")
    if records:
        print()
        print(top_table(records, args.top, objective=objective))
    return 0
