"""Latency lookup table vs measured end-to-end latency (MnasNet-style latency prediction).

Builds the `mbconv` table for the CPU setting (32 px, width 0.5, 10 classes, batch 1, 1 thread,
median of 30 runs after 5 warm-ups), then measures 20 random architectures end to end the same way.
A latency table ignores what happens between parts (memory traffic, Python dispatch of the
glue), so its sum is a prediction; the error is what a user constraining --max-latency should
expect. Run it on an otherwise idle machine: other processes inflate single measurements.
Headline: latency_lut_mae_pct = mean |predicted - measured| / measured, percent (target <= 10).
Run: python bench/latency_lut.py [--archs 20] [--threads 1]
"""

from __future__ import annotations

import argparse
import statistics
import time

from nas.constraints.latency import build_table, check_table
from search_spaces.mbconv import MBConvSpace


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--archs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--width", type=float, default=0.5)
    args = parser.parse_args()
    space = MBConvSpace(width=args.width, input_size=32, num_classes=10)
    started = time.perf_counter()
    table = build_table(space, threads=args.threads, warmup=5, repeats=30)
    print(f"table: {len(table.options_us)} x {len(table.options_us[0])} parts in {time.perf_counter() - started:.0f} s; "
          f"fixed {table.fixed_us / 1000:.2f} ms; whole networks = {table.correction:.3f} x the sum of their parts "
          f"(5 calibration networks, seed 12345; the checked ones below are others)")
    rows = check_table(space, table, args.archs, seed=0)
    errors = []
    for arch, predicted, measured in rows:
        errors.append(abs(predicted - measured) / measured)
        print(f"{arch.hash}  {space.flops(arch) / 1e6:6.1f} MFLOPs  predicted {predicted / 1000:6.2f} ms  "
              f"measured {measured / 1000:6.2f} ms  error {100 * (predicted - measured) / measured:+5.1f}%")
    mae = 100 * statistics.mean(errors)
    print(f"mean absolute error {mae:.1f}% over {len(rows)} architectures (target <= 10%: "
          f"{'met' if mae <= 10 else 'MISSED'})")
    print(f"latency_lut_mae_pct={mae:.2f}")


if __name__ == "__main__":
    main()
