"""MBConv weight sharing: one sliced, nested supernet block vs separate candidates per option.

The `mbconv` supernet holds, per block position, the largest expansion (6) and kernel (7) and
takes smaller ones as slices (Once-for-All); the alternative keeps one MBConv per (kernel,
expansion, SE) combination, 18 per position. Reported for the CPU setting (32 px, width 0.5,
10 classes): parameters (and float32 megabytes) of both, and the training-step time of a sampled
path in the sliced supernet against the stand-alone child with the same weights (a
separate-candidates supernet runs exactly one child block per position, so the child's step is
its step time). Interleaved medians over sampled paths.
Headline: mbconv_step_ratio = median supernet step / median stand-alone step (target <= 1.10).
Run: python bench/mbconv_sharing.py [--width 0.5] [--batch-size 64] [--paths 4]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _timing import classification_step, interleaved_medians  # noqa: E402

from search_spaces.cost import count_params  # noqa: E402
from search_spaces.mbconv import MBConvSpace  # noqa: E402
from search_spaces.mbconv.network import EXPANSIONS, KERNELS, MBConv  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--paths", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    space = MBConvSpace(width=args.width, input_size=32, num_classes=10)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    fixed = sum(count_params(m) for m in (supernet.stem, supernet.first, supernet.head))
    separate = fixed + sum(count_params(MBConv(spec, k, e, se)) for spec in space.layout.blocks
                           for k in KERNELS for e in EXPANSIONS for se in (False, True))
    shared = count_params(supernet)
    print(f"parameters: sliced supernet {shared / 1e6:.2f} M ({shared * 4 / 2**20:.1f} MB float32); separate "
          f"candidates {separate / 1e6:.2f} M ({separate * 4 / 2**20:.1f} MB), {separate / shared:.1f}x more")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)
    ratios = []
    rng = np.random.default_rng(0)
    for p in range(args.paths):
        arch = space.sample(rng)
        child = supernet.extract(arch)
        times = interleaved_medians({"supernet": classification_step(supernet, lambda v: supernet(v, arch), x, y),
                                     "child": classification_step(child, child, x, y)}, repeats=args.repeats)
        ratios.append(times["supernet"] / times["child"])
        print(f"path {p}: supernet step {times['supernet'] * 1000:.0f} ms, stand-alone {times['child'] * 1000:.0f} ms, "
              f"ratio {ratios[-1]:.3f}  ({space.flops(arch) / 1e6:.1f} MFLOPs)", flush=True)
    print(f"mbconv_step_ratio={statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
