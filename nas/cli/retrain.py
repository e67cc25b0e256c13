"""`nas retrain`: architectures trained from scratch, one Ray Tune trial each, into a run directory."""

from __future__ import annotations

import argparse
from typing import Any
from pathlib import Path

from nas.config.request import data_config
from nas.cli.types import gpu_share, seed_value, width_value
from nas.archive import RunDir, format_table, ranked
from nas.cli import options
from nas.cli.arch_input import read_arch, space_named_by, space_options_carried_by
from nas.distributed.cluster import parse_workers
from nas_common.errors import UserError
from nas.data import data_config_from_dict
from nas.supernet.loading import space_on_data
from nas_common.registry import SPACES
from nas.supernet.train import TrainConfig


def add_retrain_options(p: argparse.ArgumentParser) -> None:
    """Training recipe, where the trials run, and the run directory (shared with `nas rank-check`)."""
    g = p.add_argument_group("stand-alone training")
    g.add_argument("--epochs", type=options.positive_int, default=None, help="epochs per architecture")
    g.add_argument("--batch-size", type=options.positive_int, default=TrainConfig.batch_size,
                   help="default: %(default)s")
    g.add_argument("--lr", type=options.positive_float, default=TrainConfig.lr,
                   help="peak learning rate, cosine decay (default: %(default)s)")
    g.add_argument("--weight-decay", type=options.non_negative_float, default=TrainConfig.weight_decay,
                   help="default: %(default)s")
    options.add_augment_option(g)
    g.add_argument("--seed", type=seed_value, default=0, help="seed of initialisation, batches, augmentation")
    g.add_argument("--test", action="store_true", help="also score the test split once at the end (reported apart)")
    g = p.add_argument_group("distributed (Ray Tune)")
    g.add_argument("--workers", type=parse_workers, default="auto",
                   help="trials at a time: N or auto (one per GPU, else per CPU core; default auto)")
    g.add_argument("--gpus-per-worker", type=gpu_share, default=None,
                   help="GPUs per trial (default: 1 when the cluster has GPUs, else 0)")
    g.add_argument("--address", default=None, help="join the Ray cluster at HOST:PORT instead of running locally")
    p.add_argument("--resume", nargs="?", const=True, default=None, metavar="DIR",
                   help="continue the run in DIR (as `nas search --resume DIR`; bare --resume: the run in "
                        "--out): finished trials are kept, the others go on")


def resume_into_out(args: argparse.Namespace) -> None:
    """`--resume DIR` means `--out DIR --resume` (one meaning of --resume across commands)."""
    if isinstance(args.resume, str):
        if args.out is not None and Path(args.out).resolve() != Path(args.resume).resolve():
            raise UserError(f"--resume {args.resume} and --out {args.out} name different runs; give one of them")
        args.out, args.resume = Path(args.resume), True
    args.resume = bool(args.resume)


def train_config(args: argparse.Namespace, epochs: int | None, data: Any = None) -> TrainConfig:
    """The training of each network; its augmentation `--augment`'s, else what suits `data`."""
    from nas.data import default_augmentation

    if epochs is None:
        raise UserError("--epochs is required for a new run (e.g. --epochs 10)")
    try:
        return TrainConfig(epochs=epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
                           augment=options.augment_given(args) or default_augmentation(data), seed=args.seed)
    except ValueError as err:
        raise UserError(str(err)) from None


def cluster_options(args: argparse.Namespace) -> dict:
    return {"workers": args.workers, "gpus_per_worker": args.gpus_per_worker, "address": args.address}


def resumed(args: argparse.Namespace, kind: str, what: str, saved: str) -> bool:
    """Whether this call continues the run in --out (checked: the options it would ignore are
    refused); a new run needs --out. Shared by `nas retrain` and `nas scale`."""
    resume_into_out(args)
    if args.out is None:
        raise UserError(f"--out DIR is required: the run directory of {what} (or --resume DIR)")
    if args.resume:
        if args.arch or args.run:
            raise UserError(f"--resume continues {saved}; drop --arch/--run")
        check_resume(args, args.out, kind)
    return args.resume


