"""Distributed execution on Ray: the evaluator actors give the local results, survive a killed actor
without losing or duplicating a trial, and the CLI rejects bad cluster options in one line.

One small local Ray instance (2 CPUs, no dashboard) serves the whole module; `connect()` inside the
CLI reuses it instead of starting its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nas.archive import RunDir
from tests.conftest import read_jsonl, run_main
from nas_common.errors import UserError
from nas.evaluate.spec import EvaluatorSpec, build_evaluator
from nas.evaluate.base import score
from nas.workflows.runner import SearchLoop
from nas.constraints.limits import Constraint
from nas.strategies import make_strategy
from nas.strategies.base import Trial

ray = pytest.importorskip("ray")

from nas.distributed.cluster import check_request, resolve_workers  # noqa: E402
from nas.distributed.executor import RayExecutor  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TABLE = EvaluatorSpec("table")


@pytest.fixture(scope="module")
def ray_local():
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()



def records(run: Path) -> list[dict]:
    return read_jsonl(run / "evaluations.jsonl")


def drain(executor, trials: list[Trial]) -> dict[int, dict[str, float]]:
    for trial in trials:
        executor.submit(trial)
    results: dict[int, dict[str, float]] = {}
    while len(results) < len(trials):
        for trial, metrics in executor.wait():
            assert trial.trial_id not in results
            results[trial.trial_id] = metrics
    return results


# ---- cluster options ------------------------------------------------------------------------------
def test_resolve_workers_counts_and_rejects(ray_local):
    assert resolve_workers("auto") == (2, 0.0)  # one per CPU: the fixture's 2
    assert resolve_workers(1, 0) == (1, 0)
    with pytest.raises(UserError, match="CPUs"):
        resolve_workers(3)
    with pytest.raises(UserError, match="GPUs"):
        resolve_workers(1, 1)
    with pytest.raises(UserError, match="positive"):
        resolve_workers(0)
    with pytest.raises(UserError, match=">= 0"):
        resolve_workers(1, -1)


def test_unreachable_address_fails_fast():
    started = time.perf_counter()
    with pytest.raises(UserError, match="no Ray cluster reachable"):
        check_request(2, None, "127.0.0.1:1")
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize("flags, message", [
    (["--workers", "0"], "--workers: must be 'auto' or an integer in 1..10,000"),
    (["--workers", "-3"], "--workers: must be 'auto' or an integer in 1..10,000"),
    (["--gpus-per-worker", "1", "--workers", "2"], "no GPU"),
    (["--gpus-per-worker", "-1"], ">= 0"),
    (["--address", "127.0.0.1:1"], "no Ray cluster reachable"),
])
def test_bad_cluster_options_exit_2_in_one_line(flags, message, tmp_path, capsys):
    if "no GPU" in message and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "run"
    with pytest.raises(SystemExit) if flags[1] in ("0", "-3", "-1") else contextlib.nullcontext():
        code, _ = run_main(["search", "--evaluator", "table", "--strategy", "random", "--budget", "3",
                            "--quiet", "--out", out, *flags])
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not out.exists()  # rejected before a run directory is made


@pytest.mark.slow
def test_unreachable_address_as_a_user_sees_it(tmp_path):
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "nas", "search", "--evaluator", "table", "--strategy", "random",
                           "--budget", "3", "--address", "127.0.0.1:1", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert time.perf_counter() - started < 30


# ---- results equal local evaluation -----------------------------------------------------------------
def test_table_actors_equal_local(ray_local):
    local = build_evaluator(TABLE)
    rng = np.random.default_rng(0)
    trials = [Trial(i, local.space.sample(rng)) for i in range(12)]
    with RayExecutor(TABLE, workers=2) as executor:
        results = drain(executor, trials)
    assert results == {t.trial_id: score(local, t.arch) for t in trials}
    assert "test_acc" in results[0]  # hidden, reported figures travel too


@pytest.mark.slow
def test_supernet_actors_equal_local(ray_local, subset_data, one_thread):
    from nas.supernet.loading import make_space

    spec = EvaluatorSpec("supernet", space="shufflenet", space_options={"width": 0.25},
                         data={"spec": "cifar10-subset", "val_size": 500, "split_seed": 0, "train_limit": 1500},
                         evaluator={"calibration_images": 64, "batch_size": 128, "val_images": 100}, seed=3,
                         device="cpu")
    space = make_space("shufflenet", subset_data, {"width": 0.25})
    weights = space.supernet(torch.Generator().manual_seed(0)).state_dict()
    local = build_evaluator(spec, weights)
    rng = np.random.default_rng(1)
    trials = [Trial(i, space.sample(rng)) for i in range(4)]
    with RayExecutor(spec, workers=2, weights=weights) as executor:
        assert ray.get([a.threads.remote() for a in executor.actors]) == [1, 1]  # from the Ray allocation
        results = drain(executor, trials)
    assert results == {t.trial_id: score(local, t.arch) for t in trials}


def test_a_user_model_space_is_rebuilt_in_the_workers(ray_local, subset_data, one_thread):
    """Actors rebuild a model space from its `package.module:Class` reference and score exactly as
    this process does."""
    from nas.supernet.loading import make_space

    ref = "examples.small_cnn:SmallCNN"
    spec = EvaluatorSpec("supernet", space=ref, space_options={"channels": 4},
                         data={"spec": "cifar10-subset", "val_size": 500, "split_seed": 0, "train_limit": 1500},
                         evaluator={"calibration_images": 32, "batch_size": 64, "val_images": 64}, seed=1,
                         device="cpu")
    space = make_space(ref, subset_data, {"channels": 4})
    weights = space.supernet(torch.Generator().manual_seed(0)).state_dict()
    local = build_evaluator(spec, weights)
    rng = np.random.default_rng(2)
    trials = [Trial(i, space.sample(rng)) for i in range(4)]
    with RayExecutor(spec, workers=2, weights=weights) as executor:
        results = drain(executor, trials)
    assert results == {t.trial_id: score(local, t.arch) for t in trials}


# ---- the search, distributed -----------------------------------------------------------------------
@pytest.mark.slow
def test_table_search_with_two_workers(ray_local, tmp_path):
    run = tmp_path / "ray"
    code, report = run_main(["search", "--evaluator", "table", "--quiet", "--strategy", "evolution",
                             "-o", "population=6", "-o", "sample_size=3", "--budget", "24",
                             "--workers", "2", "--out", run])
    assert code == 0 and "best architecture" in report
    config = json.loads((run / "config.json").read_text())
    assert (config["workers"], config["gpus_per_worker"], config["address"]) == (2, None, None)
    recs = records(run)
    assert len(recs) == 24 and len({r["arch_hash"] for r in recs}) == 24
    assert sorted(r["step"] for r in recs) == list(range(24))


@pytest.mark.slow
def test_killed_actor_loses_and_duplicates_nothing(ray_local, tmp_path):
    """One of two actors is killed mid-run (with a trial in flight when there is one): its trial
    runs again on a fresh actor; the archive ends with exactly `budget` distinct records."""
    budget = 40
    local = build_evaluator(TABLE)
    run = RunDir.create(tmp_path / "killed", {"kind": "search"})
    strategy = make_strategy("evolution", local.space, budget=budget, constraint=Constraint(), seed=0,
                             options={"population": 8, "sample_size": 3, "topk": 3})
    with RayExecutor(TABLE, workers=2) as executor:
        killed: list = []

        def kill_one(record: dict, new: bool) -> None:
            if len(killed) < 2 and len(records(run.path)) in (10, 25):
                busy = [actor for actor, _ in executor._running.values()]
                victim = busy[0] if busy else executor.actors[0]
                ray.kill(victim, no_restart=True)
                killed.append(victim)

        loop = SearchLoop(local.space, strategy, executor, run, hidden_metrics=local.hidden_metrics,
                          on_record=kill_one)
        try:
            loop.run_to_end()
        finally:
            loop.close()
        assert len(killed) == 2 and executor.replacements == 2
        assert not set(killed) & set(executor.actors)
    recs = records(run.path)
    assert len(recs) == budget
    assert len({r["arch_hash"] for r in recs}) == budget
    assert sorted(r["step"] for r in recs) == list(range(budget))
    for r in recs:  # each record is the table's answer for its architecture
        from search_spaces.arch import Arch

        assert r["metrics"] == score(local, Arch.from_dict(r["arch"]))


# ---- data-parallel supernet training (Ray Train) ----------------------------------------------------
TRAIN_STEPS = 20


@pytest.fixture(scope="module")
def trained_on_two(ray_local, tmp_path_factory):
    from nas.data import data_root

    if not (data_root() / "cifar10" / "cifar10_subset_5k_1k.npz").is_file():
        pytest.skip("shared cifar10 subset not available")
    out = tmp_path_factory.mktemp("ddp") / "supernet"
    argv = ["train-supernet", "--space", "shufflenet", "--width", "0.25", "--data", "cifar10-subset",
            "--val-size", "300", "--train-limit", "320", "--steps", str(TRAIN_STEPS), "--batch-size", "32",
            "--lr", "0.1", "--no-augment", "--checkpoint-every", "10", "--device", "cpu", "--workers", "2",
            "--quiet", "--out", out]
    code, printed = run_main(argv)
    assert code == 0, printed
    return out, argv


@pytest.mark.slow
def test_ranks_agree_on_every_path(trained_on_two):
    from nas.supernet.loading import make_space
    from nas.supernet.train import path_for_step

    out, _ = trained_on_two
    log = [json.loads(line) for line in (out / "paths.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == list(range(TRAIN_STEPS))
    assert all(e["ranks"] == 2 and e["ranks_agree"] for e in log)
    space = make_space("shufflenet", __import__("nas.data", fromlist=["load_data"]).load_data(
        "cifar10-subset", val_size=300, train_limit=320), {"width": 0.25})
    assert [e["path_hash"] for e in log] == [path_for_step(space, 0, s).hash for s in range(TRAIN_STEPS)]


@pytest.mark.slow
def test_loss_decreases_on_two_workers(trained_on_two):
    """The logged loss (mean over both ranks' halves of each global batch) falls over a short run."""
    out, _ = trained_on_two
    losses = [json.loads(line)["loss"] for line in (out / "paths.jsonl").read_text().splitlines()]
    assert np.mean(losses[-10:]) < np.mean(losses[:10]), losses


@pytest.mark.slow
def test_checkpoint_loads_single_process_and_resume_is_a_no_op(trained_on_two):
    from nas.supernet.checkpoint import load_checkpoint
    from nas.supernet.loading import load_supernet_run

    out, argv = trained_on_two
    run = load_supernet_run(out)  # the single-process loader reads rank 0's supernet.pt
    assert load_checkpoint(out / "supernet.pt")["step"] == TRAIN_STEPS
    x = torch.zeros(2, 3, 32, 32)
    assert run.supernet(x, run.space.sample(np.random.default_rng(0))).shape == (2, 10)
    lines = (out / "paths.jsonl").read_text()
    code, _ = run_main(argv)  # same run directory: resumes at the last step, trains nothing
    assert code == 0 and (out / "paths.jsonl").read_text() == lines


def test_a_pareto_search_on_two_workers_ends_on_the_front_of_one(ray_local, tmp_path):
    """NSGA-II selects survivors by trial id, so workers finishing out of order change nothing: two
    Ray workers and one in-process worker, seeded alike, evaluate the same architectures and end on
    the same front."""
    fronts = {}
    for workers in (1, 2):
        run = tmp_path / f"nsga2-{workers}"
        code, _ = run_main(["search", "--evaluator", "table", "--quiet", "--strategy", "nsga2", "-o", "population=6",
                            "-o", "generations=4", "--seed", "3", "--workers", str(workers), "--out", run])
        assert code == 0
        summary = json.loads((run / "summary.json").read_text())
        fronts[workers] = (sorted((f["arch_hash"], f["values"]["val_acc"]) for f in summary["front"]["front"]),
                           sorted(r["arch_hash"] for r in records(run)))
    assert fronts[1] == fronts[2] and len(fronts[1][0]) >= 2 and len(fronts[1][1]) == 24
