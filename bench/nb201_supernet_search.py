"""Does a CPU-budget NB201 supernet search find better cells than random search or counting
parameters? Ground truth from the table.

For each trained nb201 supernet (`--supernet RUN`, repeatable; e.g. the runs
bench/supernet_ranking_nb201.py trains under $NAS_CACHE_DIR/supernet-ranking/), `nas search`
runs evolution and random search on it (`--budget` evaluations each, BN recalibrated per path,
validation accuracy as the signal, one search seed per supernet) and the 200-epoch test accuracy
of each search's best cell is read from the NAS-Bench-201 table. Baselines in the same run: the
cell with the most parameters among random search's cells, and in the whole space (all 3x3
convolutions, 93.76).

Headline: nb201_supernet_search_minus_params_test_acc = mean test accuracy of evolution's pick
minus that of the most-parameters pick among the same number of random cells.
Run: python bench/nb201_supernet_search.py --supernet RUN [--supernet RUN ...] [--budget 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _cli import nas  # noqa: E402

from nas.evaluate.table import TableEvaluator
from search_spaces.arch import Arch
from search_spaces.nb201 import NB201Space


def search(run: str, strategy: str, budget: int, seed: int, out: Path) -> list[dict]:
    argv = ["search", "--supernet", run, "--strategy", strategy, "--budget", str(budget), "--seed", str(seed),
            "--random-baseline", "0", "--force", "--quiet", "--device", "cpu", "--out", str(out)]
    if strategy == "evolution":
        argv += ["-o", "mode=regularized", "-o", "population=10", "-o", "sample_size=3"]
    if nas(argv).returncode != 0:
        raise SystemExit(f"nas search failed on {run}")
    return [json.loads(line) for line in (out / "evaluations.jsonl").read_text().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supernet", action="append", required=True, metavar="RUN")
    parser.add_argument("--budget", type=int, default=100)
    args = parser.parse_args()
    table, space = TableEvaluator(), NB201Space()
    test = lambda record: table.reported(Arch("nb201", tuple(record["arch"]["choices"])))["test_acc"]  # noqa: E731
    picks: dict[str, list[float]] = {"evolution (supernet)": [], "random (supernet)": [], "most params of random": []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed, run in enumerate(args.supernet):
            for strategy in ("evolution", "random"):
                records = search(run, strategy, args.budget, seed, Path(tmp) / f"{seed}-{strategy}")
                best = max(records, key=lambda r: r["metrics"]["val_acc"])
                picks[f"{strategy} (supernet)"].append(test(best))
                if strategy == "random":
                    most = max(records, key=lambda r: space.params(Arch("nb201", tuple(r["arch"]["choices"]))))
                    picks["most params of random"].append(test(most))
            print(f"  {run}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in picks.items()), flush=True)
    print(f"| pick ({args.budget} evaluations, {len(args.supernet)} supernets) | NB201 test acc |")
    print("|---|---|")
    for name, values in picks.items():
        print(f"| {name} | {np.mean(values):.2f} ± {np.std(values):.2f} |")
    print(f"| most params in the space (all 3x3 convolutions) | {table.reported(Arch('nb201', (3,) * 6))['test_acc']:.2f} |")
    margin = np.mean(picks["evolution (supernet)"]) - np.mean(picks["most params of random"])
    print(f"nb201_supernet_search_minus_params_test_acc={margin:.2f}")


if __name__ == "__main__":
    main()
