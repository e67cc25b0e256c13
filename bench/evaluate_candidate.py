"""Candidate evaluation on the supernet (per-path BN recalibration + validation) vs the same
forward passes on stand-alone nets.

Headline: evaluate_candidate_ratio = (supernet candidate evaluations per second, recalibration
included) / (rate of the same forward passes — calibration in train mode, validation in eval
mode — on pre-built stand-alone nets). Target >= 0.90.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch

from nas.evaluate.supernet_evaluator import SupernetEvaluator, split_batches
from nas_common.registry import SPACES
from nas.supernet.recalibrate import recalibrate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--candidates", type=int, default=6)
    parser.add_argument("--calibration-images", type=int, default=512)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    space = SPACES.get("shufflenet")(width=args.width)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    calibration = torch.randn(args.calibration_images, 3, 32, 32, generator=g)
    x_val = torch.randn(args.val_images, 3, 32, 32, generator=g)
    y_val = torch.randint(0, 10, (args.val_images,), generator=g)
    evaluator = SupernetEvaluator(supernet, calibration, split_batches(x_val, y_val, 256), batch_size=256,
                                  device=device)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(args.candidates)]
    children = [supernet.extract(a).to(device) for a in archs]  # built beforehand: not timed

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    @torch.no_grad()
    def standalone(child):
        recalibrate(child, child, evaluator.calibration.split(256))
        child.eval()
        for xb, _ in evaluator.val_batches:
            child(xb).argmax(1)

    supernet_times, child_times = [], []
    evaluator.evaluate(archs[0])  # warm-up both paths
    standalone(children[0])
    for _ in range(args.rounds):
        for arch, child in zip(archs, children):
            sync()
            t = time.perf_counter()
            evaluator.evaluate(arch)
            sync()
            supernet_times.append(time.perf_counter() - t)
            t = time.perf_counter()
            standalone(child)
            sync()
            child_times.append(time.perf_counter() - t)
    sn_rate = len(supernet_times) / sum(supernet_times)
    child_rate = len(child_times) / sum(child_times)
    print(f"shufflenet width {args.width}, {args.calibration_images} calibration + {args.val_images} "
          f"validation images, device {device}, {torch.get_num_threads()} threads")
    print(f"supernet: {sn_rate:.2f} candidates/s; stand-alone forward passes: {child_rate:.2f}/s")
    print(f"evaluate_candidate_ratio={sn_rate / child_rate:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
