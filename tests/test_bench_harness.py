"""The strategy benchmark harness: trajectories, aggregates, the ask/tell drive, the report, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nas.bench_harness.harness as harness
from nas.bench_harness import (BenchConfig, aggregate, compare_to_baseline, markdown_table, parse_variants, run_benchmark, run_pair,
                               trajectory, write_report)
from nas.cli.main import main
from nas_common.errors import UserError
from nas.tasks.uncertainty import Z95
from nas.evaluate.table import TableEvaluator, default_table

pytestmark = pytest.mark.skipif(not default_table().is_file(), reason="bundled NB201 table not available")


@pytest.fixture(scope="module")
def table():
    return TableEvaluator()


def variant(spec: str):
    (v,) = parse_variants(spec)
    return v


# ---- trajectories and aggregates on hand-made numbers ---------------------------------------------
def test_trajectory_picks_best_val_and_keeps_the_earlier_on_ties():
    best_val, pick_test, picks = trajectory([80, 82, 82, 81, 85], [90, 93, 94, 95, 91])
    assert best_val == [80, 82, 82, 82, 85]
    assert pick_test == [90, 93, 93, 93, 91]  # the test acc of the pick, not the best test acc seen
    assert picks == [0, 1, 1, 1, 4]


def test_aggregate_mean_and_population_std():
    pairs = [
        {"strategy": "a", "best_val": [1.0, 2.0, 4.0], "pick_test_acc": [10.0, 20.0, 30.0]},
        {"strategy": "a", "best_val": [3.0, 3.0, 6.0], "pick_test_acc": [14.0, 20.0, 36.0]},
        {"strategy": "b", "best_val": [5.0, 5.0, 5.0], "pick_test_acc": [50.0, 50.0, 50.0]},
    ]
    stats = aggregate(pairs, [1, 3])
    a1 = stats["a"]["checkpoints"]["1"]
    # standard error of the mean over 2 seeds: sample std (ddof 1) / sqrt(2) = 2 sqrt(2) / sqrt(2) = 2;
    # one record's binomial noise on 10,000 images: 100 sqrt(p (1 - p) / 10^4), averaged over the picks
    binomial = np.mean([100 * np.sqrt(p * (1 - p) / 10_000) for p in (0.10, 0.14)])
    assert a1 == {"test_acc_mean": 12.0, "test_acc_std": 2.0, "test_acc_sem": pytest.approx(2.0),
                  "test_acc_record_se": pytest.approx(binomial), "best_val_mean": 2.0, "best_val_std": 1.0}
    a3 = stats["a"]["checkpoints"]["3"]
    assert (a3["test_acc_mean"], a3["test_acc_std"], a3["test_acc_sem"]) == (33.0, 3.0, pytest.approx(3.0))
    assert (a3["best_val_mean"], a3["best_val_std"]) == (5.0, 1.0)
    assert stats["a"]["final"] == a3 and stats["a"]["seeds"] == 2
    assert stats["b"]["checkpoints"]["3"]["test_acc_std"] == 0.0
    assert np.isnan(stats["b"]["final"]["test_acc_sem"])  # one seed: no spread to measure
    versus = compare_to_baseline({"a": stats["a"], "c": stats["a"]}, "a")
    assert versus == {"c": {"difference": 0.0, "se": pytest.approx(3 * np.sqrt(2)), "low": pytest.approx(-Z95 * 3 * np.sqrt(2)),
                            "high": pytest.approx(Z95 * 3 * np.sqrt(2)), "distinguishable": False}}
    far = {**stats["a"], "final": {**stats["a"]["final"], "test_acc_mean": 53.0}}
    assert compare_to_baseline({"a": stats["a"], "far": far}, "a")["far"]["distinguishable"]
    with pytest.raises(ValueError, match="fewer than checkpoint 4"):
        aggregate(pairs, [4])


# ---- variants -----------------------------------------------------------------------------------
def test_variants_group_options_and_apply_harness_defaults():
    vs = parse_variants("random,evolution:population=20,sample_size=5,rl,evolution")
    assert [v.label for v in vs] == ["random", "evolution:population=20,sample_size=5", "rl", "evolution"]
    assert vs[1].options == {"mode": "regularized", "population": 20, "sample_size": 5}
    assert vs[3].options == {"mode": "regularized", "population": 10, "sample_size": 3}  # REA on NB201
    assert vs[3].is_default() and not vs[1].is_default()
    assert parse_variants(["random", "rl"]) == parse_variants("random,rl")


@pytest.mark.parametrize("spec, message", [
    ("no_such", "unknown strategy 'no_such'; valid .*: darts, evolution, .*random, rl"),
    ("evolution:population", "is not KEY=VALUE"),
    ("evolution:", "is not KEY=VALUE"),
    ("population=3,random", "comes before any strategy"),
    ("random,,rl", "empty entry"),
    ("evolution:population=5,population=6", "sets population twice"),
    ("evolution:population=abc", "not a valid int"),
    ("evolution:colour=red", "unknown option 'colour'"),
    ("random,random", "given twice"),
])
def test_bad_variants_say_what_is_wrong(spec, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(")):
        parse_variants(spec)


# ---- the ask/tell drive -------------------------------------------------------------------------
class LeakyEvaluator:
    """The table, but `evaluate` also hands back the test accuracy (declared hidden, as the runner's
    evaluators do): the harness must still never tell it."""

    hidden_metrics = frozenset({"test_acc", "test_acc_12ep"})

    def __init__(self, table):
        self.table = table
        self.space = table.space
        self.reported_calls = 0

    def evaluate(self, arch):
        return {**self.table.evaluate(arch), **self.table.reported(arch)}

    def reported(self, arch):
        self.reported_calls += 1
        return self.table.reported(arch)


@pytest.mark.parametrize("spec", ["random", "evolution", "rl"])
def test_strategy_never_receives_test_acc(table, spec, monkeypatch):
    built = []

    def spy(*args, **kwargs):
        built.append(harness_make(*args, **kwargs))
        return built[-1]

    harness_make = harness.make_strategy
    monkeypatch.setattr(harness, "make_strategy", spy)
    evaluator = LeakyEvaluator(table)
    pair = run_pair(table.space, evaluator, variant(spec), seed=1, budget=25)
    (strategy,) = built
    assert len(strategy.history) == 25 == pair["queries"] == evaluator.reported_calls
    for (arch, metrics), val in zip(strategy.history, pair["val_acc"]):
        assert metrics == {"val_acc": table.evaluate(arch)["val_acc"]} and val == metrics["val_acc"]
    # The recorded trajectory is the test acc of the best-val pick.
    best = max(range(25), key=lambda i: (pair["val_acc"][i], -i))
    assert pair["pick_test_acc"][-1] == table.reported(strategy.history[best][0])["test_acc"]


@pytest.mark.parametrize("spec", ["random", "evolution", "rl"])
def test_pairs_are_deterministic_per_seed(table, spec):
    v = variant(spec)
    a = run_pair(table.space, table, v, seed=3, budget=30)
    b = run_pair(table.space, table, v, seed=3, budget=30)
    c = run_pair(table.space, table, v, seed=4, budget=30)
    assert a == b
    assert a["val_acc"] != c["val_acc"]


def test_evolution_beats_random_on_mean_best_val(table):
    seeds = range(10)
    means = {}
    for spec in ("random", "evolution"):
        v = variant(spec)
        means[spec] = np.mean([run_pair(table.space, table, v, seed=s, budget=150)["best_val"][-1] for s in seeds])
    assert means["evolution"] > means["random"] + 0.3, means  # 30 seeds: 84.57 vs 83.70


# ---- end to end -----------------------------------------------------------------------------------
SMALL = BenchConfig(strategies=("random", "evolution"), budget=30, seeds=3, checkpoints=(10, 30))


def test_end_to_end_in_process(tmp_path):
    results = run_benchmark(SMALL, workers=1)
    assert [(p["strategy"], p["seed"]) for p in results["pairs"]] == [
        (s, seed) for s in ("random", "evolution") for seed in range(3)]
    assert all(p["queries"] == 30 and len(p["pick_test_acc"]) == 30 for p in results["pairs"])
    assert set(results["aggregates"]) == {"random", "evolution"}
    assert abs(results["optimum"]["test_acc"] - 94.37) < 0.01
    for label, stats in results["aggregates"].items():
        tests = [p["pick_test_acc"][9] for p in results["pairs"] if p["strategy"] == label]
        assert stats["checkpoints"]["10"]["test_acc_mean"] == pytest.approx(np.mean(tests))
    out = write_report(results, tmp_path / "report")
    assert json.loads((out / "results.json").read_text())["config"]["budget"] == 30
    table_md = (out / "table.md").read_text()
    assert table_md == markdown_table(results)
    assert "| `evolution` |" in table_md and "93.95 @100" in table_md and "test acc @30" in table_md
    assert results["comparisons"]["baseline"] == "random" and "vs random @30" in table_md
    evolution = results["comparisons"]["strategies"]["evolution"]
    final = results["aggregates"]
    assert evolution["difference"] == pytest.approx(final["evolution"]["final"]["test_acc_mean"]
                                                    - final["random"]["final"]["test_acc_mean"])
    assert ("beyond noise" if evolution["distinguishable"] else "within noise") in table_md
    assert "(baseline)" in table_md and "One record's own sampling noise" in table_md
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_ray_path_equals_in_process():
    pytest.importorskip("ray")
    local = run_benchmark(SMALL, workers=1)
    on_ray = run_benchmark(SMALL, workers=2)
    assert on_ray["pairs"] == local["pairs"]
    assert on_ray["aggregates"] == local["aggregates"]


# ---- CLI ----------------------------------------------------------------------------------------
def _exit(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    return code, capsys.readouterr()


def test_cli_writes_the_report_and_refuses_to_overwrite(tmp_path, capsys):
    argv = ["bench", "--space", "nb201", "--evaluator", "table", "--strategies", "random,evolution:population=8",
            "--budget", "20", "--seeds", "2", "--workers", "1", "--quiet", "--out", str(tmp_path / "b")]
    code, io = _exit(argv, capsys)
    assert code == 0, io.err
    assert "| `evolution:population=8` |" in io.out and "test acc @20" in io.out
    assert {p.name for p in (tmp_path / "b").iterdir()} == {"results.json", "table.md", "bench.png"}
    code, io = _exit(argv, capsys)
    assert code == 2 and "already holds a benchmark report" in io.err


@pytest.mark.parametrize("flags, message", [
    (["--strategies", "random,no_such"], "unknown strategy 'no_such'; valid "),
    (["--seeds", "0"], "--seeds: must be positive"),
    (["--budget", "0"], "--budget: must be positive"),
    (["--strategies", "evolution:population"], "is not KEY=VALUE"),
    (["--budget", "20", "--checkpoints", "10,50"], "checkpoint 50 must be a query count from 1 to the budget"),
    (["--checkpoints", "a,b"], "is not a comma-separated list"),
])
def test_bad_input_exits_2_in_one_line(flags, message, tmp_path, capsys):
    # Small defaults, so that a check that wrongly passes ends in seconds, not in a full benchmark.
    small = ["--workers", "1", "--seeds", "1", "--budget", "20", "--out", str(tmp_path / "x")]
    code, io = _exit(["bench", *small, *flags], capsys)
    assert code == 2
    assert message in io.err and io.err.count("\n") == 1, io.err
    assert not (tmp_path / "x").exists()


# ---- proxy tables: strategies that ask for zero-cost proxies inside a benchmark ---------------------
def _proxy_table(tmp_path, table):
    """A proxy table of `params` for every class of cells (what bench/_zc_cache.py writes, free here)."""
    space = table.space
    path = tmp_path / "proxies.jsonl"
    path.write_text("".join(json.dumps({"choices": list(a.choices), "scores": {"params": float(space.params(a))}})
                            + "\n" for a in space.unique_archs()))
    return path


def test_proxy_table_lookups_by_class_and_counted(table, tmp_path):
    from nas.bench_harness.proxy_table import proxy_lookup, read_proxy_table

    path = _proxy_table(tmp_path, table)
    lookup = proxy_lookup(table.space, read_proxy_table(path), str(path))
    space = table.space
    arch = space.from_string("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|nor_conv_3x3~2|")
    assert lookup([arch], "params") == [float(space.params(space.representative(arch)))]
    with pytest.raises(UserError, match="no 'naswot' score"):
        lookup([arch], "naswot")
    pair = run_pair(space, table, variant("evolution:warmup=params:200"), seed=0, budget=20, proxies=lookup)
    assert pair["proxy_scores"] == 200  # what a real search would have computed
    assert pair["proxy_cpu_s"] is None  # the table has no `params_cpu_s` column: the cost is unknown
    # Without a table the space counts the parameters itself: the same search, its cost measured.
    counted = run_pair(space, table, variant("evolution:warmup=params:200"), seed=0, budget=20)
    assert counted["pick_test_acc"] == pair["pick_test_acc"] and counted["proxy_scores"] == 200
    assert 0 <= counted["proxy_cpu_s"] < 10
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"choices": [0, 0, 0, 0, 0, 0]}\n{"x": 1}\n')
    with pytest.raises(UserError, match="line 1 is not a proxy-table row"):
        read_proxy_table(broken)


def test_a_warm_population_beats_a_random_one(table, tmp_path):
    """The first population (10 queries) of warmed-up evolution is the proxy's top of 1,000 cells:
    its pick is far better on the 200-epoch test accuracy than a random population's."""
    path = _proxy_table(tmp_path, table)
    config = BenchConfig(strategies=("evolution,evolution:warmup=params:1000",), budget=10, seeds=8,
                         checkpoints=(10,), proxies=str(path))
    results = run_benchmark(config)
    picked = {label: agg["checkpoints"]["10"]["test_acc_mean"] for label, agg in results["aggregates"].items()}
    assert picked["evolution:warmup=params:1000"] > picked["evolution"] + 1.0


