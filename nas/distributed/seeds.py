"""Several seeds of one search as parallel Ray Tune trials (`nas search --seeds N`).

Each seed is an ordinary search run directory, created before the experiment starts; a trial
runs the search on it (`search`, given by `nas.workflows.seeds`: this package does not know the search
engine), which resumes whatever the run already holds (records, a supernet or DARTS
checkpoint). So a stopped group is continued by running the trials again: finished runs return
at once. Needs a connected Ray (`cluster.connect`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Callable

import torch
from ray import tune


def search_trial(config: dict[str, Any], search: Callable[[str], dict[str, float]]) -> None:
    """The Tune trainable: run (or finish) the search in `config["run"]`, report what it returns."""
    torch.set_num_threads(config["threads"])  # one per CPU Ray gave the trial
    tune.report(search(config["run"]))


def run_seed_searches(group: Path, runs: list[Path], search: Callable[[str], dict[str, float]], *, workers: int,
                      gpus_per_worker: float) -> dict[str, Any]:
    """Run every search of `runs` as a trial, `workers` at a time; the last report of each, by run
    name, or the error that stopped it (`{"error": ...}`)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    storage = Path(group).resolve() / "tune"
    shutil.rmtree(storage / "seeds", ignore_errors=True)  # bookkeeping only: the runs hold the state
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(search_trial, search=search), {"cpu": 1, "gpu": gpus_per_worker}),
        param_space={"run": tune.grid_search([str(Path(r).resolve()) for r in runs]), "threads": 1},
        tune_config=tune.TuneConfig(max_concurrent_trials=workers,
                                    trial_dirname_creator=lambda t: Path(t.config["run"]).name,
                                    trial_name_creator=lambda t: Path(t.config["run"]).name),
        run_config=tune.RunConfig(name="seeds", storage_path=str(storage), verbose=0,
                                  failure_config=tune.FailureConfig(max_failures=0)))
    out = {}
    for result in tuner.fit():
        name = Path(result.config["run"]).name
        if result.error is not None:
            out[name] = {"error": (str(result.error).strip().splitlines() or ["failed"])[-1]}
        else:
            out[name] = dict(result.metrics or {})
    return out
