"""`nas scale` end to end on CPU: EfficientNet's compound scaling at a small scale, with the
single-dimension ablation (the paper's Figure 8), timed against the issue's 15-minute budget.

Base: the EfficientNet-B0 pattern of the `mbconv` space (each block the stage's B0 kernel,
expansion 6, SE on; every block of every stage) at 32 px, width 0.25, depth 0.5. Step 1 trains the
base and `--candidates` (alpha, beta, gamma) spread over the 0.05 grid at phi = 1; step 2 the
winner's family up to `--phi` and depth / width / resolution alone at each member's FLOPs; every
network trained from scratch with one short recipe (SGD, cosine, `--epochs` on `--train-limit`
CIFAR-10 images, validation on `--val-size` held-out training images; test split once at the end).

Reference: EfficientNet (ImageNet) alpha = 1.2, beta = 1.1, gamma = 1.15; at ~1.8 BFLOPs compound
scaling beats width/depth/resolution alone by 1.0-2.5 points top-1.
Headline: compound_minus_best_single_test_acc = compound test accuracy minus the best single-
dimension scaling's, at the family's largest phi (same FLOPs within a few percent); the wall time
against the 15-minute target is printed the line before.
Run: python bench/scale_cpu.py [--epochs 3] [--train-limit 1500] [--candidates 3] [--phi 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nas.data import DataConfig
from nas.supernet.loading import make_space
from search_spaces.arch import Arch
from search_spaces.mbconv.network import EXPANSIONS, KERNELS


def b0_pattern(width: float, depth: float) -> Arch:
    space = make_space("mbconv", DataConfig("cifar10-subset").load(), {"width": width, "depth": depth})
    blocks = [c for spec in space.layout.blocks
              for c in (KERNELS.index(space.cfg.stages[spec.stage][1]), EXPANSIONS.index(6), 1)]
    return Arch("mbconv", tuple(blocks) + tuple(len(stage) - 1 for stage in space.layout.stage_blocks))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--train-limit", type=int, default=1500)
    p.add_argument("--val-size", type=int, default=500)
    p.add_argument("--candidates", type=int, default=3)
    p.add_argument("--phi", type=int, default=2)
    p.add_argument("--width", type=float, default=0.25)
    p.add_argument("--depth", type=float, default=0.5)
    p.add_argument("--out", type=Path, default=None, help="run directory (default: a temporary one)")
    args = p.parse_args()

    arch = b0_pattern(args.width, args.depth)
    out = args.out or Path(tempfile.mkdtemp(prefix="nas-scale-bench-")) / "scale"
    cmd = [sys.executable, "-m", "nas", "scale", "--arch", arch.to_json(), "--width", str(args.width),
           "-S", f"depth={args.depth}", "--data", "cifar10", "--train-limit", str(args.train_limit),
           "--val-size", str(args.val_size), "--epochs", str(args.epochs), "--batch-size", "64",
           "--max-candidates", str(args.candidates), "--phi", str(args.phi), "--test", "--workers", "2",
           "--out", str(out)]
    print("$ nas scale", " ".join(cmd[4:6]), "...", " ".join(cmd[6:]), flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    print(done.stdout, flush=True)
    if done.returncode != 0:
        sys.exit(f"nas scale failed with status {done.returncode}")
    summary = json.loads((out / "scale.json").read_text())
    top = max(e["phi"] for e in summary["family"])
    compound = next(e for e in summary["family"] if e["phi"] == top)
    singles = [e for e in summary["ablation"] if e["phi"] == top]
    for e in [compound, *singles]:
        print(f"phi {top} {e['kind']:>10}: {e['flops'] / 1e6:6.1f} MFLOPs  val {e['metrics']['val_acc']:.2f}  "
              f"test {e['metrics']['test_acc']:.2f}")
    best_single = max(singles, key=lambda e: e["metrics"]["test_acc"])
    print(f"scale_cpu_wall_min={wall / 60:.2f} (target <= 15)")
    print(f"compound_minus_best_single_test_acc="
          f"{compound['metrics']['test_acc'] - best_single['metrics']['test_acc']:.2f}")


if __name__ == "__main__":
    main()
