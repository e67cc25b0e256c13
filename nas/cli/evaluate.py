"""`nas evaluate`: one architecture scored on a trained supernet (recalibrated BN)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas.workflows.export import run_evaluator_config
from nas.cli import options
from nas.cli.arch_input import read_arch
from nas.evaluate.supernet_evaluator import SupernetEvaluator
from nas.archive import RunDir
from nas_common.errors import UserError
from nas.evaluate.base import split_outcomes
from nas.supernet.loading import load_supernet_run, resolve_device, space_of_run, supernet_dir_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score one architecture on a trained supernet",
                       description="Recalibrate the path's BatchNorm statistics, then report validation "
                                   "accuracy, FLOPs and params of one architecture.")
    p.add_argument("--run", type=Path, required=True, help="a supernet (or search) run directory")
    p.add_argument("--arch", required=True, help="architecture JSON, or a file holding it")
    p.add_argument("--inherited", action="store_true",
                   help="also report accuracy with the supernet's inherited BN statistics")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    options.add_evaluation_options(p, default="the run's own: a search run's settings, or the preset's for a supernet run")
    options.add_device_option(p)
    p.set_defaults(handler=run)
    p.epilog = "examples: nas evaluate --run runs/sup --arch shufflenet:01230123012301230123;  nas evaluate --run runs/RUN --arch best.arch.json --json"


def run(args: argparse.Namespace) -> int:
    run_dir = RunDir.open(args.run)
    supernet_dir = supernet_dir_of(run_dir, run_dir.read_config())  # a search run: the supernet it used
    if supernet_dir is None:
        raise UserError(f"--run {args.run} searched without a supernet (a table search); pass a supernet run")
    arch = read_arch(args.arch, space_of_run(supernet_dir))  # a bad architecture fails before any loading
    config = run_dir.read_config()
    settings, said = run_evaluator_config(config, args)  # the run's own, so its numbers repeat
    options.progress_line(f"loading the supernet of {supernet_dir}, then scoring {arch} with {'; '.join(said)} ...")  # 5-30 s of work: say what is happening
    supernet_run = load_supernet_run(supernet_dir)
    space = supernet_run.space
    evaluator = SupernetEvaluator.from_run(supernet_run, settings, resolve_device(args.device),
                                           seed=config.get("seed", 0) if config.get("kind") == "search" else 0)
    result = {"arch": arch.to_dict(), "arch_hash": arch.hash, **split_outcomes(evaluator.evaluate(arch))[0],
              "flops": space.flops(arch), "params": space.params(arch)}
    objective = supernet_run.task.objective
    metric = objective.metric
    if args.inherited:
        result[f"{metric}_inherited_bn"] = evaluator.evaluate_inherited(arch)[metric]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"architecture  {arch}  ({arch.hash})")
    def with_se(key: str) -> str:
        se = result.get(f"{key}_se")
        return f"{result[key]:.2f}" + (f" ± {se:.2f}" if isinstance(se, float) else "")

    print(f"{metric:<13} {with_se(metric)}{objective.unit}  (± one standard error over the validation images)")
    print(f"{'scored with':<13} {'; '.join(said)}")
    for key, value in result.items():
        if key.startswith("val_") and key != metric and not key.endswith(("_se", "_inherited_bn")) \
                and isinstance(value, float):
            print(f"{key:<13} {with_se(key)}")
    if args.inherited:
        print(f"{metric} (inherited BN)  {result[f'{metric}_inherited_bn']:.2f}{objective.unit}")
    print(f"flops         {result['flops'] / 1e6:.2f} M")
    print(f"params        {result['params'] / 1e6:.3f} M")
    return 0

