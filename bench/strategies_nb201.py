"""Search strategies on NAS-Bench-201 CIFAR-10: random, regularized evolution (pop 10, tournament 3)
and RL (REINFORCE), 30 seeds x 150 queries each, scored by the table (the `nas bench` default).

Prints the table (mean ± std test acc of the best-val pick at 50/100/150 queries, beside the
published figures) and the wall time. Headline: nb201_rea_test_acc_at_100 = mean 200-epoch test
accuracy of regularized evolution's pick after 100 queries (published: 93.95).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from nas.bench_harness import BenchConfig, markdown_table, run_benchmark, write_report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", default=None, help="report directory (default: a new temporary one)")
    args = parser.parse_args()
    config = BenchConfig(seeds=args.seeds, budget=args.budget,
                         checkpoints=BenchConfig.default_checkpoints(args.budget))
    started = time.perf_counter()
    results = run_benchmark(config, workers=args.workers)
    out = write_report(results, args.out or tempfile.mkdtemp(prefix="nb201-bench-"))
    print(markdown_table(results))
    print(f"{len(results['pairs'])} searches x {args.budget} queries on {args.workers} worker(s): "
          f"{time.perf_counter() - started:.1f}s wall (report in {out})")
    rea = results["aggregates"]["evolution"]["checkpoints"]
    q = "100" if "100" in rea else str(config.checkpoints[-1])
    print(f"nb201_rea_test_acc_at_{q}={rea[q]['test_acc_mean']:.2f}")


if __name__ == "__main__":
    main()
