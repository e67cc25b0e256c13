"""MnasNet's soft reward (`reward=mnas:COST:T[:w]`): parsed and checked, worth what the paper says,
and it moves what evolution and RL rank first toward cheaper architectures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.strategies import make_strategy
from nas.strategies.reward import REWARD, MnasReward
from nas_common.errors import UserError


def test_the_reward_is_the_papers():
    reward = MnasReward.parse("mnas:flops:300M", "evolution")
    assert reward == MnasReward("flops", 300e6, -0.07)
    assert reward.value(75.0, 300e6) == pytest.approx(75.0)  # at the target: the accuracy itself
    assert reward.value(75.0, 600e6) == pytest.approx(75.0 * 2 ** -0.07)  # twice the cost: about -5%
    assert reward.value(75.0, 600e6) / 75.0 == pytest.approx(0.953, abs=1e-3)
    assert MnasReward.parse("mnas:lat_ms:5:-0.15", "rl") == MnasReward("lat_ms", 5.0, -0.15, -0.15)
    assert MnasReward.parse("", "rl") is None
    # soft (alpha = beta): the target scales every reward alike, so it never changes a ranking
    a, b = MnasReward("params", 1e6), MnasReward("params", 3e5)
    assert a.value(80, 2e5) / a.value(84, 8e5) == pytest.approx(b.value(80, 2e5) / b.value(84, 8e5))
    # hard (the paper's alpha = 0, beta = -1): free up to the target, steep beyond it
    hard = MnasReward.parse("mnas:params:0.5M:0:-1", "evolution")
    assert hard.value(80, 0.2e6) == 80 and hard.value(80, 0.5e6) == 80 and hard.value(80, 1e6) == pytest.approx(40)
    for bad in ("mnas", "mnas:flops", "nas:flops:3", "mnas:flops:x", "mnas:flops:0", "mnas:flops:3:0.1", "mnas::3",
                "mnas:flops:3:0:0", "mnas:flops:3:-2:-1", "mnas:flops:3:0:-1:5"):
        with pytest.raises(UserError, match="mnas:COST:TARGET"):
            MnasReward.parse(bad, "evolution")


@pytest.fixture(scope="module")
def table():
    from nas.evaluate.table import TableEvaluator, default_table

    if not default_table().is_file():
        pytest.skip("bundled NB201 table not available")
    return TableEvaluator()


def _run(table, name, options, seed, budget=100):
    strategy = make_strategy(name, table.space, budget=budget, seed=seed, options=options)
    while not strategy.done():
        for trial in strategy.ask(10):
            strategy.tell(trial.trial_id, table.evaluate(trial.arch))
    return strategy


@pytest.mark.parametrize("name, options", [
    ("evolution", {"mode": "regularized", "population": 10, "sample_size": 3}),
    ("rl", {}),
])
def test_a_strong_cost_penalty_ranks_cheaper_architectures_first(table, name, options):
    """With w = -0.5 (soft) and T = 0.2M parameters, the architectures ranked first are smaller
    than without the reward, over 5 seeds; the accuracy stays in every told result."""
    plain, rewarded = [], []
    for seed in range(5):
        base = _run(table, name, options, seed)
        shaped = _run(table, name, {**options, "reward": "mnas:params:0.2M:-0.5"}, seed)
        plain += [table.space.params(a) for a, _ in base.history.top(5)]
        rewarded += [table.space.params(a) for a, _ in shaped.history.top(5)]
        assert all(REWARD in m and "val_acc" in m for _, m in shaped.history)
        a, m = shaped.history.top(1)[0]
        assert m[REWARD] == pytest.approx(m["val_acc"] * (table.space.params(a) / 0.2e6) ** -0.5)
    assert np.mean(rewarded) < 0.8 * np.mean(plain), (np.mean(rewarded), np.mean(plain))


def test_a_rewarded_search_resumes_exactly_and_checks_its_cost(table):
    options = {"mode": "regularized", "population": 10, "sample_size": 3, "reward": "mnas:flops:100M"}
    whole = _run(table, "evolution", options, 7, budget=40)
    cut = make_strategy("evolution", table.space, budget=40, seed=7, options=options)
    while len(cut.history) < 20:
        for trial in cut.ask(10):
            cut.tell(trial.trial_id, table.evaluate(trial.arch))
    resumed = make_strategy("evolution", table.space, budget=40, seed=1, options=options)
    resumed.load_state_dict(json.loads(json.dumps(cut.state_dict())))
    while not resumed.done():
        for trial in resumed.ask(10):
            resumed.tell(trial.trial_id, table.evaluate(trial.arch))
    assert [a for a, _ in resumed.history] == [a for a, _ in whole.history]
    odd = make_strategy("evolution", table.space, budget=5, seed=0, options={"reward": "mnas:latency:5"})
    trial = odd.ask(1)[0]
    with pytest.raises(UserError, match="cost 'latency' is neither params, flops, a metric the evaluator records"):
        odd.tell(trial.trial_id, table.evaluate(trial.arch))
