"""Stand-alone retraining on Ray Tune and the supernet ranking check: two tiny architectures as two
trials, a restore that keeps finished trials, a failed trial retried by --resume, rank-check end to
end on a briefly trained supernet, the correlation on hand-made data, bad input as one line.

One local Ray (2 CPUs) serves the module; `connect()` inside the commands reuses it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_common.errors import UserError
from nas.workflows.rank_check import rank_correlations, spread
from nas.supernet.loading import DataConfig, make_space
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig
from search_spaces.arch import Arch
from tests.conftest import needs_subset, read_jsonl, run_main

ray = pytest.importorskip("ray")

# The trials' bookkeeping is tested, not accuracy: tiny splits keep Tune's overhead the cost.
DATA = DataConfig("cifar10-subset", val_size=64, train_limit=64)
DATA_FLAGS = ["--data", "cifar10-subset", "--val-size", "64", "--train-limit", "64"]
TINY = ["--epochs", "1", "--batch-size", "32", "--workers", "2"]


@pytest.fixture(scope="module")
def ray_local():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    # Ray nices its workers to 15; on a shared 2-core machine they would then wait behind every other job.
    os.environ["RAY_worker_niceness"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def two_archs() -> list[Arch]:
    space = make_space("shufflenet", DATA.load(), {"width": 0.25})
    rng = np.random.default_rng(7)
    return [space.sample(rng), space.sample(rng)]



def records(run: Path) -> list[dict]:
    return read_jsonl(run / "retrain.jsonl")


def reports(run: Path, experiment: str = "retrain") -> dict[str, int]:
    """Results each trial reported so far, by trial folder (one line of result.json per epoch)."""
    return {p.parent.name: len(p.read_text().splitlines()) for p in (run / "tune" / experiment).glob("*/result.json")}


# ---- correlation and selection, no Ray ------------------------------------------------------------
def test_rank_correlations_on_hand_made_data():
    c = rank_correlations({"a": [1, 2, 3, 4], "b": [10, 20, 30, 40], "c": [4, 3, 2, 1], "d": [5, 5, 5, 5]})
    point = ("kendall_tau", "spearman_rho")
    assert {k: c["a_vs_b"][k] for k in point} == {"kendall_tau": pytest.approx(1.0), "spearman_rho": pytest.approx(1.0)}
    assert {k: c["a_vs_c"][k] for k in point} == {"kendall_tau": pytest.approx(-1.0),
                                                  "spearman_rho": pytest.approx(-1.0)}
    # a perfect ranking stays perfect on every resample of its architectures
    assert (c["a_vs_b"]["kendall_tau_low"], c["a_vs_b"]["kendall_tau_high"]) == (pytest.approx(1.0),) * 2
    assert all(math.isnan(v) for v in c["a_vs_d"].values())  # constant column: undefined, not 0
    partial = rank_correlations({"x": [1, 2, 3], "y": [1, 3, 2]})["x_vs_y"]
    assert partial["kendall_tau"] == pytest.approx(1 / 3) and partial["spearman_rho"] == pytest.approx(0.5)


def test_spread_takes_evenly_spaced_quantiles():
    scored = [(Arch("s", (i,)), float(acc)) for i, acc in enumerate([50, 10, 90, 30, 70])]
    assert [a.choices[0] for a in spread(scored, 3)] == [1, 0, 2]  # worst (10), median (50), best (90)


def test_a_flops_spread_is_chosen_without_the_supernet():
    """`--spread flops`: evenly spaced FLOPs quantiles of random architectures; no supernet score (and
    no search's evaluations) takes part in choosing them, and the same seed gives the same ones."""
    from nas.workflows.rank_check import select_archs
    from search_spaces.shufflenet import ShuffleNetSpace

    class NoScores:
        def evaluate(self, arch):
            raise AssertionError("a FLOPs spread must not score architectures on the supernet")

    space = ShuffleNetSpace()
    archs, source = select_archs(space, NoScores(), None, 6, seed=3, spread_by="flops")
    flops = [space.flops(a) for a in archs]
    assert source == "flops" and len({a.hash for a in archs}) == 6 and flops == sorted(flops)
    assert flops[0] < flops[-1]
    assert select_archs(space, NoScores(), None, 6, seed=3, spread_by="flops")[0] == archs
    with pytest.raises(ValueError, match="spread_by"):
        select_archs(space, NoScores(), None, 6, seed=3, spread_by="params")


# ---- bad input ------------------------------------------------------------------------------------
@needs_subset
@pytest.mark.parametrize("argv, message", [
    (["retrain", "--arch", '{"space": "shufflenet", "choices": [9]}', *DATA_FLAGS, "--epochs", "1"], "choices"),
    (["retrain", "--arch", "no_such_file.json", "--epochs", "1"], "neither an architecture nor an existing file"),
    (["retrain", "--run", "/nonexistent/run", "--epochs", "1"], "does not exist"),
    (["rank-check", "--run", "/nonexistent/run", "--archs", "3", "--epochs", "1"], "does not exist"),
    (["rank-check", "--run", "/nonexistent/run", "--archs", "1", "--epochs", "1"], "at least 3"),
    (["retrain", "--arch", "{}", "--epochs", "0"], "must be positive"),
    (["rank-check", "--run", "x", "--epochs", "0"], "must be positive"),
])
def test_bad_input_exits_2_in_one_line(argv, message, tmp_path, capsys):
    out = tmp_path / "out"
    try:
        code, _ = run_main([*argv, "--out", out])
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()


# ---- Ray Tune -------------------------------------------------------------------------------------
@needs_subset
def test_retrain_two_archs_as_trials_then_restore_keeps_them(ray_local, two_archs, tmp_path):
    out = tmp_path / "rt"
    arch_flags = [x for a in two_archs for x in ("--arch", a.to_json())]
    code, text = run_main(["retrain", *arch_flags, *DATA_FLAGS, "--width", "0.25", *TINY, "--out", out])
    assert code == 0, text
    got = records(out)
    assert sorted(r["arch_hash"] for r in got) == sorted(a.hash for a in two_archs)
    for r in got:
        assert r["epochs"] == 1 and 0 <= r["metrics"]["val_acc"] <= 100 and len(r["val_acc_per_epoch"]) == 1
        assert "test_acc" not in r["metrics"]
    before = reports(out)
    assert sorted(before) == sorted(f"arch_{a.hash}" for a in two_archs) and set(before.values()) == {1}

    code, text = run_main(["retrain", "--out", out, "--resume", "--workers", "2"])
    assert code == 0, text
    assert reports(out) == before  # nothing trained again
    assert records(out) == got  # and nothing recorded twice


@needs_subset
def test_failed_trial_is_retried_by_resume_and_finished_one_is_not(ray_local, two_archs, tmp_path):
    from nas.distributed.tune import retrain_trial
    from nas.workflows.retrain import RetrainJob, retrain

    marker, bad = tmp_path / "failed_once", two_archs[1].to_json()

    def flaky(config):  # fails the second architecture the first time it is tried
        if config["trial"]["arch"] == bad and not marker.exists():
            marker.touch()
            raise RuntimeError("injected failure")
        retrain_trial(config)

    out = tmp_path / "rt"
    job = RetrainJob("shufflenet", {"width": 0.25}, DATA, TrainConfig(epochs=1, batch_size=32), tuple(two_archs))
    with pytest.raises(UserError, match="1 of 2 retraining trials failed.*--resume"):
        retrain(out, job, workers=2, max_failures=0, trainable=flaky)
    assert [r["arch_hash"] for r in records(out)] == [two_archs[0].hash]
    done = reports(out)[f"arch_{two_archs[0].hash}"]
    got = retrain(out, None, resume=True, workers=2, trainable=flaky)
    assert sorted(r["arch_hash"] for r in got) == sorted(a.hash for a in two_archs)
    assert reports(out)[f"arch_{two_archs[0].hash}"] == done


@needs_subset
def test_scale_grid_and_family_as_trials_resumed_after_a_failure(ray_local, tmp_path):
    """`nas scale` end to end at a tiny size: the base and one candidate (step 1), the winner's
    phi = 1 reused and phi = 2 trained (step 2). The phi = 2 trial fails the first time;
    `--resume` trains only it, and the summary has every member. (The single-dimension ablation
    is planned the same way: tests/test_scaling.py.)"""
    from nas.distributed.tune import TrialSpec, retrain_trial
    from nas.scaling.run import ScaleJob, scale
    from search_spaces.mbconv import MBConvSpace

    space = make_space("mbconv", DATA.load(), {"width": 0.25, "depth": 0.5})
    arch = space.canonical(space.sample(np.random.default_rng(0)))
    job = ScaleJob("mbconv", space.config(), arch, DATA, TrainConfig(epochs=1, batch_size=32),
                   ((1.2, 1.1, 1.15),), max_phi=2, ablation=False)
    marker = tmp_path / "failed_once"

    def flaky(config):
        if TrialSpec.from_config(config).name == "compound_phi2" and not marker.exists():
            marker.touch()
            raise RuntimeError("injected failure")
        retrain_trial(config)

    flaky.__name__ = "retrain_trial"  # Tune restores an experiment only with a trainable of the same name
    out = tmp_path / "scale"
    with pytest.raises(UserError, match="1 of 1 scaling trials failed: compound_phi2.*--resume"):
        scale(out, job, workers=2, max_failures=0, trainable=flaky)
    grid_reports = reports(out, "scale_grid")
    assert grid_reports == {"base": 1, "grid_a1.2_b1.1_g1.15": 1}

    code, text = run_main(["scale", "--resume", out, "--workers", "2"])
    assert code == 0, text
    assert reports(out, "scale_grid") == grid_reports  # step 1 was not trained again
    assert reports(out, "scale_family") == {"compound_phi2": 1}
    summary = json.loads((out / "scale.json").read_text())
    assert summary["winner"]["name"] == "grid_a1.2_b1.1_g1.15" and summary["ablation"] == []
    assert [e["phi"] for e in summary["family"]] == [0, 1, 2]
    for entry in summary["grid"] + summary["family"][1:]:
        assert 0.9 <= entry["flops_vs_base"] / 2 ** entry["phi"] <= 1.1  # FLOPs double per phi
        assert MBConvSpace(**entry["options"]).contains(Arch.from_dict(entry["arch"]))
        assert 0 <= entry["metrics"]["val_acc"] <= 100 and len(entry["metrics"]["val_acc_per_epoch"]) == 1
    assert (out / "scale.png").stat().st_size > 0
    assert "winner: alpha=" in text and "compound_phi2" in text
    code, shown = run_main(["runs", "show", out])
    assert code == 0 and "compound_phi1" in shown


@needs_subset
def test_rank_check_end_to_end(ray_local, tmp_path):
    supernet = tmp_path / "supernet"
    torch.set_num_threads(1)
    train_into(supernet, "shufflenet", {"width": 0.25}, DATA, TrainConfig(steps=4, batch_size=32),
               torch.device("cpu"), quiet=True)
    code, text = run_main(["rank-check", "--run", supernet, "--archs", "3", *TINY, "--calibration-images", "32",
                           "--device", "cpu", "--test"])
    assert code == 0, text
    assert "kendall tau" in text and "spearman rho" in text
    out = supernet / "rank_check"
    result = json.loads((out / "rank_check.json").read_text())
    assert result["selection"] == "random" and len(result["archs"]) == 3  # a supernet run has no evaluations
    assert len({a["arch_hash"] for a in result["archs"]}) == 3
    for row in result["archs"]:
        assert all(0 <= row[k] <= 100 for k in ("recalibrated", "inherited", "standalone", "standalone_test"))
    assert set(result["correlations"]) == {"recalibrated_vs_inherited", "recalibrated_vs_standalone",
                                           "inherited_vs_standalone", "params_vs_standalone"}
    for pair in result["correlations"].values():
        assert set(pair) == {"kendall_tau", "spearman_rho", "kendall_tau_low", "kendall_tau_high"}
        assert all(v is None or (math.isfinite(v) and -1 <= v <= 1) for v in pair.values())  # None: constant
    assert (out / "rank_check.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(records(out)) == 3
    # what the next shufflenet search's summary quotes: this check, with its size and date
    from nas.evaluate.known import describe_estimator, known_ranking

    if result["correlations"]["recalibrated_vs_standalone"]["kendall_tau"] is not None:
        figure = known_ranking("shufflenet", "supernet")
        assert figure["archs"] == 3 and "nas rank-check of" in figure["source"]
        assert "summaries now quote" in text
        assert "over 3 architectures" in describe_estimator("shufflenet", "supernet", "the supernet")


@needs_subset
def test_darts_seeds_as_trials_then_resume_finishes_nothing_twice(ray_local, tmp_path):
    """`nas search --seeds 2`: two DARTS- searches on NB201 (seeds 3 and 4) as Tune trials, each a
    normal run scored by the table with its alphas, plot and DARTS's recipe; a table over the
    seeds; `--resume` of the group re-runs nothing."""
    from nas.darts.alphas import skip_count
    from search_spaces.nb201.space import NB201Space

    out = tmp_path / "group"
    code, text = run_main(["search", "--space", "nb201", "--strategy", "darts", "-o", "guard=darts-", "--evaluator",
                           "table", "-S", "channels=4", "-S", "cells_per_stage=1", *DATA_FLAGS[:2], "--val-size", "64",
                           "--train-limit", "64", "--epochs", "2", "--batch-size", "32", "--seed", "3", "--seeds", "2",
                           "--workers", "2", "--quiet", "--out", out])
    assert code == 0, text
    space = NB201Space()
    run = out / "seed-3"
    record, = read_jsonl(run / "evaluations.jsonl")
    alphas = json.loads((run / "supernet" / "alphas.json").read_text())
    assert [e["epoch"] for e in alphas["epochs"]] == [1, 2] and alphas["epochs"][0]["aux_skip"] == 0.5
    assert Arch.from_dict(record["arch"]) == space.discretise(np.asarray(alphas["logits"]))
    assert record["flops"] == space.flops(Arch.from_dict(record["arch"]))  # the benchmark net's cost
    run_summary = json.loads((run / "summary.json").read_text())
    assert run_summary["darts"]["skip_connections"] == skip_count(space.alpha_ops, alphas["logits"])
    assert "test_acc" in run_summary["best"]["metrics"] and (run / "alphas.png").stat().st_size > 0
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["lr"] == 0.025 and config["train"]["weight_decay"] == 3e-4  # DARTS's recipe
    summary = json.loads((out / "seeds_summary.json").read_text())
    assert sorted(summary["runs"]) == ["seed-3", "seed-4"] and summary["skip_connections"]["n"] == 2
    for name in ("seed-3", "seed-4"):
        config = json.loads((out / name / "config.json").read_text())
        assert config["seed"] == int(name[-1]) and config["workers"] == 1
        assert len(read_jsonl(out / name / "evaluations.jsonl")) == 1
        assert summary["runs"][name]["test_acc"] == read_jsonl(out / name / "evaluations.jsonl")[0]["metrics"]["test_acc"]
    assert "mean ± std" in text
    before = {p: p.stat().st_mtime for p in out.glob("seed-*/supernet/supernet.pt")}
    code, again = run_main(["search", "--resume", out, "--workers", "2"])
    assert code == 0 and json.loads((out / "seeds_summary.json").read_text())["runs"].keys() == summary["runs"].keys()
    assert {p: p.stat().st_mtime for p in out.glob("seed-*/supernet/supernet.pt")} == before  # nothing retrained


def test_tau_interval_narrows_with_more_architectures():
    from nas.workflows.rank_check import tau_interval

    rng = np.random.default_rng(0)
    truth = rng.random(400)
    noisy = truth + rng.normal(0, 0.3, 400)
    few, many = tau_interval(truth[:50], noisy[:50]), tau_interval(truth, noisy)
    assert few[0] < many[0] < many[1] < few[1]  # nested: 400 architectures pin tau down better
    assert many[1] - many[0] < (few[1] - few[0]) / 2
