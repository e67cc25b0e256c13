"""Candidate-evaluation throughput with 1, 2 and 4 evaluator processes sharing one GPU.

Each process plays the part of one Ray evaluator actor with a fractional GPU (`--gpus-per-worker
0.5 / 0.25`): it holds its own supernet replica and evaluates its share of the same candidates
(recalibration + validation). Ray itself is not needed on the GPU machine for this measurement.
Headline: gpu_eval_sharing_speedup_4 = throughput with 4 processes / with 1.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.multiprocessing as mp

from nas.evaluate.supernet_evaluator import SupernetEvaluator, split_batches
from nas_common.registry import SPACES


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def worker(rank: int, procs: int, args, barrier, results) -> None:
    torch.set_num_threads(1)
    space = SPACES.get("shufflenet")(width=args.width)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(1)
    calibration = torch.randn(args.calibration_images, 3, 32, 32, generator=g)
    x_val = torch.randn(args.val_images, 3, 32, 32, generator=g)
    y_val = torch.randint(0, 10, (args.val_images,), generator=g)
    evaluator = SupernetEvaluator(supernet, calibration, split_batches(x_val, y_val, args.batch_size),
                                  batch_size=args.batch_size, device=args.device)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(args.candidates)]
    evaluator.evaluate(archs[0])  # warm-up (cuDNN autotuning, allocator)
    sync(args.device)
    barrier.wait()
    start = time.perf_counter()
    for arch in archs[rank::procs]:
        evaluator.evaluate(arch)
    sync(args.device)
    results[rank] = time.perf_counter() - start


def throughput(procs: int, args) -> float:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(procs)
    manager = ctx.Manager()
    results = manager.dict()
    workers = [ctx.Process(target=worker, args=(r, procs, args, barrier, results)) for r in range(procs)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return args.candidates / max(results.values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--candidates", type=int, default=32)
    parser.add_argument("--calibration-images", type=int, default=2048)
    parser.add_argument("--val-images", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--device", default="cuda", help="cpu only to try the script out")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA GPU here: run bench/gpu_check.sh on a GPU machine")
        return
    rates = {k: throughput(k, args) for k in (1, 2, 4)}
    for k, rate in rates.items():
        print(f"{k} evaluator process(es) on one GPU: {rate:.2f} candidates/s ({rate / rates[1]:.2f}x)")
    print(f"gpu_eval_sharing_speedup_4={rates[4] / rates[1]:.2f}")


if __name__ == "__main__":
    main()
