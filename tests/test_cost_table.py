"""Costs measured elsewhere (`nas.constraints.cost_table`): read and checked, predicted for the
architectures a table leaves out, and searched on by NSGA-II."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.constraints.cost_table import read_cost_table
from nas_common.errors import UserError
from search_spaces.arch import Arch
from search_spaces.nb201 import NB201Space

SPACE = NB201Space()
ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
OP_MS = np.array([0.0, 0.1, 1.5, 0.6, 0.3])  # a made-up device: none, skip, 1x1, 3x3, pool in ms per edge


def latency(arch: Arch) -> float:
    return float(0.8 + OP_MS[list(arch.choices)].sum())


def test_a_table_is_read_in_every_notation(tmp_path):
    path = tmp_path / "phone.csv"
    path.write_text(f'arch,lat_ms,energy_mj\n"[0, 1, 2, 3, 4, 0]",3.5,10\n{ALL_3X3},9,20\n'
                    '"{""space"": ""nb201"", ""choices"": [1, 1, 1, 1, 1, 1]}",1.25,3\n')
    table = read_cost_table(path, SPACE)
    assert table.columns == ("lat_ms", "energy_mj") and len(table.rows) == 3
    assert table.value(SPACE.from_string(ALL_3X3), "lat_ms") == 9.0
    assert table.value(Arch("nb201", (1,) * 6), "energy_mj") == 3.0
    assert table.value(Arch("nb201", (2,) * 6), "lat_ms") is None  # not listed
    js = tmp_path / "phone.json"
    js.write_text(json.dumps([{"arch": [0, 1, 2, 3, 4, 0], "lat_ms": 3.5}, {"arch": ALL_3X3, "lat_ms": 9}]))
    assert read_cost_table(js, SPACE).rows == {k: {"lat_ms": v["lat_ms"]} for k, v in table.rows.items()
                                               if v["lat_ms"] in (3.5, 9.0)}


@pytest.mark.parametrize("body, message", [
    ('arch,lat_ms\n"[0,1,2,3,4,9]",1\n', "line 2: '[0,1,2,3,4,9]' is not an architecture of nb201"),
    ('arch,lat_ms\n"[0,1,2,3,4,0]",\n', "line 2: column 'lat_ms' is missing or empty"),
    ('arch,lat_ms\n"[0,1,2,3,4,0]",nan\n', "line 2: lat_ms='nan' is not a finite number"),
    ('arch,lat_ms\n"[0,1,2,3,4,0]",-2\n', "line 2: lat_ms=-2 is negative"),
    ('arch,lat_ms\n"[0,1,2,3,4,0]",1\n"[0,1,2,3,4,0]",2\n', "line 3: architecture [0,1,2,3,4,0] is listed twice"),
    ('arch,lat_ms\n"[0,1,2,3,4,0]",1,7\n', "line 2: more fields than the header's 2"),
    ("name,lat_ms\nx,1\n", "needs a header with an `arch` column"),
    ('arch\n"[0,1,2,3,4,0]"\n', "has no measured column"),
    ("arch,lat_ms\n", "lists no architecture"),
    ('arch,lat_ms\n"[0,1,2,3,4,0]",fast\n', "lat_ms='fast' is not a number"),
])
def test_bad_tables_fail_in_one_line_naming_the_row(tmp_path, body, message):
    path = tmp_path / "t.csv"
    path.write_text(body)
    with pytest.raises(UserError) as err:
        read_cost_table(path, SPACE)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_json_and_missing_files(tmp_path):
    for text, message in (("{not json", "is not valid JSON"), ('{"arch": 1}', "must be a JSON list of objects")):
        (tmp_path / "t.json").write_text(text)
        with pytest.raises(UserError, match=message):
            read_cost_table(tmp_path / "t.json", SPACE)
    with pytest.raises(UserError, match="cannot read cost table"):
        read_cost_table(tmp_path / "absent.csv", SPACE)


def _write_table(path, archs):
    path.write_text("arch,lat_ms\n" + "".join(f'"{list(a.choices)}",{latency(a):.4f}\n' for a in archs))
    return path


def test_costs_of_unlisted_architectures_are_predicted_with_their_error(tmp_path):
    rng = np.random.default_rng(0)
    measured = list({a.hash: a for a in (SPACE.sample(rng) for _ in range(200))}.values())
    table = read_cost_table(_write_table(tmp_path / "t.csv", measured), SPACE)
    predict, error = table.predictor(SPACE, "lat_ms")
    assert error < 0.02  # the made-up device is additive in the ops: the ridge on the one-hot encoding fits it
    unseen = [a for a in (SPACE.sample(rng) for _ in range(50)) if a.hash not in table.rows]
    assert np.mean([abs(predict(a) - latency(a)) / latency(a) for a in unseen]) < 0.02
    few = read_cost_table(_write_table(tmp_path / "few.csv", measured[:4]), SPACE)
    with pytest.raises(UserError, match="too few to predict"):
        few.predictor(SPACE, "lat_ms")


def _phone(tmp_path, seed: int):
    """(the NB201 table evaluator, 300 measured architectures, their latency table), or a skip."""
    from nas.evaluate.table import TableEvaluator, default_table

    if not default_table().is_file():
        pytest.skip("bundled NB201 table not available")
    rng = np.random.default_rng(seed)
    measured = list({a.hash: a for a in (SPACE.sample(rng) for _ in range(300))}.values())
    return TableEvaluator(), measured, _write_table(tmp_path / "phone.csv", measured)


def test_nsga2_searches_on_measured_costs(tmp_path):
    from nas.strategies import make_strategy

    evaluator, measured, path = _phone(tmp_path, 1)
    options = {"cost_table": str(path), "objectives": "val_acc:max,lat_ms:min"}
    strategy = make_strategy("nsga2", evaluator.space, budget=40, seed=0, options=options)
    (warning,) = strategy.warnings()
    assert f"{len(measured)} of 15,625 architectures measured" in warning and "cross-validated error" in warning
    while not strategy.done():
        for trial in strategy.ask(10):
            strategy.tell(trial.trial_id, evaluator.evaluate(trial.arch))
    for arch, metrics in strategy.front():
        value = strategy.values(arch, metrics)[1]
        expected = latency(arch) if arch.hash in {a.hash for a in measured} else None
        if expected is not None:
            assert -value == pytest.approx(expected, abs=1e-4)  # measured: the table's value itself
        else:
            assert -value == pytest.approx(latency(arch), rel=0.05)  # predicted
    # the run's report reads the measured column as the search did
    from nas.judging.front import front_summary

    records = [{"arch": a.to_dict(), "metrics": m, "step": i} for i, (a, m) in enumerate(strategy.history)]
    front = front_summary(SPACE, records, strategy.goals().goals, strategy.goals().value)
    assert {f["arch_hash"] for f in front["front"]} == {a.hash for a, _ in strategy.front()}
    assert all("lat_ms" in f["values"] for f in front["front"]) and 0 < front["hypervolume"] <= 1
    with pytest.raises(UserError, match="nor a column of"):
        bad = make_strategy("nsga2", evaluator.space, budget=5, seed=0,
                            options={"cost_table": str(path), "objectives": "val_acc:max,energy:min"})
        trial = bad.ask(1)[0]
        bad.tell(trial.trial_id, evaluator.evaluate(trial.arch))
        bad.front()


@pytest.mark.parametrize("name", ["evolution", "rl"])
def test_mnas_reward_reads_a_measured_cost_column(tmp_path, name):
    """`-o cost_table=FILE -o reward=mnas:lat_ms:T`: evolution and rl rank by MnasNet's reward on a
    latency measured on a device (predicted, with its error said, for architectures not listed)."""
    from nas.strategies import make_strategy
    from nas.strategies.reward import REWARD

    evaluator, measured, path = _phone(tmp_path, 2)
    options = {"cost_table": str(path), "reward": "mnas:lat_ms:2:0:-1",
               **({"population": 8, "sample_size": 3, "mode": "regularized"} if name == "evolution" else {"batch_size": 5})}
    strategy = make_strategy(name, evaluator.space, budget=20, seed=0, options=options)
    (warning,) = strategy.warnings() if name == "rl" else [w for w in strategy.warnings() if "lat_ms" in w]
    assert f"lat_ms: {len(measured)} of 15,625 architectures measured" in warning
    listed = {a.hash for a in measured}
    while not strategy.done():
        for trial in strategy.ask(5):
            strategy.tell(trial.trial_id, evaluator.evaluate(trial.arch))
    for arch, metrics in strategy.history:
        cost = latency(arch) if arch.hash in listed else strategy.costs.value(arch, "lat_ms")
        expected = metrics["val_acc"] * min(1.0, (cost / 2) ** -1.0)  # hard reward: free up to 2 ms
        assert metrics[REWARD] == pytest.approx(expected, rel=1e-3 if arch.hash in listed else 1e-9)
    with pytest.raises(UserError, match="nor a column of -o cost_table"):
        bad = make_strategy(name, evaluator.space, budget=5, seed=0,
                            options={**options, "reward": "mnas:energy:2"})
        (trial,) = bad.ask(1)
        bad.tell(trial.trial_id, evaluator.evaluate(trial.arch))
