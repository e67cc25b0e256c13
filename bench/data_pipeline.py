"""Training batches: the device-resident pipeline vs the per-batch host pipeline it replaced.

The loader keeps the training images on the training device as uint8 and gathers, crops, flips
and normalises whole batches there. The baseline (the previous loader, kept here for comparison)
gathered from numpy, converted to float on the host, augmented there and copied each batch to the
device. On a GPU the report adds the step-only bound: images/s of supernet training steps on a
batch already on the device, against which supernet training with the pipeline is measured
(target >= 0.8 of the bound).

Headline: data_pipeline_speedup = batches/s of the device pipeline / batches/s of the host pipeline
(on CPU the target is >= 1.0: no slower than before).
Run: python bench/data_pipeline.py [--device cpu|cuda] [--batch-size 256] [--train-limit 20000]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from _timing import interleaved_medians  # noqa: E402

from nas.data import TrainLoader, augment_batch, load_data  # noqa: E402
from nas.data.batches import _generator_seed, _normalise  # noqa: E402
from nas.supernet.loading import make_space  # noqa: E402
from nas.supernet.train import TrainConfig, make_optimizer, path_for_step, sgd_step  # noqa: E402
from nas.tasks.classification import CLASSIFICATION  # noqa: E402


class HostLoader(TrainLoader):
    """The previous pipeline: numpy gather and float conversion on the host, copied per batch."""

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.global_indices(step)
        x = torch.from_numpy(self.data.x_train[idx].astype(np.float32)).permute(0, 3, 1, 2).div_(255.0).contiguous()
        if self.augment:
            x = augment_batch(x, torch.Generator().manual_seed(_generator_seed(self.seed, step, self.rank)))
        y = torch.from_numpy(self.data.y_train[idx].astype(np.int64))
        x = _normalise(x, self.data.mean, self.data.std)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train-limit", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--width", type=float, default=1.0, help="supernet width for the GPU step bound")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(2)
    data = load_data("cifar10", val_size=0.1, seed=0, train_limit=args.train_limit)
    new = TrainLoader(data, args.batch_size, 0, device=device)
    old = HostLoader(data, args.batch_size, 0, device=device)
    steps = iter(range(10**9))

    def timed(loader):
        def run():
            x, _ = loader.batch(next(steps))
            if device.type == "cuda":
                torch.cuda.synchronize()
            return x
        return run

    times = interleaved_medians({"device": timed(new), "host": timed(old)}, args.repeats)
    for name, seconds in times.items():
        print(f"{name:>6} pipeline: {args.batch_size / seconds:>10,.0f} images/s ({seconds * 1e3:.2f} ms a batch)")
    if device.type == "cuda":
        step_bound(data, new, args, device)
    print(f"data_pipeline_speedup={times['host'] / times['device']:.3f}")


def step_bound(data, loader: TrainLoader, args: argparse.Namespace, device: torch.device) -> None:
    """images/s of supernet training: on one fixed device batch (the bound) vs fed by the loader."""
    import time

    space = make_space("shufflenet", data, {"width": args.width})
    supernet = space.supernet(torch.Generator().manual_seed(0)).to(device).to(memory_format=torch.channels_last)
    optimizer = make_optimizer(supernet, TrainConfig())
    criterion = CLASSIFICATION.training_loss(0.1)
    fixed = loader.batch(0)

    def images_per_s(batch_of, n: int = 100) -> float:
        for s in range(10):
            sgd_step(supernet, lambda x, a=path_for_step(space, 0, s): supernet(x, a), optimizer, criterion,
                     batch_of(s), 0.1, device)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for s in range(n):
            sgd_step(supernet, lambda x, a=path_for_step(space, 0, s): supernet(x, a), optimizer, criterion,
                     batch_of(s), 0.1, device)
        torch.cuda.synchronize()
        return n * args.batch_size / (time.perf_counter() - start)

    bound = images_per_s(lambda s: fixed)
    fed = images_per_s(loader.batch)
    print(f"supernet training (width {args.width}): step-only bound {bound:,.0f} images/s, with the pipeline "
          f"{fed:,.0f} images/s = {fed / bound:.2f} of the bound (target >= 0.8)")


if __name__ == "__main__":
    main()
