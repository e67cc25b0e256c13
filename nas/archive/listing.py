"""What `nas runs list` shows: every run under a folder (subfolders too), damaged ones included.

A run is a directory holding `config.json`; the walk does not descend into runs (a search's
`supernet/` is part of it). One unreadable file marks its run as damaged and says why; it never
hides the other runs, and nothing is written.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from nas.archive.records import read_records
from nas.archive.run_dir import RunDir
from nas.archive.summary import ranked
from nas_common.errors import UserError
from nas_common.objective import Objective

MAX_DEPTH = 4  # runs/<group>/<run>/ and a little deeper; never a whole disk


def find_runs(root: str | os.PathLike) -> list[Path]:
    """Run directories under `root` (itself included), sorted by path."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; pass the folder that holds your runs (default runs/)")
    found = []
    for folder, subfolders, files in os.walk(root):
        depth = len(Path(folder).relative_to(root).parts)
        if "config.json" in files:
            found.append(Path(folder))
            subfolders.clear()  # a run's own subfolders (supernet/, backbone/) belong to it
        elif depth >= MAX_DEPTH:
            subfolders.clear()
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
    return sorted(found)


def run_info(path: Path, root: Path) -> dict[str, Any]:
    """One run's row: kind, space, strategy, progress, best, test figure; `problem` when damaged."""
    info: dict[str, Any] = {"run": str(path.relative_to(root)) if path != root else str(path), "path": str(path),
                            "kind": "-", "space": "-", "strategy": "-", "evaluations": None, "budget": None,
                            "finished": None, "running": False, "best": None, "test": None, "objective": None,
                            "created": None, "problem": None}
    try:
        config = RunDir(path).read_config()
    except UserError as err:
        info["problem"] = str(err)
        return info
    provenance = config.get("provenance") if isinstance(config.get("provenance"), dict) else {}
    kind = config.get("kind", "search" if "strategy" in config else "-")  # runs from before "kind"
    info.update(kind=str(kind), space=_name(config.get("space")),
                strategy=_name(config.get("strategy")), created=provenance.get("created"))
    if info["kind"] != "search":
        return info
    try:
        objective = Objective.of_run(config)
        records = read_records(path / "evaluations.jsonl", strict=False, missing_ok=True, objective=objective)
    except (UserError, OSError, ValueError) as err:
        info["problem"] = f"evaluations.jsonl: {getattr(err, 'strerror', None) or err}"
        return info
    budget = config.get("budget") or _strategy_budget(path)
    unique = len({r["arch_hash"] for r in records})
    info.update(evaluations=unique, budget=budget, objective=f"{objective.metric} ({objective.direction})",
                finished=_finished(path, len(records)), running=being_written(path))
    if records:
        best = ranked(records, objective)[0]
        info["best"] = objective.value(best["metrics"])
        test = next((v for k, v in best["metrics"].items() if k.startswith("test_")
                     and k in ("test_acc", "test_mAP")), None)
        info["test"] = test if test is None or math.isfinite(test) else None
    return info


def _strategy_budget(path: Path) -> int | None:
    """A run that set no --budget searches what its strategy's settings come to (evolution:
    population + generations x children), saved in strategy_state.json; None when unknown."""
    try:
        budget = json.loads((path / "strategy_state.json").read_text())["state"]["budget"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def _finished(path: Path, records: int) -> bool:
    """A search writes summary.json when it ends; a later --resume that added records reopens it."""
    try:
        summary = json.loads((path / "summary.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(summary, dict) and summary.get("evaluations") == records


def being_written(path: Path) -> bool:
    """Whether a live nas process holds the run's lock (`nas.archive.lock`): its pid, written in
    `.lock`, is alive and runs nas. Read without taking the lock, so a reader never blocks a writer."""
    try:
        pid = int((path / ".lock").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return False
    if pid == os.getpid():
        return False  # this process: a reader in a command that also writes
    try:
        return "nas" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # no /proc (macOS): a live pid is the best we know


def list_runs(root: str | os.PathLike) -> list[dict[str, Any]]:
    root = Path(root)
    return [run_info(path, root) for path in find_runs(root)]


def _name(value: Any) -> str:
    # The config may hold a component as its name or as its resolved config with a "name" key.
    if isinstance(value, dict):
        value = value.get("name")
    return "-" if value is None else str(value)
