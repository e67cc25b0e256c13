"""The faults a long search meets, each through the real command line: a full disk, Ctrl-C and
`kill`, a damaged checkpoint, and readers while a search writes. Nothing recorded is lost, nothing
half written is read, the message is one line, and --resume ends where an uninterrupted run ends.
(A Ray worker killed mid-search is tests/test_distributed.py::test_killed_actor_loses_and_duplicates_nothing.)"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from nas.archive import RecordWriter, read_records

try:
    from tests.conftest import needs_subset, run_main
except ImportError:
    from conftest import needs_subset, run_main

REPO = Path(__file__).resolve().parents[1]
TABLE = ["search", "--space", "nb201", "--evaluator", "table", "--strategy", "evolution", "-o", "population=8",
         "-o", "sample_size=3", "-o", "mode=regularized", "--budget", "40", "--quiet"]
def training(steps: int = 8, every: int = 2) -> list[str]:
    return ["train-supernet", "--space", "shufflenet", "--width", "0.25", "-S", "stage_repeats=[1,1,1,1]",
            "--data", "cifar10-subset", "--val-size", "100", "--train-limit", "256", "--steps", str(steps),
            "--checkpoint-every", str(every), "--batch-size", "16", "--quiet"]


TRAIN = training()


def without_wall(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "wall_s"} for r in records]


class FullDisk:
    """A log file on a disk that fills up: the first half of the next line reaches it, then ENOSPC."""

    def __init__(self, file, path) -> None:
        self.file, self.path = file, path

    def write(self, data) -> int:
        self.file.write(bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path))

    def fileno(self) -> int:
        return self.file.fileno()

    def close(self) -> None:
        self.file.close()


def full_disk_after(count: int):
    """The disk fills up at the `count` + 1-th append to a record log."""
    calls = [0]
    append = RecordWriter.append

    def failing(self, record):
        calls[0] += 1
        if calls[0] > count and not isinstance(self._file, FullDisk):
            self._file = FullDisk(self._file, self.path)
        return append(self, record)

    return failing


def test_a_full_disk_while_writing_records_loses_nothing_and_resume_finishes(tmp_path, monkeypatch, capsys):
    assert run_main([*TABLE, "--out", tmp_path / "whole"])[0] == 0
    capsys.readouterr()
    out = tmp_path / "full"
    with monkeypatch.context() as patch:
        patch.setattr(RecordWriter, "append", full_disk_after(12))
        code, _ = run_main([*TABLE, "--out", out])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "No space left on device" in err[-1] and "--resume" in err[-1] and len(err) <= 2
    kept = (out / "evaluations.jsonl").read_bytes()
    assert kept.endswith(b"\n") and len(kept.splitlines()) == 12  # the torn line was cut back
    assert [json.loads(line) for line in kept.splitlines()]  # every line a whole record
    # space freed: the search resumes and ends exactly as the uninterrupted one
    assert run_main(["search", "--resume", out, "--quiet"])[0] == 0
    assert without_wall(read_records(out / "evaluations.jsonl")) == without_wall(
        read_records(tmp_path / "whole" / "evaluations.jsonl"))


@needs_subset
def test_a_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from nas.archive import atomic
    from nas.supernet.checkpoint import load_checkpoint

    assert run_main([*TRAIN, "--out", tmp_path / "whole"])[0] == 0
    capsys.readouterr()
    out = tmp_path / "full"
    saves = [0]
    write_temp = atomic._write_temp

    def failing(path, write):
        if path.name.startswith("supernet.pt"):
            saves[0] += 1
            if saves[0] > 2:  # the checkpoint of step 4 and its checksum are written; step 6's is not
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return write_temp(path, write)

    with monkeypatch.context() as patch:
        patch.setattr(atomic, "_write_temp", failing)
        code, _ = run_main([*TRAIN, "--out", out])
    assert code == 2 and "No space left on device" in capsys.readouterr().err
    assert load_checkpoint(out / "supernet.pt")["step"] in (2, 4)  # the last good one, checksum intact
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    assert run_main([*TRAIN, "--out", out])[0] == 0  # resumed with the same settings
    whole, resumed = load_checkpoint(tmp_path / "whole" / "supernet.pt"), load_checkpoint(out / "supernet.pt")
    assert resumed["step"] == whole["step"] == 8
    assert all(torch.equal(whole["model"][k], resumed["model"][k]) for k in whole["model"])


@needs_subset
@pytest.mark.parametrize("damage", ["truncated", "bit-flipped"])
def test_a_damaged_checkpoint_is_refused_by_name_never_loaded(tmp_path, capsys, damage):
    run = tmp_path / "sn"
    assert run_main([*training(2), "--out", run])[0] == 0
    checkpoint = run / "supernet.pt"
    data = bytearray(checkpoint.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x10  # one bit inside the weights: torch.load alone would not notice
    checkpoint.write_bytes(bytes(data))
    code, _ = run_main(["search", "--supernet", run, "--strategy", "random", "--budget", "2", "--force", "--quiet",
                        "--out", tmp_path / "search"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and f"supernet checkpoint {checkpoint} is damaged" in message and "SHA-256" in message


def _nas(args: list, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nas", *map(str, args)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def _nas_done(args: list) -> None:
    """A whole run in a process of its own, like the one that is stopped: the same thread count,
    so the same arithmetic (a test process may run torch on fewer threads)."""
    process = _nas(args)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err


def _wait_for(predicate, timeout: float = 120.0) -> None:
    ends = time.time() + timeout
    while not predicate():
        if time.time() > ends:
            raise AssertionError("timed out")
        time.sleep(0.05)


@needs_subset
def test_a_stopped_search_says_so_is_listed_stopped_and_resumes_exactly(tmp_path):
    """Mid-search: a search on a trained supernet, stopped by Ctrl-C once some records exist (`kill`
    takes the same path: the training below is stopped by it)."""
    supernet = tmp_path / "sn"
    assert run_main([*training(2), "--out", supernet])[0] == 0
    search = ["search", "--supernet", supernet, "--strategy", "random", "--budget", "30", "--random-baseline", "5",
              "--val-images", "50", "--calibration-images", "32", "--confirm-images", "20", "--force", "--quiet"]
    _nas_done([*search, "--out", tmp_path / "whole"])
    out = tmp_path / "halted"
    process = _nas([*search, "--out", out])
    log = out / "evaluations.jsonl"
    _wait_for(lambda: log.is_file() and len(log.read_bytes().splitlines()) >= 3)
    listed = subprocess.run([sys.executable, "-m", "nas", "runs", "list", tmp_path], cwd=REPO, capture_output=True,
                            text=True).stdout
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted; everything recorded so far is on disk" in err
    assert "Traceback" not in err
    assert " running " in next(line for line in listed.splitlines() if line.startswith("halted"))  # while it ran
    after = subprocess.run([sys.executable, "-m", "nas", "runs", "list", tmp_path], cwd=REPO, capture_output=True,
                           text=True).stdout
    assert " stopped " in next(line for line in after.splitlines() if line.startswith("halted"))
    _nas_done(["search", "--resume", out, "--quiet"])
    assert without_wall(read_records(log)) == without_wall(read_records(tmp_path / "whole" / "evaluations.jsonl"))


@needs_subset
def test_a_killed_training_resumes_to_the_same_weights(tmp_path):
    """Mid-training: `kill` after the first checkpoint; --resume ends on the uninterrupted weights."""
    from nas.supernet.checkpoint import load_checkpoint

    train = training(40)
    _nas_done([*train, "--out", tmp_path / "whole"])
    out = tmp_path / "killed"
    process = _nas([*train, "--out", out])
    _wait_for(lambda: (out / "supernet.pt.sha256").is_file())
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert load_checkpoint(out / "supernet.pt")["step"] < 40
    _nas_done([*train, "--out", out])
    whole, resumed = load_checkpoint(tmp_path / "whole" / "supernet.pt"), load_checkpoint(out / "supernet.pt")
    assert all(torch.equal(whole["model"][k], resumed["model"][k]) for k in whole["model"])


def test_a_reader_never_sees_half_a_record(tmp_path):
    """One writer appending, readers reading as fast as they can: every read is whole records,
    never fewer than the last read, never an error."""
    path = tmp_path / "evaluations.jsonl"
    big = "x" * 5000  # lines longer than a pipe buffer: a torn read would show
    done = threading.Event()
    problems: list[str] = []

    def read_all() -> None:
        seen = 0
        while not done.is_set():
            try:
                records = read_records(path, strict=True, missing_ok=True)
            except Exception as err:  # noqa: BLE001 - any failure is the finding
                problems.append(repr(err))
                return
            if len(records) < seen or any(r["metrics"].get("pad") != big for r in records):
                problems.append(f"{len(records)} after {seen}")
            seen = len(records)

    readers = [threading.Thread(target=read_all) for _ in range(2)]
    for reader in readers:
        reader.start()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a reader may meet the newest line half written: skipped, said
        with RecordWriter(path) as writer:
            for step in range(300):
                writer.append({"arch": {"space": "nb201", "choices": [step % 5] * 6}, "arch_hash": f"h{step}",
                               "metrics": {"val_acc": 50.0, "pad": big}, "step": step})
    done.set()
    for reader in readers:
        reader.join()
    assert problems == [] and len(read_records(path)) == 300
