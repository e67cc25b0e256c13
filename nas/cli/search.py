"""`nas search`: the whole pipeline in one command (train a supernet unless given one, search, report)."""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tqdm import tqdm

from nas.archive import RunDir, new_run_id, top_table
from nas.cli import options
from nas.distributed.cluster import check_request, parse_workers
from nas.errors import UserError
from nas_common.objective import Objective
from nas.presets import PRESETS, preset
from nas.registry import SPACES, STRATEGIES
from nas.run_config import SearchConfig
from nas.search import check_feasible, evaluator_kind, execute, plan, space_for_config
from nas.strategies.factory import build_config
from nas.data import DataConfig
from nas.supernet.backbone import backbone_source, searched_backbone
from nas.supernet.loading import read_supernet_config
from nas.supernet.train import TrainConfig
from nas.trust import describe

_SI = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9}


def si_count(text: str) -> int:
    """`300M`, `2.5G`, `15000`: a positive count with an optional K/M/G suffix."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([kKMG]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count like 300M, 2.5G or 15000")
    value = int(float(match.group(1)) * _SI[match.group(2)])
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("search", help="search a space (trains a supernet first unless --supernet)",
                       description="Search architectures: train a supernet (or use --supernet), run "
                                   "the strategy with per-path BN recalibration, write the run directory.")
    p.add_argument("--space", default=None, help="search space (default shufflenet; see `nas spaces`)")
    p.add_argument("--width", type=options.positive_float, default=None, help="width multiplier")
    options.add_space_option_flag(p)
    p.add_argument("--strategy", default=None,
                   help=f"search strategy: {', '.join(STRATEGIES.names())} (options: `nas strategies`)")
    p.add_argument("-o", "--option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help="strategy option, repeatable (e.g. -o population=50 -o mode=regularized)")
    p.add_argument("--supernet", type=Path, default=None, help="use the supernet of this run directory")
    p.add_argument("--evaluator", choices=("supernet", "table"), default=None,
                   help="supernet (default) or table: look accuracies up in a benchmark table (nb201)")
    p.add_argument("--table", type=Path, default=None,
                   help="benchmark table for --evaluator table (default: the bundled NB201 CIFAR-10 table)")
    p.add_argument("--budget", type=options.positive_int, default=None, help="architectures to evaluate")
    p.add_argument("--max-flops", type=si_count, default=None, help="constraint, e.g. 300M")
    p.add_argument("--max-params", type=si_count, default=None, help="constraint, e.g. 3.4M")
    p.add_argument("--max-latency", type=latency, default=None, metavar="TIME",
                   help="constraint on the latency predicted by --lut, e.g. 12ms or 800us")
    p.add_argument("--lut", type=Path, default=None, metavar="FILE",
                   help="latency table of this machine (`nas lut build`), for --max-latency")
    p.add_argument("--seed", type=int, default=None, help="seed of the whole run (default 0)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None,
                   help="cpu (default: minutes on 2 cores) or full (SPOS-scale, for a GPU)")
    p.add_argument("--random-baseline", type=options.non_negative_int, default=None,
                   help="also score N random architectures for comparison (median reported)")
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
    options.add_evaluation_options(p)
    options.add_device_option(p)
    g = p.add_argument_group("distributed (Ray)")
    g.add_argument("--workers", type=parse_workers, default=None,
                   help="evaluator actors: N or auto (one per GPU, else per CPU core); default 1 (no Ray)")
    g.add_argument("--gpus-per-worker", type=float, default=None,
                   help="GPUs per actor (default: 1 when the cluster has GPUs, else 0)")
    g.add_argument("--address", default=None, help="join the Ray cluster at HOST:PORT instead of running locally")
    # Unset options fall back to the preset; explicit ones always win.
    p.epilog = "examples: nas search --space shufflenet --strategy evolution;  nas search --space nb201 --evaluator table --strategy rl --budget 150;  nas search --resume runs/RUN --budget 200"
    p.set_defaults(handler=run, data=None, val_size=None, split_seed=None, batch_size=None, lr=None,
                   weight_decay=None, calibration_images=None, eval_batch_size=None, device=None)


def latency(text: str) -> int:
    from nas.latency import parse_latency

    try:
        return parse_latency(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _pick(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def resolve_config(args: argparse.Namespace) -> SearchConfig:
    """The full, explicit, typed config of a new search (saved as the run's config.json), with
    the objective its evaluator optimises."""
    config = SearchConfig.from_dict(_resolve_config(args), where="the command line")
    return config.updated(objective=evaluator_kind(config).objective_of(config))


# Flags that define what a --config FILE search is: set them in the file, not on the command line.
_DEFINED_BY_FILE = ("space", "width", "space_option", "supernet", "evaluator", "table", "max_flops", "max_params",
                    "max_latency", "lut",
                    "preset", "random_baseline", "data", "val_size", "split_seed", "train_limit", "images",
                    "test_data", "image_size", "backbone", "pretrain_steps", "pretrain_data", "epochs",
                    "steps", "batch_size", "lr", "weight_decay", "warmup_epochs", "calibration_images",
                    "val_images", "eval_batch_size")


def config_from_file(args: argparse.Namespace) -> SearchConfig:
    """`--config FILE`: a search config as JSON (a run's config.json, or written by hand); the
    budget, seed, strategy and its options, device and cluster flags may override it."""
    from nas.cli.config_file import read_config_file

    saved = read_config_file(args.config, SearchConfig.KEYS, "search")
    given = [name for name in _DEFINED_BY_FILE if getattr(args, name, None) not in (None, [], False)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UserError(f"{flags} cannot be combined with --config: set {'them' if len(given) > 1 else 'it'} "
                        f"in {args.config}")
    saved.pop("provenance", None)
    if args.strategy is not None and args.strategy != saved.get("strategy"):
        saved.update(strategy=args.strategy, strategy_options={})
    saved["strategy_options"] = {**(saved.get("strategy_options") or {}), **dict(args.option)}
    for key in ("budget", "seed", "device", "workers", "gpus_per_worker", "address"):
        if getattr(args, key) is not None:
            saved[key] = getattr(args, key)
    if args.force:
        saved["force"] = True
    config = SearchConfig.from_dict(saved, where=str(args.config))
    build_config(STRATEGIES.get(config.strategy).Config, config.strategy_options,
                 owner=f"strategy {config.strategy!r}")
    return config


def _resolve_config(args: argparse.Namespace) -> dict[str, Any]:
    preset_name = args.preset or "cpu"
    p = preset(preset_name, args.space)
    if args.strategy is None:
        raise UserError("--strategy is required for a new search (e.g. --strategy evolution)")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise UserError(f"--seed must be in [0, 2^63), got {args.seed}")
    seed = _pick(args.seed, 0)
    strategy_options = {**p["strategy_options"].get(args.strategy, {}), **dict(args.option)}
    # Check the strategy and its options now: a typo must fail before a run directory is created
    # (or a supernet trained), not leave a half-made run that blocks reusing --out.
    typed = build_config(STRATEGIES.get(args.strategy).Config, strategy_options, owner=f"strategy {args.strategy!r}")
    config: dict[str, Any] = {"kind": "search", "preset": preset_name, "strategy": args.strategy,
                              "strategy_options": {k: getattr(typed, k) for k in strategy_options},  # typed
                              "budget": args.budget, "seed": seed,
                              "constraint": {"max_flops": args.max_flops, "max_params": args.max_params,
                                             "max_latency_us": args.max_latency,
                                             "latency_table": str(args.lut.resolve()) if args.lut else None},
                              "random_baseline": _pick(args.random_baseline, p["random_baseline"]),
                              "device": _pick(args.device, "auto"), "workers": _pick(args.workers, 1),
                              "force": bool(args.force),
                              "gpus_per_worker": args.gpus_per_worker, "address": args.address}
    config["evaluator"] = {"kind": "supernet", "calibration_images": _pick(args.calibration_images, p["calibration_images"]),
                           "batch_size": _pick(args.eval_batch_size, 256),
                           "val_images": _pick(args.val_images, p["val_images"])}
    if args.evaluator == "table" or args.table is not None:
        return _table_search(args, config)
    if args.supernet is not None:
        return _referenced_supernet(args, config)
    return _supernet_trained_here(args, config, p, seed)


def _table_search(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    if args.supernet is not None:
        raise UserError("--supernet and --evaluator table exclude each other; pick one")
    config.update(space=_pick(args.space, "nb201"), space_options={}, data=None, train=None,
                  supernet=None, random_baseline=_pick(args.random_baseline, 0),
                  evaluator={"kind": "table", "table": str(args.table.resolve()) if args.table else None})
    return config


def _referenced_supernet(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, Any]:
    trained = read_supernet_config(args.supernet)
    if args.space_option:
        raise UserError("-S/--space-option and --supernet exclude each other: the supernet fixes the space")
    if args.space is not None and args.space != trained["space"]:
        raise UserError(f"--space {args.space} conflicts with the supernet's space {trained['space']}")
    config.update(space=trained["space"], space_options=trained["space_config"], data=trained["data"],
                  task=trained.get("task", "classification"), train=None,
                  supernet={"run": str(args.supernet.resolve())})
    return config


def _supernet_trained_here(args: argparse.Namespace, config: dict[str, Any], p: dict[str, Any],
                           seed: int) -> dict[str, Any]:
    try:
        train = TrainConfig(epochs=_pick(args.epochs, p["epochs"]), steps=args.steps,
                            batch_size=_pick(args.batch_size, p["batch_size"]), lr=_pick(args.lr, p["lr"]),
                            weight_decay=_pick(args.weight_decay, TrainConfig.weight_decay), seed=seed,
                            checkpoint_every=_pick(args.checkpoint_every, 0), augment=not args.no_augment,
                            warmup_epochs=_pick(args.warmup_epochs, p.get("warmup_epochs", 0.0)),
                            backbone=options.backbone_run(args))
    except ValueError as err:
        raise UserError(str(err)) from None
    space = _pick(args.space, "shufflenet")
    data = options.data_config(args, SPACES.get(space).task, {"train_limit": p["train_limit"], **p["data"]})
    space_options = {**p["space_options"].get(space, {}), "width": _pick(args.width, p["width"]),
                     **_fixed_backbone_options(args, space), **dict(args.space_option)}
    config.update(space=space, space_options=space_options, data=asdict(data), task=data.task,
                  train=asdict(train), supernet={"run": None})
    config["backbone_pretraining"] = _pretraining(args, space, p, seed)
    return config


def _fixed_backbone_options(args: argparse.Namespace, space: str) -> dict[str, Any]:
    """A space with a fixed backbone (`nasfpn`) given `--backbone` of a DetNAS run takes that run's
    backbone: its configuration (layout, width, sharing) and, from a DetNAS search, the backbone of
    its best architecture. `--width` and `-S` still override."""
    if not args.backbone or "backbone_arch" not in inspect.signature(SPACES.get(space)).parameters:
        return {}
    source = backbone_source(args.backbone)
    adopted: dict[str, Any] = {}
    if source.space == "detnas":
        adopted = {k: source.space_config[k] for k in ("layout", "width", "sharing") if k in source.space_config}
        if args.width is not None:
            adopted.pop("width", None)
    searched = searched_backbone(args.backbone)
    if searched is not None:
        adopted["backbone_arch"] = list(searched)
    return adopted


def _pretraining(args: argparse.Namespace, space: str, p: dict[str, Any], seed: int) -> dict[str, Any] | None:
    """DetNAS step 1 settings, when the space has a backbone to pre-train and no --backbone is given."""
    settings = p.get("pretrain", {})
    steps = _pick(args.pretrain_steps, settings.get("steps", 0))
    if steps < 0:
        raise UserError(f"--pretrain-steps must be >= 0, got {steps}")
    has_backbone = getattr(SPACES.get(space), "classification_backbone", None) is not None
    if args.pretrain_steps and not has_backbone:
        raise UserError(f"--pretrain-steps: space {space!r} has no backbone to pre-train (detection spaces do)")
    if args.pretrain_data is not None and not steps:
        raise UserError("--pretrain-data needs --pretrain-steps N (N > 0)")
    if not steps or not has_backbone or args.backbone:
        return None
    data = DataConfig(_pick(args.pretrain_data, settings.get("data", "cifar10")), val_size=0,
                      train_limit=settings.get("train_limit"))
    train = TrainConfig(steps=steps, batch_size=settings.get("batch_size", 128), lr=settings.get("lr", 0.2),
                        seed=seed, warmup_epochs=0.0)
    return {"data": asdict(data), "train": asdict(train)}


# Options that define a run: on --resume they must be absent or equal to the saved value.
_FIXED = {"space": ("space",), "strategy": ("strategy",), "seed": ("seed",), "preset": ("preset",),
          "max_flops": ("constraint", "max_flops"), "max_params": ("constraint", "max_params"),
          "max_latency": ("constraint", "max_latency_us"),
          "data": ("data", "spec"), "width": ("space_options", "width")}


def resume_config(args: argparse.Namespace) -> tuple[RunDir, dict[str, Any]]:
    run = RunDir.open(args.resume).lock()
    config = run.read_config()
    if config.get("kind") != "search":
        raise UserError(f"{args.resume} is not a search run (it is a {config.get('kind', 'unknown')} run); "
                        "pass a directory written by `nas search`")
    for option, path in _FIXED.items():
        given = getattr(args, option)
        saved: Any = config
        for key in path:
            saved = saved.get(key) if isinstance(saved, dict) else None
        if given is not None and given != saved:
            flag = "--" + option.replace("_", "-")
            raise UserError(f"{flag} {given} conflicts with the run's saved {option} {saved}; "
                            f"drop {flag} to resume, or start a new run with --out")
    if not isinstance(config.get("strategy_options"), dict):
        raise UserError(f"{run.config} lacks \"strategy_options\" (edited or damaged); restore it, or start a new run")
    config_cls, owner = STRATEGIES.get(config.get("strategy", "")).Config, f"strategy {config.get('strategy')!r}"
    saved = build_config(config_cls, config["strategy_options"], owner=owner)

    def differs(key: str, value: str) -> bool:  # compared typed: "0.10" repeats a saved 0.1
        if key not in config["strategy_options"]:
            return True
        try:
            return getattr(build_config(config_cls, {**config["strategy_options"], key: value}, owner=owner),
                           key) != getattr(saved, key)
        except (UserError, ValueError):
            return True

    changed = [f"{k}={v}" for k, v in args.option if differs(k, v)]
    if changed:  # repeating a saved option is harmless; a new or different one would be ignored
        raise UserError(f"strategy options (-o {' -o '.join(changed)}) cannot change on --resume; "
                        "drop them, or start a new run with --out")
    if args.supernet is not None:
        raise UserError("--supernet cannot change on --resume; drop it")
    if args.lut is not None:
        raise UserError("--lut cannot change on --resume; drop it")
    changed = [f"{k}={v}" for k, v in args.space_option if config.get("space_options", {}).get(k) != v]
    if changed:
        raise UserError(f"space options (-S {' -S '.join(changed)}) cannot change on --resume; drop them")
    if args.budget is not None:  # a resumed search may be given a larger budget, never one below its records
        recorded = len({r["arch_hash"] for r in run.read_records()})
        if args.budget < recorded:
            raise UserError(f"--budget {args.budget} is below the {recorded} architectures this run has already "
                            f"evaluated; give --budget {recorded} or more (or drop it)")
        config["budget"] = args.budget
    if args.force:
        config["force"] = True
    for key in ("workers", "gpus_per_worker", "address"):  # where it runs may change on resume
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    # A damaged log or state file must fail the resume before anything in the run is rewritten.
    run.read_records()
    run.read_strategy_state()
    return run, config


class _Progress:
    """Search progress bar, opened at the first result (after any supernet training bar)."""

    def __init__(self, total: int | None, done: int, quiet: bool, objective: Objective) -> None:
        self.objective = objective
        self.best: float | None = None
        self.total, self.done, self.quiet = total, done, quiet
        self.bar: tqdm | None = None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, record: dict[str, Any], new: bool) -> None:
        if self.bar is None:
            self.bar = tqdm(total=self.total, initial=self.done, desc="search", unit="arch",
                            disable=self.quiet, dynamic_ncols=True)
        value = self.objective.value(record["metrics"])
        if self.best is None or self.objective.better(value, self.best):
            self.best = value
        if new:
            self.bar.update(1)
        self.bar.set_postfix(best=self.objective.format(self.best))


class _BaselineBar:
    """Progress of the random architectures scored before the search (the supernet trust check)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.bar = quiet, None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc="random archs", unit="arch", disable=self.quiet, dynamic_ncols=True)
        self.bar.update(1)
        if done == total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    check_request(_pick(args.workers, 1), args.gpus_per_worker, args.address)  # before any run dir exists
    if args.resume is not None:
        if args.out is not None or args.config is not None:
            raise UserError("--resume continues a run in place with its saved config; drop --out and --config")
        run_dir, saved = resume_config(args)
        config = SearchConfig.from_dict(saved, where=str(run_dir.config))
        from nas.archive.atomic import write_json_atomic

        restore = (run_dir.config.read_bytes(), _size(run_dir.evaluations))
        write_json_atomic(run_dir.config, config.to_dict())
    else:
        config = config_from_file(args) if args.config is not None else resolve_config(args)
        strategy = check_feasible(space_for_config(config), config)  # before a run dir or a supernet exists
        for warning in strategy.warnings():
            print(f"warning: {warning}", file=sys.stderr)
        if not args.quiet:
            print(f"plan: {plan(config, strategy.budget)}", file=sys.stderr)
        out = args.out or Path("runs") / new_run_id(config.space, config.strategy)
        run_dir = RunDir.create(out, config.to_dict())
    print(f"run directory: {run_dir.path}", file=sys.stderr)
    progress = _Progress(config.budget, len(run_dir.read_records()), args.quiet, config.objective)
    baseline_bar = _BaselineBar(args.quiet)
    try:
        outcome = execute(run_dir, quiet=args.quiet, on_record=progress, on_baseline=baseline_bar)
    except UserError:
        if args.resume is not None and _size(run_dir.evaluations) == restore[1]:
            from nas.archive.atomic import write_bytes_atomic

            write_bytes_atomic(run_dir.config, restore[0])  # a refused resume leaves the run as it was
        raise
    finally:
        baseline_bar.close()
        progress.close()
    report(outcome.summary, outcome.records, args.top, time.perf_counter() - started, run_dir)
    return 0


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _secondary(objective: Objective, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Further figures of the best architecture next to its objective (detection: AP50, AP75)."""
    prefix = objective.metric.split("_")[0] + "_"
    return [(k, f"{metrics[k]:.2f}") for k in (f"{prefix}AP50", f"{prefix}AP75") if k in metrics]


def report(summary: dict[str, Any], records: list[dict[str, Any]], top: int, seconds: float, run: RunDir) -> None:
    best = summary["best"]
    objective = run.objective()
    name, value = objective.metric, objective.format(objective.value(best["metrics"]))
    print(top_table(records, top, objective=objective))
    print()
    print(f"best architecture   {best['arch']['choices']}  ({best['arch_hash']})")
    if f"best_inherited_bn_{name}" in summary:
        print(f"{name:<19} {value}  (per-path BN recalibrated; "
              f"with inherited BN: {objective.format(summary[f'best_inherited_bn_{name}'])})")
    else:
        print(f"{name:<19} {value}")
    if "test_acc" in best["metrics"]:
        print(f"test_acc (reported) {best['metrics']['test_acc']:.2f}%  (never shown to the strategy)")
    for metric, text in _secondary(objective, best["metrics"]):
        print(f"{metric:<19} {text}")
    test_metric = "test_" + name.removeprefix("val_")
    if test_metric in summary.get("best_test", {}):
        test = summary["best_test"]
        extra = ", ".join(f"{k.removeprefix('test_')} {v:.2f}" for k, v in test.items()
                          if k in ("test_AP50", "test_AP75"))
        print(f"{test_metric + ' (test)':<19} {objective.format(test[test_metric])}"
              f"{f'  ({extra})' if extra else ''}  (supernet weights; the search never saw the test split)")
    note = SPACES.get(best["arch"]["space"]).cost_note if best["arch"]["space"] in SPACES else ""
    print(f"flops / params      {best['flops'] / 1e6:.2f} M / {best['params'] / 1e6:.3f} M{f'  ({note})' if note else ''}")
    if "random_baseline" in summary:
        rb = summary["random_baseline"]
        print(f"random archs        {describe(rb, rb.get('chance'), objective.unit)}")
    print(f"evaluations         {summary['evaluations']}  in {seconds:.0f} s")
    print(f"run directory       {run.path}  (summary.json, evaluations.jsonl, progress.png, pareto.png)")
