"""`nas predictor train|eval`: learn an architecture's score from earlier runs, and check it.

    nas predictor train --space nb201 --runs runs/a runs/b --model gcn --loss rank --out preds/gcn
    nas predictor eval --predictor preds/gcn --runs runs/c

`train` holds out `--test-fraction` of the architectures and prints Kendall's tau and Spearman's
rho of the predictions on them; `eval` prints the same on the architectures of other runs. A saved
predictor can warm-start a search: `nas search --strategy nao -o predictor=preds/gcn ...`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from nas.cli.types import positive_int, seed_value
from nas_common.errors import UserError


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text[:30]}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predictor", help="train and evaluate performance predictors on run archives",
                       description="Train a performance predictor on the evaluations of search runs, "
                                   "or evaluate a saved one on other runs.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser("train", help="train a predictor; reports rank correlation on a held-out part")
    train.add_argument("--space", required=True, help="space of the runs (each run is checked)")
    train.add_argument("--runs", type=Path, nargs="+", required=True, metavar="RUN_DIR",
                       help="search runs whose evaluations the predictor learns from")
    train.add_argument("--model", default="mlp", help="mlp, lstm, gcn or paths (the last two: cell spaces); "
                       "see `nas predictors` (default: %(default)s)")
    train.add_argument("--loss", choices=("mse", "rank"), default="mse", help="default: %(default)s")
    train.add_argument("--test-fraction", type=_fraction, default=0.2,
                       help="held out to report rank correlation (default: %(default)s)")
    train.add_argument("--seed", type=seed_value, default=0, help="default: %(default)s")
    train.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default 300)")
    train.add_argument("--out", type=Path, required=True, metavar="PRED_DIR", help="directory to write")
    train.add_argument("--overwrite", action="store_true", help="replace a predictor already in PRED_DIR")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=run_train)
    train.epilog = "example: nas predictor train --space nb201 --runs runs/archived/nb201-table-rea --out pred/"
    evaluate = actions.add_parser("eval", help="rank correlation of a saved predictor on other runs")
    evaluate.add_argument("--predictor", type=Path, required=True, metavar="PRED_DIR",
                          help="written by `nas predictor train`")
    evaluate.add_argument("--runs", type=Path, nargs="+", required=True, metavar="RUN_DIR", help="search runs")
    evaluate.epilog = "example: nas predictor eval --predictor pred/ --runs runs/archived/nb201-table-rea"
    evaluate.set_defaults(handler=run_eval)


def correlations(predicted: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    """(Kendall's tau, Spearman's rho) of predictions against true scores."""
    from scipy.stats import kendalltau, spearmanr

    return float(kendalltau(predicted, actual)[0]), float(spearmanr(predicted, actual)[0])


def _report(what: str, count: int, predicted: np.ndarray, actual: np.ndarray) -> None:
    tau, rho = correlations(predicted, actual)
    print(f"{what}: {count} architectures  kendall_tau={tau:.3f}  spearman_rho={rho:.3f}")


def run_train(args: argparse.Namespace) -> int:
    from predictors import make_predictor
    from predictors.runs import load_runs

    if args.seed < 0:
        raise UserError(f"--seed must be >= 0, got {args.seed}")
    check_output_dir(args.out, args.overwrite)  # before training, not after
    data = load_runs(args.runs, args.space)
    options = {"loss": args.loss, "seed": args.seed}
    if args.epochs is not None:
        options["epochs"] = args.epochs
    predictor = make_predictor(args.model, data.space, **options)
    n = len(data.archs)
    order = np.random.default_rng(args.seed).permutation(n)
    n_test = min(max(1, round(args.test_fraction * n)), n - 2)
    test, train = order[:n_test], order[n_test:]
    scores = np.asarray(data.scores)
    from nas_common.progress import progress

    with progress(total=predictor.config.epochs, desc="predictor", unit="epoch", disable=args.quiet,
                  dynamic_ncols=True) as bar:
        predictor.fit([data.archs[i] for i in train], scores[train], on_epoch=lambda done, total: bar.update(1))
    print(f"trained {args.model} ({args.loss} loss) on {len(train)} architectures of {data.space.name}")
    if n_test >= 2:
        _report("held-out", n_test, predictor.predict([data.archs[i] for i in test]), scores[test])
    else:
        print("held-out: too few architectures for a rank correlation", file=sys.stderr)
    try:
        predictor.save(args.out)
    except OSError as err:
        raise UserError(f"cannot write the predictor to {args.out}: {err.strerror}") from None
    print(f"saved predictor to {args.out}")
    return 0


def check_output_dir(out: Path, overwrite: bool) -> None:
    """PRED_DIR must be a directory this command may write: new, empty, or (--overwrite) a predictor."""
    from predictors.base import CONFIG_FILE

    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a directory; choose a directory for the predictor")
    if out.is_dir() and (out / CONFIG_FILE).exists() and not overwrite:
        raise UserError(f"--out {out} already holds a predictor; add --overwrite to replace it, or choose another")
    if out.is_dir() and not (out / CONFIG_FILE).exists() and any(out.iterdir()):
        raise UserError(f"--out {out} is a non-empty directory that holds no predictor; choose another")
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise UserError(f"--out {out}: {parent} is not a writable directory; choose another place")


def run_eval(args: argparse.Namespace) -> int:
    from predictors import load_predictor
    from predictors.base import read_meta
    from predictors.runs import load_runs

    meta = read_meta(args.predictor)
    data = load_runs(args.runs, meta["space"])
    predictor = load_predictor(args.predictor, data.space)
    _report(f"{meta['model']} on {len(args.runs)} run(s)", len(data.archs),
            predictor.predict(data.archs), np.asarray(data.scores))
    return 0
