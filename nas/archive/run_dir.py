"""One search run on disk: `runs/<run-id>/` and where each of its files lives.

The layout is the contract between the runner, the CLI (`nas search/resume/show/runs`) and the
predictors, which read archives across runs:

    config.json           resolved config, with "provenance" (nas version, git commit, python,
                          torch, created) and the seed; a supernet trained elsewhere is
                          referenced from here instead of copied to supernet.pt
    evaluations.jsonl     one record per evaluated architecture (see `records.py`), append-only
    strategy_state.json   the strategy's save() state, RNG included (+ strategy_tensors.pt)
    supernet.pt           the supernet weights this run evaluated with
    summary.json          best architecture and metrics, top-k (`summary.py`)
    progress.png          best val accuracy so far vs evaluations (`plots.py`)
    pareto.png            val accuracy vs FLOPs with the Pareto front
    front.png             a search of two objectives (nsga2): its front, every point, the random baseline

A directory is a run exactly when it holds a readable config.json; that is what `open` checks.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import nas
from nas.archive import lock
from nas.archive.atomic import write_json_atomic
from nas.archive.records import RecordWriter, read_records
from nas_common.errors import UserError
from nas_common.json_files import read_json_object
from nas_common.objective import Objective


class RunDir:
    """Paths and small readers for one run directory; holds no state besides its path."""

    def __init__(self, path: str | os.PathLike) -> None:
        # Prefer `create` / `open`, which check the directory; this only names it.
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.json"

    @property
    def evaluations(self) -> Path:
        return self.path / "evaluations.jsonl"

    @property
    def strategy_state(self) -> Path:
        return self.path / "strategy_state.json"

    @property
    def strategy_tensors(self) -> Path:
        return self.path / "strategy_tensors.pt"

    @property
    def summary(self) -> Path:
        return self.path / "summary.json"

    @property
    def supernet(self) -> Path:
        return self.path / "supernet.pt"

    @property
    def progress_plot(self) -> Path:
        return self.path / "progress.png"

    @property
    def pareto_plot(self) -> Path:
        return self.path / "pareto.png"

    @classmethod
    def create(cls, path: str | os.PathLike, config: dict[str, Any]) -> "RunDir":
        """Make a new run directory and write its config (with provenance added if absent).

        An existing non-empty directory is refused: it may hold another run's records, and a new
        search must never overwrite or interleave with them.
        """
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise UserError(f"{path} exists and is not a directory; choose another --out")
        def refuse_if_taken() -> None:
            if path.is_dir() and any(p.name != lock.LOCK_NAME for p in path.iterdir()):
                raise UserError(f"{path} already exists and is not empty; use --resume {path} to continue that "
                                "run, or choose another --out")

        refuse_if_taken()
        existed = path.is_dir()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"cannot create the run directory {path}: {err.strerror}; choose another --out") from None
        run = cls(path).lock()
        try:  # again under the lock: of two commands given one --out, the second stops here
            refuse_if_taken()
        except UserError:
            lock.release(path)
            (path / lock.LOCK_NAME).unlink(missing_ok=True)
            raise
        _started.append((path, existed))
        config = dict(config)
        config.setdefault("provenance", provenance())
        try:
            write_json_atomic(run.config, config)
        except OSError as err:
            raise UserError(f"cannot write {run.config}: {err.strerror}; choose another --out") from None
        return run

    def lock(self) -> "RunDir":
        """Hold this run's writer lock for the rest of the command (`nas.archive.lock`)."""
        lock.acquire(self.path)
        return self

    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunDir":
        """An existing run directory; its config.json must exist and parse."""
        path = Path(path)
        if not path.exists():
            raise UserError(f"{path} does not exist; check the path (runs live under runs/<run-id>/)")
        run = cls(path)
        if not path.is_dir() or not run.config.is_file():
            raise UserError(f"{path} is not a run directory (no config.json); pass a runs/<run-id>/ directory")
        run.read_config()  # fail now, with the file named, rather than deep inside a resume
        return run

    def read_config(self) -> dict[str, Any]:
        return read_json_object(self.config, what="config", fix="fix it by hand or start a new run")

    def read_strategy_state(self) -> dict[str, Any] | None:
        """The saved strategy state, or None when the run has not saved one yet."""
        if not self.strategy_state.exists():
            return None
        return read_json_object(self.strategy_state, what="strategy state", fix="fix it by hand or start a new run")

    def objective(self) -> Objective:
        """What the run optimises (config.json's "objective"; runs written before it: val_acc, max)."""
        return Objective.of_run(self.read_config())

    def read_records(self, *, strict: bool = True) -> list[dict[str, Any]]:
        return read_records(self.evaluations, strict=strict, missing_ok=True, objective=self.objective())

    def record_writer(self) -> RecordWriter:
        return RecordWriter(self.evaluations, self.objective())


