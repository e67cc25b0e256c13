"""`nas search`: the whole pipeline in one command (train a supernet unless given one, search, report)."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from nas.cli.types import gpu_share, seed_value, width_value
from nas.config.presets import preset_overrides
from nas.archive import new_run_id
from nas.cli import options
from nas import api
from nas.config.request import SearchRequest
from nas.config.resolve import pick
from nas.cli.search_report import BaselineBar, SearchProgress, report
from nas.distributed.cluster import check_request, parse_workers
from nas_common.errors import UserError
from nas.config.presets import PRESETS
from nas_common.registry import EVALUATORS, STRATEGIES
from nas.config.run_config import SearchConfig

_SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}


def si_count(text: str) -> int:
    """`300M`, `2.5G`, `15000`: a positive count with an optional K/M/G suffix."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKMG]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a count like 300M, 2.5G or 15000")
    number = float(match.group(1)) * _SI[match.group(2)]
    if not number <= MAX_COUNT:  # also infinity (1e309): no network counts that many
        raise argparse.ArgumentTypeError(f"must be at most {MAX_COUNT:.0e}, got {text.strip()[:40]!r}")
    value = int(number)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text[:40]!r}")
    return value


MAX_COUNT = 1e18  # FLOPs / parameters / latency limits above this are typos


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search a space (trains a supernet first unless --supernet)",
                       description="Search architectures: train a supernet (or use --supernet), run "
                                   "the strategy with per-path BN recalibration, write the run directory.")
    p.add_argument("--space", default=None, help="search space (default shufflenet; see `nas spaces`), or your model with choice points as package.module:Class")
    p.add_argument("--width", type=width_value, default=None, help="width multiplier")
    options.add_space_option_flag(p)
    p.add_argument("--strategy", default=None,
                   help=f"search strategy: {', '.join(STRATEGIES.names())} (options: `nas strategies`)")
    p.add_argument("-o", "--option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, repeatable (e.g. -o population=50 -o mode=regularized)")
    p.add_argument("--supernet", type=Path, default=None,
                   help="use the supernet of this run: a supernet run (nas train-supernet) or a search run that "
                        "trained or used one")
    p.add_argument("--evaluator", choices=EVALUATORS.names(), default=None,
                   help="supernet (default: a trained supernet, BN recalibrated per path), table (look "
                        "accuracies up in a benchmark table: nb201), zc (a zero-cost proxy of the untrained "
                        "network, no training) or standalone (each architecture trained alone for -E epochs=N); "
                        "--strategy darts defaults to table on nb201, standalone elsewhere; settings with -E, "
                        "listed by `nas evaluators`")
    p.add_argument("-E", "--evaluator-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="evaluator setting, repeatable (e.g. --evaluator zc -E proxy=naswot -E report=synflow,jacov)")
    p.add_argument("--table", type=Path, default=None,
                   help="benchmark table for --evaluator table (default: the bundled NB201 CIFAR-10 table)")
    p.add_argument("--budget", type=options.positive_int, default=None, help="architectures to evaluate")
    p.add_argument("--max-flops", type=si_count, default=None, help="constraint, e.g. 300M")
    p.add_argument("--max-params", type=si_count, default=None, help="constraint, e.g. 3.4M")
    p.add_argument("--max-latency", type=latency, default=None, metavar="TIME",
                   help="constraint on the latency predicted by --lut, e.g. 12ms or 800us")
    p.add_argument("--lut", type=Path, default=None, metavar="FILE",
                   help="latency table of this machine (`nas lut build`), for --max-latency")
    p.add_argument("--seed", type=seed_value, default=None, help="seed of the whole run (default 0)")
    p.add_argument("--seeds", type=options.positive_int, default=1, metavar="N",
                   help="N searches with seeds --seed .. --seed+N-1, as parallel Ray Tune trials (--workers at a "
                        "time), one run directory each under --out, and a table over the seeds")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="cpu (default: minutes on 2 cores) or full (SPOS-scale, for a GPU)")
    p.add_argument("--random-baseline", type=options.non_negative_int, default=None,
                   help="also score N random architectures for comparison (median reported; a supernet search "
                        "scores at least 5 for its trust check, so 0 still scores 5; default: the preset's, "
                        + preset_overrides("random_baseline") + ")")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<id>)")
    p.add_argument("--resume", type=Path, default=None, help="continue a stopped search run")
    p.add_argument("--config", type=Path, default=None,
                   help="start from this search config (JSON or YAML, e.g. another run's config.json); --budget, "
                        "--seed, --strategy/-o, --device and the Ray flags may override it")
    p.add_argument("--top", type=options.positive_int, default=10, help="rows of the final table")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--force", action="store_true",
                   help="search even when random architectures score like chance (an untrained supernet)")
    options.add_data_options(p)
    options.add_training_options(p)
    g = p.add_argument_group("backbone pre-training (DetNAS step 1; detection spaces, without --backbone)")
    g.add_argument("--pretrain-steps", type=options.non_negative_int, default=None,
                   help="train the backbone as a classification supernet for N steps first, then start the "
                        "detector from it (0: start from scratch; default: the preset's)")
    g.add_argument("--pretrain-data", default=None, help="classification data of the pre-training (default cifar10)")
    options.add_evaluation_options(p, confirm=True)
    options.add_device_option(p)
    g = p.add_argument_group("distributed (Ray)")
    g.add_argument("--workers", type=parse_workers, default=None,
                   help="evaluator actors: N or auto (one per GPU, else per CPU core); default 1 (no Ray)")
    g.add_argument("--gpus-per-worker", type=gpu_share, default=None,
                   help="GPUs per actor (default: 1 when the cluster has GPUs, else 0)")
    g.add_argument("--address", default=None, help="join the Ray cluster at HOST:PORT instead of running locally")
    # Unset options fall back to the preset; explicit ones always win.
    _show_preset_defaults(p)
    p.epilog = "examples: nas search --space shufflenet --strategy evolution;  nas search --space nb201 --evaluator table --strategy rl --budget 150;  nas search --resume runs/RUN --budget 200"
    p.set_defaults(handler=run, data=None, val_size=None, split_seed=None, batch_size=None, lr=None,
                   weight_decay=None, calibration_images=None, eval_batch_size=None, device=None)


