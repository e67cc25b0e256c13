"""What the dashboard shows, as JSON, read from run directories through the archive's readers.

Read-only and bounded: a run is found only among the runs listed under the root (a request names
a run by its listed id, never by a path), a run whose directory leads outside the root (a symlink)
is not listed, a file over `MAX_FILE_BYTES` is reported instead of read, and one damaged run is an
error on its own row while the others show. Records are cut at `MAX_RECORDS` (said in the payload).
A cache keyed by each file's size and modification time keeps polling cheap: a record appended by
a running search changes the size, so the next poll reads it.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings
from pathlib import Path
from typing import Any

from nas.archive.listing import find_runs, run_info
from nas.archive.records import read_records
from nas.archive.summary import ranked
from nas_common.errors import UserError
from nas_common.objective import Objective

MAX_FILE_BYTES = 256 * 2**20  # the largest run file the dashboard reads
MAX_RECORDS = 20_000  # records sent for one run page (the best ones kept when cut)
FILES = ("config.json", "summary.json", "evaluations.jsonl", "random_baseline.json", "supernet/training.jsonl",
         "training.jsonl", "rank_check.json")


class RunNotFound(LookupError):
    pass


def _size_problem(path: Path) -> str | None:
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size > MAX_FILE_BYTES:
        return (f"{path.name} is {size / 2**20:,.0f} MiB, over the {MAX_FILE_BYTES / 2**20:,.0f} MiB the dashboard "
                "reads; inspect it with `nas runs show`")
    return None


def _read_json(path: Path) -> tuple[Any, str | None]:
    """(value, problem): None and no problem when the file is absent."""
    problem = _size_problem(path)
    if problem:
        return None, problem
    try:
        return json.loads(path.read_text()), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError) as err:
        return None, f"{path.name}: {getattr(err, 'strerror', None) or err}"


def _read_jsonl(path: Path) -> tuple[list[dict], str | None]:
    """Lines of a JSON-lines log that parse (a partial last line is a write in progress)."""
    problem = _size_problem(path)
    if problem:
        return [], problem
    try:
        text = path.read_text()
    except FileNotFoundError:
        return [], None
    except OSError as err:
        return [], f"{path.name}: {err.strerror}"
    rows = []
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows, None


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        else None


def _status(info: dict[str, Any]) -> str:
    if info["problem"]:
        return "damaged"
    if info["running"]:
        return "running"
    if info["kind"] != "search" or info["finished"]:
        return "done"
    return "stopped"


def _verdict(summary: Any) -> dict[str, Any] | None:
    verdict = summary.get("verdict") if isinstance(summary, dict) else None
    if not isinstance(verdict, dict):
        return None
    better, basis = bool(verdict.get("better_than_random")), verdict.get("basis")
    label = ("confirmed better than random" if better and basis == "confirmation" else
             "better than random (selection allowed)" if better else
             "not confirmed" if basis == "confirmation" else "not distinguishable from random")
    return {"better": better, "basis": basis, "label": label, "text": str(verdict.get("text", ""))}


class RunsFolder:
    """The runs under one root, read on request; caches what it read while the files stay the same."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise UserError(f"{root} is not a directory; pass the folder that holds your runs (default runs/)")
        self._cache: dict[tuple[str, str], tuple[tuple, Any]] = {}

    # ---- finding runs ------------------------------------------------------------------------
    def runs(self) -> dict[str, Path]:
        """Run id (its path under the root, `.` for the root itself) -> directory; runs whose real
        directory is outside the root (a symlink out) are left out."""
        found = {}
        for path in find_runs(self.root):
            try:
                path.resolve().relative_to(self.root)
            except ValueError:
                continue
            found[path.relative_to(self.root).as_posix() if path != self.root else "."] = path
        return found

    def path_of(self, run_id: str) -> Path:
        path = self.runs().get(run_id)
        if path is None:
            raise RunNotFound(run_id)
        return path

    def _stamp(self, path: Path) -> tuple:
        stamp = []
        for name in FILES + (".lock",):
            try:
                st = (path / name).stat()
                stamp.append((name, st.st_size, st.st_mtime_ns))
            except OSError:
                stamp.append((name, None, None))
        return tuple(stamp)

    def _cached(self, kind: str, run_id: str, path: Path, build) -> Any:
        stamp = self._stamp(path)
        hit = self._cache.get((kind, run_id))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = build(run_id, path)
        self._cache[(kind, run_id)] = (stamp, value)
        return value

    # ---- the runs list -----------------------------------------------------------------------
    def listing(self) -> dict[str, Any]:
        rows = [self._cached("row", run_id, path, self._row) for run_id, path in self.runs().items()]
        return {"root": str(self.root), "runs": rows}

    def _row(self, run_id: str, path: Path) -> dict[str, Any]:
        problem = _size_problem(path / "evaluations.jsonl")
        if problem:
            info = {"run": run_id, "kind": "search", "space": "-", "strategy": "-", "evaluations": None,
                    "budget": None, "finished": None, "running": False, "best": None, "test": None,
                    "objective": None, "created": None, "problem": problem}  # a huge log is never parsed
        else:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                info = run_info(path, self.root)
            if caught and not info["problem"]:
                info["warnings"] = [str(w.message) for w in caught]
        info.pop("path", None)
        summary, summary_problem = _read_json(path / "summary.json")
        config, _ = _read_json(path / "config.json")
        info.update(id=run_id, status=_status(info), verdict=_verdict(summary),
                    evaluator=_kind(config.get("evaluator")) if isinstance(config, dict) else "-",
                    best_se=self._best_se(path, config, info))
        if summary_problem and not info["problem"]:
            info["problem"] = summary_problem
        return info

    def _best_se(self, path: Path, config: Any, info: dict[str, Any]) -> float | None:
        if info["best"] is None or not isinstance(config, dict):
            return None
        records, _, _ = self._records(path, config)
        if not records:
            return None
        objective = Objective.of_run(config)
        return _finite(ranked(records, objective)[0]["metrics"].get(f"{objective.metric}_se"))

    # ---- one run -----------------------------------------------------------------------------
    def run(self, run_id: str) -> dict[str, Any]:
        path = self.path_of(run_id)
        return self._cached("run", run_id, path, self._run)

    def _records(self, path: Path, config: dict) -> tuple[list[dict], list[str], str | None]:
        problem = _size_problem(path / "evaluations.jsonl")
        if problem:
            return [], [], problem
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                records = read_records(path / "evaluations.jsonl", strict=False, missing_ok=True,
                                       objective=Objective.of_run(config))
            except (UserError, OSError, ValueError) as err:
                return [], [], f"evaluations.jsonl: {err}"
        return records, [str(w.message) for w in caught], None

    def _run(self, run_id: str, path: Path) -> dict[str, Any]:
        row = self._row(run_id, path)
        out: dict[str, Any] = {"id": run_id, "row": row, "problems": [p for p in [row["problem"]] if p],
                               "warnings": list(row.get("warnings", []))}
        config, problem = _read_json(path / "config.json")
        if not isinstance(config, dict):
            out["problems"].append(problem or "config.json is not a JSON object")
            return out
        out["config"] = config
        objective = Objective.of_run(config)
        out["objective"] = objective.to_dict()
        summary, _ = _read_json(path / "summary.json")
        if isinstance(summary, dict):
            out["summary"] = {k: v for k, v in summary.items() if k != "top"}
            out["separability"] = _separability(summary, objective)
        records, caught, problem = self._records(path, config)
        if problem:
            out["problems"].append(problem)
        out["warnings"] = sorted(set(out["warnings"]) | set(caught))
        kept = sorted(records, key=lambda r: r.get("step", 0))
        if len(kept) > MAX_RECORDS:  # the best ones, in step order
            best = {id(r) for r in ranked(kept, objective)[:MAX_RECORDS]}
            kept = [r for r in kept if id(r) in best]
        out["truncated"] = len(records) - len(kept)
        out["records"] = [_compact(r) for r in kept]
        baseline, _ = _read_json(path / "random_baseline.json")
        out["random"] = _random_values(baseline, objective)
        for name in ("supernet/training.jsonl", "training.jsonl"):
            rows, _ = _read_jsonl(path / name)
            if rows:
                out["training"] = rows[-MAX_RECORDS:]
                break
        check, problem = _read_json(path / "rank_check.json")
        if isinstance(check, dict) and isinstance(check.get("archs"), list):
            out["rank_check"] = {k: check.get(k) for k in ("metric", "archs", "correlations", "epochs", "selection")}
        elif problem:
            out["problems"].append(problem)
        out["commands"] = _commands(run_id, self.root, config, summary)
        return out


