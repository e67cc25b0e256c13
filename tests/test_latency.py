"""Latency lookup tables: the table predicts fixed parts + the parts an architecture runs, is
refused for other space options, constrains every strategy like FLOPs, and the CLI says what is
missing. (Accuracy against whole networks is measured in bench/latency_lut.py: timing belongs to
benchmarks.)"""

from __future__ import annotations

import numpy as np
import pytest

from nas.cli.main import main
from nas_common.errors import UserError
from nas.constraints.latency import LatencyTable, build_table, parse_latency, table_for
from nas.strategies import make_strategy
from nas.constraints.limits import Constraint
from search_spaces.mbconv import MBConvSpace

SMALL = {"width": 0.25, "input_size": 16, "num_classes": 5, "depth": 0.5}


@pytest.fixture(scope="module")
def table_file(tmp_path_factory):
    space = MBConvSpace(**SMALL)
    table = build_table(space, warmup=1, repeats=2, calibration=2)
    path = tmp_path_factory.mktemp("lut") / "lut.json"
    table.save(path)
    return path


def test_latency_strings():
    assert parse_latency("12ms") == 12_000 and parse_latency("800us") == 800 and parse_latency("0.5s") == 500_000
    assert parse_latency("3") == 3_000
    for bad in ("fast", "-1ms", "nanms", "0us"):
        with pytest.raises(ValueError):
            parse_latency(bad)


def test_the_table_adds_the_parts_an_architecture_runs(table_file):
    space = MBConvSpace(**SMALL)
    table = LatencyTable.load(table_file)
    assert len(table.options_us) == len(space.layout.blocks) and len({len(r) for r in table.options_us}) == 1
    assert table.fixed_us > 0 and all(v > 0 for row in table.options_us for v in row)
    arch = space.sample(np.random.default_rng(0))
    expected = table.fixed_us + sum(table.options_us[i][j] for i, j in space.part_keys(arch))
    assert 0.2 < table.correction < 5
    assert table.predict_us(space, arch) == pytest.approx(table.correction * expected)
    shallow = space.canonical(arch)
    assert table.predict_us(space, shallow) == pytest.approx(table.correction * expected)  # skipped: free
    with pytest.raises(UserError, match="width"):
        table_for(str(table_file), MBConvSpace(**{**SMALL, "width": 0.5}))


def test_a_latency_limit_constrains_every_strategy(table_file):
    space = MBConvSpace(**SMALL)
    table = LatencyTable.load(table_file)
    rng = np.random.default_rng(1)
    limit = int(np.median([table.predict_us(space, space.sample(rng)) for _ in range(30)]))
    constraint = Constraint(max_latency_us=limit, latency_table=str(table_file))
    for name in ("random", "evolution", "rl"):
        options = {"population": 4, "topk": 2, "mutations": 2, "crossovers": 2} if name == "evolution" else {}
        strategy = make_strategy(name, space, budget=8, seed=0, constraint=constraint, options=options)
        while not strategy.done():
            trials = strategy.ask(2)
            if not trials:
                break
            for trial in trials:
                assert table.predict_us(space, trial.arch) <= limit + 1
                strategy.tell(trial.trial_id, {"val_acc": 1.0})
    assert "latency" in constraint.check({"latency_us": limit + 1000}) and "ms" in constraint.check(
        {"latency_us": limit + 1000})
    with pytest.raises(UserError, match="latency table"):
        Constraint(max_latency_us=1000)


def test_cli_errors(tmp_path, capsys):
    assert main(["search", "--space", "mbconv", "--strategy", "random", "--max-latency", "5ms", "--out",
                 str(tmp_path / "r")]) == 2
    assert "latency table" in capsys.readouterr().err and not (tmp_path / "r").exists()
    assert main(["lut", "build", "--space", "shufflenet", "--out", str(tmp_path / "lut.json")]) == 2
    assert "no latency parts" in capsys.readouterr().err
    assert main(["lut", "check", "--lut", str(tmp_path / "none.json")]) == 2
    assert "not found" in capsys.readouterr().err


def test_a_damaged_table_or_a_malformed_option_is_one_line(table_file, tmp_path, capsys):
    import json

    saved = json.loads(table_file.read_text())
    for name, change in [("empty", {"options_us": []}), ("empty-row", {"options_us": [[]]}),
                         ("nan", {"options_us": [[float("nan")]]}), ("negative", {"fixed_us": -1.0}),
                         ("text", {"options_us": [["fast"]]}), ("zero-correction", {"correction": 0})]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**saved, **change}))
        assert main(["lut", "check", "--lut", str(path)]) == 2, name
        err = capsys.readouterr().err.strip()
        assert "is damaged" in err and "build it again" in err and len(err.splitlines()) == 1, (name, err)
    with pytest.raises(SystemExit) as exit_status:
        main(["lut", "build", "--space", "mbconv", "-S", "garbage", "--out", str(tmp_path / "x.json")])
    assert exit_status.value.code == 2 and "is not KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
