"""`nas rank-check`: Kendall tau / Spearman rho between supernet and stand-alone accuracies."""

from __future__ import annotations

import argparse
from pathlib import Path

from nas.cli import options
from nas.cli.retrain import add_retrain_options, check_resume, cluster_options, resume_into_out, train_config
from nas_common.errors import UserError
from nas.evaluate.supernet_evaluator import EvaluatorConfig
from nas.workflows.rank_check import MIN_ARCHS, SPREADS, known_figure, rank_check
from nas.supernet.loading import resolve_device


def at_least_3(text: str) -> int:
    value = options.positive_int(text)
    if value < MIN_ARCHS:
        raise argparse.ArgumentTypeError(f"need at least {MIN_ARCHS} architectures for a rank correlation, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rank-check", help="does the supernet rank architectures like stand-alone training?",
                       description="Pick K architectures spread over a run's accuracy range, score them on the "
                                   "supernet (recalibrated and inherited BN) and retrain them stand-alone on Ray "
                                   "Tune; report Kendall tau and Spearman rho (rank_check.json, rank_check.png).")
    p.add_argument("--run", type=Path, required=True, help="a search run or a supernet run")
    p.add_argument("--count", "--archs", dest="archs", type=at_least_3, default=5,
                   help=f"how many architectures to compare (>= {MIN_ARCHS}, default 5; --archs is the old name)")
    p.add_argument("--out", type=Path, default=None, help="where to write (default RUN/rank_check)")
    p.add_argument("--against-table", action="store_true",
                   help="nb201 supernets: rank against the NAS-Bench-201 table instead of retraining "
                        "(K architectures spread over the table's accuracy range; try --count 100)")
    p.add_argument("--spread", choices=SPREADS, default="accuracy",
                   help="pick the architectures spread over the run's accuracy range (default; the search's "
                        "evaluations, else random ones scored on the supernet) or over the FLOPs of random ones")
    p.add_argument("--table", type=Path, default=None,
                   help="NB201 table for --against-table (default: the bundled CIFAR-10 table)")
    add_retrain_options(p)
    g = p.add_argument_group("supernet evaluation")
    g.add_argument("--calibration-images", type=options.positive_int, default=EvaluatorConfig.calibration_images,
                   help="training images used to recalibrate BN per path")
    g.add_argument("--val-images", type=options.positive_int, default=None,
                   help="score the supernet on the first N validation images (default: all)")
    options.add_device_option(p)
    p.epilog = "example: nas rank-check --run runs/RUN --count 8 --epochs 10"
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.run.exists():
        raise UserError(f"--run {args.run} does not exist; pass a search or supernet run directory")
    resume_into_out(args)
    out = args.out or args.run / "rank_check"
    if args.against_table:
        return run_against_table(args, out)
    if args.table is not None:
        raise UserError("--table is only read with --against-table")
    if args.resume:
        check_resume(args, out)
    train = None if args.resume else train_config(args, args.epochs, _run_data(args.run))
    result = rank_check(args.run, out, args.archs, train,
                        EvaluatorConfig(args.calibration_images, val_images=args.val_images),
                        resolve_device(args.device), seed=args.seed, resume=args.resume, test=args.test,
                        spread_by=args.spread, **cluster_options(args))
    print(result["table"])
    print(f"wrote {out}/rank_check.json and {out}/rank_check.png")
    _remember(result)
    return 0


def _remember(result: dict) -> None:
    """Store the figure a search's summary quotes for this space's supernet, and say so."""
    import datetime

    from nas.evaluate.known import describe_estimator, record_measured

    figure = known_figure(result, datetime.date.today().isoformat())
    if figure is None:
        print("the supernet's rank agreement is undefined here (a constant column); nothing stored for summaries")
        return
    path = record_measured(result["space"], "supernet", figure)
    print("summaries now quote: " + describe_estimator(result["space"], "supernet", "the supernet"))
    print(f"(kept in {path})")


def run_against_table(args: argparse.Namespace, out: Path) -> int:
    from nas_common.progress import progress

    from nas.workflows.table_rank import table_rank_check

    if args.resume:
        raise UserError("--against-table retrains nothing, so there is nothing to --resume; drop it")
    bar = progress(total=args.archs, desc="scoring", unit="arch", dynamic_ncols=True)
    try:
        result = table_rank_check(args.run, out, args.archs,
                                  EvaluatorConfig(args.calibration_images, val_images=args.val_images),
                                  resolve_device(args.device), seed=args.seed,
                                  table=str(args.table) if args.table else None, on_arch=lambda: bar.update(1))
    finally:
        bar.close()
    print(result["report"])
    from nas.evaluate.known import describe_estimator

    tau = result["correlations"]["recalibrated_vs_table_test_200ep"]["kendall_tau"]
    params = result["correlations"]["params_vs_table_test_200ep"]["kendall_tau"]
    verdict = "ranks better than" if tau > params else "does NOT rank better than"
    print(f"this supernet {verdict} counting parameters on these architectures (Kendall tau {tau:+.3f} vs "
          f"{params:+.3f} against the 200-epoch test accuracy)")
    print("for comparison: " + describe_estimator("nb201", "zc:naswot", "the zero-cost proxy naswot"))
    print(f"wrote {out}/rank_check_table.json and {out}/rank_check_table.png")
    return 0


def _run_data(run: Path):
    """The data a run trained on (its augmentation default follows them), None when it names none."""
    from nas.archive import RunDir
    from nas.data import data_config_from_dict

    config = RunDir.open(run).read_config()
    if config.get("kind") == "search" and not config.get("data") and (config.get("supernet") or {}).get("run"):
        config = RunDir.open(config["supernet"]["run"]).read_config()
    return data_config_from_dict(config["data"]) if isinstance(config.get("data"), dict) else None
