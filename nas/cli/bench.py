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
    p.add_argument("--proxies", type=Path, default=None, metavar="FILE",
                   help="a proxy table (JSON lines {\"choices\": [...], \"scores\": {\"naswot\": ..., "
                        "\"naswot_cpu_s\": ...}}, one per NB201 cell class) read before computing any proxy; "
                        "without it, strategies that ask for zero-cost proxies (guided, warmup=naswot:3000) get "
                        "params/FLOPs counted and data proxies scored on CIFAR-10 once per cell, in a shared cache")
    p.add_argument("--objectives", default=None, metavar="A:max,B:min",
                   help="two objectives (a table metric or params/flops), e.g. val_acc:max,params:min: also "
                        "report each search's front as its hypervolume, beside random search at the same budget")
    p.add_argument("--out", type=Path, default=None, help="report directory (default runs/bench-<time>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.epilog = ("example: nas bench --space nb201 --evaluator table --strategies random,evolution --budget 150 "
                "--seeds 10\n         nas bench --strategies guided,rl:warmup=params:3000,random --budget 100 --seeds 10")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.set_defaults(handler=run)


def proxy_plan(config) -> list[str]:
    """What the benchmark's proxies will cost before it starts: which strategies ask for which, and
    how many of the space's cell classes already have each data proxy (from --proxies or the cache)."""
    from nas.bench_harness import parse_variants
    from nas.bench_harness.harness import requested_proxies
    from nas.bench_harness.proxy_table import BenchProxies
    from nas.strategies.warmup import SPACE_COUNTS
    from nas.evaluate.table import TableEvaluator

    space = TableEvaluator(config.table).space
    asked = requested_proxies(space, parse_variants(list(config.strategies)))
    data = sorted({p for names in asked.values() for p in names} - set(SPACE_COUNTS))
    lines = [f"  {label} asks for zero-cost proxies: {', '.join(names)}" for label, names in asked.items()]
    if data:
        from nas.proxies.shared_cache import read_cache

        source = BenchProxies.from_file(space, config.proxies)
        known = read_cache(source.cache_file())
        classes = len(space.unique_archs())
        for proxy in data:
            have = len({key for rows in (source.table, known) for key, row in rows.items() if proxy in row})
            lines.append(f"  {proxy}: {min(have, classes):,} of {classes:,} cell classes scored already; the rest "
                         f"are scored on CIFAR-10 as the searches ask (about 1-2 CPU s each), kept in "
                         f"{source.cache_file()}")
    return lines


def run(args: argparse.Namespace) -> int:
    from nas.archive import new_run_id
    from nas.bench_harness import BenchConfig, markdown_table, run_benchmark, write_report

    strategies = tuple(args.strategies or ["random,evolution,rl"])
    checkpoints = args.checkpoints or BenchConfig.default_checkpoints(args.budget)
    config = BenchConfig(strategies=strategies, budget=args.budget, seeds=args.seeds, checkpoints=checkpoints,
                         table=str(args.table) if args.table else None, space=args.space,
                         proxies=str(args.proxies) if args.proxies else None, objectives=args.objectives)
    out = args.out or Path("runs") / new_run_id(args.space, "bench")
    if (out / "results.json").exists():
        raise UserError(f"{out} already holds a benchmark report; pass another --out or remove it")
    workers = args.workers or os.cpu_count() or 1

    def progress(label: str, seeds: list[int], elapsed: float) -> None:
        print(f"  {label}: seeds {seeds[0]}-{seeds[-1]} done ({elapsed:.1f}s)", file=sys.stderr, flush=True)

    if not args.quiet:
        for line in proxy_plan(config):
            print(line, file=sys.stderr, flush=True)
    results = run_benchmark(config, workers=workers, progress=None if args.quiet else progress)
    write_report(results, out)
    print(markdown_table(results), end="")
    pairs = len(results["pairs"])
    print(f"\n{pairs} searches x {config.budget} queries in {results['wall_s']:.1f}s on {workers} "
          f"worker(s); report in {out}/ (results.json, table.md, bench.png)")
    return 0
