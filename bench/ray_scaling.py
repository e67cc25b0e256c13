"""Candidate evaluation on Ray: throughput with 2 evaluator actors vs 1, and the per-task overhead of
the Ray path (1 actor, 1 thread) vs evaluating in this process with 1 thread.

Every actor has one CPU and sets its torch thread count from that allocation. The same candidates of
the same supernet (seeded init, CIFAR-10 subset, per-path BN recalibration + validation) are scored
on every path. Actor start-up is excluded: each actor scores one warm-up candidate first.

Headline (last line): ray_scaling_speedup = (2-actor candidates/s) / (1-actor candidates/s).
Targets: >= 1.7 on 2 cores; overhead <= 10%.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import ray
import torch

from nas.distributed.executor import RayExecutor
from nas.evaluate.spec import EvaluatorSpec, build_evaluator
from nas.evaluate.base import score
from nas.strategies.base import Trial
from nas.supernet.loading import DataConfig, make_space


def timed_ray(spec, weights, workers: int, trials: list[Trial]) -> tuple[float, dict]:
    with RayExecutor(spec, workers, weights=weights) as executor:
        warm = [Trial(-1 - i, trials[0].arch) for i in range(workers)]
        for t in warm:
            executor.submit(t)
        done = 0
        while done < workers:
            done += len(executor.wait())
        start = time.perf_counter()
        for t in trials:
            executor.submit(t)  # queued beyond capacity: dispatched as actors free up
        results = {}
        while len(results) < len(trials):
            results.update({t.trial_id: m for t, m in executor.wait()})
        return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--candidates", type=int, default=12)
    parser.add_argument("--calibration-images", type=int, default=256)
    parser.add_argument("--val-images", type=int, default=500)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    data_cfg = DataConfig("cifar10-subset", 500, 0, 1500)
    spec = EvaluatorSpec("supernet", space="shufflenet", space_options={"width": args.width},
                         data={"spec": data_cfg.spec, "val_size": data_cfg.val_size,
                               "split_seed": 0, "train_limit": data_cfg.train_limit},
                         evaluator={"calibration_images": args.calibration_images, "batch_size": 256,
                                    "val_images": args.val_images}, seed=0, device="cpu")
    space = make_space("shufflenet", data_cfg.load(), {"width": args.width})
    weights = space.supernet(torch.Generator().manual_seed(0)).state_dict()
    rng = np.random.default_rng(0)
    trials = [Trial(i, space.sample(rng)) for i in range(args.candidates)]

    torch.set_num_threads(1)
    local = build_evaluator(spec, weights)
    score(local, trials[0].arch)  # warm-up
    start = time.perf_counter()
    local_results = {t.trial_id: score(local, t.arch) for t in trials}
    t_local = time.perf_counter() - start
    del local

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        t1, r1 = timed_ray(spec, weights, 1, trials)
        t2, r2 = timed_ray(spec, weights, 2, trials)
    finally:
        ray.shutdown()
    assert r1 == local_results and r2 == local_results, "Ray results differ from local evaluation"
    n = len(trials)
    speedup = t1 / t2
    overhead = t1 / t_local - 1
    print(f"shufflenet width {args.width}, {args.calibration_images} calibration + {args.val_images} validation "
          f"images, {n} candidates, {os.cpu_count()} cores; results identical on every path")
    print(f"local, 1 thread:        {n / t_local:6.2f} candidates/s  ({1000 * t_local / n:.0f} ms each)")
    print(f"ray, 1 actor x 1 CPU:   {n / t1:6.2f} candidates/s  ({1000 * t1 / n:.0f} ms each)")
    print(f"ray, 2 actors x 1 CPU:  {n / t2:6.2f} candidates/s  ({1000 * t2 / n:.0f} ms each)")
    print(f"ray_overhead_per_task={overhead * 100:.1f}%  (target <= 10%)")
    print(f"ray_scaling_speedup={speedup:.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
