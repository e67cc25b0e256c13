"""Shared helpers for the benchmarks: timing by median of interleaved repeats."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def median_time(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 2) -> dict[str, float]:
    """Alternate the candidates so machine noise hits both alike; median per candidate."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(ts) for name, ts in times.items()}


def classification_step(model, forward: Callable, x, y, device=None) -> Callable[[], None]:
    """One real training step of `forward(x)` against labels `y` (SGD as the supernet trains,
    label smoothing 0.1; bf16 autocast on CUDA), as a function to time."""
    import torch

    from nas.supernet.train import TrainConfig, make_optimizer

    device = torch.device(device or "cpu")
    opt = make_optimizer(model, TrainConfig())
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = loss_fn(forward(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step
