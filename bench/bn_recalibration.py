"""The effect of per-path BatchNorm recalibration: the same paths of one trained supernet scored
with the supernet's inherited running statistics and with recalibrated ones.

Reuses the archived `make demo` supernet (or `--supernet RUN_DIR`; without either it trains a
small one on the CIFAR-10 subset), then scores
`--paths` random paths both ways. Headline: recalibration_gain_pct = mean accuracy gain in points.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np
import torch

from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
from nas.supernet.loading import DataConfig, load_supernet_run
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig


ARCHIVED = Path(__file__).resolve().parents[1] / "runs/archived/shufflenet-cifar10-evolution/supernet"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--supernet", type=Path, default=ARCHIVED if ARCHIVED.exists() else None,
                        help="a trained supernet run to reuse (default: the archived demo supernet)")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--paths", type=int, default=5)
    args = parser.parse_args()
    run_dir = args.supernet
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix="nas-bench-bn-")) / "supernet"
        train_into(run_dir, "shufflenet", {"width": 0.25}, DataConfig("cifar10-subset", 1000, 0, None),
                   TrainConfig(steps=args.steps, batch_size=64, lr=0.1), torch.device("cpu"), quiet=True)
    run = load_supernet_run(run_dir)
    evaluator = SupernetEvaluator.from_run(run, EvaluatorConfig(calibration_images=1024, batch_size=256, val_images=1000),
                              torch.device("cpu"))
    rng = np.random.default_rng(123)
    rows = []
    for _ in range(args.paths):
        arch = run.space.sample(rng)
        rows.append((str(arch), evaluator.evaluate_inherited(arch)["val_acc"], evaluator.evaluate(arch)["val_acc"]))
    print(f"supernet {run_dir}; validation accuracy (%) of {args.paths} random paths")
    print(f"{'path':<32} {'inherited BN':>12} {'recalibrated':>12}")
    for name, inherited, recalibrated in rows:
        print(f"{name:<32} {inherited:>12.2f} {recalibrated:>12.2f}")
    gain = statistics.mean(r - i for _, i, r in rows)
    print(f"mean: inherited {statistics.mean(i for _, i, _ in rows):.2f}, "
          f"recalibrated {statistics.mean(r for *_, r in rows):.2f}")
    print(f"recalibration_gain_pct={gain:.2f}")


if __name__ == "__main__":
    main()
