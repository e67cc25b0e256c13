"""`nas runs list [ROOT]`, `nas runs show RUN`, `nas runs compare RUN... --out PNG`.

Light on purpose: listing imports neither torch nor Ray, so it answers at once.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas.cli.types import positive_int


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list runs, show one, compare several",
                       description="Inspect run directories (nothing is written to them).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="a table of the runs under ROOT (subfolders too)",
                                 epilog="examples: nas runs list;  nas runs list runs/archived --json")
    listing.add_argument("root", nargs="?", type=Path, default=Path("runs"), help="default: %(default)s/")
    listing.add_argument("--json", action="store_true", help="one JSON object per run, as a list")
    listing.set_defaults(handler=run_list)
    show = actions.add_parser("show", help="a run's config, summary and best architectures",
                              epilog="example: nas runs show runs/archived/nb201-table-rea --top 5")
    show.add_argument("run", type=Path, help="a run directory")
    show.add_argument("--top", type=positive_int, default=10, help="rows of the table (default: %(default)s)")
    show.add_argument("--json", action="store_true", help="config, summary and top rows as one JSON object")
    show.add_argument("--config", action="store_true",
                      help="config.json and summary.json in full (default: one line per setting)")
    show.set_defaults(handler=run_show)
    compare = actions.add_parser("compare", help="overlay the progress curves of search runs in one PNG",
                                 epilog="example: nas runs compare runs/a runs/b --out compare.png")
    compare.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="search run directories")
    compare.add_argument("--out", type=Path, default=Path("compare.png"), help="PNG to write (default: %(default)s)")
    compare.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    compare.set_defaults(handler=run_compare)


def run_list(args: argparse.Namespace) -> int:
    if args.json:
        from nas.archive.listing import list_runs

        print(json.dumps(list_runs(args.root), indent=2))
        return 0
    from nas.archive import runs_table

    print(runs_table(args.root))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from nas.archive import RunDir, summarize, top_table
    from nas.archive.summary import ranked

    run = RunDir.open(args.run)
    config = run.read_config()
    if config.get("kind") == "scale" and not args.json:
        return _show_scale(run.path, config)
    records = run.read_records(strict=False)
    objective = run.objective()
    summary = summarize(records, args.top, objective)
    saved_summary = _saved_summary(run.summary)
    if args.json:
        print(json.dumps({"run": str(run.path), "config": config, "summary": saved_summary or summary,
                          "top": ranked(records, objective)[:args.top]}, indent=2))
        return 0
    print(f"run        {run.path}")
    print(f"kind       {config.get('kind', '-')}   space {config.get('space', '-')}   "
          f"strategy {config.get('strategy', '-')}   seed {config.get('seed', '-')}")
    print(f"evaluated  {summary['evaluations']} records, {summary['unique_architectures']} architectures"
          f"{'' if saved_summary else '  (no summary.json: the search has not ended)'}")
    if saved_summary and isinstance(saved_summary.get("verdict"), dict):
        from nas.cli.search_report import verdict_lines

        for line in verdict_lines(saved_summary["verdict"], objective.unit):
            print(line.replace("verdict             ", "verdict    ", 1))
    if saved_summary and isinstance(saved_summary.get("front"), dict):
        from nas.judging.front import describe_front

        print(f"front      {describe_front(saved_summary['front'], summary['evaluations'])}")
    if records:  # what was asked for first; the settings after it
        from nas.archive.tables import readable_by
        from nas.cli.search_report import run_space

        print()
        print(top_table(records, args.top, objective=objective,
                        readable=readable_by(run_space(run)) if config.get("kind") == "search" else None))
    settings = {k: v for k, v in config.items() if k != "provenance"}
    shown = {k: v for k, v in (saved_summary or {}).items() if k not in ("top", "best")}
    layout = _indented if args.config else _one_line_each  # in full on request, one line per key otherwise
    print("\nconfig.json" + ("" if args.config else "  (in full: --config)"))
    print(layout(settings))
    if shown:
        print("\nsummary.json (without best/top, shown above)")
        print(layout(shown))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from nas.archive import RunDir
    from nas.archive.plots import plot_compare
    from nas_common.errors import UserError
    from nas.archive.atomic import check_output_file

    check_output_file(args.out, args.overwrite)
    series = []
    objectives = set()
    for path in args.runs:
        run = RunDir.open(path)
        if run.read_config().get("kind", "search") != "search":
            raise UserError(f"{path} is not a search run; compare search runs (their progress curves)")
        objective = run.objective()
        objectives.add(objective.metric)
        series.append((str(path), run.read_records(strict=False), objective))
    if len(objectives) > 1:
        raise UserError(f"the runs optimise different objectives ({', '.join(sorted(objectives))}); compare runs of one")
    plot_compare(series, args.out)
    print(f"wrote {args.out}: best-so-far {objectives.pop()} of {len(series)} runs")
    return 0


def _show_scale(path: Path, config: dict) -> int:
    """A scaling run: its tables from scale.json (or how far it got)."""
    from nas.cli.scale import format_summary

    print(f"run        {path}")
    print(f"kind       scale   space {config.get('space', '-')}   phi 1..{config.get('max_phi', '-')}   "
          f"candidates {len(config.get('candidates') or [])}")
    summary = _saved_summary(path / "scale.json")
    if summary is None:
        print(f"(no scale.json yet: the run has not ended; continue it with nas scale --resume {path})")
    else:
        print(format_summary(summary))
    return 0


def _saved_summary(path: Path) -> dict | None:
    from nas_common.json_files import read_json_or_none

    return read_json_or_none(path)  # derived: a damaged summary is shown as missing


def _one_line_each(settings: dict, width: int = 100) -> str:
    """Each top-level setting on one line as compact JSON, cut at `width` characters."""
    lines, pad = [], max(map(len, settings), default=0)
    for key in sorted(settings):
        text = json.dumps(settings[key], sort_keys=True, separators=(", ", ": "))
        lines.append(f"  {key:<{pad}}  {text if len(text) <= width else text[:width - 3] + '...'}")
    return "\n".join(lines)


def _indented(obj: object) -> str:
    return "\n".join("  " + line for line in json.dumps(obj, indent=2, sort_keys=True).splitlines())
