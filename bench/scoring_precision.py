"""Candidate scoring: bf16 autocast (`-E precision=bf16`) against the default fp32 scoring, at the
demo's scale, beside channels-last memory and inference mode (measured, not adopted).

The demo's supernet (ShuffleNet, width 0.25, stage repeats 2-2-2-2) trained for 300 real steps on the
CIFAR-10 subset, then 16 random architectures scored as a search scores them (BN recalibrated on
512 images, validated on 1,000), in fp32 (the baseline) and under bf16 autocast, interleaved.
Baseline: fp32 on contiguous tensors (the default). Reports seconds per candidate, the largest
accuracy difference in standard errors, whether the best architecture is the same, and whether the
scores are identical with 1 and 2 threads (a Ray actor scores with one, the search's own process
with two), for bf16 (what `-E precision=bf16` does), channels-last memory, both, and inference mode.
Headline: the speed-up of `-E precision=bf16`.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from nas.data import load_data, to_float  # noqa: E402
from nas.evaluate.supernet_evaluator import SupernetEvaluator, split_batches  # noqa: E402
from nas.supernet.loading import make_space  # noqa: E402
from nas.supernet.train import SupernetTrainer, TrainConfig  # noqa: E402

ARCHS, ROUNDS = 16, 3


def main() -> None:
    torch.set_num_threads(2)
    data = load_data("cifar10-subset", val_size=1000, train_limit=2000)
    space = make_space("shufflenet", data, {"width": 0.25, "stage_repeats": [2, 2, 2, 2]})
    supernet = space.supernet(torch.Generator().manual_seed(0))
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        trainer = SupernetTrainer(space, supernet, data, TrainConfig(steps=300, batch_size=64, lr=0.1, seed=0), tmp)
        for step in range(300):
            trainer.train_step(step)
    supernet.eval()
    calibration = to_float(data.x_train[:512], data.mean, data.std)
    x_val = to_float(data.x_val[:1000], data.mean, data.std)
    y_val = torch.as_tensor(data.y_val[:1000], dtype=torch.long)
    archs = [space.sample(np.random.default_rng(i)) for i in range(ARCHS)]
    def nhwc(x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last)

    # (precision, memory layout, context); the evaluator offers fp32 (the default) and bf16
    # (-E precision=bf16), both on contiguous tensors; channels-last is set up here to measure it
    settings = {
        "fp32 contiguous (default)": ("fp32", "contiguous", contextlib.nullcontext),
        "fp32 inference_mode": ("fp32", "contiguous", torch.inference_mode),
        "fp32 channels_last": ("fp32", "channels_last", contextlib.nullcontext),
        "bf16 contiguous (-E precision=bf16)": ("bf16", "contiguous", contextlib.nullcontext),
        "bf16 channels_last": ("bf16", "channels_last", contextlib.nullcontext),
    }

    def build(precision: str, layout: str) -> SupernetEvaluator:
        evaluator = SupernetEvaluator(supernet, calibration, split_batches(x_val, y_val, 256), 256, precision=precision)
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        evaluator.supernet.to(memory_format=fmt)
        if layout == "channels_last":  # the path's forward keeps the layout of what it is given
            evaluator.calibration = nhwc(calibration)
            evaluator.val_batches = [(nhwc(x), y) for x, y in split_batches(x_val, y_val, 256)]
        return evaluator

    times: dict[str, list[float]] = {name: [] for name in settings}
    scores: dict[str, list[dict]] = {}
    for round_ in range(ROUNDS):  # interleaved, so machine noise hits every setting alike
        for name, (precision, layout, context) in settings.items():
            evaluator = build(precision, layout)
            with context():
                evaluator.evaluate(archs[0])  # warm-up
                start = time.perf_counter()
                out = [evaluator.evaluate(a) for a in archs]
                times[name].append((time.perf_counter() - start) / ARCHS)
            scores[name] = out
    stable = {}
    for name, (precision, layout, _) in settings.items():  # the same scores with 1 thread as with 2?
        by_threads = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            by_threads.append([build(precision, layout).evaluate(a)["val_loss"] for a in archs[:4]])
        stable[name] = by_threads[0] == by_threads[1]
    supernet.to(memory_format=torch.contiguous_format)
    baseline = "fp32 contiguous (default)"
    base = np.array([s["val_acc"] for s in scores[baseline]])
    se = np.array([s["val_acc_se"] for s in scores[baseline]])
    print(f"# {ARCHS} architectures of the demo's space after 300 training steps; 512 calibration + 1,000 "
          f"validation images; 2 threads; median of {ROUNDS} interleaved rounds")
    print(f"# fp32 accuracies: {', '.join(f'{v:.1f}' for v in base)} (standard errors {se.min():.2f}-{se.max():.2f})")
    fp32 = statistics.median(times[baseline])
    for name in settings:
        acc = np.array([s["val_acc"] for s in scores[name]])
        gap = np.abs(acc - base) / se
        print(f"{name:40s} {statistics.median(times[name]):.3f} s/candidate  speed-up {fp32 / statistics.median(times[name]):.2f}x"
              f"  max |diff| {np.abs(acc - base).max():.2f} points = {gap.max():.2f} SE  same best: "
              f"{int(acc.argmax()) == int(base.argmax())}  1 vs 2 threads identical: {stable[name]}")
    print(f"scoring_speedup_bf16={fp32 / statistics.median(times['bf16 contiguous (-E precision=bf16)']):.2f}")

if __name__ == "__main__":
    main()
