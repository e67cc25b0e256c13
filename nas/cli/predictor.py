"""`nas predictor train|eval`: learn an architecture's score from earlier runs, and check it.

    nas predictor train --space nb201 --runs runs/a runs/b --model gcn --loss rank --out preds/gcn
    nas predictor eval --predictor preds/gcn --runs runs/c

`train` holds out `--test-fraction` of the architectures and prints Kendall's tau and Spearman's
rho of the predictions on them; `eval` prints the same on the architectures of other runs. A saved
predictor can warm-start a search: `nas search --strategy nao -o predictor=preds/gcn ...`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from nas.errors import UserError


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predictor", help="train and evaluate performance predictors on run archives",
                       description="Train a performance predictor on the evaluations of search runs, "
                                   "or evaluate a saved one on other runs.")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser("train", help="train a predictor; reports rank correlation on a held-out part")
    train.add_argument("--space", required=True, help="space of the runs (each run is checked)")
    train.add_argument("--runs", type=Path, nargs="+", required=True, metavar="RUN_DIR")
    train.add_argument("--model", default="mlp", help="mlp, lstm, gcn or paths (the last two: cell spaces)")
    train.add_argument("--loss", choices=("mse", "rank"), default="mse")
    train.add_argument("--test-fraction", type=_fraction, default=0.2)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--epochs", type=int, default=None, help="training epochs (default 300)")
    train.add_argument("--out", type=Path, required=True, metavar="PRED_DIR")
    train.set_defaults(handler=run_train)
    evaluate = actions.add_parser("eval", help="rank correlation of a saved predictor on other runs")
    evaluate.add_argument("--predictor", type=Path, required=True, metavar="PRED_DIR")
    evaluate.add_argument("--runs", type=Path, nargs="+", required=True, metavar="RUN_DIR")
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
    predictor.fit([data.archs[i] for i in train], scores[train])
    print(f"trained {args.model} ({args.loss} loss) on {len(train)} architectures of {data.space.name}")
    if n_test >= 2:
        _report("held-out", n_test, predictor.predict([data.archs[i] for i in test]), scores[test])
    else:
        print("held-out: too few architectures for a rank correlation", file=sys.stderr)
    predictor.save(args.out)
    print(f"saved predictor to {args.out}")
    return 0


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
