"""`nas train-supernet`: single-path uniform-sampling supernet training into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nas.config.request import data_config
from nas.cli.types import seed_value
from nas.archive.run_dir import new_run_id
from nas.cli import options
from nas_common.errors import UserError
from nas_common.registry import SPACES
from nas.supernet.loading import resolve_device
from nas.supernet.pipeline import train_into


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supernet", help="train a weight-sharing supernet",
                       description="Train a supernet with single-path uniform sampling (SPOS). "
                                   "Re-running with the same --out resumes from its checkpoint.")
    options.add_space_options(p, required=None)
    p.add_argument("--config", type=Path, default=None,
                   help="start from these settings (JSON or YAML: space, space_options, data, train; a supernet "
                        "run's config.json works); flags given on the command line override them")
    options.add_data_options(p)
    options.add_training_options(p)
    options.add_device_option(p)
    p.add_argument("--seed", type=seed_value, default=None,
                   help="seed of paths, batches, augmentation, init (default 0)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<id>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    g = p.add_argument_group("distributed (Ray Train)")
    g.add_argument("--workers", type=options.positive_int, default=1,
                   help="data-parallel workers; the global --batch-size is split across them (default 1: no Ray)")
    g.add_argument("--sync-bn", action="store_true", help="synchronise BatchNorm statistics across GPU workers")
    g.add_argument("--address", default=None, help="join the Ray cluster at HOST:PORT instead of running locally")
    p.set_defaults(handler=run)
    p.epilog = "examples: nas train-supernet --space shufflenet --epochs 6 --out runs/sup;  nas train-supernet --space detnas --out runs/det"


_CONFIG_KEYS = ("kind", "space", "space_options", "space_config", "data", "train", "task", "provenance")


def resolve(args: argparse.Namespace) -> tuple[str, dict, Any, Any]:
    """(space, space options, data config, train config) from --config (if any) and the flags."""
    from nas.config.config_file import read_config_file

    saved: dict = {}
    if args.config is not None:
        saved = read_config_file(args.config, _CONFIG_KEYS, "supernet training")
        if saved.get("kind", "supernet") != "supernet":
            raise UserError(f"--config {args.config} holds a {saved['kind']} run's settings, not a supernet's")
        for key in ("space_options", "space_config", "data", "train"):
            if not isinstance(saved.get(key, {}), dict):
                raise UserError(f"--config {args.config}: {key!r} must be a mapping")
    space = args.space or saved.get("space")
    if not isinstance(space, str):
        raise UserError("--space is required (or a --config file that names the space)")
    space_opts = {**(saved.get("space_options") or saved.get("space_config") or {}), **options.space_options(args)}
    if saved.get("space_config"):  # a saved run's full space config: the data set input size and classes
        for key in ("input_size", "num_classes", "in_channels"):
            space_opts.pop(key, None)
    data_cfg = data_config(args, SPACES.get(space).task, defaults=saved.get("data"))
    seed = args.seed if args.seed is not None else int((saved.get("train") or {}).get("seed", 0))
    return space, space_opts, data_cfg, options.train_config(args, seed, saved.get("train"), data_cfg)


def run_distributed(args: argparse.Namespace, out: Path) -> dict:
    from nas.distributed.cluster import check_request, connect, resolve_workers
    from nas.distributed.train import train_distributed

    check_request(args.workers, None, args.address)
    with connect(args.address):
        gpus = 0 if args.device == "cpu" else None  # None: one GPU per worker when the cluster has GPUs
        workers, gpus_per_worker = resolve_workers(args.workers, gpus)
        space, space_opts, data_cfg, train_cfg = resolve(args)
        return train_distributed(out, space, space_opts, data_cfg, train_cfg, workers,
                                 use_gpu=gpus_per_worker > 0, sync_bn=args.sync_bn)


def run(args: argparse.Namespace) -> int:
    space, space_opts, data_cfg, train_cfg = resolve(args)
    out = args.out or Path("runs") / new_run_id(space, "supernet")
    if args.workers > 1 or args.address is not None:
        last = run_distributed(args, out)
        print(f"supernet trained on {args.workers} workers: {out}  ({_describe(last)})")
        return 0
    last = train_into(out, space, space_opts, data_cfg, train_cfg, resolve_device(args.device), args.quiet)
    print(f"supernet trained: {out}  (last epoch {_describe(last)})")
    return 0


def _describe(last: dict) -> str:
    """The last epoch's training metrics: loss, and the task's (acc %, or the detection loss parts)."""
    parts = [f"loss {last.get('loss', float('nan')):.3f}"]
    parts += [f"train acc {last['acc']:.1f}%"] if "acc" in last else \
        [f"{k} {v:.3f}" for k, v in last.items() if k not in ("loss", "step", "epoch", "seconds")]
    return ", ".join(parts)
