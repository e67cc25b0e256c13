"""`nas evaluate`: one architecture scored on a trained supernet (recalibrated BN)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas.cli import options
from nas.cli.arch_input import read_arch
from nas.evaluate.supernet_evaluator import SupernetEvaluator
from nas.supernet.loading import load_supernet_run, resolve_device


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score one architecture on a trained supernet",
                       description="Recalibrate the path's BatchNorm statistics, then report validation "
                                   "accuracy, FLOPs and params of one architecture.")
    p.add_argument("--run", type=Path, required=True, help="a supernet (or search) run directory")
    p.add_argument("--arch", required=True, help="architecture JSON, or a file holding it")
    p.add_argument("--inherited", action="store_true",
                   help="also report accuracy with the supernet's inherited BN statistics")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    options.add_evaluation_options(p)
    options.add_device_option(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    supernet_run = load_supernet_run(args.run)
    space = supernet_run.space
    arch = read_arch(args.arch, space)
    evaluator = SupernetEvaluator.from_run(supernet_run, options.evaluator_config(args), resolve_device(args.device))
    result = {"arch": arch.to_dict(), "arch_hash": arch.hash, **evaluator.evaluate(arch),
              "flops": space.flops(arch), "params": space.params(arch)}
    if args.inherited:
        result["val_acc_inherited_bn"] = evaluator.evaluate_inherited(arch)["val_acc"]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"architecture  {arch}  ({arch.hash})")
    print(f"val_acc       {result['val_acc']:.2f}%  (BN recalibrated on {args.calibration_images} images)")
    if args.inherited:
        print(f"val_acc (inherited BN)  {result['val_acc_inherited_bn']:.2f}%")
    print(f"flops         {result['flops'] / 1e6:.2f} M")
    print(f"params        {result['params'] / 1e6:.3f} M")
    return 0
