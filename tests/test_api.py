"""The Python API (nas.api): the README's first search on one's own model, the same run as the
command line, resume, reading archived runs, and one-line errors."""

from __future__ import annotations

import json
import re
import sys
import types
from dataclasses import fields
from pathlib import Path

import pytest
import torch
import torch

import nas.api as api
from nas.config.request import SearchRequest
from nas_common.errors import UserError
from nas_common.registry import SPACES

try:
    from tests.conftest import needs_subset, run_main
except ImportError:
    from conftest import needs_subset, run_main

REPO = Path(__file__).resolve().parents[1]


def _readme_block() -> str:
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Your own model, searched from Python\n.*?```python\n(.*?)```", text, flags=re.S).group(1)
    return block


def test_the_readme_first_search_is_at_most_20_lines():
    lines = [line for line in _readme_block().splitlines() if line.strip()]
    assert len(lines) <= 20


@needs_subset
@pytest.mark.slow
def test_the_readme_first_search_runs_and_its_model_is_the_best_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("readme_first_search")
    sys.modules[module.__name__] = module
    try:
        exec(compile(_readme_block(), "README.md", "exec"), module.__dict__)
        result, model = module.__dict__["result"], module.__dict__["model"]
        assert result.path == Path("runs/first-model") and len(result.ranking) == 6
        assert result.best.rank == 1 and result.best.metrics == max((r.metrics for r in result.ranking),
                                                                     key=lambda m: (m["val_acc"], -m["val_loss"]))
        space = result.space()
        assert model.net.state_dict().keys() == space.build(result.best.arch).state_dict().keys()
        assert not model.training
        # it takes raw images in [0, 1]: the data's normalisation is its first module
        x = torch.rand(2, 3, 32, 32)
        mean, std = model.mean, model.std
        torch.testing.assert_close(model(x), model.net((x - mean) / std))
        verdict = result.summary["verdict"]["best_vs_random_median"]  # told apart from random, with its CI
        assert verdict["ci95"][0] <= verdict["difference"] <= verdict["ci95"][1]
    finally:
        del sys.modules[module.__name__]
        if "readme_first_search:Net" in SPACES:  # nas.search registered the model class by its reference
            SPACES.remove("readme_first_search:Net")


def test_search_request_mirrors_the_search_flags():
    """The API and the command line resolve the same request: every flag of `nas search` (but the
    command line's own: --out, --top, --quiet, --seeds) is a field, with the same default."""
    from nas.cli.main import build_parser

    parser = build_parser(["search"])
    search = next(a for a in parser._actions if a.dest == "command").choices["search"]
    flags = {a.dest: a.default for a in search._actions if a.dest not in ("help", "out", "top", "quiet", "seeds")}
    request = SearchRequest()
    assert {f.name: getattr(request, f.name) for f in fields(SearchRequest)} == flags


def _records(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]


def test_the_api_and_the_command_line_make_the_same_run(tmp_path):
    result = api.search("nb201", "evolution", evaluator="table", budget=24, seed=3, out=tmp_path / "api",
                        strategy_options={"population": 8, "sample_size": 3})
    code, _ = run_main(["search", "--space", "nb201", "--strategy", "evolution", "--evaluator", "table",
                        "--budget", "24", "--seed", "3", "-o", "population=8", "-o", "sample_size=3",
                        "--quiet", "--out", str(tmp_path / "cli")])
    assert code == 0
    assert _records(tmp_path / "api") == _records(tmp_path / "cli")
    configs = [json.loads((tmp_path / d / "config.json").read_text()) for d in ("api", "cli")]
    for c in configs:
        c.pop("provenance")
    assert configs[0] == configs[1]
    assert result.best.metrics == max((r.metrics for r in result.ranking), key=lambda m: m["val_acc"])
    assert [r.rank for r in result.ranking] == list(range(1, 25))
    again = api.search_with(api.SearchRequest(config=tmp_path / "api" / "config.json"), out=tmp_path / "again")
    assert _records(again.path) == _records(tmp_path / "api")  # a settings object: the saved config, repeated


def test_resume_continues_a_run_as_if_never_stopped(tmp_path):
    whole = api.search("nb201", "rl", evaluator="table", budget=30, seed=1, out=tmp_path / "whole")
    api.search("nb201", "rl", evaluator="table", budget=12, seed=1, out=tmp_path / "parts")
    resumed = api.resume(tmp_path / "parts", budget=30)
    assert [r.arch for r in resumed.ranking] == [r.arch for r in whole.ranking]
    with pytest.raises(UserError, match="resume\\(\\) cannot change 'seed'"):
        api.resume(tmp_path / "parts", seed=2)


def test_load_reads_an_archived_run():
    run = REPO / "runs" / "archived" / "shufflenet-cifar10-evolution"
    result = api.load(run)
    assert result.best.arch.to_dict() == result.summary["best"]["arch"]
    assert result.best.metrics["val_acc"] == pytest.approx(60.70, abs=0.005)
    assert len(result.ranking) == result.summary["evaluations"]


def test_a_model_class_defined_again_replaces_its_registration_as_a_notebook_expects():
    from search_spaces.model_space import LayerChoice

    def define(options):
        class Cell(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.op = LayerChoice([torch.nn.Identity() for _ in range(options)], label="op")

            def forward(self, x):
                return self.op(x)
        return Cell

    first, second = define(2), define(3)  # the same module and name: a cell run twice
    try:
        assert SPACES.get(api.space_name(first))().size() == 2
        assert SPACES.get(api.space_name(second))().size() == 3
    finally:
        SPACES.remove(api.space_name(second))


@pytest.mark.parametrize("call, message", [
    (lambda: api.search("nb201", "evolution", evaluator="table", budjet=3), "search\\(\\) has no setting 'budjet'"),
    (lambda: api.search(torch.nn.Linear(2, 2), "random"), "pass the class, not an instance"),
    (lambda: api.search("no-such-space", "random", evaluator="zc"), "unknown space 'no-such-space'"),
    (lambda: api.load("/nonexistent/run"), "does not exist|not found|no such"),
])
def test_bad_input_is_one_user_error(call, message):
    with pytest.raises(UserError, match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_scoring_precision_is_an_evaluator_setting(capsys):
    """`-E precision=bf16` is resolved into the run's evaluator settings (what a resume and
    `nas evaluate` read); anything else is refused in one line before any work."""
    planned = api.plan(SearchRequest(space="shufflenet", strategy="random", evaluator_option=[("precision", "bf16")]))
    assert planned.config.evaluator.settings["precision"] == "bf16"
    assert api.plan(SearchRequest(space="shufflenet", strategy="random")).config.evaluator.settings["precision"] == "fp32"
    code, _ = run_main(["search", "--space", "shufflenet", "--strategy", "random", "-E", "precision=fp16"])
    err = capsys.readouterr().err
    assert code == 2 and "precision must be one of fp32, bf16" in err and len(err.strip().splitlines()) == 1
