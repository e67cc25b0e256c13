"""Do the searches' noise verdicts agree with the test split?

For each setting, `nas search` runs with `--seeds` search seeds (the first trains the supernet, the
others search the same one with `--supernet`). Each search claims either that its best
architecture is distinguishable from the median random architecture (the paired verdict in
`summary.json`), or that it is not: the verdict says so, or the separability check refused to
search (exit 2). The test split, which no search sees, then decides: the best architecture (for a
refused search, the random architecture best on validation) and the median random one are scored
on it with BN recalibrated per path, and their paired difference is distinguishable or not (95%,
paired over the same test images or the same bootstrap resamples of them).

Settings: `demo` (`make demo`: ShuffleNet on CIFAR-10, the `cpu` preset), `raccoon` (DetNAS on the
bundled raccoon photos, the `cpu` preset), `pasted` (DetNAS on the synthetic pasted-objects set,
`--force`: its random median is below the trust check's 5 mAP), `shapes` (DetNAS on the synthetic
10-class small-object COCO set, `nas.data.detection.shapes`, 20 epochs). `--tiny` shrinks every schedule to
check the bench itself in a minute.

Headline: noise_verdict_agreement = the fraction of searches whose claim agrees with the test
split (target >= 0.8).
Run: python bench/noise_verdicts.py [--settings demo,raccoon,pasted,shapes] [--seeds 3] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _cli import nas  # noqa: E402
from nas.evaluate.supernet_evaluator import SupernetEvaluator
from nas.config.run_config import SearchConfig
from nas.supernet.loading import load_supernet_run, resolve_device
from nas.tasks.uncertainty import distinguishable
from nas.judging.verdict import difference
from search_spaces.arch import Arch

SETTINGS = {
    "demo": ["--space", "shufflenet", "--strategy", "evolution"],
    "raccoon": ["--space", "detnas", "--strategy", "evolution"],
    "pasted": ["--space", "detnas", "--strategy", "evolution", "--data", "cifar10-paste", "--force"],
    # users'-style data: the synthetic 10-class small-object COCO set (`nas.data.detection.shapes`, 800 images
    # of 100 px, written into the temporary folder); 20 epochs (600 steps) instead of the preset's 100
    "shapes": ["--space", "detnas", "--strategy", "evolution", "--data", "{shapes}", "--epochs", "20"],
}
TINY = ["--epochs", "1", "--train-limit", "256", "--budget", "6", "--random-baseline", "5",
        "--val-images", "200", "--calibration-images", "64", "--force"]


def search(argv: list[str], out: Path) -> int:
    done = nas(["search", *argv, "--out", str(out), "--quiet", "--device", "cpu"])
    status = done.returncode
    if status and not (out / "random_baseline.json").is_file():  # not a refusal: the search did not start
        raise SystemExit(f"nas search {' '.join(argv)} exited {status}: {done.stderr.strip()[-500:]}")
    return status


def judged(run: Path, status: int) -> dict:
    """The search's claim and what the test split says about it."""
    config = SearchConfig.from_dict(json.loads((run / "config.json").read_text()))
    metric = config.objective.metric
    baseline = json.loads((run / "random_baseline.json").read_text())
    randoms = sorted(baseline["evaluations"], key=lambda e: e[metric])
    median = randoms[(len(randoms) - 1) // 2]
    if status == 0:
        summary = json.loads((run / "summary.json").read_text())
        verdict = summary.get("verdict", {}).get("best_vs_random_median", {})
        claim = bool(verdict.get("distinguishable"))
        best = summary["best"]["arch"]
    else:  # refused: "the validation set cannot tell architectures apart"
        claim, best = False, {"space": config.space, "choices": randoms[-1]["choices"]}
    supernet_dir = Path(config.supernet_run) if config.supernet_run else run / "supernet"
    evaluator = SupernetEvaluator.from_run(load_supernet_run(supernet_dir), config.evaluator.typed(),
                                           resolve_device("cpu"), seed=config.seed)
    test_metric = "test_" + metric.removeprefix("val_")
    a = evaluator.test_metrics(Arch.from_dict(best), per_image=True)
    b = evaluator.test_metrics(Arch(config.space, tuple(median["choices"])), per_image=True)
    diff, se, paired = difference(a, b, test_metric, (a[test_metric], b[test_metric]))
    if not config.objective.maximise:
        diff = -diff
    truth = distinguishable(diff, se) and diff > 0
    return {"status": status, "claim": claim, "test_says": truth, "agree": claim == truth,
            "test_difference": diff, "test_se": se, "paired": paired}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="demo,raccoon,pasted,shapes")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tiny", action="store_true", help="tiny schedules: checks the bench, not the verdicts")
    args = parser.parse_args()
    started, rows = time.perf_counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        for setting in args.settings.split(","):
            tiny = [a for i, a in enumerate(TINY) if "--train-limit" not in TINY[max(i - 1, 0):i + 1]] \
                if "detnas" in SETTINGS[setting] else TINY  # detection data have no --train-limit
            base = SETTINGS[setting] + (tiny if args.tiny else [])
            if "{shapes}" in base:
                from nas.data.detection.shapes import write_shapes_coco

                shapes = write_shapes_coco(Path(tmp) / "shapes", 200 if args.tiny else 800, test=50 if args.tiny else 200)
                base = [str(shapes) if a == "{shapes}" else a for a in base]
            first = None
            for seed in range(args.seeds):
                out = Path(tmp) / f"{setting}-{seed}"
                argv = base + ["--seed", str(seed)]
                if first is not None:  # the same supernet: only the search and its baseline change
                    argv = [a for a in argv if a not in ("--space", "shufflenet", "detnas")]
                    argv = drop_training_flags(argv) + ["--supernet", str(first / "supernet")]
                status = search(argv, out)
                if status not in (0, 2):
                    raise SystemExit(f"{setting} seed {seed}: nas search exited {status}")
                first = first or out
                row = {"setting": setting, "seed": seed, **judged(out, status)}
                rows.append(row)
                print(f"{setting} seed {seed}: {'refused' if status else 'searched'}, claims "
                      f"{'distinguishable' if row['claim'] else 'not distinguishable'}; test difference "
                      f"{row['test_difference']:+.2f} ± {1.96 * row['test_se']:.2f}"
                      f"{' (paired)' if row['paired'] else ''}: {'agrees' if row['agree'] else 'DISAGREES'}",
                      flush=True)
    agreement = sum(r["agree"] for r in rows) / len(rows)
    print(f"{len(rows)} searches in {time.perf_counter() - started:.0f} s; {sum(r['agree'] for r in rows)} agree")
    print(f"noise_verdict_agreement={agreement:.2f}")


TRAINING_FLAGS = {"--epochs": 1, "--train-limit": 1, "--data": 1}


def drop_training_flags(argv: list[str]) -> list[str]:
    """A search on a trained supernet takes no training or data flags (the supernet fixes them)."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
        elif arg in TRAINING_FLAGS:
            skip = TRAINING_FLAGS[arg]
        else:
            out.append(arg)
    return out


if __name__ == "__main__":
    main()
