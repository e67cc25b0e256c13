"""Does the 20-block supernet learn? Loss curve of the supernet (single-path uniform sampling) vs a
stand-alone child, same data, same batches, same optimiser, same number of steps.

Headline: learning_progress_ratio = (chance - supernet loss) / (chance - child loss), both the
mean training loss over the last `--window` steps, chance = ln(classes). Target >= 0.6, at a step
count where the child is at least 0.3 below chance. `--sharing independent` measures SPOS's
supernet of independent candidates for comparison (it stays at chance).
Run: python bench/supernet_learning.py [--steps 300] [--width 0.25] [--sharing nested|independent]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from torch import nn

from nas.data import TrainLoader, load_data
from nas.supernet.loading import make_space
from nas.supernet.train import TrainConfig, cosine_lr, make_optimizer, path_for_step, sgd_step
from nas.tasks.classification import CLASSIFICATION


def train_curve(model: nn.Module, forward, loader: TrainLoader, cfg: TrainConfig) -> list[float]:
    optimizer = make_optimizer(model, cfg)
    criterion = CLASSIFICATION.training_loss(cfg.label_smoothing)
    return [sgd_step(model, forward(step), optimizer, criterion, loader.batch(step),
                     cosine_lr(cfg.lr, step, cfg.steps), torch.device("cpu"))["loss"]
            for step in range(cfg.steps)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--sharing", default="nested", choices=("nested", "independent"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_data("cifar10", val_size=0.1, seed=0, train_limit=20000)
    space = make_space("shufflenet", data, {"width": args.width, "sharing": args.sharing})
    cfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=0)
    loader = TrainLoader(data, cfg.batch_size, cfg.seed)
    child_arch = space.sample(np.random.default_rng(12345))
    print(f"{len(space.decisions)} blocks, width {args.width}, batch {args.batch_size}, lr {args.lr} cosine, "
          f"{args.steps} steps, supernet sharing={args.sharing}, child {child_arch.choices}")

    curves, seconds = {}, {}
    supernet = space.supernet(torch.Generator().manual_seed(0))
    child = space.build(child_arch, torch.Generator().manual_seed(0))
    for name, model, forward in (
        ("supernet", supernet, lambda step: (lambda x, a=path_for_step(space, 0, step): supernet(x, a))),
        ("child", child, lambda step: child),
    ):
        started = time.perf_counter()
        curves[name] = train_curve(model, forward, loader, cfg)
        seconds[name] = time.perf_counter() - started

    chance = math.log(data.num_classes)
    print(f"{'step':>6} {'supernet':>9} {'child':>9}   (mean training loss of the {args.window} steps up to here)")
    for end in range(args.window, args.steps + 1, args.window):
        s, c = (float(np.mean(curves[n][end - args.window:end])) for n in ("supernet", "child"))
        print(f"{end:>6} {s:>9.3f} {c:>9.3f}")
    final = {n: float(np.mean(curves[n][-args.window:])) for n in curves}
    print(f"chance {chance:.3f}; child below chance by {chance - final['child']:.3f} (needs >= 0.3); "
          f"time supernet {seconds['supernet']:.0f} s, child {seconds['child']:.0f} s")
    ratio = (chance - final["supernet"]) / (chance - final["child"])
    print(f"learning_progress_ratio={ratio:.3f}")


if __name__ == "__main__":
    main()