def _kind(evaluator: Any) -> str:
    if isinstance(evaluator, dict):
        return str(evaluator.get("kind", "-"))
    return "-" if evaluator is None else str(evaluator)


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    arch = record.get("arch") if isinstance(record.get("arch"), dict) else {}
    out = {"step": record.get("step"), "hash": record.get("arch_hash"), "choices": arch.get("choices"),
           "metrics": {k: v for k, v in (record.get("metrics") or {}).items() if _finite(v) is not None}}
    for key in ("flops", "params", "latency_ms", "wall_s"):
        if _finite(record.get(key)) is not None:
            out[key] = record[key]
    return out


def _random_values(baseline: Any, objective: Objective) -> dict[str, Any] | None:
    rows = baseline.get("evaluations") if isinstance(baseline, dict) else None
    values = sorted(v for v in (_finite(r.get(objective.metric)) for r in rows or [] if isinstance(r, dict))
                    if v is not None)
    if not values:
        return None
    quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"count": len(values), "median": statistics.median(values), "q25": quartiles[0], "q75": quartiles[2]}


def _separability(summary: dict, objective: Objective) -> str | None:
    """The separability check's sentence (`nas.judging.verdict.describe_separability`), if the run made one."""
    from nas.judging.verdict import describe_separability

    sep = (summary.get("random_baseline") or {}).get("separability")
    if not isinstance(sep, dict):
        return None
    try:
        return describe_separability(sep, objective.unit)
    except (KeyError, TypeError, ValueError):
        return None


