"""DetNAS on CPU: does evolution on a detection supernet find better backbones than random?

One detection supernet is trained with the `cpu` preset's detnas schedule on the bundled raccoon
photos (or given with --supernet). On it, for seeds 0..S-1: evolution (the preset's settings)
and random search, each with the same budget, scored like `nas search` (per-path BN
recalibration, COCO mAP on the validation split via pycocotools); a pool of random architectures
gives the random-architecture median. The test-split mAP of each seed's best is reported too
(the search never sees it). Evaluations are memoised by architecture (an evaluation is a pure
function of the architecture), so seeds that meet the same architecture share its score.

A sanity line first: pycocotools' mAP on a hand-built case with known AP (51/101).

Headline: detnas_search_margin = mean over seeds of evolution's best validation mAP minus the
random-architecture median; the search beats random when the margin exceeds the seed spread
(std of the best over seeds).
Run: python bench/detnas_search.py [--seeds 5] [--budget 60] [--supernet DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nas.data import DetectionDataConfig
from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
from nas.config.presets import preset
from nas.workflows.runner import LocalExecutor, SearchLoop
from nas.strategies import make_strategy
from nas.supernet.loading import load_supernet_run, resolve_device
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig
from nas.tasks import get_task
from nas.tasks.detection.coco_eval import coco_metrics


def coco_sanity() -> float:
    """One exact hit, one false positive, one miss: COCO's 101-point AP is 51/101 at every IoU."""
    images = [{"id": 1, "width": 100, "height": 100}]
    truth = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50]},
             {"image_id": 1, "category_id": 1, "bbox": [60, 60, 90, 95]}]
    found = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "score": 0.9},
             {"image_id": 1, "category_id": 1, "bbox": [0, 70, 5, 75], "score": 0.8}]
    return coco_metrics(images, truth, found, [1])["mAP"]


class Memo:
    """An evaluator whose scores are remembered by architecture."""

    hidden_metrics = frozenset()

    def __init__(self, evaluator: SupernetEvaluator) -> None:
        self.evaluator, self.cache, self.calls = evaluator, {}, 0

    def evaluate(self, arch):
        if arch.hash not in self.cache:
            self.calls += 1
            self.cache[arch.hash] = self.evaluator.evaluate(arch)
        return self.cache[arch.hash]

    def reported(self, arch):
        return {}


