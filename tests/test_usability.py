"""What a new user runs into: the run-directory lock (two real processes), resume reconciling the
archive with the strategy state, run listings that survive damaged runs, the command table and
lazy imports, strategy warnings, and the component listings."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli.main import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]
TABLE = ["search", "--space", "nb201", "--evaluator", "table", "--quiet"]


EVOLUTION = ("-o", "population=4", "-o", "topk=2", "-o", "mutations=2", "-o", "crossovers=2")


def _search(out: Path, *extra: str, strategy: str = "evolution", budget: int = 8) -> int:
    options = EVOLUTION if strategy == "evolution" else ()
    return main([*TABLE, "--strategy", strategy, "--budget", str(budget), *options, *extra, "--out", str(out)])


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished table search (evolution, 8 architectures) to copy from."""
    run = tmp_path_factory.mktemp("usability") / "run"
    assert _search(run) == 0
    return run


def _copy(run: Path, to: Path) -> Path:
    import shutil

    shutil.copytree(run, to, ignore=shutil.ignore_patterns(".lock"))
    return to


# ---- the writer lock ------------------------------------------------------------------------------------
def test_a_second_writer_stops_at_once_naming_the_holder_and_a_dead_holders_lock_is_taken_over(finished, tmp_path,
                                                                                              capsys):
    run = _copy(finished, tmp_path / "run")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from nas.archive import lock; lock.acquire(sys.argv[1]); "
                               "print('held', flush=True); time.sleep(120)", str(run)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        before = (run / "evaluations.jsonl").read_bytes()
        second = subprocess.run([sys.executable, "-m", "nas", "search", "--resume", str(run), "--budget", "12",
                                 "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        assert second.stderr.strip().splitlines()[-1].endswith(
            f"{run} is being written by another nas process (pid {holder.pid}); wait for it to end or stop it, "
            "then retry")
        assert (run / "evaluations.jsonl").read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The holder died (kill -9): its lock went with it, and the resume takes the run over.
    assert main(["search", "--resume", str(run), "--budget", "12", "--quiet"]) == 0
    records = _records(run)
    assert len(records) == 12 and len({r["arch_hash"] for r in records}) == 12


def test_two_new_searches_cannot_share_an_out_directory(tmp_path, capsys):
    from nas.archive import RunDir, lock

    out = tmp_path / "shared"
    RunDir.create(out, {"kind": "search"})  # the first command holds the new run
    try:
        assert _search(out, strategy="random") == 2
        assert "already exists" in capsys.readouterr().err
    finally:
        lock.release_all()


# ---- resume agrees with the archive ---------------------------------------------------------------------
def test_resume_evaluates_again_what_a_truncated_or_emptied_log_lost(finished, tmp_path):
    truncated = _copy(finished, tmp_path / "truncated")
    lines = (truncated / "evaluations.jsonl").read_bytes().splitlines(keepends=True)
    (truncated / "evaluations.jsonl").write_bytes(b"".join(lines[:5]) + lines[5][:20])  # a crash mid-write
    emptied = _copy(finished, tmp_path / "emptied")
    (emptied / "evaluations.jsonl").write_bytes(b"")
    original = {r["arch_hash"]: r["metrics"] for r in _records(finished)}
    for run in (truncated, emptied):
        assert main(["search", "--resume", str(run), "--budget", "10", "--quiet"]) == 0
        records = _records(run)
        hashes = [r["arch_hash"] for r in records]
        assert len(hashes) == len(set(hashes)) == 10, run.name  # nothing lost, nothing twice
        assert all(original[h] == m for h, m in ((r["arch_hash"], r["metrics"]) for r in records) if h in original)
        assert set(original) <= set(hashes)


def test_resume_refuses_a_record_that_disagrees_with_what_the_strategy_was_told(finished, tmp_path, capsys):
    run = _copy(finished, tmp_path / "edited")
    records = _records(run)
    records[2]["metrics"]["val_acc"] += 1.0
    (run / "evaluations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    before = (run / "evaluations.jsonl").read_bytes()
    assert main(["search", "--resume", str(run), "--budget", "10", "--quiet"]) == 2
    assert "the strategy was told" in capsys.readouterr().err
    assert (run / "evaluations.jsonl").read_bytes() == before
    assert json.loads((run / "config.json").read_text())["budget"] == 8  # the config still agrees with the records


def test_a_failed_start_leaves_no_directory_so_the_same_command_can_run_again(tmp_path, capsys):
    out = tmp_path / "run"
    assert _search(out, "--table", str(tmp_path / "missing.csv"), strategy="random") == 2
    assert not out.exists()
    assert _search(out, strategy="random", budget=3) == 0


def test_evolution_warns_when_the_budget_never_gets_past_the_random_population(tmp_path, capsys):
    assert _search(tmp_path / "run", budget=4) == 0
    err = capsys.readouterr().err
    assert "warning: --budget 4 is at or below the evolution population (4)" in err and "--budget 4 for all" not in err


# ---- run listings ---------------------------------------------------------------------------------------
def test_runs_list_finds_runs_in_subfolders_and_marks_damaged_ones(finished, tmp_path, capsys):
    root = tmp_path / "runs"
    _copy(finished, root / "group" / "good")
    stopped = _copy(finished, root / "group" / "stopped")
    (stopped / "summary.json").unlink()
    broken = _copy(finished, root / "broken-log")
    (broken / "evaluations.jsonl").unlink()
    (broken / "evaluations.jsonl").mkdir()
    corrupt = _copy(finished, root / "corrupt-config")
    (corrupt / "config.json").write_text("{")
    assert main(["runs", "list", str(root)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[2:]}
    assert set(rows) == {"broken-log", "corrupt-config", "group/good", "group/stopped"}
    assert "8/8" in rows["group/good"] and " done " in rows["group/good"] and "stopped" in rows["group/stopped"]
    assert "DAMAGED" in rows["broken-log"] and "DAMAGED" in rows["corrupt-config"]
    assert main(["runs", "list", str(root), "--json"]) == 0
    listed = {r["run"]: r for r in json.loads(capsys.readouterr().out)}
    best = max(r["metrics"]["val_acc"] for r in _records(finished))
    assert listed["group/good"]["best"] == best and listed["group/good"]["finished"] is True
    assert listed["group/good"]["test"] is not None and listed["corrupt-config"]["problem"]


def test_runs_show_and_compare(finished, tmp_path, capsys):
    assert main(["runs", "show", str(finished), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"]["strategy"] == "evolution" and shown["summary"]["evaluations"] == 8
    assert len(shown["top"]) == 8
    assert main(["runs", "show", str(finished)]) == 0
    out = capsys.readouterr().out
    assert "config.json" in out and "summary.json" in out and "budget" in out and " 8\n" in out
    other = tmp_path / "random"
    assert _search(other, strategy="random", budget=5) == 0
    png = tmp_path / "compare.png"
    assert main(["runs", "compare", str(finished), str(other), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# ---- the command table, lazy imports, component listings ---------------------------------------------------
def test_command_stubs_carry_the_commands_own_help_lines():
    full = build_parser()
    sub = next(a for a in full._actions if a.dest == "command")
    helps = {action.dest: action.help for action in sub._choices_actions}
    assert helps == {name: help_text for name, (_, help_text) in COMMANDS.items()}


@pytest.mark.parametrize("argv", [["--help"], ["runs", "list", "runs"], ["runs", "--help"]])
def test_help_and_listing_do_not_import_torch(argv):
    code = ("import sys; from nas.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\nassert 'ray' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code, *argv], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_strategies_are_listed_with_typed_options(capsys):
    assert main(["strategies"]) == 0
    out = capsys.readouterr().out
    assert "evolution:" in out and "population" in out and "int" in out and "default 50" in out
    assert main(["predictors"]) == 0 and "gcn:" in capsys.readouterr().out
    assert main(["evaluators"]) == 0 and "calibration_images" in capsys.readouterr().out


def test_strategy_options_are_stored_with_their_types(finished):
    options = json.loads((finished / "config.json").read_text())["strategy_options"]
    assert options["population"] == 4 and isinstance(options["population"], int)


def test_config_json_is_strict_json(finished):
    json.loads((finished / "config.json").read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))


def test_train_supernet_takes_a_yaml_or_saved_config_and_flags_override_it(tmp_path, capsys):
    settings = tmp_path / "supernet.yaml"
    settings.write_text("space: shufflenet\nspace_options: {width: 0.25, stage_repeats: [1, 1, 1, 1]}\n"
                        "data: {spec: cifar10-subset, val_size: 50, train_limit: 64}\ntrain: {steps: 1, batch_size: 16}\n")
    first = tmp_path / "first"
    assert main(["train-supernet", "--config", str(settings), "--lr", "0.05", "--quiet", "--out", str(first)]) == 0
    saved = json.loads((first / "config.json").read_text())
    assert saved["train"]["steps"] == 1 and saved["train"]["batch_size"] == 16 and saved["train"]["lr"] == 0.05
    assert saved["space_config"]["stage_repeats"] == [1, 1, 1, 1] and saved["data"]["train_limit"] == 64
    second = tmp_path / "second"  # a run's own config.json, with one setting changed on the command line
    assert main(["train-supernet", "--config", str(first / "config.json"), "--steps", "2", "--quiet",
                 "--out", str(second)]) == 0
    again = json.loads((second / "config.json").read_text())
    assert again["train"] == {**saved["train"], "steps": 2} and again["space_config"] == saved["space_config"]
    settings.write_text("space: shufflenet\nlearning_rate: 0.1\n")
    assert main(["train-supernet", "--config", str(settings), "--out", str(tmp_path / "third")]) == 2
    assert "unknown key 'learning_rate'" in capsys.readouterr().err and not (tmp_path / "third").exists()


def test_search_takes_a_yaml_config(tmp_path, capsys):
    settings = tmp_path / "search.yaml"
    settings.write_text("space: nb201\nstrategy: random\nbudget: 3\nevaluator: {kind: table}\nsupernet: null\n")
    assert main(["search", "--config", str(settings), "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert len(_records(tmp_path / "run")) == 3
    settings.write_text("space: nb201\nstrategy: random\nbudgett: 3\n")
    assert main(["search", "--config", str(settings), "--quiet", "--out", str(tmp_path / "bad")]) == 2
    assert "unknown key 'budgett'" in capsys.readouterr().err


def test_resume_names_the_run_directory_in_every_command():
    from argparse import Namespace

    from nas.cli.retrain import resume_into_out
    from nas_common.errors import UserError

    args = Namespace(resume="runs/retrain", out=None)
    resume_into_out(args)
    assert args.out == Path("runs/retrain") and args.resume is True
    bare = Namespace(resume=True, out=Path("runs/x"))
    resume_into_out(bare)
    assert bare.out == Path("runs/x") and bare.resume is True
    with pytest.raises(UserError, match="different runs"):
        resume_into_out(Namespace(resume="runs/a", out=Path("runs/b")))


def test_every_flag_of_every_command_has_help_text():
    import argparse

    missing = []

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(child, [*path, name])
            elif action.option_strings and not action.help:
                missing.append(f"nas {' '.join(path)} {action.option_strings[0]}")

    walk(build_parser(), [])
    assert not missing, missing


def test_a_search_writes_tensorboard_scalars(finished):
    events = list((finished / "tensorboard").glob("events.out.tfevents*"))
    assert events and events[0].stat().st_size > 100


def test_warnings_are_one_line_of_their_own(tmp_path):
    """A skipped partial log line is reported as `warning: ...`, not with Python's file, line number
    and source line."""
    run = tmp_path / "runs" / "r"
    assert main(["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random", "--budget", "3",
                 "--quiet", "--out", str(run)]) == 0
    with (run / "evaluations.jsonl").open("a") as log:
        log.write('{"arch": {"space"')  # an interrupted write
    done = subprocess.run([sys.executable, "-m", "nas", "runs", "list", str(tmp_path / "runs")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    warned = [line for line in done.stderr.splitlines() if line.strip()]
    assert warned and all(line.startswith("warning: ") for line in warned), done.stderr
    assert "partial last line" in done.stderr and ".py:" not in done.stderr


# ---- newcomer frictions (issue 25) -----------------------------------------------------------------------
def test_evaluate_and_export_score_as_the_run_did():
    """`nas evaluate --run RUN` gave 59.90% where the archive said 60.70%: it used its own defaults
    (1,024 calibration images, every validation image). Now a search run's own settings, a supernet
    run's preset's; flags still win, and the output says which were used."""
    import argparse

    from nas.workflows.export import run_evaluator_config

    none = argparse.Namespace(calibration_images=None, eval_batch_size=None, val_images=None)
    search = {"kind": "search", "space": "shufflenet", "preset": "cpu",
              "evaluator": {"kind": "supernet", "calibration_images": 512, "batch_size": 256, "val_images": 1000}}
    cfg, said = run_evaluator_config(search, none)
    assert (cfg.calibration_images, cfg.val_images) == (512, 1000)
    assert said == ["512 calibration images (the search's)", "1,000 validation images (the search's)"]
    supernet = {"kind": "supernet", "space": "nb201"}  # trained by `nas train-supernet`: the cpu preset's nb201
    cfg, said = run_evaluator_config(supernet, none)
    assert (cfg.calibration_images, cfg.val_images) == (256, 2560) and "the cpu preset's" in said[0]
    flags = argparse.Namespace(calibration_images=64, eval_batch_size=None, val_images=None)
    cfg, said = run_evaluator_config(search, flags)
    assert cfg.calibration_images == 64 and said[0] == "64 calibration images (--calibration-images)"


def test_runs_show_puts_the_asked_for_table_first_and_the_config_compactly(finished, capsys):
    assert main(["runs", "show", str(finished), "--top", "3"]) == 0
    out = capsys.readouterr().out
    assert out.index("rank") < out.index("config.json")
    assert len(out.splitlines()) < 50  # was 232 lines, one integer per line
    assert main(["runs", "show", str(finished), "--config"]) == 0
    assert '"population": 4' in capsys.readouterr().out  # the full, indented config on request


def test_help_and_listings_show_the_values_a_search_runs_with(capsys):
    from nas.cli.search import _PRESET_FLAGS
    from nas.supernet.train import TrainConfig

    for key, fallback in _PRESET_FLAGS.items():  # the help's fallbacks are TrainConfig's (read without torch)
        assert getattr(TrainConfig, key, fallback) == fallback, key
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "cpu: 6 (detnas 100, nb201 32, nasfpn 100)" in help_text  # not TrainConfig's 10
    assert "cpu: 64" in help_text and "0 still scores 5" in help_text
    assert main(["strategies"]) == 0
    listing = capsys.readouterr().out
    assert "population           int          default 50  (nas search: cpu: 16" in listing


def test_search_progress_counts_to_the_strategy_budget_and_rates_from_the_search_start():
    import time

    from nas.cli.search_report import SearchProgress
    from nas_common.objective import Objective

    progress = SearchProgress(None, 0, True, Objective())
    progress.start(96)  # the run set no --budget: evolution's own settings come to 96
    time.sleep(0.05)
    progress({"metrics": {"val_acc": 50.0}}, True)
    assert progress.bar.total == 96 and progress.bar.start_t == progress.started
    progress.close()


def test_pareto_plot_log_axis_has_plain_ticks():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nas.archive.plots import plain_log_axis

    fig, ax = plt.subplots()
    ax.scatter([17.0, 30.0, 300.0], [1, 2, 3])
    plain_log_axis(ax.xaxis)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    plt.close(fig)
    assert labels and all("10^" not in t and "times" not in t and "$" not in t for t in labels), labels
    assert {"20", "50", "100", "200"} <= set(labels)
