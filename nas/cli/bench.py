"""`nas bench`: benchmark search strategies on the NAS-Bench-201 table over many seeds."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nas.cli import options
from nas_common.errors import UserError


def checkpoint_list(text: str) -> tuple[int, ...]:
    """`50,100,150`: positive query counts (argparse type)."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a comma-separated list of query counts, "
                                         "e.g. 50,100,150") from None
    if any(not 0 < v <= 10**12 for v in values):
        raise argparse.ArgumentTypeError(f"query counts must be in 1..10^12, got {text[:40]!r}")
    return values


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench", help="benchmark strategies on the NB201 table over many seeds",
        description="Run every (strategy, seed) pair on a benchmark table and report the test accuracy "
                    "of the architecture each search picks (best validation accuracy) after q queries, "
                    "mean ± std over seeds, beside the published figures.")
    p.add_argument("--space", choices=("nb201",), default="nb201", help="search space (default nb201)")
    p.add_argument("--evaluator", choices=("table",), default="table", help="table (the only one: look-ups)")
    p.add_argument("--table", type=Path, default=None,
                   help="NB201 table CSV (default: the bundled NB201 CIFAR-10 table)")
    p.add_argument("--strategies", action="append", default=None, metavar="LIST",
                   help="comma-separated variants NAME or NAME:KEY=VALUE,... (default random,evolution,rl; "
                        "e.g. random,evolution:population=20,sample_size=5)")
    p.add_argument("--budget", type=options.positive_int, default=150, help="queries per search (default 150)")
    p.add_argument("--seeds", type=options.positive_int, default=30, help="seeds 0..N-1 per strategy (default 30)")
    p.add_argument("--checkpoints", type=checkpoint_list, default=None,
                   help="query counts to report (default 50,100,150 up to the budget, and the budget)")
    p.add_argument("--workers", type=options.positive_int, default=None,
                   help="CPU cores to use; more than 1 runs the pairs as Ray tasks (default: all cores)")
    p.add_argument("--out", type=Path, default=None, help="report directory (default runs/bench-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.epilog = "example: nas bench --space nb201 --evaluator table --strategies random,evolution --budget 150 --seeds 10"
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nas.archive import new_run_id
    from nas.bench_harness import BenchConfig, markdown_table, run_benchmark, write_report

    strategies = tuple(args.strategies or ["random,evolution,rl"])
    checkpoints = args.checkpoints or BenchConfig.default_checkpoints(args.budget)
    config = BenchConfig(strategies=strategies, budget=args.budget, seeds=args.seeds, checkpoints=checkpoints,
                         table=str(args.table) if args.table else None, space=args.space)
    out = args.out or Path("runs") / new_run_id(args.space, "bench")
    if (out / "results.json").exists():
        raise UserError(f"{out} already holds a benchmark report; pass another --out or remove it")
    workers = args.workers or os.cpu_count() or 1

    def progress(label: str, seeds: list[int], elapsed: float) -> None:
        print(f"  {label}: seeds {seeds[0]}-{seeds[-1]} done ({elapsed:.1f}s)", file=sys.stderr, flush=True)

    results = run_benchmark(config, workers=workers, progress=None if args.quiet else progress)
    write_report(results, out)
    print(markdown_table(results), end="")
    pairs = len(results["pairs"])
    print(f"\n{pairs} searches x {config.budget} queries in {results['wall_s']:.1f}s on {workers} "
          f"worker(s); report in {out}/ (results.json, table.md, bench.png)")
    return 0