def _commands(run_id: str, root: Path, config: dict, summary: Any) -> dict[str, str]:
    """Commands a user would type next: continue the run, repeat its search, export its best."""
    where = (root / run_id).as_posix() if run_id != "." else root.as_posix()
    out = {"show": f"nas runs show {where}"}
    if config.get("kind", "search") != "search":
        return out
    parts = ["nas search", f"--space {config.get('space')}", f"--strategy {config.get('strategy')}"]
    kind = _kind(config.get("evaluator"))
    if kind != "-":
        parts.append(f"--evaluator {kind}")
    for flag, key in (("--budget", "budget"), ("--seed", "seed")):
        if config.get(key) is not None:
            parts.append(f"{flag} {config[key]}")
    for key, value in sorted((config.get("strategy_options") or {}).items()):
        parts.append(f"-o {key}={value}")
    out["repeat"] = " ".join(parts) + " --out runs/repeat"
    out["resume"] = f"nas search --resume {where}"
    if isinstance(summary, dict) and "best" in summary:
        out["export"] = f"nas export --run {where} --out best.pt"
    return out


def architecture_view(space: Any, choices: list[int]) -> dict[str, Any]:
    """What the page draws for one architecture: each decision's label and option (the space's own
    words), and the space's notation on one line."""
    from search_spaces.arch import Arch

    arch = space.validate(Arch(space.name, tuple(int(c) for c in choices)))
    return {"decisions": [[label, option] for label, option in space.describe(arch)],
            "readable": space.readable(arch), "choices": list(arch.choices)}