# Run directories created by the current command, and whether the directory was there before (empty).
_started: list[tuple[Path, bool]] = []
_BOOKKEEPING = {"config.json", lock.LOCK_NAME}


def discard_failed_starts() -> list[Path]:
    """After a command failed: remove the run directories it created that hold nothing recorded
    (only config.json), so the same command can simply be run again. Returns what was removed."""
    removed = []
    for path, existed in reversed(_started):
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []
        if any(_recorded(p, path) for p in files):
            continue  # something was recorded (a checkpoint, a record): keep it for --resume
        lock.release(path)
        for item in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            item.unlink() if item.is_file() else item.rmdir()
        if not existed:
            path.rmdir()
        removed.append(path)
    _started.clear()
    return removed


def _recorded(file: Path, run: Path) -> bool:
    """Whether `file` holds work a resume would use: not bookkeeping, not an empty log opened before
    the failure, not TensorBoard's event files (a copy of what the records hold), not a strategy's
    state before its first record, not a random baseline of no architecture."""
    if file.name in _BOOKKEEPING or "tensorboard" in file.relative_to(run).parts:
        return False
    try:
        if file.stat().st_size == 0:
            return False
        if file.name == "strategy_state.json" and file.parent == run:
            log = run / "evaluations.jsonl"
            return log.is_file() and log.stat().st_size > 0
        if file.name == "random_baseline.json" and file.parent == run:
            return json.loads(file.read_text()).get("count", 1) > 0
    except (OSError, ValueError, AttributeError):
        return True  # unreadable: keep it, never delete what might be work
    return True


def forget_started() -> None:
    """The command succeeded: its run directories stay."""
    _started.clear()


def new_run_id(
    space: str, strategy: str, *, root: str | os.PathLike = "runs", now: datetime | None = None
) -> str:
    """A sortable, readable id like `20261126-013005-shufflenet-evolution`.

    A short random suffix is added when that id is already taken under `root` (two runs started
    in the same second), so two runs never share a directory.
    """
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{_slug(space)}-{_slug(strategy)}"
    run_id = base
    while (Path(root) / run_id).exists():
        run_id = f"{base}-{secrets.token_hex(2)}"
    return run_id


def _slug(name: str) -> str:
    # Names come from registries and are tame, but an id must be one safe path component.
    return re.sub(r"[^A-Za-z0-9_.]+", "_", name).strip("._") or "x"


def provenance() -> dict[str, Any]:
    """What produced a run, so a result can be traced to code: versions, commit, creation time."""
    try:
        torch_version: str | None = metadata.version("torch")  # without importing torch
    except metadata.PackageNotFoundError:
        torch_version = None
    return {
        "nas_version": nas.__version__,
        "git_commit": _git_commit(),
        "python": platform.python_version(),
        "torch": torch_version,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _git_commit() -> str | None:
    repo = Path(nas.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=repo, capture_output=True, text=True, timeout=5, check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None  # no git, or it hung: provenance is best-effort, a run must not fail for it
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2:
        return None
    # An installed copy of nas inside some other repository (a venv in a user's project) must not
    # report that project's commit as ours.
    if Path(lines[0]).resolve() != repo:
        return None
    return lines[1]
