"""`nas train-supernet`: single-path uniform-sampling supernet training into a run directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.archive.run_dir import new_run_id
from nas.cli import options
from nas.supernet.loading import resolve_device
from nas.supernet.pipeline import train_into


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supernet", help="train a weight-sharing supernet",
                       description="Train a supernet with single-path uniform sampling (SPOS). "
                                   "Re-running with the same --out resumes from its checkpoint.")
    options.add_space_options(p)
    options.add_data_options(p)
    options.add_training_options(p)
    options.add_device_option(p)
    p.add_argument("--seed", type=int, default=0, help="seed of paths, batches, augmentation, init")
    p.add_argument("--out", type=Path, default=None, help="run directory (default runs/<id>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    data_cfg = options.data_config(args)
    train_cfg = options.train_config(args, args.seed)
    out = args.out or Path("runs") / new_run_id(args.space, "supernet")
    last = train_into(out, args.space, options.space_options(args), data_cfg, train_cfg,
                      resolve_device(args.device), args.quiet)
    print(f"supernet trained: {out}  (last epoch loss {last.get('loss', float('nan')):.3f}, "
          f"train acc {last.get('acc', float('nan')):.1f}%)")
    return 0
