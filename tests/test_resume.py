"""`nas search --resume`: after a real `kill -9` a search continues to exactly where an uninterrupted
one ends (NB201 table lookups, so evaluation is deterministic and cheap), a torn last line is set
aside, and a resume that cannot be trusted fails with exit 2 without touching the run.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from nas.archive import ArchiveWarning, RunDir
from nas.cli.main import main

BUDGET = 150
KILL_AFTER = 50  # records on disk before the kill; well before BUDGET
STRATEGIES = {
    "spos": ["--strategy", "evolution", "-o", "population=20", "-o", "topk=5", "-o", "mutations=10",
             "-o", "crossovers=10", "-o", "generations=30"],
    "regularized": ["--strategy", "evolution", "-o", "mode=regularized", "-o", "population=20",
                    "-o", "sample_size=5"],
    "random": ["--strategy", "random"],
}
SEED = 7


def search_args(kind: str, out: Path) -> list[str]:
    return ["search", "--evaluator", "table", *STRATEGIES[kind], "--budget", str(BUDGET), "--seed", str(SEED),
            "--quiet", "--out", str(out)]


def run_main(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return main([str(a) for a in argv])


def lines(run: Path) -> list[bytes]:
    path = run / "evaluations.jsonl"
    return path.read_bytes().splitlines() if path.exists() else []


def without_wall(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "wall_s"} for line in lines(run)]


def best_hash(run: Path) -> str:
    return json.loads((run / "summary.json").read_text())["best"]["arch_hash"]


@pytest.fixture(scope="module")
def fast_root(tmp_path_factory):
    """A scratch folder in memory (tmpfs) where there is one: the runner fsyncs every record and
    state file, which on a shared disk costs more than the search. A kill -9 does not lose the page
    cache, so the crash the tests make is the same on either."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("runs")
        return
    root = Path(tempfile.mkdtemp(prefix="nas-test-resume-", dir=shm))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def fast_tmp(fast_root, request) -> Path:
    path = fast_root / request.node.name.replace("[", "-").replace("]", "")
    path.mkdir()
    return path


@pytest.fixture(scope="module")
def reference(fast_root):
    """Uninterrupted runs with the same seed, one per strategy, made on first use."""
    root = fast_root / "reference"
    done: dict[str, Path] = {}

    def get(kind: str) -> Path:
        if kind not in done:
            assert run_main(search_args(kind, root / kind)) == 0
            done[kind] = root / kind
        return done[kind]

    return get


def start_and_kill(kind: str, out: Path) -> int:
    """Start `nas search` as a process, SIGKILL it once KILL_AFTER records are on disk; records left."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "nas", *search_args(kind, out)], cwd=out.parent, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(lines(out)) < KILL_AFTER and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the search ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None and proc.returncode is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    left = len(lines(out))
    assert KILL_AFTER <= left < BUDGET, f"killed with {left} of {BUDGET} records"
    assert not (out / "summary.json").exists()
    return left


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(STRATEGIES))
def test_resume_after_kill_ends_exactly_like_an_uninterrupted_run(kind, reference, fast_tmp):
    killed = fast_tmp / "killed"
    start_and_kill(kind, killed)
    assert run_main(["search", "--resume", killed, "--quiet"]) == 0

    ref = reference(kind)
    assert len(lines(killed)) == BUDGET
    assert {r["arch_hash"] for r in without_wall(killed)} == {r["arch_hash"] for r in without_wall(ref)}
    assert best_hash(killed) == best_hash(ref)
    assert without_wall(killed) == without_wall(ref)


@pytest.mark.slow
def test_resume_sets_a_partial_last_line_aside(reference, fast_tmp):
    killed = fast_tmp / "killed"
    start_and_kill("random", killed)
    log = killed / "evaluations.jsonl"
    complete = log.read_bytes()
    torn = lines(reference("random"))[len(complete.splitlines())]
    half = torn[: len(torn) // 2]
    with open(log, "ab") as f:  # what a crash in the middle of a write leaves behind
        f.write(half)

    with pytest.warns(ArchiveWarning, match="partial"):
        assert run_main(["search", "--resume", killed, "--quiet"]) == 0

    assert (killed / "evaluations.jsonl.truncated").read_bytes().endswith(half + b"\n")
    assert log.read_bytes().startswith(complete)
    assert without_wall(killed) == without_wall(reference("random"))


# ---- resumes that must fail, leaving the run as it was ---------------------------------------------
@pytest.fixture(scope="module")
def stopped(tmp_path_factory) -> Path:
    """A small finished evolution run (seed 0) to damage in copies."""
    out = tmp_path_factory.mktemp("stopped") / "run"
    assert run_main(["search", "--evaluator", "table", "--strategy", "evolution", "-o", "mode=regularized",
                     "-o", "population=8", "-o", "sample_size=3", "--budget", "30", "--quiet", "--out", out]) == 0
    return out


@pytest.fixture
def run_copy(stopped, tmp_path) -> Path:
    return Path(shutil.copytree(stopped, tmp_path / "run"))


def snapshot(run: Path) -> dict[str, bytes]:
    """The run's files (the writer lock, which names the last pid to hold it, is not run data)."""
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.is_file() and p.name != ".lock"}


