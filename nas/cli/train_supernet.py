"""`nas train-supernet`: single-path uniform-sampling supernet training into a run directory."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from nas.archive.run_dir import RunDir, new_run_id
from nas.cli import options
from nas.errors import UserError
from nas.supernet.loading import DataConfig, make_space, resolve_device
from nas.supernet.train import SupernetTrainer, TrainConfig


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


def supernet_run_config(space_name: str, space_config: dict, data: DataConfig, train: TrainConfig) -> dict:
    return {"kind": "supernet", "space": space_name, "space_config": space_config,
            "data": asdict(data), "train": asdict(train)}


def train_into(out: Path, space_name: str, space_opts: dict, data_cfg: DataConfig, train_cfg: TrainConfig,
               device: torch.device, quiet: bool = False) -> dict:
    """Train (or resume training) a supernet in `out`; returns the last epoch's log entry."""
    data = data_cfg.load()
    space = make_space(space_name, data, space_opts)
    config = supernet_run_config(space_name, space.config(), data_cfg, train_cfg)
    if (out / "config.json").exists():
        previous = RunDir.open(out).read_config()
        if {k: previous.get(k) for k in config} != config:
            raise UserError(f"{out} holds a run with other settings; choose another --out "
                            "(or repeat the original options to resume it)")
    else:
        RunDir.create(out, config)
    supernet = space.supernet(torch.Generator().manual_seed(train_cfg.seed))
    trainer = SupernetTrainer(space, supernet, data, train_cfg, out, device)
    bar = tqdm(total=trainer.total_steps, desc="supernet", unit="step", disable=quiet, dynamic_ncols=True)

    def on_step(step: int, total: int, metrics: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{metrics['loss']:.3f}", acc=f"{metrics['acc']:.1f}")

    trainer.on_step = on_step
    if trainer.resume():
        bar.update(trainer.step)
        if not quiet:
            tqdm.write(f"resuming {out} from step {trainer.step}/{trainer.total_steps}")
    try:
        return trainer.run()
    finally:
        bar.close()


def run(args: argparse.Namespace) -> int:
    data_cfg = options.data_config(args)
    train_cfg = options.train_config(args, args.seed)
    out = args.out or Path("runs") / new_run_id(args.space, "supernet")
    last = train_into(out, args.space, options.space_options(args), data_cfg, train_cfg,
                      resolve_device(args.device), args.quiet)
    print(f"supernet trained: {out}  (last epoch loss {last.get('loss', float('nan')):.3f}, "
          f"train acc {last.get('acc', float('nan')):.1f}%)")
    return 0
