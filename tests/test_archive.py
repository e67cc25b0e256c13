"""The run archive: crash-safe records, atomic state files, run directories, summaries, plots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest

from nas.archive import (
    ArchiveWarning,
    RecordWriter,
    RunDir,
    format_table,
    make_record,
    new_run_id,
    pareto_front,
    plot_pareto,
    plot_progress,
    provenance,
    read_records,
    runs_table,
    summarize,
    top_table,
    write_json_atomic,
)
from nas_common.errors import UserError

REPO = Path(__file__).resolve().parent.parent


def rec(step: int, acc: float, flops: int = 100_000_000, params: int = 1_000_000) -> dict:
    # Built by hand (not make_record) so these tests do not import search_spaces and torch.
    return {
        "arch": {"space": "toy", "choices": [step % 4, step % 3]},
        "arch_hash": f"h{step:04d}",
        "metrics": {"val_acc": acc},
        "flops": flops,
        "params": params,
        "step": step,
        "wall_s": step * 0.5,
    }


def write_lines(path: Path, records: list[dict], tail: str = "") -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


@pytest.fixture
def no_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


# --- records -----------------------------------------------------------------------------------


def test_append_read_round_trip(tmp_path, no_warnings):
    path = tmp_path / "evaluations.jsonl"
    records = [rec(i, 50.0 + i) for i in range(5)]
    records[2]["worker"] = "w1"  # extra keys survive
    with RecordWriter(path) as writer:
        for r in records:
            writer.append(r)
    assert read_records(path) == records
    with RecordWriter(path) as writer:  # re-opening appends, never truncates
        writer.append(rec(5, 1.0))
    assert len(read_records(path)) == 6


def test_writer_refuses_records_readers_would_reject(tmp_path):
    with RecordWriter(tmp_path / "e.jsonl") as writer:
        with pytest.raises(ValueError, match="val_acc"):
            writer.append({"arch": {}, "arch_hash": "x", "metrics": {}})


def test_make_record_from_arch_and_dict():
    from search_spaces.arch import Arch

    arch = Arch("toy", (1, 0, 2))
    record = make_record(arch, {"val_acc": 71.5}, flops=3e8, params=2e6, step=4, wall_s=1.25, worker=2)
    assert record["arch"] == arch.to_dict() and record["arch_hash"] == arch.hash
    assert record["flops"] == 300_000_000 and isinstance(record["flops"], int)
    assert record["worker"] == 2
    assert make_record(arch.to_dict(), {"val_acc": 1}, flops=1, params=1, step=0, wall_s=0)["arch_hash"] == arch.hash
    with pytest.raises(ValueError, match="val_acc"):
        make_record(arch, {"loss": 1.0}, flops=1, params=1, step=0, wall_s=0)
    json.dumps(record)


def test_truncated_last_line_is_skipped_then_set_aside(tmp_path):
    path = tmp_path / "evaluations.jsonl"
    half = json.dumps(rec(2, 60.0))[:25]
    write_lines(path, [rec(0, 10.0), rec(1, 20.0)], tail=half)

    with pytest.warns(ArchiveWarning, match="partial last line 3"):
        assert [r["step"] for r in read_records(path)] == [0, 1]

    with pytest.warns(ArchiveWarning, match="partial line"):
        writer = RecordWriter(path)
    with writer:
        writer.append(rec(2, 60.0))
    assert (tmp_path / "evaluations.jsonl.truncated").read_text() == half + "\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [r["step"] for r in read_records(path)] == [0, 1, 2]

    # A second crash appends to the set-aside file; nothing recorded is ever deleted.
    with open(path, "a") as f:
        f.write('{"arch": ')
    with pytest.warns(ArchiveWarning):
        RecordWriter(path).close()
    assert (tmp_path / "evaluations.jsonl.truncated").read_text() == half + "\n" + '{"arch": \n'


def test_unparsable_complete_last_line_is_set_aside_too(tmp_path):
    # The reader skips it; left in place it would become a corrupt middle line after an append.
    path = tmp_path / "evaluations.jsonl"
    write_lines(path, [rec(0, 10.0)], tail="\x00\x00garbage\n")
    with pytest.warns(ArchiveWarning, match="partial line"):
        RecordWriter(path).close()
    with RecordWriter(path) as writer:
        writer.append(rec(1, 20.0))
    assert [r["step"] for r in read_records(path)] == [0, 1]


def test_complete_last_line_missing_only_its_newline_is_kept(tmp_path, no_warnings):
    path = tmp_path / "evaluations.jsonl"
    path.write_text(json.dumps(rec(0, 10.0)) + "\n" + json.dumps(rec(1, 20.0)))  # hand-edited file
    with RecordWriter(path) as writer:
        writer.append(rec(2, 30.0))
    assert [r["step"] for r in read_records(path)] == [0, 1, 2]
    assert not (tmp_path / "evaluations.jsonl.truncated").exists()


@pytest.mark.parametrize("bad", ["{not json", json.dumps({"arch": {}, "arch_hash": "x"}), "[1, 2]"])
def test_corrupt_middle_line_strict_raises_lenient_skips(tmp_path, bad):
    path = tmp_path / "evaluations.jsonl"
    path.write_text(json.dumps(rec(0, 10.0)) + "\n" + bad + "\n" + json.dumps(rec(2, 30.0)) + "\n")
    with pytest.raises(UserError, match=r"line 2 of .*evaluations.jsonl is corrupt: .*fix or remove that line"):
        read_records(path)
    with pytest.warns(ArchiveWarning, match="line 2"):
        assert [r["step"] for r in read_records(path, strict=False)] == [0, 2]


def test_missing_file(tmp_path):
    assert read_records(tmp_path / "nope.jsonl", missing_ok=True) == []
    with pytest.raises(UserError, match="does not exist"):
        read_records(tmp_path / "nope.jsonl")


KILLED_WRITER = textwrap.dedent(
    """
    import sys
    from nas.archive import RecordWriter
    with RecordWriter(sys.argv[1]) as writer:
        step = 0
        while True:
            writer.append({"arch": {"space": "toy", "choices": [step]}, "arch_hash": str(step),
                           "metrics": {"val_acc": 1.0}, "pad": "x" * 2000, "step": step})
            step += 1
            if step == 20:
                print("ready", flush=True)
    """
)


def test_kill_9_mid_append_leaves_a_readable_log(tmp_path):
    path = tmp_path / "evaluations.jsonl"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.2)  # let it keep appending, so the kill lands mid-loop
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=5)
        proc.stdout.close()
    complete = path.read_bytes().count(b"\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArchiveWarning)  # a partial last line is allowed
        steps = [r["step"] for r in read_records(path)]
    assert steps == list(range(len(steps))) and len(steps) >= 20
    assert len(steps) == complete  # every complete line is readable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArchiveWarning)
        with RecordWriter(path) as writer:  # a resumed run writes on cleanly
            writer.append(rec(len(steps), 99.0))
    assert len(read_records(path)) == len(steps) + 1


# --- atomic state files --------------------------------------------------------------------------


def test_atomic_json_write_replaces_whole_and_leaves_no_temp(tmp_path):
    path = tmp_path / "strategy_state.json"
    big = {"population": [rec(i, float(i)) for i in range(3000)]}
    write_json_atomic(path, {"old": True})
    write_json_atomic(path, big)
    assert json.loads(path.read_text()) == big
    assert [p.name for p in tmp_path.iterdir()] == ["strategy_state.json"]

    with pytest.raises(TypeError):  # not JSON-able: the old file must survive untouched
        write_json_atomic(path, {"x": object()})
    assert json.loads(path.read_text()) == big
    assert [p.name for p in tmp_path.iterdir()] == ["strategy_state.json"]


# --- run directories -------------------------------------------------------------------------------


def test_run_dir_create_and_open(tmp_path):
    run = RunDir.create(tmp_path / "runs" / "r1", {"space": "toy", "seed": 3})
    config = RunDir.open(run.path).read_config()
    assert config["seed"] == 3
    assert set(config["provenance"]) == {"nas_version", "git_commit", "python", "torch", "created"}
    assert run.evaluations.name == "evaluations.jsonl" and run.pareto_plot.name == "pareto.png"
    assert run.read_records() == []
    assert run.read_strategy_state() is None


def test_run_dir_create_refuses_non_empty(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "evaluations.jsonl").write_text("")
    with pytest.raises(UserError, match="--resume .*another --out"):
        RunDir.create(tmp_path / "old", {})
    (tmp_path / "empty").mkdir()
    RunDir.create(tmp_path / "empty", {})  # an empty directory is fine


def test_run_dir_open_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        RunDir.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(UserError, match=r"plain is not a run directory \(no config.json\)"):
        RunDir.open(tmp_path / "plain")
    (tmp_path / "plain" / "config.json").write_text('{"seed": 1,')
    with pytest.raises(UserError, match="config file .*config.json is corrupt JSON"):
        RunDir.open(tmp_path / "plain")


def test_new_run_id_and_provenance(tmp_path):
    from datetime import datetime

    when = datetime(2026, 11, 26, 1, 30, 5)
    first = new_run_id("shufflenet", "evolution", root=tmp_path, now=when)
    assert first == "20261126-013005-shufflenet-evolution"
    (tmp_path / first).mkdir()
    second = new_run_id("shufflenet", "evolution", root=tmp_path, now=when)
    assert second.startswith(first + "-") and second != first
    info = provenance()
    assert info["git_commit"] is None or len(info["git_commit"]) == 40


# --- summary, Pareto front, plots, tables ------------------------------------------------------------


def test_summarize_best_and_order():
    records = [rec(0, 50.0), rec(1, 70.0), rec(2, 60.0), rec(3, 70.0)]
    summary = summarize(records, top_k=3)
    assert summary["evaluations"] == 4
    assert summary["best"]["step"] == 1  # tie on 70.0: the earlier step wins
    assert [r["step"] for r in summary["top"]] == [1, 3, 2]
    assert summarize([])["best"] is None


def test_pareto_front_hand_made():
    records = [
        rec(0, 60.0, flops=100), rec(1, 70.0, flops=200), rec(2, 65.0, flops=250),  # 2 dominated by 1
        rec(3, 75.0, flops=400), rec(4, 55.0, flops=100), rec(5, 75.0, flops=500),  # 4 by 0, 5 by 3
        rec(6, 80.0, flops=900),
    ]
    assert [r["step"] for r in pareto_front(records)] == [0, 1, 3, 6]
    assert pareto_front([]) == []


def test_plots_write_png(tmp_path):
    records = [rec(i, 40.0 + (i * 7) % 30, flops=(i + 1) * 10_000_000) for i in range(30)]
    for plot, name in [(plot_progress, "progress.png"), (plot_pareto, "pareto.png")]:
        plot(records, tmp_path / name)
        plot([], tmp_path / ("empty-" + name))
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / ("empty-" + name)).stat().st_size > 0


def test_tables(tmp_path):
    table = format_table(["name", "n"], [["a", 1], ["longer", 100]])
    assert table.splitlines() == ["name      n", "------  ---", "a         1", "longer  100"]

    top = top_table([rec(0, 50.0, flops=320_000_000, params=3_400_000), rec(1, 70.25)], k=5)
    lines = top.splitlines()
    assert lines[0].split() == ["rank", "val_acc", "MFLOPs", "Mparams", "arch", "hash"]
    assert lines[2].split()[:2] == ["1", "70.25"] and "h0001" in lines[2]
    assert "320.0" in lines[3] and "3.40" in lines[3]

    run = RunDir.create(tmp_path / "20261126-013005-toy-random", {"space": {"name": "toy"}, "strategy": "random"})
    write_lines(run.evaluations, [rec(0, 12.5), rec(1, 33.0)])
    (tmp_path / "not-a-run").mkdir()
    listing = runs_table(tmp_path)
    assert "not-a-run" not in listing
    row = listing.splitlines()[2].split()
    assert row[:7] == ["20261126-013005-toy-random", "search", "toy", "random", "2/?", "stopped", "33.00"]
    assert runs_table(tmp_path / "not-a-run").startswith("no runs under")


def test_a_line_written_twice_is_read_once_and_a_conflicting_copy_is_refused(tmp_path):
    """A duplicated last line gave 36 records for a budget of 35 on resume."""
    path = tmp_path / "evaluations.jsonl"
    records = [rec(i, 50.0 + i) for i in range(3)]
    lines = [json.dumps(r) for r in records]
    path.write_text("\n".join(lines + [lines[-1]]) + "\n")
    with pytest.warns(ArchiveWarning, match="a copy of line 3"):
        assert read_records(path) == records
    other = {**records[1], "metrics": {**records[1]["metrics"], "val_acc": 99.0}}
    path.write_text("\n".join(lines + [json.dumps(other)]) + "\n")
    with pytest.raises(UserError, match="line 4 .* a second record of the architecture of line 2"):
        read_records(path)
    with pytest.warns(ArchiveWarning, match="skipped"):
        assert read_records(path, strict=False) == records
