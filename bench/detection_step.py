"""Detection supernet training step vs the stand-alone detector of the same path (DetNAS).

Both run the real training step (`nas.supernet.train.sgd_step`: the detection task's focal +
smooth-L1 loss, SGD + Nesterov) on the same letterboxed raccoon batch; the stand-alone detector is
`supernet.extract(arch)`, so weights are equal. The supernet runs one backbone path through the
shared FPN and RetinaNet head.

Headline: detection_step_ratio = median step (supernet) / median step (stand-alone). Target <= 1.05.
Run: python bench/detection_step.py [--layout cpu] [--width 0.25] [--image-size 256] [--batch-size 16]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _timing import interleaved_medians  # noqa: E402

from nas.data import DetectionDataConfig  # noqa: E402
from nas_common.registry import SPACES  # noqa: E402
from nas.supernet.train import TrainConfig, make_optimizer, sgd_step  # noqa: E402
from nas.tasks import get_task  # noqa: E402


def main(space_name: str = "detnas", headline: str = "detection_step_ratio") -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layout", default="cpu")
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    task = get_task("detection")
    data = DetectionDataConfig(image_size=args.image_size).load()
    space = SPACES.get(space_name)(layout=args.layout, width=args.width, input_size=args.image_size,
                                 num_classes=data.num_classes)
    arch = space.sample(np.random.default_rng(0))
    supernet = space.supernet(torch.Generator().manual_seed(0)).to(device)
    child = supernet.extract(arch).to(device)
    batch = task.train_loader(data, args.batch_size, seed=0).batch(0)
    loss_fn = task.training_loss()

    def step_of(model, forward):
        optimizer = make_optimizer(model, TrainConfig())

        def step():
            sgd_step(model, forward, optimizer, loss_fn, batch, 0.01, device)
            if device.type == "cuda":
                torch.cuda.synchronize()
        return step

    times = interleaved_medians({"standalone": step_of(child, child),
                                 "supernet": step_of(supernet, lambda x: supernet(x, arch))}, args.repeats)
    ratio = times["supernet"] / times["standalone"]
    print(f"device {device}, {space_name}, layout {args.layout} x{args.width}, {len(space.decisions)} decisions, "
          f"{args.image_size}px, batch {args.batch_size}")
    print(f"stand-alone step {times['standalone'] * 1e3:.1f} ms, supernet step {times['supernet'] * 1e3:.1f} ms "
          f"(target ratio <= 1.05: {'met' if ratio <= 1.05 else 'MISSED'})")
    print(f"{headline}={ratio:.3f}")


if __name__ == "__main__":
    main()
