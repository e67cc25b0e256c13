"""The evaluation log `evaluations.jsonl`: append-only, one JSON object per line, crash-safe.

Each evaluated architecture is one line, written with a single write and fsynced before `append`
returns, so a kill -9 loses at most the evaluation in flight and leaves at worst one partial last
line. Readers skip such a line with a warning; the writer, on re-open, moves it to
`<path>.truncated` (appending, so nothing recorded is ever deleted) and cuts the log back to its
last complete line, so a resumed run goes on writing clean lines.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from nas_common.errors import UserError
from nas_common.objective import VAL_ACC, Objective

if TYPE_CHECKING:
    # Not imported at run time: importing `search_spaces` loads torch and every space, and readers
    # of archives (predictors, `nas runs`) need neither.
    from search_spaces.arch import Arch

REQUIRED_KEYS = ("arch", "arch_hash", "metrics")


class ArchiveWarning(UserWarning):
    """Damage found and worked around in a run archive (partial or skipped lines)."""


def make_record(
    arch: "Arch | Mapping[str, Any]",
    metrics: Mapping[str, float],
    *,
    flops: int,
    params: int,
    step: int,
    wall_s: float,
    objective: Objective = VAL_ACC,
    **extra: Any,
) -> dict[str, Any]:
    """One evaluation as a JSON-able record; `extra` keys (e.g. `worker`, `epoch`) ride along.
    `metrics` must hold the run's objective."""
    if isinstance(arch, Mapping):
        from search_spaces.arch import Arch

        arch = Arch.from_dict(dict(arch))
    if objective.metric not in metrics:
        raise ValueError(f"metrics must include {objective.metric!r} (the objective); got keys {sorted(metrics)}")
    clash = set(extra) & {"arch", "arch_hash", "metrics", "flops", "params", "step", "wall_s"}
    if clash:
        raise ValueError(f"extra keys {sorted(clash)} would overwrite standard record fields")
    record: dict[str, Any] = {
        "arch": arch.to_dict(),
        "arch_hash": arch.hash,
        # float(): numpy/torch scalars are not JSON-serialisable.
        "metrics": {k: float(v) for k, v in metrics.items()},
        "flops": int(flops),
        "params": int(params),
        "step": int(step),
        "wall_s": float(wall_s),
    }
    record.update(extra)
    return record


