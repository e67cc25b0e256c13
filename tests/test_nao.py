"""NAO and SemiNAS: valid decodings, search quality on the NB201 table, seeded, restorable."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch

from nas_common.errors import UserError
from nas.evaluate.table import TableEvaluator
from nas.constraints.limits import Constraint
from nas.strategies import make_strategy
from predictors import make_predictor

try:
    from tests.toy_space import ToySpace
except ImportError:
    from toy_space import ToySpace

QUICK = {"epochs": 40}  # keeps the NB201 searches at ~1-2 s each


@pytest.fixture(scope="module")
def table():
    return TableEvaluator()


def run(strategy, score, ask_n=4, tell_n=3, steps=10**6, outstanding=()):
    """Drive like an asynchronous runner; returns the proposals in order and the trials in flight."""
    outstanding, log = list(outstanding), []
    for _ in range(steps):
        if strategy.done():
            break
        trials = strategy.ask(ask_n)
        outstanding += trials
        log += trials
        assert trials or outstanding or strategy.done(), "strategy stalled"
        for t in outstanding[:tell_n]:
            strategy.tell(t.trial_id, {"val_acc": score(t.arch)})
        del outstanding[:tell_n]
    return log, outstanding


def best(name, table, seed, budget=60, **options):
    options = {} if name == "random" else {**QUICK, **options}
    strategy = make_strategy(name, table.space, budget=budget, seed=seed, options=options)
    run(strategy, lambda a: table.evaluate(a)["val_acc"], ask_n=10, tell_n=10)
    return strategy.history.top(1)[0][1]["val_acc"]


@pytest.mark.parametrize("name", ["nao", "seminas"])
def test_beats_random_search_on_nb201(name, table, one_thread):
    random = np.mean([best("random", table, s) for s in range(20)])
    extra = {"unlabelled": 100, "semi_epochs": 10} if name == "seminas" else {}
    found = np.mean([best(name, table, s, **extra) for s in range(3)])
    assert found > random, (found, random)


@pytest.mark.parametrize("name", ["nao", "seminas"])
def test_decoding_gives_valid_architectures_only(name, one_thread):
    space = ToySpace(num_decisions=8, num_options=3)
    strategy = make_strategy(name, space, budget=40, seed=0, options={"population": 20, "epochs": 60})
    log, _ = run(strategy, space.score)
    archs = [t.arch for t in log]
    assert len(archs) == len(set(archs)) == 40 and all(space.contains(a) for a in archs)
    decoded = strategy.decode([a for a, _ in strategy.history])
    assert all(space.contains(a) for a in decoded)
    # trained on them, the decoder reconstructs most evaluated architectures
    assert np.mean([d == a for d, (a, _) in zip(decoded, strategy.history)]) > 0.5


def test_constraint_holds_for_ascent_proposals(one_thread):
    space = ToySpace()
    constraint = Constraint(max_flops=16_000)
    strategy = make_strategy("nao", space, budget=50, constraint=constraint, seed=0, options=QUICK)
    log, _ = run(strategy, space.score)
    assert all(constraint.violation(space, t.arch) is None for t in log)


def _save(strategy):
    buffer = io.BytesIO()
    torch.save(strategy.tensors(), buffer)
    buffer.seek(0)
    return json.loads(json.dumps(strategy.state_dict())), torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("name", ["nao", "seminas"])
@pytest.mark.parametrize("steps", [2, 8])  # before the first training, and mid-generation after two
def test_restore_mid_run_continues_identically(name, steps, one_thread):
    space = ToySpace()
    options = {"population": 12, "candidates": 6, "epochs": 10, **({"unlabelled": 40} if name == "seminas" else {})}
    first = make_strategy(name, space, budget=30, seed=5, options=options)
    log, outstanding = run(first, space.score, steps=steps)
    state, tensors = _save(first)
    resumed = make_strategy(name, space, budget=30, seed=99, options=options)
    resumed.load_state_dict(state)
    resumed.load_tensors(tensors)
    assert resumed.state_dict() == state
    assert resumed.history.pending() == outstanding

    rest_first, _ = run(first, space.score, outstanding=outstanding)
    rest_resumed, _ = run(resumed, space.score, outstanding=outstanding)
    assert [t.arch for t in rest_resumed] == [t.arch for t in rest_first] and rest_first
    assert resumed.state_dict() == first.state_dict()


def test_tensors_are_required_after_training(one_thread):
    space = ToySpace()
    options = {"population": 12, "candidates": 6, "epochs": 5}
    strategy = make_strategy("nao", space, budget=36, seed=0, options=options)
    run(strategy, space.score, steps=8)
    state, tensors = _save(strategy)
    assert state["strategy_state"]["trainings"] >= 1
    resumed = make_strategy("nao", space, budget=36, seed=0, options=options)
    resumed.load_state_dict(state)
    with pytest.raises(UserError, match="load the saved tensors"):
        run(resumed, space.score)


def test_seeded_and_independent_of_global_rng(one_thread):
    space = ToySpace()
    logs = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)
        np.random.seed(global_seed)
        strategy = make_strategy("nao", space, budget=28, seed=7, options={"population": 16, "epochs": 10})
        logs.append([t.arch for t in run(strategy, space.score)[0]])
    assert logs[0] == logs[1]


def test_predictor_warm_start_pre_ranks_generation_0(table, tmp_path, one_thread):
    rng = np.random.default_rng(123)
    archs = list({a.hash: a for a in (table.space.sample(rng) for _ in range(300))}.values())[:200]
    predictor = make_predictor("mlp", table.space, loss="rank", epochs=60, hidden=32)
    predictor.fit(archs, [table.evaluate(a)["val_acc"] for a in archs]).save(tmp_path / "pred")

    def generation_0(**options):
        strategy = make_strategy("nao", table.space, budget=20, seed=0, options={"population": 20, **options})
        return np.mean([table.evaluate(t.arch)["val_acc"] for t in strategy.ask(20)])

    assert generation_0(predictor=str(tmp_path / "pred"), pool=300) > generation_0() + 3
    with pytest.raises(UserError, match="trained on space nb201"):
        make_strategy("nao", ToySpace(), budget=20, seed=0, options={"predictor": str(tmp_path / "pred")}).ask(1)


def test_surrogate_picks_each_later_generation(table, one_thread):
    options = {**QUICK, "population": 10, "candidates": 5, "surrogate": "paths", "surrogate_pool": 30}
    logs = []
    for _ in range(2):
        strategy = make_strategy("nao", table.space, budget=20, seed=1, options=options)
        log, _ = run(strategy, lambda a: table.evaluate(a)["val_acc"], ask_n=10, tell_n=10)
        logs.append([t.arch for t in log])
        assert len({a.hash for a in logs[-1]}) == len(logs[-1]) == 20
        assert strategy.proposals.seen() == sorted(a.hash for a in logs[-1])  # the pool's rejects are never claimed
    assert logs[0] == logs[1]  # seeded
    with pytest.raises(UserError, match="surrogate_pool=3 must be >= candidates=5"):
        make_strategy("nao", table.space, budget=20, seed=1, options={**options, "surrogate_pool": 3})
