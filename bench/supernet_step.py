"""Supernet training step vs the stand-alone child with the same weights and batch.

Headline: supernet_step_ratio = median step time (supernet, sampled path) / median step time
(stand-alone child). Target <= 1.05. Also reports peak memory (max RSS of a fresh process
running 5 steps) of each, since the supernet holds every candidate's weights.
Run: python bench/supernet_step.py [--width 0.5] [--batch-size 64] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _timing import classification_step, interleaved_medians  # noqa: E402

from nas_common.registry import SPACES  # noqa: E402


def setup(args):
    space = SPACES.get("shufflenet")(width=args.width)
    arch = space.sample(np.random.default_rng(0))
    if args.measure == "child":  # never build the supernet in the child's memory measurement
        supernet, child = None, space.build(arch).to(args.device)
    else:
        supernet = space.supernet(torch.Generator().manual_seed(0)).to(args.device)
        child = supernet.extract(arch).to(args.device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=g).to(args.device)
    y = torch.randint(0, 10, (args.batch_size,), generator=g).to(args.device)
    return space, arch, supernet, child, x, y


def peak_memory(args, which: str) -> float:
    """MiB: max RSS on CPU, max allocated on GPU; in a fresh process so the numbers are separate."""
    out = subprocess.run([sys.executable, __file__, "--measure", which, "--width", str(args.width),
                          "--batch-size", str(args.batch_size), "--device", str(args.device)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--measure", choices=("supernet", "child"), default=None)
    args = parser.parse_args()
    args.device = torch.device(args.device)
    space, arch, supernet, child, x, y = setup(args)
    if args.device.type == "cuda":
        for model in (supernet, child):
            if model is not None:
                model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    steps = {"child": classification_step(child, child, x, y, args.device)}
    if supernet is not None:
        steps["supernet"] = classification_step(supernet, lambda t: supernet(t, arch), x, y, args.device)
    if args.measure:
        for _ in range(5):
            steps[args.measure]()
        if args.device.type == "cuda":
            print(torch.cuda.max_memory_allocated() / 2**20)
        else:
            print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        return
    times = interleaved_medians(steps, args.repeats)
    mem = {k: peak_memory(args, k) for k in steps}
    print(f"shufflenet width {args.width}, batch {args.batch_size}, device {args.device}, "
          f"{torch.get_num_threads()} threads, arch {arch}")
    print(f"step time: supernet {times['supernet'] * 1e3:.1f} ms, child {times['child'] * 1e3:.1f} ms")
    print(f"peak memory: supernet {mem['supernet']:.0f} MiB, child {mem['child']:.0f} MiB "
          f"(supernet params {sum(p.numel() for p in supernet.parameters()) / 1e6:.2f} M, "
          f"child {sum(p.numel() for p in child.parameters()) / 1e6:.2f} M)")
    print(f"supernet_step_ratio={times['supernet'] / times['child']:.3f}")


if __name__ == "__main__":
    main()
