"""`nas search --evaluator zc`: a training-free search on the untrained networks, recorded like any
other, resumed exactly after a kill -9, on Ray workers as locally; bad settings are one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas_common.registry import EVALUATORS
from tests.conftest import needs_subset, read_jsonl, run_main

BUDGET = 12
BASE = ["search", "--space", "nb201", "-S", "channels=4", "-S", "cells_per_stage=1", "--evaluator", "zc",
        "-E", "proxy=naswot", "-E", "report=synflow,params", "-E", "batch_size=16", "--data", "cifar10-subset",
        "--budget", str(BUDGET), "--seed", "3", "--quiet"]
ZC = [*BASE, "--strategy", "evolution", "-o", "mode=regularized", "-o", "population=4", "-o", "sample_size=2"]
MEASURED = ("wall_s",)


def comparable(run: Path) -> list[dict]:
    """Records without what legitimately differs between identical runs: wall and CPU seconds."""
    out = []
    for record in read_jsonl(run / "evaluations.jsonl"):
        record = {k: v for k, v in record.items() if k not in MEASURED}
        record["metrics"] = {k: v for k, v in record["metrics"].items() if not k.endswith("cpu_s")}
        out.append(record)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("zc") / "reference"
    code, _ = run_main([*ZC, "--out", run])
    assert code == 0
    return run


@needs_subset
def test_zc_search_records_the_proxy_its_reported_scores_and_cpu_seconds(reference):
    config = json.loads((reference / "config.json").read_text())
    assert config["evaluator"] == {"kind": "zc", "proxy": "naswot", "report": "synflow,params", "batch_size": 16}
    assert config["objective"]["metric"] == "naswot" and config["space_options"] == {"channels": 4,
                                                                                      "cells_per_stage": 1}
    assert config["train"] is None and config["supernet"] is None
    records = read_jsonl(reference / "evaluations.jsonl")
    assert len(records) == BUDGET
    for record in records:
        assert set(record["metrics"]) == {"naswot", "synflow", "params", "zc_cpu_s"}
        assert record["metrics"]["params"] == record["params"]
        assert record["metrics"]["zc_cpu_s"] > 0
    state = json.loads((reference / "strategy_state.json").read_text())
    told = [h["metrics"] for h in state["state"]["history"]]
    assert all(set(m) == {"naswot"} for m in told)  # reported figures are never told to the strategy
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["best"]["metrics"]["naswot"] == max(r["metrics"]["naswot"] for r in records)
    assert summary["estimator"]["id"] == "zc:naswot"  # what ranked, and what is known of it
    assert "zero-cost proxy naswot" in summary["estimator"]["text"]


@needs_subset
@pytest.mark.slow
def test_zc_search_resumes_after_kill_exactly(reference, tmp_path):
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nas", *ZC, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = killed / "evaluations.jsonl"
    deadline = time.monotonic() + 120
    while (not log.exists() or len(log.read_text().splitlines()) < 5) and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the search ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert len(log.read_text().splitlines()) < BUDGET
    code, _ = run_main(["search", "--resume", killed, "--quiet"])
    assert code == 0
    assert comparable(killed) == comparable(reference)


@needs_subset
@pytest.mark.parametrize("options, message", [
    (["-E", "proxy=bogus"], "unknown zero-cost proxy 'bogus'; valid proxies: flops, grad_norm"),
    (["-E", "proxy=naswot,synflow"], "name one proxy"),
    (["-E", "bogus=1"], "unknown option 'bogus' for evaluator 'zc'"),
    (["-E", "batch_size=3"], "batch_size=3 must be at least 4"),
    (["--strategy", "darts", "--budget", "1"], "--evaluator zc trains nothing"),
])
def test_bad_zc_settings_are_one_line_before_any_run(options, message, tmp_path, capsys):
    base = BASE if "--strategy" in options else ZC
    code, _ = run_main([*base, *options, "--out", tmp_path / "run"])  # a later -E KEY wins
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_evaluators_listing_shows_zc_and_its_settings(capsys):
    code, out = run_main(["evaluators"])
    assert code == 0
    assert "zc:" in out and "proxy" in out and "naswot" in out
    from nas_common.registry import PROXIES

    listed = out.split("zc:")[1].splitlines()[0]
    assert all(name in listed for name in PROXIES.names())  # the listing names every registered proxy
    assert EVALUATORS.get("zc").uses_supernet is False
