"""Do the searches' verdicts agree with the test split, on both sides?

For each setting, `nas search` runs with `--seeds` search seeds (the first trains the supernet, the
others search the same one with `--supernet`; every search is forced past the separability check
so that each ends with a verdict). Each search claims either that its best architecture is better
than the median random architecture (`summary.json` `verdict.better_than_random`, judged on the
confirmation images that took no part in choosing it) or that it is not distinguishable from it.
The test split, which no search uses, then decides: the same two architectures' paired difference
on it (`verdict.splits.test`, computed by the search and never shown to it) is better beyond
noise or not. On NB201 the table is a second truth: the two cells' 200-epoch test accuracies.

Settings: `demo` (`make demo`: ShuffleNet on CIFAR-10, the `cpu` preset: random architectures
that differ by less than the noise), `nb201` (the NB201 cell, `cpu` preset at 8 epochs: cells
that really differ), `raccoon` (DetNAS on the bundled raccoon photos), `shapes` (DetNAS on the
synthetic 10-class small-object COCO set, `nas.data.detection.shapes`, 20 epochs). `--tiny` shrinks every
schedule to check the bench itself in a minute.

Headline: noise_verdict_agreement = the smaller of the agreement among "better" claims and among
"not distinguishable" claims (target >= 0.9 on each side, >= 10 searches each).
Run: python bench/noise_verdicts.py [--settings demo,nb201] [--seeds 10] [--first-seed 0] [--tiny]
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

SETTINGS = {
    "demo": ["--space", "shufflenet", "--strategy", "evolution", "--force"],
    "nb201": ["--space", "nb201", "--strategy", "evolution", "--epochs", "8", "--force"],
    "raccoon": ["--space", "detnas", "--strategy", "evolution", "--force"],
    # users'-style data: the synthetic 10-class small-object COCO set (`nas.data.detection.shapes`, 800 images
    # of 100 px, written into the temporary folder); 20 epochs (600 steps) instead of the preset's 100
    "shapes": ["--space", "detnas", "--strategy", "evolution", "--data", "{shapes}", "--epochs", "20", "--force"],
}
TINY = ["--epochs", "1", "--train-limit", "1024", "--budget", "6", "--random-baseline", "5",
        "--val-images", "200", "--calibration-images", "64", "--confirm-images", "300"]
TRAINING_FLAGS = {"--epochs": 1, "--train-limit": 1, "--data": 1, "--space": 1}


def drop_training_flags(argv: list[str]) -> list[str]:
    """A search on a trained supernet takes no training, data or space flags (the supernet fixes them)."""
    out, skip = [], 0
    for arg in argv:
        if skip:
            skip -= 1
        elif arg in TRAINING_FLAGS:
            skip = TRAINING_FLAGS[arg]
        else:
            out.append(arg)
    return out


def search(argv: list[str], out: Path) -> None:
    done = nas(["search", *argv, "--out", str(out), "--quiet", "--device", "cpu"])
    if done.returncode:
        raise SystemExit(f"nas search {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()[-500:]}")


def table_truth(summary: dict, verdict: dict) -> float | None:
    """NB201 only: the best cell's 200-epoch test accuracy minus the median random cell's."""
    if summary["best"]["arch"]["space"] != "nb201":
        return None
    from nas.evaluate.table import TableEvaluator
    from search_spaces.arch import Arch

    table = TableEvaluator()
    best = Arch.from_dict(summary["best"]["arch"])
    median = Arch("nb201", tuple(verdict["best_vs_random_median"]["random_median_choices"]))
    return table.reported(best)["test_acc"] - table.reported(median)["test_acc"]


def judged(run: Path) -> dict:
    """The search's claim and what the test split (and the table) say about it."""
    summary = json.loads((run / "summary.json").read_text())
    verdict = summary["verdict"]
    test = verdict["splits"]["test"]["comparison"]
    confirmation = verdict["splits"].get("confirmation", {}).get("comparison") or {}
    return {"claim": bool(verdict["better_than_random"]), "basis": verdict["basis"],
            "test_says": bool(test["distinguishable"]), "agree": bool(verdict["better_than_random"]) == bool(test["distinguishable"]),
            "test_difference": test["difference"], "test_se": test["se"],
            "confirm_difference": confirmation.get("difference"), "confirm_se": confirmation.get("se"),
            "confirm_images": verdict["splits"].get("confirmation", {}).get("images"),
            "validation_difference": verdict["splits"]["validation"]["difference"],
            "old_claim": bool(verdict["splits"]["validation"]["distinguishable"]),
            "table_difference": table_truth(summary, verdict)}


def describe(row: dict) -> str:
    table = "" if row["table_difference"] is None else f"; table (200 epochs) {row['table_difference']:+.2f}"
    confirm = "" if row["confirm_difference"] is None else \
        f"confirmation {row['confirm_difference']:+.2f} ± {1.96 * row['confirm_se']:.2f} ({row['confirm_images']:,} images), "
    return (f"{row['setting']} seed {row['seed']}: claims {'better' if row['claim'] else 'not distinguishable'} "
            f"(validation {row['validation_difference']:+.2f}: the old verdict said "
            f"{'distinguishable' if row['old_claim'] else 'not distinguishable'}; {confirm}"
            f"test {row['test_difference']:+.2f} ± {1.96 * row['test_se']:.2f}{table}): "
            f"{'agrees' if row['agree'] else 'DISAGREES'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="demo,nb201")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1 "
                        "(the first of them trains the supernet): more searches for a side with too few")
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
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                out = Path(tmp) / f"{setting}-{seed}"
                argv = base + ["--seed", str(seed)]
                if first is not None:  # the same supernet: only the search, its baseline and calibration change
                    argv = drop_training_flags(argv) + ["--supernet", str(first / "supernet")]
                search(argv, out)
                first = first or out
                row = {"setting": setting, "seed": seed, **judged(out)}
                rows.append(row)
                print(describe(row), flush=True)
    print(f"{len(rows)} searches in {time.perf_counter() - started:.0f} s")
    sides = []
    for claim, label in ((True, "better"), (False, "not distinguishable")):
        side = [r for r in rows if r["claim"] == claim]
        agree = sum(r["agree"] for r in side)
        sides.append(agree / len(side) if side else float("nan"))
        print(f"claims {label}: {len(side)} searches, {agree} agree with the test split"
              + (f" ({agree / len(side):.0%})" if side else ""))
        tabled = [r for r in side if r["table_difference"] is not None]
        if tabled:
            right = sum((r["table_difference"] > 0) == claim for r in tabled)
            print(f"  of them on NB201: the table's 200-epoch accuracy says the best is "
                  f"{'better' if claim else 'not better'} in {right} of {len(tabled)}")
    old = [r for r in rows if r["old_claim"]]
    print(f"the old verdict (on the images that chose the best) claimed distinguishable in {len(old)} searches; "
          f"the test split agreed in {sum(r['test_says'] for r in old)}")
    print(f"noise_verdict_agreement={min(sides):.2f}")


if __name__ == "__main__":
    main()
