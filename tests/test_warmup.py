"""Zero-cost warm-up and the predictor-guided strategy on a toy space with a known optimum: the
proxy's top architectures seed evolution, the RL controller learns from the proxy first, the guided
strategy beats random search; states round-trip; a search runs them end to end with proxy scores
kept in the run."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas_common.errors import UserError
from nas.strategies import make_strategy
from nas.strategies.guided import neighbours
from tests.conftest import needs_subset, read_jsonl, run_main
from tests.toy_space import ToySpace

try:
    from tests.test_strategies import Driver
except ImportError:  # a plain tests directory
    from test_strategies import Driver


def toy_proxy(space: ToySpace, noise: float = 0.0, seed: int = 0):
    """A proxy of the toy objective: the true score plus noise fixed per architecture."""
    calls = []

    def score(archs, proxy):
        calls.append((len(archs), proxy))
        return [space.score(a) + noise * np.random.default_rng([seed, *a.choices]).standard_normal()
                for a in archs]

    score.calls = calls
    return score


@pytest.mark.parametrize("mode", ["spos", "regularized"])
def test_evolution_warmup_seeds_the_population_with_the_proxys_top(mode):
    space = ToySpace()
    options = {"mode": mode, "population": 8, "topk": 4, "mutations": 4, "crossovers": 4, "sample_size": 3,
               "warmup": "toyproxy:200"}
    strategy = make_strategy("evolution", space, budget=40, seed=0, options=options)
    assert strategy.proxies_requested() == ("toyproxy",)
    proxy = toy_proxy(space)
    strategy.use_proxies(proxy)
    first = strategy.ask(8)
    assert proxy.calls == [(200, "toyproxy")]  # scored once, all together
    # The same 200 draws, ranked by the proxy: the population is their top 8.
    twin = make_strategy("evolution", space, budget=40, seed=0, options=options)
    drawn = twin.proposals.candidates(200)
    top = sorted(drawn, key=lambda a: -space.score(a))[:8]
    assert [t.arch for t in first] == top
    random_start = make_strategy("evolution", space, budget=40, seed=0, options={**options, "warmup": ""}).ask(8)
    assert np.mean([space.score(t.arch) for t in first]) > np.mean([space.score(t.arch) for t in random_start]) + 15


def test_warmup_state_round_trips_mid_population():
    space = ToySpace()
    options = {"mode": "regularized", "population": 10, "sample_size": 3, "warmup": "toyproxy:100"}
    a = make_strategy("evolution", space, budget=30, seed=4, options=options)
    a.use_proxies(toy_proxy(space))
    Driver(a, space, ask_n=2, tell_n=1).run(steps=3)
    state = json.loads(json.dumps(a.state_dict()))
    b = make_strategy("evolution", space, budget=30, seed=9, options=options)
    b.load_state_dict(state)  # no proxy needed: the warm-up's ranking is in the state
    assert [t.arch for t in a.ask(4)] == [t.arch for t in b.ask(4)]


def test_a_strategy_that_needs_a_proxy_says_so():
    strategy = make_strategy("evolution", ToySpace(), budget=10, seed=0,
                             options={"mode": "regularized", "population": 4, "sample_size": 2,
                                      "warmup": "naswot:10"})
    with pytest.raises(UserError, match="needs the scores of proxy 'naswot'"):
        strategy.ask(1)
    for bad in ("naswot", "naswot:0", ":5", "naswot:x"):
        with pytest.raises(UserError, match="PROXY:N"):
            make_strategy("guided", ToySpace(), budget=10, seed=0, options={"warmup": bad})
    with pytest.raises(UserError, match="at least population"):
        make_strategy("evolution", ToySpace(), budget=10, seed=0, options={"population": 20, "topk": 5,
                                                                             "warmup": "naswot:10"})


def test_rl_warmup_trains_the_controller_on_the_proxy_first():
    space = ToySpace(num_decisions=8, num_options=4)

    def first_batch_mean(warmup: str) -> float:
        strategy = make_strategy("rl", space, budget=20, seed=1, options={"warmup": warmup, "batch_size": 10})
        strategy.use_proxies(toy_proxy(space))
        return np.mean([space.score(t.arch) for t in strategy.ask(10)])

    cold = np.mean([first_batch_mean("") for _ in range(1)])
    warm = first_batch_mean("toyproxy:400")
    assert warm > cold + 15  # 40 proxy-rewarded updates move the policy towards the target


def test_rl_warmup_survives_a_state_round_trip():
    space = ToySpace(num_decisions=8, num_options=4)
    options = {"warmup": "toyproxy:50", "batch_size": 5}
    a = make_strategy("rl", space, budget=20, seed=1, options=options)
    a.use_proxies(toy_proxy(space))
    Driver(a, space, ask_n=5, tell_n=5).run(steps=1)
    state, tensors = json.loads(json.dumps(a.state_dict())), a.tensors()
    b = make_strategy("rl", space, budget=20, seed=2, options=options)  # no proxy: must not warm up again
    b.load_state_dict(state)
    b.load_tensors(tensors)
    assert [t.arch for t in a.ask(5)] == [t.arch for t in b.ask(5)]


def test_guided_beats_random_at_the_same_budget():
    space = ToySpace(num_decisions=10, num_options=4)

    def best(name: str, options: dict, seed: int) -> float:
        strategy = make_strategy(name, space, budget=40, seed=seed, options=options)
        strategy.use_proxies(toy_proxy(space, noise=20.0, seed=seed))
        Driver(strategy, space, ask_n=1, tell_n=1).run()
        return strategy.history.top(1)[0][1]["val_acc"]

    random_best = [best("random", {}, s) for s in range(3)]
    guided_best = [best("guided", {"init": 10, "trees": 10, "warmup": "", "features": "", "explore": 0.0}, s)
                   for s in range(3)]
    warm_best = [best("guided", {"init": 5, "trees": 10, "warmup": "noisy:300", "features": "noisy"}, s)
                 for s in range(3)]
    assert np.mean(guided_best) > np.mean(random_best) + 10
    assert np.mean(warm_best) > np.mean(random_best) + 10


def test_neighbours_change_exactly_one_decision():
    space = ToySpace(num_decisions=5, num_options=3)
    arch = space.sample(np.random.default_rng(0))
    near = neighbours(space, arch)
    assert len(near) == len(set(near)) == 5 * 2
    assert all(sum(a != b for a, b in zip(n.choices, arch.choices)) == 1 for n in near)


@needs_subset
def test_warmup_through_nas_search_keeps_proxy_scores_in_the_run(tmp_path):
    argv = ["search", "--space", "nb201", "-S", "channels=4", "-S", "cells_per_stage=1", "--evaluator", "zc",
            "-E", "proxy=params", "-E", "batch_size=8", "--data", "cifar10-subset", "--strategy", "evolution",
            "-o", "mode=regularized", "-o", "population=4", "-o", "sample_size=2", "-o", "warmup=synflow:16",
            "--budget", "6", "--quiet", "--out", tmp_path / "run"]
    code, _ = run_main(argv)
    assert code == 0
    scored = read_jsonl(tmp_path / "run" / "proxy_scores.jsonl")
    assert len(scored) == 16 and {r["proxy"] for r in scored} == {"synflow"}
    records = read_jsonl(tmp_path / "run" / "evaluations.jsonl")
    by_hash = {r["arch_hash"]: r["value"] for r in scored}
    first = [r["arch_hash"] for r in records[:4]]
    assert all(h in by_hash for h in first)  # the population came from the warm-up
    assert sorted(by_hash.values(), reverse=True)[:4] == sorted((by_hash[h] for h in first), reverse=True)


@pytest.mark.parametrize("name", ["nao", "seminas"])
def test_nao_warmup_makes_generation_zero_the_proxys_top(name):
    space = ToySpace()
    options = {"population": 6, "candidates": 2, "epochs": 2, "warmup": "toyproxy:60"}
    strategy = make_strategy(name, space, budget=8, seed=0, options=options)
    assert strategy.proxies_requested() == ("toyproxy",)
    strategy.use_proxies(toy_proxy(space))
    first = [t.arch for t in strategy.ask(6)]
    twin = make_strategy(name, space, budget=8, seed=0, options=options)
    assert first == sorted(twin.proposals.candidates(60), key=lambda a: -space.score(a))[:6]
    with pytest.raises(UserError, match="give one"):
        make_strategy(name, space, budget=8, seed=0, options={**options, "predictor": "/tmp/p"})
