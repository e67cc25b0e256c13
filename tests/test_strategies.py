"""Search strategies on a toy space with a known optimum: quality, constraints, determinism, state."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.constraints.limits import Constraint, InfeasibleConstraint
from nas.strategies import Strategy, make_strategy

try:  # `tests` is a package for some runners and a plain directory for others
    from tests.toy_space import ToySpace
except ImportError:
    from toy_space import ToySpace

SMALL_EVOLUTION = {"population": 20, "topk": 5, "mutations": 10, "crossovers": 10}
REGULARIZED = {"mode": "regularized", "population": 20, "sample_size": 5}
VARIANTS = {
    "random": ("random", {}),
    "spos": ("evolution", SMALL_EVOLUTION),
    "regularized": ("evolution", REGULARIZED),
}


def make(variant: str, space, *, budget=None, seed=0, constraint=Constraint()) -> Strategy:
    name, options = VARIANTS[variant]
    return make_strategy(name, space, budget=budget, constraint=constraint, seed=seed, options=options)


class Driver:
    """Drives a strategy like an asynchronous runner: asks a few, tells the oldest few results."""

    def __init__(self, strategy: Strategy, space: ToySpace, ask_n: int = 4, tell_n: int = 3) -> None:
        self.strategy, self.space, self.ask_n, self.tell_n = strategy, space, ask_n, tell_n
        self.outstanding = []  # trials asked and not yet told, oldest first
        self.log = []  # every proposal, in order

    def step(self) -> None:
        trials = self.strategy.ask(self.ask_n)
        self.outstanding += trials
        self.log += [(t.trial_id, t.arch) for t in trials]
        assert trials or self.outstanding or self.strategy.done(), "strategy stalled"
        for t in self.outstanding[: self.tell_n]:
            self.strategy.tell(t.trial_id, {"val_acc": self.space.score(t.arch), "loss": 1.0})
        del self.outstanding[: self.tell_n]

    def run(self, steps: int = 10**6) -> "Driver":
        for _ in range(steps):
            if self.strategy.done():
                break
            self.step()
        return self


def best_score(variant: str, space: ToySpace, budget: int, seed: int) -> float:
    strategy = Driver(make(variant, space, budget=budget, seed=seed), space).run().strategy
    assert len(strategy.history) == budget
    return strategy.history.top(1)[0][1]["val_acc"]


# ---- search quality -------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", ["spos", "regularized"])
def test_evolution_beats_random(variant):
    space = ToySpace(num_decisions=12, num_options=4)
    seeds = range(5)
    evolved = np.mean([best_score(variant, space, 300, s) for s in seeds])
    random = np.mean([best_score("random", space, 300, s) for s in seeds])
    assert evolved > random + 10, (evolved, random)


@pytest.mark.parametrize("variant", ["spos", "regularized"])
def test_evolution_finds_the_optimum_of_a_small_space(variant):
    space = ToySpace(num_decisions=6, num_options=4)  # 4096 architectures, one optimum
    found = sum(best_score(variant, space, 300, s) == 100.0 for s in range(5))
    assert found >= 4


# ---- constraints and duplicates ---------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_constraint_is_never_violated_and_nothing_repeats(variant):
    space = ToySpace()
    constraint = Constraint(max_flops=18_000, max_params=1_900)  # sum of choices <= 13, of 0..36
    driver = Driver(make(variant, space, budget=200, constraint=constraint), space).run()
    archs = [arch for _, arch in driver.log]
    assert len(archs) == 200
    assert len(set(archs)) == len(archs)
    assert all(constraint.violation(space, a) is None for a in archs)


def test_constraint_violation_message():
    space = ToySpace()
    worst = space.parse({"space": "toy", "choices": [3] * 12})
    assert Constraint(max_flops=10_000).violation(space, worst) == "flops 41.0K > max 10.0K"
    assert Constraint().violation(space, worst) is None
    with pytest.raises(UserError, match="max_flops"):
        Constraint(max_flops=-1)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_infeasible_constraint_raises(variant):
    strategy = make(variant, ToySpace(), budget=10, constraint=Constraint(max_flops=4_000))
    message = r"max_flops=4\.0K is infeasible.*smallest seen: flops \d+\.\dK"
    with pytest.raises(InfeasibleConstraint, match=message):
        strategy.ask(1)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_exhausting_a_tiny_space_ends_the_search(variant):
    space = ToySpace(num_decisions=3, num_options=2)  # 8 architectures
    driver = Driver(make(variant, space, budget=50), space).run(steps=1000)
    assert driver.strategy.done()
    assert sorted(a.choices for _, a in driver.log) == sorted(np.ndindex(2, 2, 2))


# ---- determinism and state ------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_same_seed_same_proposals(variant):
    space = ToySpace()
    logs = [Driver(make(variant, space, budget=120, seed=7), space).run().log for _ in range(2)]
    assert logs[0] == logs[1]
    other = Driver(make(variant, space, budget=120, seed=8), space).run().log
    assert other != logs[0]


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("steps", [1, 5, 8, 23])  # checkpoints at several points, pending trials included
def test_state_round_trip_continues_identically(variant, steps):
    space = ToySpace()
    budget = 150
    first = Driver(make(variant, space, budget=budget, seed=3), space).run(steps)
    state = json.loads(json.dumps(first.strategy.state_dict()))

    resumed = Driver(make(variant, space, budget=budget, seed=999), space)  # the seed must not matter
    resumed.strategy.load_state_dict(state)
    assert resumed.strategy.history.pending() == first.outstanding
    resumed.outstanding = list(first.outstanding)
    assert resumed.strategy.state_dict() == state

    first.run()
    resumed.run()
    assert resumed.log == first.log[len(first.log) - len(resumed.log):]
    assert resumed.strategy.state_dict() == first.strategy.state_dict()


def test_spos_checkpoint_inside_a_partially_told_generation():
    space = ToySpace()
    strategy = make("spos", space, budget=100)
    trials = strategy.ask(100)
    assert len(trials) == 20  # generation 0 is the population
    for t in trials[:7]:
        strategy.tell(t.trial_id, {"val_acc": space.score(t.arch)})
    assert strategy.ask(5) == []  # waits for the generation
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = make("spos", space, budget=100)
    resumed.load_state_dict(state)
    for s in (strategy, resumed):
        for t in trials[7:]:
            s.tell(t.trial_id, {"val_acc": space.score(t.arch)})
    assert strategy.ask(100) == resumed.ask(100)


def test_resume_with_other_options_is_refused():
    space = ToySpace()
    state = make("spos", space, budget=50).state_dict()
    with pytest.raises(UserError, match="resume with the saved config"):
        make_strategy("evolution", space, budget=50, seed=0, options={"population": 30}).load_state_dict(state)


# ---- ask/tell contract ----------------------------------------------------------------------------
def test_tell_rejects_unknown_trials_and_missing_objective():
    strategy = make("random", ToySpace(), budget=5)
    (trial,) = strategy.ask(1)
    with pytest.raises(ValueError, match="never asked"):
        strategy.tell(99, {"val_acc": 1.0})
    with pytest.raises(ValueError, match="val_acc"):
        strategy.tell(trial.trial_id, {"loss": 1.0})
    strategy.tell(trial.trial_id, {"val_acc": np.float32(50.0)})
    with pytest.raises(ValueError, match="already told"):
        strategy.tell(trial.trial_id, {"val_acc": 1.0})
    json.dumps(strategy.state_dict())  # numpy scalars in metrics were made plain


def test_spos_default_budget():
    strategy = make_strategy("evolution", ToySpace(), budget=None, seed=0)
    assert strategy.budget == 50 + 19 * 50


# ---- factory ---------------------------------------------------------------------------------------
def test_unknown_strategy_lists_valid_names():
    with pytest.raises(UserError, match="valid strategies: .*evolution.*random"):
        make_strategy("annealing", ToySpace(), budget=10, seed=0)


def test_unknown_option_lists_valid_options():
    with pytest.raises(UserError, match="unknown option 'popsize'.*valid options: population=50"):
        make_strategy("evolution", ToySpace(), budget=10, seed=0, options={"popsize": 3})


def test_options_are_parsed_from_strings_and_checked():
    options = {"population": "30", "mutation_prob": "0.2", "mode": "regularized"}
    strategy = make_strategy("evolution", ToySpace(), budget=10, seed=0, options=options)
    assert (strategy.config.population, strategy.config.mutation_prob) == (30, 0.2)
    with pytest.raises(UserError, match="population='many' is not a valid int"):
        make_strategy("evolution", ToySpace(), budget=10, seed=0, options={"population": "many"})
    with pytest.raises(UserError, match="topk=60 must be <= population=50"):
        make_strategy("evolution", ToySpace(), budget=10, seed=0, options={"topk": 60})
    with pytest.raises(UserError, match="valid modes"):
        make_strategy("evolution", ToySpace(), budget=10, seed=0, options={"mode": "nsga"})
    with pytest.raises(UserError, match="budget"):
        make_strategy("random", ToySpace(), budget=0, seed=0)


# ---- contract over every registered strategy --------------------------------------------------------
# Smaller than the defaults where the defaults are sized for real searches, not for the contract.
CONTRACT_OPTIONS = {"guided": {"warmup": "params:300", "trees": 20}}

# Gradient-based strategies (darts) propose what their trained alphas choose: tests/test_darts.py.
@pytest.mark.parametrize("name", [n for n in STRATEGIES.names() if not getattr(STRATEGIES.get(n), "trains_supernet", None)])
def test_strategy_contract(name):
    space = ToySpace()
    constraint = Constraint(max_flops=20_000)
    options = CONTRACT_OPTIONS.get(name, {})
    strategy = make_strategy(name, space, budget=60, constraint=constraint, seed=1, options=options)
    driver = Driver(strategy, space).run(steps=7)
    state = json.loads(json.dumps(strategy.state_dict()))
    resumed = make_strategy(name, space, budget=60, constraint=constraint, seed=2, options=options)
    resumed.load_state_dict(state)
    assert resumed.state_dict() == state

    driver.run()
    assert strategy.done() and not strategy.history.pending() and strategy.ask(5) == []
    archs = [arch for _, arch in driver.log]
    assert len(archs) == 60 == len(set(archs)) == len(strategy.history)
    assert all(space.contains(a) and constraint.violation(space, a) is None for a in archs)
    assert strategy.tensors() == {} or isinstance(strategy.tensors(), dict)