def test_data_proxies_are_scored_once_into_the_shared_cache(table, tmp_path, monkeypatch):
    """A strategy asking for a data proxy gets it scored on CIFAR-10 on first use, kept in the shared
    cache: a second benchmark computes nothing and searches identically, and the cost it reports is
    what the first one spent."""
    from nas.bench_harness.proxy_table import BenchProxies
    from nas.data import data_root

    if not (data_root() / "cifar10" / "cifar10_subset_5k_1k.npz").is_file():
        pytest.skip("the CIFAR-10 subset is not in the shared data")
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path))
    data = {"spec": "cifar10-subset", "val_size": 64, "split_seed": 0}  # the table's CIFAR-10 in small
    first = BenchProxies(table.space, data=data)
    spec = variant("evolution:warmup=synflow:10")
    pair = run_pair(table.space, table, spec, seed=0, budget=12, proxies=first)
    assert first.computed == pair["proxy_scores"] == 10 and pair["proxy_cpu_s"] > 0
    rows = first.cache_file().read_text().splitlines()
    assert len(rows) == 10 and first.cache_file().parent == tmp_path / "zc"
    second = BenchProxies(table.space, data=data)
    again = run_pair(table.space, table, spec, seed=0, budget=12, proxies=second)
    assert second.computed == 0 and again == pair
    with first.cache_file().open("a") as handle:
        handle.write('{"choices": [0, 1')  # a line cut by a kill: ignored, never an error
    assert run_pair(table.space, table, spec, seed=0, budget=12, proxies=BenchProxies(table.space, data=data)) == pair


