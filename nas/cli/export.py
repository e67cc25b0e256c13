"""`nas export`: the stand-alone network of a run's best (or a given) architecture."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from nas.archive import RunDir
from nas.cli import options
from nas.cli.arch_input import read_arch
from nas_common.errors import UserError
from nas.archive.atomic import check_output_file
from nas.workflows.export import export_model, export_onnx, options_beyond_defaults, recalibrated_network
from nas.supernet.loading import space_of_run, supernet_dir_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the stand-alone net of a searched architecture",
                       description="Export the best (or --arch) architecture of a run as a stand-alone "
                                   "network with supernet weights and recalibrated BN statistics.")
    p.add_argument("--run", type=Path, required=True, help="a search run (or a supernet run with --arch)")
    p.add_argument("--arch", default=None, help="architecture JSON or file (default: the run's best)")
    p.add_argument("--pick", default=None, metavar="METRIC<=VALUE",
                   help="the best architecture that meets a budget, from the run's Pareto front when it has one "
                        "(else from every record), e.g. --pick params<=300k or --pick lat_ms_pixel<=3")
    p.add_argument("--out", type=Path, required=True, help="output file, e.g. best.pt (or best.onnx)")
    p.add_argument("--format", choices=("torch", "onnx"), default="torch",
                   help="torch: weights, architecture and preprocessing for `nas.workflows.export.load_exported`; onnx: "
                        "the network as ONNX, checked against PyTorch with onnxruntime (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    g = p.add_argument_group("BN recalibration (default: the search run's settings)")
    g.add_argument("--calibration-images", type=options.positive_int, default=None,
                   help="training images that recalibrate BN for the path")
    g.add_argument("--eval-batch-size", type=options.positive_int, default=None,
                   help="images per forward pass while recalibrating (default: the run's)")
    options.add_device_option(p)
    p.set_defaults(handler=run)
    p.epilog = ("examples: nas export --run runs/RUN --out best.pt;  "
                "nas export --run runs/RUN --arch best.arch.json --format onnx --out best.onnx")


def run(args: argparse.Namespace) -> int:
    written = [Path(args.out)] + ([] if args.format == "onnx" else [Path(args.out).with_suffix(".arch.json")])
    for path in written:  # before any work: the model file and the architecture file beside it
        _not_a_run_file(path, Path(args.run))
        check_output_file(path, args.overwrite, flag="--out" if path == written[0] else "--out's architecture file")
    if args.pick is not None:  # chosen before the slow part: a budget nothing meets fails at once
        if args.arch is not None:
            raise UserError("give --arch or --pick, not both")
        args.arch = json.dumps(_picked(Path(args.run), args.pick)["arch"])
    if args.arch is not None:  # read before the slow part: a bad --arch fails at once
        supernet_dir = supernet_dir_of(RunDir.open(args.run), RunDir.open(args.run).read_config())
        if supernet_dir is None:
            raise UserError(f"{args.run} has no supernet to export weights from")
        given = read_arch(args.arch, space_of_run(supernet_dir))
    else:
        given = None
    network = recalibrated_network(args.run, given, calibration_images=args.calibration_images,
                                   eval_batch_size=args.eval_batch_size, device=args.device,
                                   on_step=options.progress_line)
    model, arch, metrics, space, supernet_run = (network.model, network.arch, network.metrics, network.space,
                                                 network.supernet_run)
    preprocessing = supernet_run.task.preprocessing(supernet_run.data)
    if args.format == "onnx":
        error = export_onnx(args.out, model, preprocessing)
        print(f"exported {arch} to {args.out} as ONNX (onnxruntime matches PyTorch within {error:.1e}; input "
              f"\"images\" N x {preprocessing.get('channels', 3)} x {preprocessing['input_size']}^2, floats in [0, 1] "
              f"(pixels / 255): the normalisation with mean {_rounded(preprocessing.get('mean'))} and std "
              f"{_rounded(preprocessing.get('std'))} is inside)")
        return 0
    carried = options_beyond_defaults(space, supernet_run.task.space_options(supernet_run.data))
    arch_json = export_model(args.out, space=space, arch=arch, model=model, metrics=metrics,
                             preprocessing=preprocessing, space_options=carried)
    print(f"exported {arch} to {args.out} (architecture: {arch_json}); `nas.workflows.export.load_exported` gives "
          f"it behind its normalisation: feed images in [0, 1] (pixels / 255), NCHW")
    return 0


def _picked(run_path: Path, condition: str) -> dict:
    from nas.judging.front import pick

    run = RunDir.open(run_path)
    summary = json.loads(run.summary.read_text()) if run.summary.exists() else {}
    record = pick(summary, run.read_records(strict=False), condition, run.objective())
    print(f"--pick {condition}: {record['arch']['choices']} (step {record.get('step')})")
    return record


def _rounded(values) -> str:
    return "(" + ", ".join(f"{v:.4f}" for v in values) + ")" if values else "none"


def _not_a_run_file(path: Path, run: Path) -> None:
    """--overwrite replaces earlier exports, never a file of the run being exported."""
    if path.exists() and run.resolve() in path.resolve().parents:
        raise UserError(f"{path} is a file of the run {run}; --overwrite never replaces a run's own files; "
                        "choose another --out")

