"""NAS-FPN on CPU: is a searched merging-cell neck better than FPN at equal backbone and FLOPs?

1. A `nasfpn` supernet (searched neck, fixed backbone) is trained with the `cpu` preset's
   detection schedule on the bundled raccoon photos. With --backbone RUN (a `nas search --space
   detnas` run) the fixed backbone is that search's best backbone, starting from its DetNAS
   supernet weights, as `nas search --space nasfpn --backbone RUN` does; without it, all
   shuffle-3x3 from scratch.
2. For seeds 0..S-1, evolution (the preset's settings) searches the neck on the supernet, with
   per-path BN recalibration and COCO mAP (pycocotools) on the validation split, constrained to
   the FPN detector's FLOPs + 5% ("similar FLOPs"); each seed gives its best neck.
3. Three detectors are trained stand-alone with the same recipe, backbone and backbone weights,
   for each seed s (training seed s): the FPN neck (RetinaNet's), the published NAS-FPN cell
   (tensorflow/tpu), and the neck found by search seed s. Validation and test mAP after the last
   epoch; the test split is never seen by the search.

Reference (mmdetection, COCO val, ResNet-50 at 640): FPN 37.9 vs NAS-FPN 40.5 mAP.
Headline: nasfpn_minus_fpn_test_mAP = mean over seeds of (searched neck's test mAP - FPN's).
Run: python bench/nasfpn_compare.py [--backbone RUN] [--seeds 3] [--budget 48] [--retrain-epochs 100]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nas.data import DetectionDataConfig
from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
from nas.config.presets import preset
from nas.workflows.runner import LocalExecutor, SearchLoop
from nas.training.standalone import StandaloneTrainer
from nas.strategies import make_strategy
from nas.constraints.limits import Constraint
from nas.supernet.loading import load_supernet_run, make_space, resolve_device
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig
from nas.tasks import get_task
from search_spaces.arch import Arch
from search_spaces.detection.nasfpn_cells import PUBLISHED

sys.path.insert(0, str(Path(__file__).parent))
from detnas_search import Memo  # noqa: E402  (bench-local helper: evaluations memoised by architecture)


def search_neck(space, memo: Memo, seed: int, budget: int, options: dict, max_flops: int) -> dict:
    objective = get_task("detection").objective
    strategy = make_strategy("evolution", space, budget=budget, seed=seed, options=options, objective=objective,
                             constraint=Constraint(max_flops=max_flops))
    records = SearchLoop(space, strategy, LocalExecutor(memo), None).run_to_end()
    return max(records, key=lambda r: r["metrics"]["val_mAP"])


def train_standalone(space, arch: Arch, data, seed: int, epochs: int, p: dict, backbone_state, device) -> dict:
    """Train one detector alone (the supernet's recipe); its backbone starts from `backbone_state`."""
    cfg = TrainConfig(epochs=epochs, batch_size=p["batch_size"], lr=p["lr"], warmup_epochs=p["warmup_epochs"],
                      seed=seed)
    trainer = StandaloneTrainer(space, arch, data, cfg, device, task=get_task("detection"))
    if backbone_state is not None:
        trainer.model.backbone.load_state_dict(backbone_state)
    losses = [trainer.train_epoch()["train_loss"] for _ in range(epochs)]
    return {"loss_first": losses[0], "loss_last": losses[-1], **trainer.accuracy("val"), **trainer.accuracy("test")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbone", type=Path, default=None, help="a `nas search --space detnas` run")
    parser.add_argument("--supernet", type=Path, default=None, help="a trained nasfpn supernet run (skip step 1)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=None, help="supernet epochs (default: the cpu preset's)")
    parser.add_argument("--retrain-epochs", type=int, default=None, help="stand-alone epochs (default: as supernet)")
    parser.add_argument("--random-pool", type=int, default=20, help="random necks scored on the supernet")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = resolve_device(args.device)
    p = preset("cpu", "nasfpn")
    started = time.perf_counter()
    task = get_task("detection")
    data_config = DetectionDataConfig(**p["data"])
    options = {"width": p["width"], **p["space_options"]["nasfpn"]}
    if args.backbone is not None:
        from nas.supernet.backbone import adopted_backbone

        options.update(adopted_backbone(str(args.backbone), "nasfpn"))
        print(f"fixed backbone from DetNAS run {args.backbone}: {options}")
    supernet_dir = args.supernet
    if supernet_dir is None:
        supernet_dir = Path(tempfile.mkdtemp(prefix="nasfpn-bench-")) / "supernet"
        train = TrainConfig(epochs=args.epochs or p["epochs"], batch_size=p["batch_size"], lr=p["lr"],
                            warmup_epochs=p["warmup_epochs"],
                            backbone=str(args.backbone.resolve()) if args.backbone else None)
        last = train_into(supernet_dir, "nasfpn", options, data_config, train, device, quiet=True)
        print(f"neck supernet trained in {time.perf_counter() - started:.0f} s: {supernet_dir} "
              f"(last epoch loss {last['loss']:.3f}: cls {last['cls']:.3f}, box {last['box']:.3f})", flush=True)
    run = load_supernet_run(supernet_dir)
    space, data = run.space, run.data
    evaluator = SupernetEvaluator.from_run(run, EvaluatorConfig(calibration_images=p["calibration_images"]), device)
    memo = Memo(evaluator)

    # The FPN detector: the same backbone (architecture and starting weights), RetinaNet's FPN neck.
    fpn_space = make_space("detnas", data, {k: v for k, v in space.config().items()
                                            if k in ("layout", "width", "input_size", "neck_channels",
                                                     "head_convs", "sharing")}, task)
    fpn_arch = Arch("detnas", space.backbone_arch)
    fpn_flops = fpn_space.detector_flops(fpn_arch)
    max_flops = int(fpn_flops * 1.05)
    backbone_state = {k: v.detach().clone() for k, v in run.supernet.backbone.state_dict().items()} \
        if args.backbone else None
    published = space.from_cells(PUBLISHED)

    rng = np.random.default_rng(12345)
    pool = [space.sample(rng) for _ in range(args.random_pool)]
    pool_maps = [memo.evaluate(a)["val_mAP"] for a in pool]
    print(f"supernet paths: random necks ({len(pool)}) median val mAP {statistics.median(pool_maps):.2f} "
          f"(range {min(pool_maps):.2f}-{max(pool_maps):.2f}); published cell {memo.evaluate(published)['val_mAP']:.2f}; "
          f"FPN detector {fpn_flops / 1e6:.0f} MFLOPs, search limit {max_flops / 1e6:.0f}", flush=True)

    evolution = dict(p["strategy_options"]["evolution"])
    found = []
    for seed in range(args.seeds):
        best = search_neck(space, memo, seed, args.budget, evolution, max_flops)
        found.append(space.parse(best["arch"]))
        cells = space.split(found[-1])[1]
        print(f"search seed {seed}: best neck val mAP {best['metrics']['val_mAP']:.2f} on the supernet, "
              f"{best['flops'] / 1e6:.0f} MFLOPs, cells {[(c.level, c.op, *c.inputs) for c in cells]}", flush=True)

    epochs = args.retrain_epochs or args.epochs or p["epochs"]
    results: dict[str, list[dict]] = {"FPN": [], "NAS-FPN published": [], "NAS-FPN searched": []}
    for seed in range(args.seeds):
        for name, (sp, arch) in (("FPN", (fpn_space, fpn_arch)), ("NAS-FPN published", (space, published)),
                                 ("NAS-FPN searched", (space, found[seed]))):
            t = time.perf_counter()
            outcome = train_standalone(sp, arch, data, seed, epochs, p, backbone_state, device)
            outcome["flops"] = fpn_flops if sp is fpn_space else space.flops(arch)
            results[name].append(outcome)
            print(f"seed {seed} {name}: val mAP {outcome['val_mAP']:.2f}, test mAP {outcome['test_mAP']:.2f} "
                  f"(AP50 {outcome['test_AP50']:.1f}); train loss {outcome['loss_first']:.3f} -> "
                  f"{outcome['loss_last']:.3f}; {time.perf_counter() - t:.0f} s", flush=True)

    print(f"\n{epochs} epochs stand-alone, {args.seeds} seeds, backbone "
          f"{list(space.backbone_arch)} ({'DetNAS weights' if args.backbone else 'from scratch'}):")
    print(f"{'neck':<20} {'MFLOPs':>7} {'val mAP':>14} {'test mAP':>14} {'test AP50':>14}")
    for name, rows in results.items():
        def stat(key: str) -> str:
            values = [r[key] for r in rows]
            return f"{statistics.mean(values):6.2f} ± {statistics.pstdev(values):4.2f}"
        print(f"{name:<20} {statistics.mean(r['flops'] for r in rows) / 1e6:7.0f} {stat('val_mAP'):>14} "
              f"{stat('test_mAP'):>14} {stat('test_AP50'):>14}")
    diff = [s["test_mAP"] - f["test_mAP"] for s, f in zip(results["NAS-FPN searched"], results["FPN"])]
    print(f"{memo.calls} distinct supernet evaluations; {time.perf_counter() - started:.0f} s in all on {device}")
    print(f"nasfpn_minus_fpn_test_mAP={statistics.mean(diff):.3f}")


if __name__ == "__main__":
    sys.exit(main())