def test_cli_runs_proxy_guided_strategies_and_reports_their_cost(tmp_path, capsys):
    """The command of the issue (guided and RL warmed up on params, no table needed), smaller."""
    argv = ["bench", "--strategies", "guided:warmup=params:300,trees=20,rl:warmup=params:300,random",
            "--budget", "20", "--seeds", "1",
            "--workers", "1", "--out", str(tmp_path / "b")]
    code, io = _exit(argv, capsys)
    assert code == 0, io.err
    assert "guided:warmup=params:300,trees=20 asks for zero-cost proxies: params" in io.err
    assert "proxies / search" in io.out and "Proxies / search:" in io.out
    row = next(line for line in io.out.splitlines() if line.startswith("| `rl:warmup=params:300` |"))
    random_row = next(line for line in io.out.splitlines() if line.startswith("| `random` |"))
    assert "| - |" in random_row  # asked for none
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    (rl,) = [p for p in results["pairs"] if p["strategy"].startswith("rl")]
    # 300 cells sampled from the warming policy, each distinct one scored once
    assert 1 < rl["proxy_scores"] <= 300, rl["proxy_scores"]
    assert f"| {rl['proxy_scores']} scores, " in row, row  # the row quotes the pair's own count
    assert rl["proxy_cpu_s"] is not None and "CPU s |" in row, row