def check_resume(args: argparse.Namespace, out: Path, kind: str = "retrain") -> None:
    """On --resume the saved grid and recipe are used; options that would change them are refused."""
    if not (out / "config.json").is_file():
        raise UserError(f"--resume: {out} holds no run to continue; drop --resume to start one")
    config = RunDir.open(out).read_config()
    if config.get("kind") != kind:
        what = {"retrain": "a retraining run", "scale": "a scaling run"}.get(kind, f"a {kind} run")
        raise UserError(f"--resume: {out} is not {what} (kind {config.get('kind', 'search')!r})")
    saved = (config.get("train") or {}).get("epochs")
    if args.epochs is not None and args.epochs != saved:
        raise UserError(f"--epochs {args.epochs} conflicts with the run's saved {saved}; drop --epochs to resume")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("retrain", help="train architectures from scratch (Ray Tune, one trial each)",
                       description="Train each architecture stand-alone (SGD, cosine LR, label smoothing, "
                                   "augmentation) and record its validation accuracy in <out>/retrain.jsonl.")
    source = p.add_argument_group("architectures")
    source.add_argument("--arch", action="append", default=[], help="architecture JSON or file (repeatable)")
    source.add_argument("--run", type=Path, default=None, help="take the best architectures of this search run")
    source.add_argument("--top", type=options.positive_int, default=None, help="how many of --run's best (default 5)")
    options.add_data_options(p)
    p.add_argument("--width", type=width_value, default=None, help="width multiplier (with --arch)")
    add_retrain_options(p)
    p.add_argument("--out", type=Path, default=None, help="run directory of the retraining (required: a new run, or the run a bare --resume continues)")
    p.epilog = "examples: nas retrain --run runs/RUN --top 3 --epochs 30 --out runs/retrain;  nas retrain --arch best.arch.json --out runs/one"
    p.set_defaults(handler=run)


def job_from_archs(args: argparse.Namespace):
    from nas.workflows.retrain import RetrainJob

    name = space_named_by(args.arch[0])
    carried = [space_options_carried_by(text) for text in args.arch]
    if any(c != carried[0] for c in carried):
        raise UserError("the --arch files carry different space options (exported from different runs); "
                        "retrain them in separate runs")
    data_cfg = data_config(args, SPACES.get(name).task)
    space = space_on_data(name, data_cfg, {**carried[0], **options.space_options(args)})
    archs = tuple(dict.fromkeys(read_arch(text, space) for text in args.arch))  # repeated archs train once
    return RetrainJob(name, space.config(), data_cfg, train_config(args, args.epochs, data_cfg), archs, args.test)


def job_from_run(args: argparse.Namespace):
    from nas.workflows.retrain import RetrainJob

    run = RunDir.open(args.run)
    config = run.read_config()
    if config.get("kind") != "search":
        raise UserError(f"--run {args.run} is not a search run (kind {config.get('kind')!r}); pass a `nas search` run")
    records = ranked(run.read_records(), run.objective())[:args.top or 5]
    if not records:
        raise UserError(f"--run {args.run} has no evaluated architecture yet")
    data_cfg = data_config_from_dict(config["data"]) if config.get("data") else \
        data_config(args, SPACES.get(config["space"]).task)
    space = space_on_data(config["space"], data_cfg, config.get("space_options") or {})
    archs = tuple(space.parse(r["arch"]) for r in records)
    return RetrainJob(config["space"], space.config(), data_cfg, train_config(args, args.epochs, data_cfg), archs, args.test)


def run(args: argparse.Namespace) -> int:
    from nas.workflows.retrain import RetrainJob, retrain

    if resumed(args, "retrain", "the retraining", "the saved architectures"):
        job = None
    elif bool(args.arch) == (args.run is not None):
        raise UserError("give either --arch (repeatable) or --run RUN_DIR [--top K]")
    elif args.top is not None and args.run is None:
        raise UserError("--top goes with --run; drop it or add --run RUN_DIR")
    else:
        job = job_from_archs(args) if args.arch else job_from_run(args)
    records = retrain(args.out, job, resume=args.resume, **cluster_options(args))
    objective = RetrainJob.from_config(RunDir.open(args.out).read_config()).objective
    metric, test = objective.metric, "test_" + objective.metric.removeprefix("val_")
    rows = [[str(r["arch_hash"]), r["epochs"], objective.format(r["metrics"][metric]),
             objective.format(r["metrics"][test]) if test in r["metrics"] else "-", f"{r['wall_s']:.0f}"]
            for r in sorted(records, key=lambda r: -objective.utility(r["metrics"][metric]))]
    print(format_table(["arch_hash", "epochs", metric, test, "seconds"], rows))
    print(f"retrained {len(records)} architectures: {args.out}/retrain.jsonl")
    return 0