# Flags whose default is the preset's (by space), with the fallback where a preset leaves one unset
# (TrainConfig's defaults: `nas search --help` must not import torch to read them; a test checks).
_PRESET_FLAGS = {"epochs": 10, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4, "warmup_epochs": 0.0,
                 "grad_clip": 0.0, "calibration_images": None, "val_images": None, "confirm_images": 0, "width": None,
                 "train_limit": None}


def _show_preset_defaults(parser: argparse.ArgumentParser) -> None:
    """Help that states the values a search runs with: the preset's, per space (`nas search
    --help` showed TrainConfig's 10 epochs and batch 128 where the cpu preset runs 6 and 64)."""
    for action in parser._actions:
        if action.dest not in _PRESET_FLAGS:
            continue
        fallback = _PRESET_FLAGS[action.dest]
        presets = preset_overrides(action.dest, fallback=fallback)
        if presets:
            base = re.sub(r"\s*\(?default:? [^)]*\)?\s*$", "", action.help or "").strip()
            action.help = (f"{base} " if base else "") + f"(default: the preset's, by space: {presets})"


def latency(text: str) -> int:
    from nas.constraints.latency import parse_latency

    try:
        return parse_latency(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def run_seeds(args: argparse.Namespace) -> int:
    """`--seeds N` (or `--resume` of a group): every seed's search as a Ray Tune trial."""
    from nas.config.run_config import Cluster
    from nas.workflows.seeds import create_group, format_summary, open_group, run_group

    cluster = Cluster(pick(args.workers, "auto"), args.gpus_per_worker, args.address)
    if args.resume is not None:
        if args.seeds != 1 or args.out is not None or args.config is not None:
            raise UserError("--resume continues the group with its saved runs; drop --seeds, --out and --config")
        out, runs = args.resume, open_group(args.resume)
    else:
        config = api.plan(SearchRequest.of(args)).config
        out = args.out or Path("runs") / new_run_id(config.space, f"{config.strategy}-seeds")
        runs = create_group(out, config, args.seeds)
    print(f"group directory: {out} ({len(runs)} seeds)", file=sys.stderr)
    summary = run_group(out, runs, cluster)
    print(format_summary(summary))
    print(f"{len(runs)} seeds: {out}/seeds_summary.json")
    return 0


def run(args: argparse.Namespace) -> int:
    from nas.workflows.seeds import is_group

    if args.seeds > 1 or (args.resume is not None and is_group(args.resume)):
        return run_seeds(args)
    started = time.perf_counter()
    check_request(pick(args.workers, 1), args.gpus_per_worker, args.address)  # before any run dir exists
    request, undo = SearchRequest.of(args), None
    if args.resume is not None:
        if args.out is not None or args.config is not None:
            raise UserError("--resume continues a run in place with its saved config; drop --out and --config")
        run_dir, undo = api.reopen(request)
        config = SearchConfig.from_dict(run_dir.read_config(), where=str(run_dir.config))
    else:
        planned = api.plan(request)  # before a run dir or a supernet exists
        for warning in planned.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        if not args.quiet:
            print(f"plan: {planned.steps}", file=sys.stderr)
        run_dir, config = api.create(planned, args.out), planned.config
    print(f"run directory: {run_dir.path}", file=sys.stderr)
    progress = SearchProgress(config.budget, len(run_dir.read_records()), args.quiet, config.objective)
    baseline_bar = BaselineBar(args.quiet)
    held_out_bar = BaselineBar(args.quiet, "confirming")
    try:
        outcome = api.run(run_dir, quiet=args.quiet, undo=undo, on_record=progress, on_baseline=baseline_bar,
                          on_search_start=progress.start, on_held_out=held_out_bar)
    finally:
        baseline_bar.close()
        held_out_bar.close()
        progress.close()
    report(outcome.summary, outcome.records, args.top, time.perf_counter() - started, run_dir)
    return 0
