"""Numeric extremes for every flag of every command, every strategy and evaluator option, and every
space option, generated from the parsers and configs themselves (a new flag or option is fuzzed
without anyone adding a case).

Each extreme must be refused with a short message where the value is read (argparse's type, the
typed config, the space's options), never accepted to fail later with a traceback or to run
nonsense. Through the real CLI, argparse turns the type's refusal into one line and exit 2 (checked
on a sample at the end)."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import pytest

from nas.cli.main import build_parser, main
from nas_common.errors import UserError
from nas_common.registry import EVALUATORS, SPACES, STRATEGIES
from nas_common.typed_config import build_config

# Never a valid value of any numeric flag: not numbers, non-finite, negative, beyond any count.
EXTREMES = ("nan", "inf", "-inf", "1e309", "-1e309", "-1", "", "abc", "99999999999999999999", "1e20", "9" * 5000,
            "0x10", "1_000_000_000_000_000_000_000")


def _typed_options() -> list[tuple[str, str, argparse.Action]]:
    def walk(parser: argparse.ArgumentParser, command: str):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    yield from walk(child, f"{command} {name}".strip())
            elif action.option_strings and action.type not in (None, Path):
                yield command, action.option_strings[-1], action

    return list(walk(build_parser(None), ""))


FLAGS = _typed_options()


def test_every_numeric_flag_is_fuzzed():
    assert len(FLAGS) >= 100  # the walk reaches every command's flags (111 when written)
    assert {command.split()[0] for command, _, _ in FLAGS} >= {"search", "train-supernet", "evaluate", "retrain",
                                                             "scale", "lut", "bench", "predictor", "export"}


@pytest.mark.parametrize("value", EXTREMES, ids=[v[:12] or "empty" for v in EXTREMES])
def test_every_typed_flag_refuses_extreme_values(value):
    accepted = []
    for command, flag, action in FLAGS:
        try:
            result = action.type(value)
        except (argparse.ArgumentTypeError, ValueError) as err:
            message = str(err)
            assert "\n" not in message and len(message) < 200, (command, flag, message[:300])
            continue
        accepted.append(f"nas {command} {flag} {value[:20]!r} -> {result!r:.40}")
    assert not accepted, "\n".join(accepted)


def _config_fields():
    for registry, kind in ((STRATEGIES, "strategy"), (EVALUATORS, "evaluator")):
        for name in registry.names():
            for field in dataclasses.fields(registry.get(name).Config):
                yield kind, name, field


NUMERIC_FIELDS = [(kind, name, f) for kind, name, f in _config_fields()
                  if any(t in str(f.type) for t in ("int", "float"))]


def test_every_numeric_strategy_and_evaluator_option_refuses_extremes():
    assert len(NUMERIC_FIELDS) >= 50
    accepted = []
    for kind, name, field in NUMERIC_FIELDS:
        for value in ("nan", "inf", "-inf", "1e20", "99999999999999999999", "abc", "-1e309", "[1]", "{}"):
            try:
                build_config(STRATEGIES.get(name).Config if kind == "strategy" else EVALUATORS.get(name).Config,
                             {field.name: value}, owner=f"{kind} {name!r}")
            except UserError as err:
                assert "\n" not in str(err) and len(str(err)) < 400, str(err)
                continue
            accepted.append(f"{kind} {name} -o {field.name}={value}")
    assert not accepted, "\n".join(accepted)


# int options where -1 is a documented value ("off"), not a count
NEGATIVE_MEANS_OFF = {("strategy", "darts", "max_skips")}


def test_negative_counts_of_options_are_refused():
    """-1 where a count is meant: every int option of a strategy or evaluator whose default is
    positive (a population, a batch, a pool) refuses it."""
    accepted = []
    for kind, name, field in NUMERIC_FIELDS:
        if field.type not in ("int", int) or not isinstance(field.default, int) or field.default <= 0:
            continue
        if (kind, name, field.name) in NEGATIVE_MEANS_OFF:
            continue
        config = STRATEGIES.get(name).Config if kind == "strategy" else EVALUATORS.get(name).Config
        try:
            build_config(config, {field.name: "-1"}, owner=name)
        except UserError:
            continue
        accepted.append(f"{kind} {name} -o {field.name}=-1")
    assert not accepted, "\n".join(accepted)


def test_every_space_option_refuses_extreme_sizes():
    """Every numeric option of every space: a huge value is refused before anything is built
    (it used to exhaust memory after minutes), naming the option."""
    accepted = []
    for space in SPACES.names():
        factory = SPACES.get(space)
        for option in factory.options:
            for value in (10**9, 1e9, float("nan"), float("inf")):
                try:
                    factory(**{option: value})
                except (ValueError, TypeError) as err:
                    assert "\n" not in str(err), str(err)
                    continue
                accepted.append(f"{space} -S {option}={value}")
    # Options that are not sizes or numbers (names, flags, per-stage lists) refuse them as values.
    assert not accepted, "\n".join(accepted)


def test_unknown_space_options_name_the_option_and_list_the_valid_ones():
    for space in SPACES.names():
        with pytest.raises(ValueError, match=rf"space '{space}' has no option 'bogus'; valid options: .*width"):
            SPACES.get(space)(bogus=3)


@pytest.mark.parametrize("argv", [
    ["search", "--budget", "nan"], ["search", "--lr", "inf"], ["train-supernet", "--val-size", "-1"],
    ["lut", "build", "--calibration", "-1"], ["runs", "show", "x", "--top", "-3"],
    ["search", "--split-seed", "-1"], ["search", "--gpus-per-worker", "nan"], ["search", "--workers", "1e9"],
    ["bench", "--checkpoints", "1,99999999999999999999"], ["search", "--max-latency", "1e20s"],
], ids=lambda a: " ".join(a))
def test_through_the_cli_a_refused_value_is_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and len(err.splitlines()) == 1 and argv[-2] in err, err


# ---- every field of a saved search config (a hand-edited or damaged config.json, --config FILE) ----------
ARCHIVED = Path(__file__).resolve().parents[1] / "runs" / "archived"
# Never a value of any config field: the reader must refuse each with a UserError naming the field.
NONSENSE = (float("nan"), float("inf"), -float("inf"), 10**30, -10**30, [], {})
FREE_TEXT = {("address",), ("data", "spec"), ("supernet", "run"), ("data", "annotations"), ("data", "images"),
             ("evaluator", "table")}  # paths and names, checked where they are opened


def _leaves(value, path=()):
    if isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _leaves(child, (*path, key))
    else:
        yield path


def _config_cases():
    for run in sorted(ARCHIVED.iterdir()):
        config = json.loads((run / "config.json").read_text())
        for path in _leaves({k: v for k, v in config.items() if k != "provenance"}):
            yield run.name, config, path


CONFIG_CASES = list(_config_cases())


def test_every_field_of_a_saved_search_config_refuses_nonsense():
    from nas.config.run_config import SearchConfig

    assert len(CONFIG_CASES) >= 50
    accepted, escaped = [], []
    for run, config, path in CONFIG_CASES:
        for value in (*NONSENSE, *(() if path in FREE_TEXT else ("x" * 10_000,)), True if path else None):
            if value is True and path[-1] in ("force", "augment", "affine"):
                continue  # flags: true is a value
            original = config
            for key in path:
                original = original.get(key) if isinstance(original, dict) else None
            if value == {} and original in (None, {}):
                continue  # an empty section where the run has none: the same thing
            changed = copy.deepcopy(config)
            target = changed
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            try:
                SearchConfig.from_dict(changed, where="config.json")
            except UserError as err:
                assert "\n" not in str(err) and len(str(err)) < 600, str(err)[:200]
                continue
            except Exception as err:  # anything else is a traceback for the user
                escaped.append(f"{run}: {'.'.join(path)}={str(value)[:12]} -> {type(err).__name__}: {err}"[:200])
                continue
            accepted.append(f"{run}: {'.'.join(path)}={str(value)[:12]}")
    assert not escaped, "\n".join(escaped)
    assert not accepted, "\n".join(accepted)