def record_problem(record: Any, objective: Objective = VAL_ACC) -> str | None:
    """Why `record` is not a usable evaluation record of a run with `objective`, or None if it is."""
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        return f"missing key(s) {', '.join(missing)}"
    if not isinstance(record["arch"], dict):
        return '"arch" is not a JSON object'
    if not isinstance(record["arch_hash"], str):
        return '"arch_hash" is not a string'
    metrics = record["metrics"]
    name = objective.metric
    if not isinstance(metrics, dict) or name not in metrics:
        return f'"metrics" has no "{name}"'
    value = metrics[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f'"metrics.{name}" is not a number'
    return None


class RecordWriter:
    """Appends records to a JSONL file, one fsynced line each; repairs a torn last line on open."""

    def __init__(self, path: str | os.PathLike, objective: Objective = VAL_ACC) -> None:
        self.path = Path(path)
        self.objective = objective
        self._repair_tail()
        # Unbuffered binary append: each record goes to the OS in one write, at the end of the file.
        self._file = open(self.path, "ab", buffering=0)

    def _repair_tail(self) -> None:
        # Mirrors `read_records`, which skips an unparsable last line: left in place, that line
        # would sit in the middle of the log after the next append and make it unreadable.
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        body = data[:-1] if data.endswith(b"\n") else data
        cut = body.rfind(b"\n") + 1  # start of the last line; 0 when there is only one
        last = body[cut:]
        if not last.strip() or _parses(last):
            if data and not data.endswith(b"\n"):
                # Only the newline is missing (a hand-edited file): keep the record, end its line.
                self._fsynced_write(self.path, b"\n")
            return
        aside = self.path.with_name(self.path.name + ".truncated")
        # Save the partial line first, then truncate: a crash in between leaves the line in both
        # places, never in neither.
        self._fsynced_write(aside, last + b"\n")
        with open(self.path, "r+b") as f:
            f.truncate(cut)
            f.flush()
            os.fsync(f.fileno())
        warnings.warn(
            f"{self.path} ended with a partial line ({len(last)} bytes, from an interrupted "
            f"write); moved it to {aside} and continuing after the last complete record",
            ArchiveWarning,
            stacklevel=3,
        )

    @staticmethod
    def _fsynced_write(path: Path, data: bytes) -> None:
        with open(path, "ab") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    def append(self, record: Mapping[str, Any]) -> None:
        """Write `record` as one line and fsync, so it survives a crash right after this returns."""
        problem = record_problem(dict(record), self.objective)
        if problem:
            raise ValueError(f"refusing to write a record that readers would reject: {problem}")
        # json.dumps escapes newlines inside strings, so a record is always exactly one line.
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        start = os.lseek(self._file.fileno(), 0, os.SEEK_END)
        view = memoryview(line)
        try:
            while view:  # os.write may write less than asked (rare for files, but allowed)
                view = view[self._file.write(view) :]
            os.fsync(self._file.fileno())
        except OSError:
            # A full disk mid-line: cut the log back to its last complete record, so nothing half
            # written is left for a reader (the record is evaluated again on --resume).
            try:
                os.ftruncate(self._file.fileno(), start)
            except OSError:
                pass  # the reader and --resume still skip a torn last line
            raise

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def read_records(
    path: str | os.PathLike, *, strict: bool = True, missing_ok: bool = False, objective: Objective = VAL_ACC
) -> list[dict[str, Any]]:
    """All records of a JSONL log, in file order.

    An unparsable last line is the signature of a crash mid-write and is skipped with a warning.
    Damage anywhere else means the file was edited or broken: with `strict` it raises `UserError`
    (a search must not resume from a log it cannot trust); without, the line is skipped with a
    warning (predictor training wants every usable record from many archives).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return []
        raise UserError(f"{path} does not exist; check the run directory path") from None
    except OSError as err:  # a folder in its place, no permission
        raise UserError(f"{path} cannot be read ({err.strerror}); restore the run's evaluation log") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the empty string after the final newline is not a line
    records: list[dict[str, Any]] = []
    seen: dict[str, tuple[int, bytes]] = {}  # arch hash -> (line, bytes) of its record
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue  # blank lines (e.g. from hand-editing) carry no record
        is_last = number == len(lines)
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            if is_last:
                warnings.warn(
                    f"skipping the partial last line {number} of {path} (interrupted write?)",
                    ArchiveWarning,
                    stacklevel=2,
                )
                continue
            _reject(path, number, f"not valid JSON ({_reason(err)})", strict)
            continue
        problem = record_problem(record, objective)
        if problem:
            _reject(path, number, problem, strict)
            continue
        key = record.get("arch_hash") if isinstance(record, dict) else None
        if isinstance(key, str) and key in seen:
            earlier, earlier_raw = seen[key]
            if earlier_raw.strip() == raw.strip():  # a line written twice: the copy carries nothing new
                warnings.warn(f"skipping line {number} of {path}: a copy of line {earlier}", ArchiveWarning,
                              stacklevel=2)
                continue
            _reject(path, number, f"a second record of the architecture of line {earlier} ({key}) with other "
                                  "figures", strict)
            continue
        if isinstance(key, str):
            seen[key] = (number, raw)
        records.append(record)
    return records


def _reason(err: Exception) -> str:
    return f"{err.msg} at column {err.colno}" if isinstance(err, json.JSONDecodeError) else str(err)


def _reject(path: Path, number: int, problem: str, strict: bool) -> None:
    message = f"line {number} of {path} is corrupt: {problem}; fix or remove that line"
    if strict:
        raise UserError(message)
    warnings.warn(message + " (skipped)", ArchiveWarning, stacklevel=3)


def val_acc(record: Mapping[str, Any]) -> float:
    """The record's validation accuracy; NaN (a diverged evaluation) ranks below every number.
    (Ranking code uses `Objective.record_utility`; this reads classification records.)"""
    return VAL_ACC.record_utility(record)
