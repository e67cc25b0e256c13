"""The typed search config: config.json <-> SearchConfig without loss, old runs included, and
`nas search --config FILE` as a user would run it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas_common.errors import UserError
from nas.config.run_config import SearchConfig
from nas_common.objective import VAL_ACC
from tests.conftest import read_jsonl, run_main

ROOT = Path(__file__).resolve().parents[1]
ARCHIVED = sorted((ROOT / "runs/archived").glob("*/config.json"))


@pytest.mark.parametrize("path", ARCHIVED, ids=lambda p: p.parent.name)
def test_archived_configs_read_into_types_and_write_back(path):
    saved = json.loads(path.read_text())
    config = SearchConfig.from_dict(saved)
    assert config.objective == VAL_ACC and config.task == "classification"  # written before both existed
    again = config.to_dict()
    assert {k: again[k] for k in saved} == saved  # every saved setting survives unchanged
    assert set(again) - set(saved) <= {"objective", "task", "force"}  # only keys added since, at defaults
    assert SearchConfig.from_dict(again) == config


@pytest.mark.parametrize("broken, message", [
    ({"strategy": "random"}, "lacks 'space'"),
    ({"space": "nb201", "strategy": "random", "constraint": {"max_flops": -3}}, "max_flops"),
    ({"space": "nb201", "strategy": "random", "objective": {"metric": "x", "direction": "sideways"}}, "direction"),
    ({"space": "nb201", "strategy": "random", "supernet": {"run": None}}, "needs data and training"),
    ({"space": "nb201", "strategy": "random", "supernet": None, "train": {"lr": "fast"}}, "lr='fast' is not a finite number"),
])
def test_broken_configs_are_one_line_user_errors(broken, message):
    with pytest.raises(UserError, match=message):
        SearchConfig.from_dict(broken)


def _table_search(tmp_path: Path, out: str, *extra: str) -> tuple[int, str]:
    return run_main(["search", "--evaluator", "table", "--strategy", "random", "--budget", 6, "--seed", 3,
                     "--quiet", "--out", tmp_path / out, *extra])


def test_search_from_a_config_file_repeats_the_run(tmp_path):
    assert _table_search(tmp_path, "first")[0] == 0
    code, _ = run_main(["search", "--config", tmp_path / "first" / "config.json", "--quiet",
                        "--out", tmp_path / "again"])
    assert code == 0
    strip = lambda rs: [{k: v for k, v in r.items() if k != "wall_s"} for r in rs]  # noqa: E731
    assert strip(read_jsonl(tmp_path / "again" / "evaluations.jsonl")) == \
        strip(read_jsonl(tmp_path / "first" / "evaluations.jsonl"))
    code, _ = run_main(["search", "--config", tmp_path / "first" / "config.json", "--budget", 9, "--seed", 4,
                        "--quiet", "--out", tmp_path / "longer"])
    assert code == 0 and len(read_jsonl(tmp_path / "longer" / "evaluations.jsonl")) == 9
    assert json.loads((tmp_path / "longer" / "config.json").read_text())["seed"] == 4


def test_config_file_conflicts_and_damage_exit_2(tmp_path, capsys):
    assert _table_search(tmp_path, "first")[0] == 0
    config = tmp_path / "first" / "config.json"
    assert run_main(["search", "--config", config, "--space", "shufflenet", "--out", tmp_path / "x"])[0] == 2
    assert "--space cannot be combined with --config" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert run_main(["search", "--config", bad, "--out", tmp_path / "y"])[0] == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert run_main(["search", "--config", tmp_path / "missing.json", "--out", tmp_path / "z"])[0] == 2
    assert not (tmp_path / "y").exists() and not (tmp_path / "z").exists()
