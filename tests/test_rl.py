"""The RL controller strategy on toy spaces with a known optimum: it learns, it beats random search,
it is deterministic, and a checkpoint taken mid-batch (JSON state + tensors) continues identically."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
import torch

from nas_common.errors import UserError
from nas.constraints.limits import Constraint, InfeasibleConstraint
from nas.strategies import make_strategy
from search_spaces.arch import Arch
from search_spaces.protocol import Decision

try:  # `tests` is a package for some runners and a plain directory for others
    from tests.toy_space import ToySpace
except ImportError:
    from toy_space import ToySpace

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny torch work, shared cores


class MixedSpace(ToySpace):
    """Decisions with 2, 3 and 5 options: the controller needs one head per decision size."""

    name = "mixed"
    SIZES = (2, 3, 5, 3, 5, 2, 5)

    def __init__(self) -> None:
        super().__init__(num_decisions=len(self.SIZES), num_options=5)
        self._decisions = tuple(
            Decision(f"d{i}", tuple(f"op{j}" for j in range(k))) for i, k in enumerate(self.SIZES)
        )
        self.target = tuple(int(np.random.default_rng(1).integers(k)) for k in self.SIZES)

    def config(self) -> dict[str, Any]:
        return {}


def make(space, *, budget, seed=0, constraint=Constraint(), **options):
    return make_strategy("rl", space, budget=budget, constraint=constraint, seed=seed, options=options)


def drive(strategy, space, steps=10**6, ask_n=4, tell_n=3, outstanding=None, log=None):
    """Asks a few, tells the oldest few, like an asynchronous runner; returns (outstanding, log)."""
    outstanding = [] if outstanding is None else outstanding
    log = [] if log is None else log
    for _ in range(steps):
        if strategy.done():
            break
        trials = strategy.ask(ask_n)
        assert trials or outstanding or strategy.done(), "strategy stalled"
        outstanding += trials
        log += trials
        for t in outstanding[:tell_n]:
            strategy.tell(t.trial_id, {"val_acc": space.score(t.arch)})
        del outstanding[:tell_n]
    return outstanding, log


def best(strategy) -> float:
    return strategy.history.top(1)[0][1]["val_acc"]


# ---- learning ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_controller_learns_the_optimum(algorithm, seed):
    space = ToySpace(num_decisions=6, num_options=5, target_seed=10 + seed)  # 15,625 archs, like NB201
    strategy = make(space, budget=200, seed=seed, algorithm=algorithm)
    drive(strategy, space)
    assert best(strategy) == 100.0
    assert strategy.greedy().choices == space.target  # the policy itself, not a lucky draw


def test_controller_beats_random_search():
    # target_seed differs from the run seeds: seed 0 would draw the target first (same stream)
    space = ToySpace(num_decisions=12, num_options=4, target_seed=100)  # 16.7M archs
    scores = {}
    for name in ("rl", "random"):
        runs = [make_strategy(name, space, budget=300, seed=s) for s in range(3)]
        for strategy in runs:
            drive(strategy, space)
        scores[name] = np.mean([best(s) for s in runs])
    assert scores["rl"] > scores["random"] + 15, scores


def test_decisions_with_different_option_counts():
    space = MixedSpace()
    strategy = make(space, budget=150, seed=0)
    _, log = drive(strategy, space)
    assert all(space.contains(t.arch) for t in log)
    assert {t.arch.choices[2] for t in log} == set(range(5))  # every option of a 5-way decision drawn
    assert best(strategy) == 100.0 and strategy.greedy().choices == space.target


# ---- on-policy batches, constraint, duplicates ------------------------------------------------------
def test_at_most_one_batch_is_outstanding():
    space = ToySpace()
    strategy = make(space, budget=100, batch_size=10)
    trials = strategy.ask(100)
    assert len(trials) == 10
    for t in trials[:9]:
        strategy.tell(t.trial_id, {"val_acc": space.score(t.arch)})
    assert strategy.ask(5) == []  # the batch's last result is outstanding
    strategy.tell(trials[9].trial_id, {"val_acc": space.score(trials[9].arch)})
    assert strategy.state_dict()["strategy_state"]["updates"] == 1
    assert len(strategy.ask(100)) == 10


def test_constraint_is_respected_and_nothing_repeats():
    space = ToySpace(num_decisions=6, num_options=5)
    constraint = Constraint(max_flops=14_000)  # sum of choices <= 9 of 0..24; the target's is 11
    strategy = make(space, budget=300, constraint=constraint)
    _, log = drive(strategy, space)
    archs = [t.arch for t in log]
    assert len(archs) == 300 == len(set(archs))
    assert all(constraint.violation(space, a) is None for a in archs)


def test_infeasible_constraint_raises():
    strategy = make(ToySpace(), budget=10, constraint=Constraint(max_flops=4_000))
    with pytest.raises(InfeasibleConstraint, match="max_flops"):
        strategy.ask(1)


def test_exhausting_a_tiny_space_ends_the_search():
    space = ToySpace(num_decisions=3, num_options=2)  # 8 architectures, fewer than a batch
    strategy = make(space, budget=50)
    _, log = drive(strategy, space, steps=1000)
    assert strategy.done()
    assert sorted(t.arch.choices for t in log) == sorted(np.ndindex(2, 2, 2))


# ---- determinism and state ----------------------------------------------------------------------------
def test_same_seed_same_proposals_and_no_global_rng():
    space = ToySpace()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    logs = [drive(make(space, budget=80, seed=7), space)[1] for _ in range(2)]
    assert logs[0] == logs[1]
    assert drive(make(space, budget=80, seed=8), space)[1] != logs[0]
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()


def save(strategy) -> tuple[dict, dict]:
    """What the runner writes: the JSON state and the tensor sidecar, through real serialisation."""
    buffer = io.BytesIO()
    torch.save(strategy.tensors(), buffer)
    buffer.seek(0)
    return json.loads(json.dumps(strategy.state_dict())), torch.load(buffer, weights_only=True)


@pytest.mark.parametrize("algorithm", ["reinforce", "ppo"])
@pytest.mark.parametrize("steps", [2, 11, 17])  # before any update, and mid-batch after a few
def test_checkpoint_mid_batch_continues_identically(algorithm, steps):
    space = ToySpace()
    first = make(space, budget=80, seed=3, algorithm=algorithm)
    outstanding, _ = drive(first, space, steps)
    state, tensors = save(first)
    assert state["strategy_state"]["batch"] and first.history.pending()  # results and trials in flight

    resumed = make(space, budget=80, seed=999, algorithm=algorithm)  # the seed must not matter
    resumed.load_state_dict(state)
    resumed.load_tensors(tensors)
    assert resumed.state_dict() == state
    assert resumed.history.pending() == outstanding

    _, rest = drive(first, space, outstanding=outstanding)
    _, rest_resumed = drive(resumed, space, outstanding=list(resumed.history.pending()))
    assert rest_resumed == rest
    assert resumed.state_dict() == first.state_dict()
    assert all(torch.equal(v, first.tensors()[k]) for k, v in resumed.tensors().items())


def test_tensors_are_required_after_an_update():
    space = ToySpace()
    strategy = make(space, budget=60)
    drive(strategy, space, steps=6)  # 18 results: one update
    state, tensors = save(strategy)
    assert state["strategy_state"]["updates"] == 1
    assert "updates" in tensors and any(k.startswith("opt.state.") for k in tensors)

    resumed = make(space, budget=60, seed=5)
    resumed.load_state_dict(state)
    with pytest.raises(UserError, match="load the saved tensors"):
        resumed.ask(1)
    resumed.load_tensors(tensors)
    assert resumed.ask(1)

    other = make(ToySpace(num_decisions=5), budget=60)
    with pytest.raises(UserError, match="does not fit"):
        other.load_tensors(tensors)


# ---- options -------------------------------------------------------------------------------------------
def test_options_are_parsed_and_checked():
    strategy = make(ToySpace(), budget=10, lr="0.01", algorithm="ppo", batch_size="5")
    assert (strategy.config.lr, strategy.config.algorithm, strategy.config.batch_size) == (0.01, "ppo", 5)
    with pytest.raises(UserError, match="valid algorithms: reinforce, ppo"):
        make(ToySpace(), budget=10, algorithm="a2c")
    with pytest.raises(UserError, match="baseline_decay=1.0 must be in"):
        make(ToySpace(), budget=10, baseline_decay=1.0)
    assert make_strategy("rl", ToySpace(), budget=None, seed=0).budget == 1000


def test_greedy_is_a_valid_architecture_before_training():
    space = MixedSpace()
    arch = make(space, budget=10).greedy()
    assert isinstance(arch, Arch) and space.contains(arch)


def test_before_any_update_the_json_state_alone_resumes():
    space = ToySpace()
    first = make(space, budget=40, seed=3)
    outstanding, _ = drive(first, space, steps=2)
    resumed = make(space, budget=40, seed=4)
    resumed.load_state_dict(json.loads(json.dumps(first.state_dict())))  # no tensors: rebuilt from the seed
    assert drive(resumed, space, outstanding=list(outstanding))[1] == drive(first, space, outstanding=outstanding)[1]
