"""A group of searches that differ only in their seed (`nas search --seeds N`): one ordinary run
directory per seed under the group's directory, run as parallel Ray Tune trials
(`nas.distributed.seeds`), and a table over the seeds (`seeds_summary.json`). Gradient-based
search (DARTS) is the case it is made for: one search is one trajectory, and only several seeds
say whether a result (a collapse, a guard's effect) is the method's or the seed's.
"""

from __future__ import annotations

import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from nas.archive import RunDir, write_json_atomic
from nas.archive import lock
from nas_common.errors import UserError
from nas.config.run_config import Cluster, SearchConfig

GROUP = "seeds.json"
SUMMARY = "seeds_summary.json"


def is_group(path: Path) -> bool:
    return (Path(path) / GROUP).is_file()


def create_group(out: Path, config: SearchConfig, count: int) -> list[Path]:
    """The group directory and one search run per seed (seed, seed + 1, ...); each run evaluates in
    its own process (the group's workers run seeds side by side, not evaluators)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty; choose another --out, or --resume {out}")
    out.mkdir(parents=True, exist_ok=True)
    lock.acquire(out)
    seeds = [config.seed + k for k in range(count)]
    names = [f"seed-{s}" for s in seeds]
    write_json_atomic(out / GROUP, {"kind": "seeds", "space": config.space, "strategy": config.strategy,
                                    "seeds": seeds, "runs": names})
    for seed, name in zip(seeds, names):
        RunDir.create(out / name, replace(config, seed=seed, cluster=Cluster()).to_dict())
        lock.release(out / name)  # the trial's process writes it
    return [out / name for name in names]


def open_group(out: Path) -> list[Path]:
    import json

    try:
        group = json.loads((Path(out) / GROUP).read_text())
        runs = [Path(out) / name for name in group["runs"]]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"{Path(out) / GROUP} is damaged ({type(err).__name__}); restore it") from None
    lock.acquire(out)
    missing = [str(r) for r in runs if not (r / "config.json").is_file()]
    if missing:
        raise UserError(f"the group {out} lacks the run {missing[0]}; restore it or start a new group")
    return runs


def run_group(out: Path, runs: list[Path], cluster: Cluster) -> dict[str, Any]:
    """Run (or finish) every seed's search; write and return the summary over seeds."""
    from nas.distributed.cluster import check_request, connect, resolve_workers
    from nas.distributed.seeds import run_seed_searches

    check_request(cluster.workers, cluster.gpus_per_worker, cluster.address)
    with connect(cluster.address):
        count, gpus = resolve_workers(cluster.workers, cluster.gpus_per_worker)
        results = run_seed_searches(out, runs, search_run, workers=count, gpus_per_worker=gpus)
    objective = RunDir.open(runs[0]).objective()
    summary = summarise(results, objective.metric)
    write_json_atomic(Path(out) / SUMMARY, summary)
    failed = {name: r["error"] for name, r in results.items() if "error" in r}
    if failed:
        name, error = next(iter(failed.items()))
        raise UserError(f"{len(failed)} of {len(runs)} seeds failed ({name}: {error}); "
                        f"rerun with --resume {out} to finish them")
    return summary


def search_run(path: str) -> dict[str, float]:
    """Run (or finish) the search in `path`; its best figures (what a seed's trial reports)."""
    from nas.workflows.search import execute

    outcome = execute(RunDir.open(path).lock(), quiet=True)
    best = outcome.summary["best"]
    report = {k: float(v) for k, v in best["metrics"].items() if isinstance(v, (int, float))}
    darts = outcome.summary.get("darts") or {}
    if "skip_connections" in darts:
        report["skip_connections"] = int(darts["skip_connections"])
    return {**report, "flops": int(best["flops"]), "params": int(best["params"]),
            "evaluations": int(outcome.summary["evaluations"])}


def summarise(results: dict[str, dict[str, Any]], metric: str) -> dict[str, Any]:
    rows = {name: r for name, r in sorted(results.items()) if "error" not in r}
    out: dict[str, Any] = {"metric": metric, "runs": rows}
    for key in (metric, "test_acc", "test_mAP", "skip_connections"):
        values = [float(r[key]) for r in rows.values() if key in r]
        if values:
            out[key] = {"mean": statistics.mean(values), "std": statistics.pstdev(values), "n": len(values)}
    return out


def format_summary(summary: dict[str, Any]) -> str:
    from nas.archive import format_table

    keys = [k for k in (summary["metric"], "test_acc", "test_mAP", "skip_connections")
            if any(k in r for r in summary["runs"].values())]
    rows = [[name, *(f"{r[k]:.2f}" if k in r else "-" for k in keys)] for name, r in summary["runs"].items()]
    rows.append(["mean ± std", *(f"{summary[k]['mean']:.2f} ± {summary[k]['std']:.2f}" for k in keys)])
    return format_table(["run", *keys], rows)
