"""`nas search` end to end: a tiny supernet search on the CIFAR-10 subset (train, search, report,
export, `nas runs`, reuse of the trained supernet), determinism, and bad input.

Everything runs in-process through `nas.cli.main.main`, except two bad-input cases run as real
processes to see exactly what a user sees (one line, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from nas.cli.main import main
from tests.conftest import read_jsonl, run_main
from nas.data import data_root

REPO = Path(__file__).resolve().parents[1]
SUBSET = data_root() / "cifar10" / "cifar10_subset_5k_1k.npz"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Evolution at population 4, 2 generations of 1 mutation + 1 crossover: 6 architectures.
BUDGET = 6
TINY = ["--space", "shufflenet", "--width", "0.25", "--data", "cifar10-subset", "--val-size", "300",
        "--train-limit", "512", "--steps", "4", "--batch-size", "32", "--val-images", "100",
        "--calibration-images", "64", "--confirm-images", "200", "--device", "cpu", "--quiet"]
TINY_SEARCH = ["search", *TINY, "--strategy", "evolution", "-o", "population=4", "-o", "generations=2",
               "-o", "mutations=1", "-o", "crossovers=1", "-o", "topk=2", "--budget", str(BUDGET),
               "--random-baseline", "2", "--force"]  # 4 training steps: too few to pass the trust check
TABLE_SEARCH = ["search", "--evaluator", "table", "--quiet", "--strategy", "evolution", "-o", "mode=regularized",
                "-o", "population=10", "-o", "sample_size=3", "--budget", "60"]

needs_subset = pytest.mark.skipif(not SUBSET.is_file(), reason="shared cifar10 subset not available")



def records(run: Path) -> list[dict]:
    return read_jsonl(run / "evaluations.jsonl")


def without_wall(recs: list[dict]) -> list[dict]:
    """Records minus `wall_s`, the only field that legitimately differs between identical runs."""
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in recs]


@pytest.fixture(scope="module")
def searched(tmp_path_factory, one_thread) -> tuple[Path, str]:
    """(run directory, printed report) of one tiny supernet search, trained in the run."""
    if not SUBSET.is_file():
        pytest.skip("shared cifar10 subset not available")
    run = tmp_path_factory.mktemp("searches") / "tiny"
    code, report = run_main([*TINY_SEARCH, "--out", run])
    assert code == 0
    return run, report


# ---- the complete run ------------------------------------------------------------------------------
@needs_subset
def test_search_writes_a_complete_run_directory(searched):
    run, _ = searched
    config = json.loads((run / "config.json").read_text())
    assert config["kind"] == "search" and config["seed"] == 0 and config["budget"] == BUDGET
    assert config["provenance"]["nas_version"]
    assert "git_commit" in config["provenance"]

    recs = records(run)
    assert len(recs) == BUDGET
    assert len({r["arch_hash"] for r in recs}) == BUDGET
    for r in recs:
        assert {"arch", "arch_hash", "metrics", "flops", "params", "step", "wall_s"} <= r.keys()
        assert r["arch"]["space"] == "shufflenet"
        assert 0.0 <= r["metrics"]["val_acc"] <= 100.0
        assert r["flops"] > 0 and r["params"] > 0
    assert sorted(r["step"] for r in recs) == list(range(BUDGET))

    state = json.loads((run / "strategy_state.json").read_text())
    assert len(state["state"]["history"]) == BUDGET

    summary = json.loads((run / "summary.json").read_text())
    best = max(recs, key=lambda r: (r["metrics"]["val_acc"], -r["step"]))
    assert summary["best"]["arch_hash"] == best["arch_hash"]
    assert summary["top"][0] == summary["best"]
    baseline = summary["random_baseline"]
    assert baseline["count"] == 5  # the trust check scores at least 5, even when 2 were asked for
    assert baseline["min_val_acc"] <= baseline["q25_val_acc"] <= baseline["median_val_acc"] \
        <= baseline["q75_val_acc"] <= baseline["max_val_acc"]
    assert baseline["chance"] == 10.0 and len(baseline["evaluations"]) == 5
    assert json.loads((run / "random_baseline.json").read_text())["count"] == 5

    for plot in ("progress.png", "pareto.png"):
        data = (run / plot).read_bytes()
        assert len(data) > 1000 and data.startswith(PNG_MAGIC)
    assert (run / "supernet" / "supernet.pt").stat().st_size > 0
    assert json.loads((run / "supernet" / "config.json").read_text())["kind"] == "supernet"


@needs_subset
def test_search_report_names_best_architecture_and_baseline(searched):
    run, report = searched
    summary = json.loads((run / "summary.json").read_text())
    best = summary["best"]
    assert f"best architecture   {best['arch']['choices']}  ({best['arch_hash']})" in report
    assert (f"val_acc             {best['metrics']['val_acc']:.2f} ± {best['metrics']['val_acc_se']:.2f}%"
            in report)  # with one standard error over the validation images
    assert f"{best['flops'] / 1e6:.2f} M / {best['params'] / 1e6:.3f} M" in report
    assert f"median val_acc {summary['random_baseline']['median_val_acc']:.2f}%" in report
    assert "chance 10.00%" in report
    assert str(run) in report


@needs_subset
def test_export_equals_the_recalibrated_supernet_path(searched):
    from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
    from nas.workflows.export import load_exported
    from nas.supernet.loading import load_supernet_run
    from nas.supernet.recalibrate import path_statistics

    run, _ = searched
    out = run / "best.pt"
    code, printed = run_main(["export", "--run", run, "--out", out, "--device", "cpu"])
    assert code == 0 and str(out) in printed
    model, arch, meta = load_exported(out)
    summary = json.loads((run / "summary.json").read_text())
    assert arch.hash == summary["best"]["arch_hash"]
    assert meta["metrics"]["val_acc"] == summary["best"]["metrics"]["val_acc"]

    config = json.loads((run / "config.json").read_text())
    settings = {k: v for k, v in config["evaluator"].items() if k != "kind"}
    evaluator = SupernetEvaluator.from_run(load_supernet_run(run / "supernet"), 
        EvaluatorConfig(**settings), torch.device("cpu"), seed=config["seed"])
    supernet, x = evaluator.supernet, evaluator.val_batches[0][0][:16]
    with torch.no_grad():
        with path_statistics(supernet, lambda b: supernet(b, arch), evaluator.calibration.split(evaluator.batch_size)):
            expected = supernet(x, arch)
        got = model.net(x)  # the bare network takes the normalised validation images
        raw = x * torch.tensor(evaluator.task.preprocessing(load_supernet_run(run / "supernet").data)["std"]).view(1, -1, 1, 1) \
            + torch.tensor(meta["preprocessing"]["mean"]).view(1, -1, 1, 1)
        assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5  # back to pixels / 255
        behind = model(raw)  # the exported model normalises them itself
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(behind, expected, rtol=1e-4, atol=1e-4)


@needs_subset
def test_runs_list_and_show_print_the_run(searched):
    run, _ = searched
    code, listing = run_main(["runs", "list", run.parent])
    assert code == 0 and run.name in listing
    code, shown = run_main(["runs", "show", run])
    assert code == 0
    summary = json.loads((run / "summary.json").read_text())
    assert "search" in shown and "evolution" in shown
    assert f"{BUDGET} records" in shown
    assert summary["best"]["arch_hash"] in shown


@needs_subset
def test_search_reuses_a_trained_supernet(searched, tmp_path):
    """`--supernet` trains nothing, and scores architectures exactly as the run that trained it."""
    run, _ = searched
    checkpoint = run / "supernet" / "supernet.pt"
    before = (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes())
    args = [a for a in TINY_SEARCH if a not in ("--space", "shufflenet")]
    code, report = run_main([*args, "--supernet", run / "supernet", "--out", tmp_path / "again"])
    assert code == 0 and "best architecture" in report
    assert (checkpoint.stat().st_mtime_ns, checkpoint.read_bytes()) == before
    assert not (tmp_path / "again" / "supernet").exists()
    config = json.loads((tmp_path / "again" / "config.json").read_text())
    assert config["supernet"]["run"] == str((run / "supernet").resolve()) and config["train"] is None
    # Same seed, strategy and evaluator settings on the same weights: the same evaluations.
    assert without_wall(records(tmp_path / "again")) == without_wall(records(run))


@needs_subset
def test_a_resumed_search_ends_with_the_verdict_of_an_uninterrupted_one(searched, tmp_path):
    """The confirmation and test scores are functions of the supernet, the seed and the images: a
    search stopped halfway and resumed judges exactly as the one that ran through."""
    run, _ = searched
    args = [a for a in TINY_SEARCH if a not in ("--space", "shufflenet")]
    args[args.index("--budget") + 1] = "3"
    out = tmp_path / "halfway"
    assert run_main([*args, "--supernet", run / "supernet", "--out", out])[0] == 0
    assert run_main(["search", "--resume", out, "--budget", str(BUDGET), "--quiet"])[0] == 0
    whole = json.loads((run / "summary.json").read_text())["verdict"]
    resumed = json.loads((out / "summary.json").read_text())["verdict"]
    assert resumed == whole and whole["basis"] == "confirmation"
    assert whole["splits"]["confirmation"]["images"] == 200 and whole["splits"]["validation"]["images"] == 100


# ---- the trust check: an untrained supernet is not searched ----------------------------------------
@needs_subset
def test_untrained_supernet_is_refused_and_force_resumes(searched, tmp_path, capsys):
    run, _ = searched
    argv = [a for a in TINY_SEARCH if a not in ("--space", "shufflenet", "--force")]
    out = tmp_path / "untrained"
    assert exit_status([*argv, "--supernet", run / "supernet", "--out", out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"run directory: {out}" and len(err) == 2  # where the run is kept, then the error
    message = one_error_line(err[1])
    assert "the supernet has not learned" in message and "chance 10.00%" in message
    assert f"nas search --resume {out} --force" in message
    assert not (out / "evaluations.jsonl").exists() or not records(out)  # no budget was spent
    scored = json.loads((out / "random_baseline.json").read_text())
    assert scored["count"] == 5
    # forced, the search runs, reusing the five scores instead of computing them again
    assert run_main(["search", "--resume", out, "--force", "--quiet"])[0] == 0
    assert len(records(out)) == BUDGET
    assert json.loads((out / "summary.json").read_text())["random_baseline"]["evaluations"] == scored["evaluations"]


def test_trust_check_thresholds(tmp_path):
    from nas_common.errors import UserError
    from nas.judging.trust import check_learned, distribution

    def baseline(values):
        return {"count": len(values), "objective": "val_acc",
                **{f"{k}_val_acc": v for k, v in distribution(values).items()}}
    check_learned(baseline([40.0, 45.0, 50.0]), 10.0, tmp_path, force=False)   # learned
    check_learned(baseline([55.0, 56.0, 60.0]), 50.0, tmp_path, force=False)   # 2 classes: 52.5% needed
    for values, chance in (([10.2, 11.0, 14.0], 10.0), ([50.0, 51.0, 53.0], 50.0)):
        with pytest.raises(UserError, match="has not learned"):
            check_learned(baseline(values), chance, tmp_path, force=False)
        check_learned(baseline(values), chance, tmp_path, force=True)          # --force
    check_learned(baseline([0.0, 0.0]), None, tmp_path, force=False)          # no chance level: no check


# ---- determinism -----------------------------------------------------------------------------------
def test_table_search_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert run_main([*TABLE_SEARCH, "--seed", "3", "--out", tmp_path / name])[0] == 0
    first, second = records(tmp_path / "a"), records(tmp_path / "b")
    assert len(first) == 60
    assert without_wall(first) == without_wall(second)


@needs_subset
def test_supernet_search_is_deterministic(searched, tmp_path):
    """Training and searching again from scratch with the same seed gives the same log."""
    run, _ = searched
    assert run_main([*TINY_SEARCH, "--out", tmp_path / "twin"])[0] == 0
    assert without_wall(records(tmp_path / "twin")) == without_wall(records(run))


# ---- bad input: exit 2, one line on stderr, nothing written ----------------------------------------
def exit_status(argv: list[str]) -> int:
    """`main`'s return value; argparse's own usage errors (e.g. `--budget 0`) exit via SystemExit."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as stop:
        return stop.code


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("nas search: error: ")
    return lines[0]


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "nonsense", "--budget", "5"], "unknown strategy 'nonsense'; valid .*evolution.*random"),
    (["--strategy", "random", "--budget", "0"], "--budget: must be positive"),
    (["--strategy", "random", "--budget", "-3"], "--budget: must be positive"),
    (["--strategy", "random", "--budget", "5", "-o", "nonsense=1"], "unknown option 'nonsense'"),
    (["--strategy", "evolution", "--budget", "5", "-o", "mode=sideways"], "mode='sideways' is unknown"),
])
def test_bad_search_options_exit_2_before_creating_the_run(argv, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert exit_status(["search", "--evaluator", "table", "--quiet", *argv, "--out", out]) == 2
    assert re.search(message, one_error_line(capsys.readouterr().err))
    assert not out.exists()


def test_infeasible_constraint_exits_2(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--evaluator", "table", "--strategy", "random", "--budget", "5", "--max-flops", "1",
                 "--quiet", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line]
    assert len(errors) == 1 and "infeasible" in errors[0] and "max_flops" in errors[0]
    # Found before anything is created (or a supernet trained): no run directory is left behind.
    assert not out.exists()


def test_out_of_an_existing_run_is_refused_and_untouched(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_bytes(b"someone else's work\n")
    assert main([*TABLE_SEARCH, "--out", str(out)]) == 2
    assert "already exists and is not empty" in one_error_line(capsys.readouterr().err)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert (out / "notes.txt").read_bytes() == b"someone else's work\n"


@pytest.mark.parametrize("argv, message", [
    (["--strategy", "nonsense", "--budget", "5"], "unknown strategy"),
    (["--strategy", "random", "--budget", "-3"], "must be positive"),
])
def test_bad_input_as_a_user_sees_it(argv, message, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("NAS_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "nas", "search", "--evaluator", "table", "--quiet", *argv,
                           "--out", str(tmp_path / "run")], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert message in one_error_line(proc.stderr)
    assert proc.stdout == ""


@needs_subset
def test_scores_that_are_noise_stop_the_search_before_its_budget(searched, tmp_path, capsys, monkeypatch):
    """A supernet whose random architectures are all 60% right, each on other images (their
    differences are sampling noise only): the separability check refuses with exit 2 and says what
    would help; nothing is spent."""
    import numpy as np

    from nas.evaluate.supernet_evaluator import SupernetEvaluator
    from nas.tasks.uncertainty import PER_IMAGE, accuracy_se, pack_outcomes

    def noise(self, arch):
        hits = np.random.default_rng(int(arch.hash[:8], 16)).random(100) < 0.6
        return {"val_acc": 100.0 * hits.mean(), "val_loss": 1.0, "val_acc_se": accuracy_se(hits),
                PER_IMAGE: {"val_correct": pack_outcomes(hits)}}

    monkeypatch.setattr(SupernetEvaluator, "evaluate", noise)
    run, _ = searched
    argv = [a for a in TINY_SEARCH if a not in ("--space", "shufflenet", "--force")]
    out = tmp_path / "noise"
    assert exit_status([*argv, "--supernet", run / "supernet", "--out", out]) == 2
    message = one_error_line(capsys.readouterr().err.strip().splitlines()[-1])
    assert "cannot tell architectures apart" in message and "reliability" in message
    assert f"nas search --resume {out} --force" in message
    assert not (out / "evaluations.jsonl").exists() or not records(out)