def resume_fails(argv: list[str], capsys) -> str:
    """Runs `nas search --resume ...`; asserts exit 2 and one error line; returns that line."""
    assert run_main(["search", "--resume", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas search: error: "), err
    return err[0]


def test_resume_of_a_missing_directory(tmp_path, capsys):
    assert "does not exist" in resume_fails([tmp_path / "nowhere"], capsys)


def test_resume_of_a_directory_that_is_not_a_run(tmp_path, capsys):
    (tmp_path / "stuff.txt").write_text("not a run\n")
    assert "not a run directory" in resume_fails([tmp_path], capsys)


def test_resume_of_a_supernet_run(tmp_path, capsys):
    RunDir.create(tmp_path / "supernet", {"kind": "supernet", "space": "shufflenet"})
    assert "not a search run" in resume_fails([tmp_path / "supernet"], capsys)


@pytest.mark.parametrize("option, message", [
    (["--seed", "5"], "--seed 5 conflicts with the run's saved seed 0"),
    (["--strategy", "random"], "--strategy random conflicts with the run's saved strategy evolution"),
    (["-o", "population=9"], "cannot change on --resume"),
    (["-o", "nonsense=1"], "cannot change on --resume"),
    (["--out", "elsewhere"], "drop --out"),
])
def test_resume_with_a_conflicting_option(option, message, run_copy, capsys):
    before = snapshot(run_copy)
    assert message in resume_fails([run_copy, *option], capsys)
    assert snapshot(run_copy) == before


def test_resume_repeating_the_saved_options_is_allowed(run_copy):
    assert run_main(["search", "--resume", run_copy, "--seed", "0", "--strategy", "evolution",
                     "-o", "population=8", "--quiet"]) == 0


def test_resume_refuses_a_log_with_a_corrupt_middle_line(run_copy, capsys):
    log = run_copy / "evaluations.jsonl"
    damaged = log.read_bytes().splitlines(keepends=True)
    damaged[10] = b'{"arch": garbage\n'
    log.write_bytes(b"".join(damaged))
    before = snapshot(run_copy)
    # A larger budget: the resume would append, if it did not refuse first.
    assert "line 11" in resume_fails([run_copy, "--budget", "40"], capsys)
    assert snapshot(run_copy) == before


def test_resume_refuses_an_unreadable_strategy_state(run_copy, capsys):
    (run_copy / "strategy_state.json").write_bytes(b"\x00garbage{{")
    before = snapshot(run_copy)
    assert "strategy state" in resume_fails([run_copy, "--budget", "40"], capsys)
    assert snapshot(run_copy) == before


def test_resume_refuses_a_strategy_state_of_the_wrong_shape(run_copy, capsys):
    """Valid JSON that is not this run's state: found only once the strategy is built, so after
    the run directory is announced, but still before anything is written."""
    (run_copy / "strategy_state.json").write_text('{"state": {"strategy": "evolution"}}\n')
    before = snapshot(run_copy)
    assert run_main(["search", "--resume", run_copy, "--quiet"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "saved strategy state has space None" in errors[0]
    assert snapshot(run_copy) == before


def test_resume_failure_as_a_user_sees_it(run_copy):
    (run_copy / "strategy_state.json").write_bytes(b"garbage")
    before = snapshot(run_copy)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("NAS_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "nas", "search", "--resume", str(run_copy), "--quiet"],
                          cwd=run_copy.parent, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "strategy_state.json is corrupt JSON" in err[0], proc.stderr
    assert snapshot(run_copy) == before