def search(space, memo: Memo, strategy: str, seed: int, budget: int, options: dict) -> dict:
    objective = get_task("detection").objective
    chosen = make_strategy(strategy, space, budget=budget, seed=seed, options=options, objective=objective)
    loop = SearchLoop(space, chosen, LocalExecutor(memo), None)
    records = loop.run_to_end()
    return max(records, key=lambda r: r["metrics"]["val_mAP"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=60)
    parser.add_argument("--random-pool", type=int, default=30)
    parser.add_argument("--supernet", type=Path, default=None, help="a trained detnas supernet run (skip training)")
    parser.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the cpu preset's)")
    parser.add_argument("--data", default="raccoon",
                        help="raccoon (real photos, default) or cifar10-paste (SYNTHETIC, larger validation split)")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--val-size", type=float, default=None, help="count (>= 1) or fraction")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--population", type=int, default=None, help="evolution population (default: preset's)")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    print(f"data: {args.data}{' (SYNTHETIC: CIFAR-10 objects pasted on canvases)' if args.data == 'cifar10-paste' else ''}")
    print(f"pycocotools mAP on the hand-built case: {coco_sanity():.4f} (exact: {100 * 51 / 101:.4f})")
    device = resolve_device(args.device)
    p = preset("cpu", "detnas")
    started = time.perf_counter()
    supernet_dir = args.supernet
    if supernet_dir is None:
        supernet_dir = Path(tempfile.mkdtemp(prefix="detnas-bench-")) / "supernet"
        train = TrainConfig(epochs=args.epochs or p["epochs"], batch_size=args.batch_size or p["batch_size"],
                            lr=p["lr"], warmup_epochs=p["warmup_epochs"])
        options = {"width": p["width"], **p["space_options"]["detnas"]}
        data = {**p["data"], "annotations": args.data}
        if args.image_size:
            data["image_size"] = data["max_size"] = args.image_size
        if args.val_size:
            data["val_size"] = int(args.val_size) if args.val_size >= 1 else args.val_size
        last = train_into(supernet_dir, "detnas", options, DetectionDataConfig(**data), train, device, quiet=True)
        print(f"supernet trained in {time.perf_counter() - started:.0f} s: {supernet_dir} "
              f"(last epoch loss {last['loss']:.3f}: cls {last['cls']:.3f}, box {last['box']:.3f})")
    run = load_supernet_run(supernet_dir)
    evaluator = SupernetEvaluator.from_run(run, EvaluatorConfig(calibration_images=p["calibration_images"]), device)
    memo, space = Memo(evaluator), run.space

    rng = np.random.default_rng(12345)
    pool = [space.sample(rng) for _ in range(args.random_pool)]
    pool_maps = [memo.evaluate(a)["val_mAP"] for a in pool]
    median = statistics.median(pool_maps)
    print(f"random architectures ({len(pool)}): median val mAP {median:.2f}, "
          f"quartiles {np.percentile(pool_maps, 25):.2f}-{np.percentile(pool_maps, 75):.2f}, "
          f"range {min(pool_maps):.2f}-{max(pool_maps):.2f}")
    evolution_options = dict(p["strategy_options"]["evolution"])
    if args.population:  # a smaller population: the same number of generations in a smaller budget
        n = args.population
        evolution_options.update(population=n, topk=max(2, n // 3), mutations=n // 2, crossovers=n - n // 2)
    bests = {"evolution": [], "random": []}
    for seed in range(args.seeds):
        for strategy, options in (("evolution", evolution_options), ("random", {})):
            best = search(space, memo, strategy, seed, args.budget, options)
            bests[strategy].append(best)
        evo, rnd = bests["evolution"][-1], bests["random"][-1]
        test = evaluator.test_metrics(space.parse(evo["arch"]))
        evo["test_mAP"] = test["test_mAP"]
        print(f"seed {seed}: evolution best val mAP {evo['metrics']['val_mAP']:.2f} (AP50 "
              f"{evo['metrics']['val_AP50']:.1f}, test mAP {test['test_mAP']:.2f}, {evo['flops'] / 1e6:.1f} MFLOPs); "
              f"random search best {rnd['metrics']['val_mAP']:.2f}", flush=True)
    evo_maps = [b["metrics"]["val_mAP"] for b in bests["evolution"]]
    rnd_maps = [b["metrics"]["val_mAP"] for b in bests["random"]]
    spread = statistics.pstdev(evo_maps)
    margin = statistics.mean(evo_maps) - median
    median_arch = pool[int(np.argsort(pool_maps)[len(pool) // 2])]
    median_test = evaluator.test_metrics(median_arch)["test_mAP"]
    print(f"evolution best val mAP {statistics.mean(evo_maps):.2f} ± {spread:.2f} over {args.seeds} seeds; "
          f"random search (same budget) {statistics.mean(rnd_maps):.2f} ± {statistics.pstdev(rnd_maps):.2f}")
    print(f"test mAP: evolution's best {statistics.mean(b['test_mAP'] for b in bests['evolution']):.2f} vs the "
          f"median random architecture {median_test:.2f}")
    print(f"margin over the random median {margin:.2f} vs seed spread {spread:.2f}: "
          f"{'search beats random' if margin > spread else 'NOT beyond the seed spread'}; "
          f"{memo.calls} distinct evaluations, {time.perf_counter() - started:.0f} s in all on {device}")
    print(f"detnas_search_margin={margin:.3f}")


if __name__ == "__main__":
    torch.set_num_threads(max(1, torch.get_num_threads()))
    sys.exit(main())
