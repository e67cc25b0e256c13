"""Model spaces: supernet training step vs the stand-alone child, on a user's model.

A model space (`search_spaces.model_space`) runs the user's own module with every candidate held,
selecting the path before each forward. Its overhead over the stand-alone child (the module built
with the choices fixed, `extract`ed with the same weights) is what this measures: the same batch,
the same optimiser, the real training step (forward, loss, backward, SGD) of each, interleaved.
Headline: model_space_step_ratio = median supernet step / median child step. Target <= 1.05.
Run: python bench/model_space_step.py [--space examples.small_cnn:SmallCNN] [-S channels=16] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
sys.path.insert(0, __file__.rsplit("/", 2)[0])  # the repository root: examples/ is importable
from _timing import classification_step, interleaved_medians  # noqa: E402

from nas_common.registry import SPACES  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--space", default="examples.small_cnn:SmallCNN")
    parser.add_argument("-S", action="append", default=["channels=16"], metavar="KEY=VALUE")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--archs", type=int, default=3)
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.S)}
    space = SPACES.get(args.space)(**options)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (args.batch_size,), generator=g)
    ratios = []
    rng = np.random.default_rng(0)
    for _ in range(args.archs):
        arch = space.sample(rng)
        supernet = space.supernet(torch.Generator().manual_seed(0))
        child = supernet.extract(arch)
        times = interleaved_medians({"supernet": classification_step(supernet, lambda t: supernet(t, arch), x, y),
                                     "child": classification_step(child, child, x, y)}, args.repeats)
        ratios.append(times["supernet"] / times["child"])
        print(f"{arch}: supernet {times['supernet'] * 1e3:.1f} ms, child {times['child'] * 1e3:.1f} ms, "
              f"ratio {ratios[-1]:.3f}")
    print(f"{args.space} {options}, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"{args.archs} architectures x {args.repeats} interleaved steps each")
    print(f"model_space_step_ratio={float(np.median(ratios)):.3f}")


if __name__ == "__main__":
    main()
