"""How well does a single-path NB201 supernet rank architectures? Ground truth from the table.

Trains the `nb201` supernet on the CIFAR-10 train split (CPU preset below; `--preset gpu` is the
NB201 size, C=16, 5 cells per stage), scores `--archs` architectures spread over the table's
accuracy range with BN recalibrated per path and with inherited BN, and reports Kendall tau,
Spearman rho and top-10 overlap against the table's 12-epoch validation accuracy and 200-epoch test
accuracy (`nas rank-check --against-table` does the same on any nb201 run).

Headline: nb201_supernet_kendall_tau = Kendall tau of recalibrated supernet accuracy vs the 12-epoch
validation accuracy. Target >= 0.6 (published one-shot supernets ~0.50-0.54, few-shot 0.54-0.69).
Run: python bench/supernet_ranking_nb201.py [--preset cpu|gpu] [--out DIR] [--archs 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from nas.evaluate.supernet_evaluator import EvaluatorConfig
from nas.supernet.loading import DataConfig, resolve_device
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig
from nas.table_rank import table_rank_check

PRESETS = {
    # <= 20 minutes on 2 CPU cores, training and scoring together.
    "cpu": {"space": {"channels": 8, "cells_per_stage": 1}, "train_limit": 20000,
            "train": {"steps": 2500, "batch_size": 64, "lr": 0.05}, "calibration": 256, "val_images": 1000},
    # NB201's own network and SPOS-like training length.
    "gpu": {"space": {"channels": 16, "cells_per_stage": 5}, "train_limit": None,
            "train": {"epochs": 100, "batch_size": 256, "lr": 0.1}, "calibration": 2048, "val_images": None},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--archs", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None, help="keep the supernet run here (default: a temp dir)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    preset = PRESETS[args.preset]
    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        run = args.out or Path(tmp) / "nb201-supernet"
        started = time.perf_counter()
        last = train_into(run, "nb201", preset["space"], DataConfig("cifar10", 0.1, 0, preset["train_limit"]),
                          TrainConfig(seed=0, **preset["train"]), device, quiet=True)
        trained = time.perf_counter() - started
        result = table_rank_check(run, run / "rank_check", args.archs,
                                  EvaluatorConfig(preset["calibration"], val_images=preset["val_images"]), device)
        scored = time.perf_counter() - started - trained
    print(f"nb201 supernet {preset['space']}, {preset['train']}; last epoch loss {last.get('loss', float('nan')):.3f}, "
          f"train acc {last.get('acc', float('nan')):.1f}%; training {trained:.0f} s, scoring {args.archs} archs "
          f"{scored:.0f} s on {device}")
    print(result["report"])
    tau = result["correlations"]["recalibrated_vs_table_val_12ep"]["kendall_tau"]
    print(f"nb201_supernet_kendall_tau={tau:.3f}")


if __name__ == "__main__":
    main()
