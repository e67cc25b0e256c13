"""A real Ray cluster, as a user who outgrows one machine starts it: `ray start --head` and a second
node joined with `ray start --address`, both on the loopback interface with one CPU each, token
authentication as Ray's default asks. `nas search --workers 2 --address` runs end to end on it;
then, mid-search, the second node's raylet is killed (only processes this test started) and the
run must still end with exactly `budget` distinct records: the lost node's trial runs again on
the surviving node, and the replacement actor, with no room left to be placed, takes no trial.
Everything started here is stopped at the end (process groups), never other Ray instances."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RAY = shutil.which("ray") or str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(run: Path) -> list[dict]:
    path = run / "evaluations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip().endswith("}")]


@pytest.fixture()
def cluster(tmp_path):
    """(address, env, second node's `ray start` process): two one-CPU nodes on 127.0.0.1."""
    port = _free_port()
    temp = Path(f"/tmp/nas-ray-{port}")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32),
           "RAY_USAGE_STATS_ENABLED": "0", "PYTHONPATH": str(REPO)}
    common = ["--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    started = []
    try:
        started.append(subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--include-dashboard=false",
                                         "--temp-dir", str(temp), *common], env=env, start_new_session=True,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_nodes(port, env, 1)
        started.append(subprocess.Popen([RAY, "start", "--address", f"127.0.0.1:{port}", *common], env=env,
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _wait_for_nodes(port, env, 2)
        yield f"127.0.0.1:{port}", env, started[1]
    finally:
        for proc in reversed(started):  # the whole process group: raylet, GCS, workers
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=3)  # Ray's graceful stop takes 30 s; nothing here needs it
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(temp, ignore_errors=True)


def _wait_for_nodes(port: int, env: dict, count: int, timeout: float = 90) -> None:
    probe = (f"import ray; ray.init(address='127.0.0.1:{port}', logging_level='ERROR'); "
             f"print(sum(n['Alive'] for n in ray.nodes()))")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=60)
        if out.returncode == 0 and out.stdout.strip().splitlines()[-1:] == [str(count)]:
            return
        time.sleep(1)
    raise TimeoutError(f"the Ray cluster on port {port} did not reach {count} nodes")


def _raylet_of(proc: subprocess.Popen) -> int:
    """The pid of the raylet in `proc`'s process group (from /proc: comm and pgid)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        pgid = int(stat[stat.rindex(")") + 2:].split()[2])
        if pgid == proc.pid and "raylet" in comm:
            return int(entry.name)
    raise LookupError("the second node has no raylet")


@pytest.mark.slow
def test_search_on_a_two_node_cluster_survives_losing_a_node(cluster, tmp_path):
    address, env, second = cluster
    run, budget = tmp_path / "run", 400
    search = subprocess.Popen([sys.executable, "-m", "nas", "search", "--space", "nb201", "--evaluator", "table",
                               "--strategy", "random", "--budget", str(budget), "--workers", "2", "--address",
                               address, "--quiet", "--out", str(run)], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while len(_records(run)) < 100:  # both nodes are scoring
        assert search.poll() is None, search.communicate()
        assert time.monotonic() < deadline, "the search made no progress"
        time.sleep(0.05)
    killed_at = len(_records(run))
    os.kill(_raylet_of(second), signal.SIGKILL)  # the node is lost mid-search
    out, err = search.communicate(timeout=300)
    assert search.returncode == 0, err
    records = _records(run)
    assert killed_at < budget and len(records) == budget, (killed_at, len(records))
    assert len({r["arch_hash"] for r in records}) == budget
    assert sorted(r["step"] for r in records) == list(range(budget))
    config = json.loads((run / "config.json").read_text())
    assert (config["workers"], config["address"]) == (2, address)
