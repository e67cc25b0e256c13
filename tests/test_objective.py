"""An objective is a metric and a direction: strategies, records, summaries and predictors rank by it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from nas.archive import RunDir, make_record, ranked, summarize
from nas.archive.plots import pareto_front
from nas.archive.records import read_records
from nas_common.errors import UserError
from nas.strategies import make_strategy
from nas_common.objective import VAL_ACC, Objective

try:
    from tests.toy_space import ToySpace
except ImportError:
    from toy_space import ToySpace

ERROR = Objective("val_error", "min", scale=100.0)
ROOT = Path(__file__).resolve().parents[1]


def _best_error(name: str, options: dict, seed: int, space: ToySpace) -> float:
    """Search minimising error = 100 - toy score: the strategy must climb towards the target."""
    strategy = make_strategy(name, space, budget=200, seed=seed, options=options, objective=ERROR)
    while not strategy.done():
        for trial in strategy.ask(4):
            strategy.tell(trial.trial_id, {"val_error": 100.0 - space.score(trial.arch)})
    return strategy.history.top(1)[0][1]["val_error"]


@pytest.mark.parametrize("name, options", [
    ("evolution", {"population": 20, "topk": 5, "mutations": 10, "crossovers": 10}),
    ("evolution", {"mode": "regularized", "population": 20, "sample_size": 5}),
    ("rl", {}),
])
def test_strategies_minimise_a_minimised_objective(name, options):
    space = ToySpace(num_decisions=12, num_options=4)
    searched = np.mean([_best_error(name, options, s, space) for s in range(3)])
    random = np.mean([_best_error("random", {}, s, space) for s in range(3)])
    assert searched < random - 5, (searched, random)  # lower error than random search


def test_tell_needs_the_objective_metric():
    space = ToySpace()
    strategy = make_strategy("random", space, budget=2, seed=0, objective=ERROR)
    trial = strategy.ask(1)[0]
    with pytest.raises(ValueError, match="val_error"):
        strategy.tell(trial.trial_id, {"val_acc": 50.0})


def _rec(step: int, error: float, flops: int = 10) -> dict:
    from search_spaces.arch import Arch

    return make_record(Arch("toy", (step,)), {"val_error": error}, flops=flops, params=1, step=step, wall_s=0.0,
                       objective=ERROR)


def test_records_summary_and_front_follow_the_direction():
    records = [_rec(0, 30.0, flops=5), _rec(1, 10.0, flops=20), _rec(2, 20.0, flops=10), _rec(3, math.nan)]
    assert [r["step"] for r in ranked(records, ERROR)] == [1, 2, 0, 3]  # NaN last
    summary = summarize(records, objective=ERROR)
    assert summary["best"]["step"] == 1 and summary["objective"]["direction"] == "min"
    assert [r["step"] for r in pareto_front(records, ERROR)] == [0, 2, 1]
    with pytest.raises(ValueError, match="val_error"):
        make_record(records[0]["arch"], {"val_acc": 1.0}, flops=1, params=1, step=0, wall_s=0, objective=ERROR)


def test_run_objective_round_trips_and_old_runs_read_as_val_acc(tmp_path):
    run = RunDir.create(tmp_path / "r", {"kind": "search", "objective": ERROR.to_dict()})
    assert run.objective() == ERROR
    with run.record_writer() as writer:
        writer.append(_rec(0, 12.5))
    assert run.read_records()[0]["metrics"] == {"val_error": 12.5}
    old = tmp_path / "old"
    shutil.copytree(ROOT / "runs/archived/nb201-table-rea", old)
    assert "objective" not in json.loads((old / "config.json").read_text())
    assert RunDir.open(old).objective() == VAL_ACC
    assert len(RunDir.open(old).read_records()) == 300


def test_a_malformed_objective_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="direction"):
        Objective.from_dict({"metric": "x", "direction": "up"})
    with pytest.raises(UserError, match="unknown keys"):
        Objective.from_dict({"metric": "x", "sense": "max"})
    run = RunDir.create(tmp_path / "r", {"kind": "search", "objective": "val_acc"})
    with pytest.raises(UserError, match="objective"):
        run.read_records()


def test_archived_records_read_with_the_default_objective():
    records = read_records(ROOT / "runs/archived/shufflenet-cifar10-evolution/evaluations.jsonl")
    assert ranked(records)[0]["metrics"]["val_acc"] == max(r["metrics"]["val_acc"] for r in records)
