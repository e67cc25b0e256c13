"""DARTS on NAS-Bench-201, plain and guarded, where the table gives the truth.

For each seed, `nas search --space nb201 --strategy darts --evaluator table` runs once per guard:
plain DARTS (`-o guard=none`), DARTS- (`-o guard=darts-`, an auxiliary skip beside every mixed
op, its weight decayed 1 -> 0) and RobustDARTS's early stop (`-o guard=robust`, the window scaled
to the short schedule). Each trains the mixed supernet (affine-free cell BNs, as DARTS) on a
CPU-sized setting: NB201's depth (5 cells per stage, which is what pushes DARTS towards skip
connections; one cell per stage does not), C = 8, CIFAR-10 at 16 px, the weights on
--train-limit images and the alphas on batches of the held-out half, few epochs. It discretises
the alphas (argmax per edge) and looks the cell up in the table: 200-epoch CIFAR-10 test
accuracy, and how many of the 6 edges chose skip_connect (the collapse symptom). Two runs at a
time, one thread each.

Published NB201 CIFAR-10 test accuracy (full setting, C = 16, N = 5, 32 px, 50 epochs): DARTS-V1
54.30 (all-skip cells), DARTS- 93.80, PC-DARTS 93.41, GDAS 93.61, DrNAS 94.36, optimum 94.37.
Headline: guarded_minus_plain_test_acc = mean over seeds of (first guard - plain) table test accuracy.
The alphas' Adam lr is 6e-3 (DARTS: 3e-4): this setting takes ~600 alpha steps against DARTS's
~20,000, and an Adam step moves a logit by about lr whatever the gradient's scale.
Run: python bench/darts_nb201.py [--seeds 3] [--epochs 8] [--train-limit 5000] [--channels 8]
     [--cells 5] [--image-size 16] [--guards none,darts-,robust] [--es-window 2]
     python bench/darts_nb201.py --default [--data cifar10-subset]: the default command's setting
     (the cpu preset: C = 8, one cell per stage, 6 epochs, 234 steps), which picks the guard
     `nas search --strategy darts` uses by default.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def search(out: Path, seed: int, guard: str, args: argparse.Namespace) -> dict:
    if args.default:  # the default command a user runs first, only the guard and seed changed
        cmd = [sys.executable, "-m", "nas", "search", "--space", "nb201", "--strategy", "darts", "--data", args.data,
               "-o", f"guard={guard}", "-o", f"es_window={args.es_window}", "--seed", str(seed), "--quiet",
               "--out", str(out), *([] if args.max_skips is None else ["-o", f"max_skips={args.max_skips}"])]
        return _run(cmd, out, seed, guard)
    cmd = [sys.executable, "-m", "nas", "search", "--space", "nb201", "--strategy", "darts", "--evaluator", "table",
           "-o", f"guard={guard}", "-o", f"order={args.order}", "-o", f"arch_lr={args.arch_lr}",
           "-S", f"channels={args.channels}",
           "-S", f"cells_per_stage={args.cells}", "--data", "cifar10", "--image-size", str(args.image_size),
           "--train-limit", str(args.train_limit), "-o", f"es_window={args.es_window}",
           "--val-size", "0.5", "--epochs", str(args.epochs), "--seed", str(seed), "--quiet", "--out", str(out)]
    return _run(cmd, out, seed, guard)


def _run(cmd: list[str], out: Path, seed: int, guard: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if done.returncode != 0:
        sys.exit(f"seed {seed} guard {guard} failed: {done.stderr.strip().splitlines()[-1:]}")
    summary = json.loads((out / "summary.json").read_text())
    best = summary["best"]
    return {"seed": seed, "guard": guard, "arch": best["arch"]["choices"], "test_acc": best["metrics"]["test_acc"],
            "skips": summary["darts"].get("skip_connections_kept", summary["darts"]["skip_connections"]),
            "seconds": time.perf_counter() - start}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--train-limit", type=int, default=5000)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--cells", type=int, default=5)
    p.add_argument("--order", type=int, default=1)
    # DARTS takes ~20k alpha steps (50 epochs x 391); this setting ~600. Adam moves a logit by about
    # lr per step whatever the gradient's scale, so the alphas' lr is raised 20x to travel as far.
    p.add_argument("--arch-lr", type=float, default=6e-3)
    p.add_argument("--image-size", type=int, default=16)
    p.add_argument("--guards", default="none,darts-,robust", help="comma-separated: none, darts-, robust")
    p.add_argument("--es-window", type=int, default=2, help="RobustDARTS's window in epochs (5 of DARTS's 50)")
    p.add_argument("--default", action="store_true",
                   help="the default command instead (`nas search --space nb201 --strategy darts --data DATA`: the "
                        "cpu preset's width, epochs and data; only the guard and seed set)")
    p.add_argument("--data", default="cifar10-subset", help="with --default: the data (default cifar10-subset)")
    p.add_argument("--max-skips", type=int, default=None,
                   help="with --default: -o max_skips=N (default: the platform's, 2; -1 keeps every skip)")
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nas-darts-bench-"))
    guards = args.guards.split(",")
    if not set(guards) <= {"none", "darts-", "robust"}:
        sys.exit(f"--guards: choose among none, darts-, robust; got {args.guards}")
    jobs = [(seed, guard) for seed in range(args.seeds) for guard in guards]
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda job: search(root / f"{job[1]}-{job[0]}", job[0], job[1], args), jobs))
    from search_spaces.nb201.space import NB201Space

    space = NB201Space()
    print(f"{'seed':>4} {'guard':>7} {'test_acc':>8} {'skips':>5} {'min':>5}  cell")
    for r in results:
        cell = space.to_string(space.parse({"space": "nb201", "choices": r["arch"]}))
        print(f"{r['seed']:>4} {r['guard']:>7} {r['test_acc']:>8.2f} {r['skips']:>5} {r['seconds'] / 60:>5.1f}  {cell}")
    by = {g: [r for r in results if r["guard"] == g] for g in guards}
    for guard, rows in by.items():
        accs = [r["test_acc"] for r in rows]
        print(f"{guard:>7}: test {statistics.mean(accs):.2f} +- {statistics.pstdev(accs):.2f}, "
              f"skip edges {statistics.mean(r['skips'] for r in rows):.1f} of 6")
    print(f"wall {(time.perf_counter() - start) / 60:.1f} min for {len(jobs)} searches (target <= 20)")
    if "none" in by and len(by) > 1:
        guarded = [g for g in guards if g != "none"][0]
        diffs = [g["test_acc"] - n["test_acc"] for n, g in zip(by["none"], by[guarded])]
        print(f"guarded_minus_plain_test_acc={statistics.mean(diffs):.2f}")


if __name__ == "__main__":
    main()