def test_cli_proxy_table_option_is_read_and_checked(table, tmp_path, capsys):
    path = _proxy_table(tmp_path, table)
    argv = ["bench", "--strategies", "evolution:warmup=params:100", "--budget", "12", "--seeds", "1",
            "--workers", "1", "--quiet", "--proxies", str(path), "--out", str(tmp_path / "b")]
    code, io = _exit(argv, capsys)
    assert code == 0, io.err
    assert "CPU s unknown" in io.out  # a table without cost columns
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n{}\n")
    argv[argv.index(str(path))] = str(broken)
    argv[-1] = str(tmp_path / "c")
    code, io = _exit(argv, capsys)
    assert code == 2 and io.err.count("\n") == 1 and "line 1 is not a proxy-table row" in io.err
    argv[argv.index(str(broken))] = str(tmp_path / "missing.jsonl")
    code, io = _exit(argv, capsys)
    assert code == 2 and io.err.count("\n") == 1 and "cannot read proxy table" in io.err


@pytest.mark.parametrize("spec", ["guided:features=nope", "evolution:warmup=nope:100"])
def test_an_unknown_proxy_fails_before_any_search(spec, tmp_path, capsys):
    code, io = _exit(["bench", "--strategies", spec, "--budget", "12", "--seeds", "1", "--workers", "1",
                      "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "unknown zero-cost proxy 'nope'" in io.err and io.err.count("\n") == 1, io.err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_user_error_inside_ray_tasks_prints_one_line_only(table, tmp_path):
    """A table that lacks the cells a search proposes fails inside the Ray tasks; the user sees the
    one-line error, and no Ray log line (such as "Failed to push error to driver") with it."""
    pytest.importorskip("ray")
    import subprocess
    import sys

    lines = table.path.read_text().splitlines()
    small = tmp_path / "small.csv"
    small.write_text("\n".join(lines[:41]) + "\n")  # 40 of 15,625 cells
    run = subprocess.run([sys.executable, "-m", "nas", "bench", "--table", str(small), "--strategies",
                          "random,evolution", "--budget", "30", "--seeds", "4", "--workers", "2", "--quiet",
                          "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "is not in the NB201 table" in run.stderr, run.stderr


# ---- several objectives: fronts ---------------------------------------------------------------------
def test_a_benchmark_of_two_objectives_measures_fronts_against_random(table, tmp_path, capsys):
    config = BenchConfig(strategies=("nsga2,random",), budget=100, seeds=10, checkpoints=(50, 100),
                         objectives="val_acc:max,params:min")
    results = run_benchmark(config)
    fronts = results["fronts"]
    assert fronts["goals"] == ["val_acc:max", "params:min"] and fronts["baseline"] == "random"
    nsga = fronts["strategies"]["nsga2"]["100"]["mean"]
    assert 0 < fronts["strategies"]["random"]["100"]["mean"] < nsga <= 1  # measured: 0.965 vs 0.960
    versus = fronts["comparisons"]["nsga2"]
    assert versus["difference"] == pytest.approx(nsga - fronts["strategies"]["random"]["100"]["mean"])
    pair = results["pairs"][0]
    assert len(pair["goal_values"]) == 100 and all(len(v) == 2 for v in pair["goal_values"])
    # the box is the whole table's: the largest cell's parameters, and its own front covers the most
    assert fronts["box"]["reference"][1] == max(table.space.params(a) for a in table.rows())
    assert nsga < fronts["true_front"] <= 1 and nsga / fronts["true_front"] > 0.97  # measured 98.6%
    assert "hypervolume @100" in markdown_table(results)
    with pytest.raises(UserError, match="exactly two objectives"):
        BenchConfig(objectives="val_acc:max,params:min,flops:min")
    code, io = _exit(["bench", "--strategies", "random", "--objectives", "val_acc:max,latency:min", "--budget", "10",
                      "--seeds", "1", "--workers", "1", "--quiet", "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "'latency' is neither a metric the table records" in io.err and io.err.count("\n") == 1
