"""Training data for predictors from run archives: every evaluated architecture of some runs.

Reads `evaluations.jsonl` leniently (`read_records(strict=False)`: a corrupt line is skipped with
a warning, since a predictor wants every usable record of many archives), keeps one record per
architecture (the first; evaluations are deterministic, so duplicates agree) and refuses to mix
spaces: every run must be of the same space with the same options, and so must every record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from nas.archive import RunDir, read_records
from nas_common.errors import UserError
from nas_common.objective import VAL_ACC, Objective
from search_spaces.arch import Arch


@dataclass
class RunData:
    space: Any
    archs: list[Arch]
    scores: list[float]  # the runs' objective as utility: its value, negated when minimised
    objective: Objective = VAL_ACC


def load_runs(paths: Sequence[str | Path], space_name: str | None = None) -> RunData:
    """The space (built with the runs' `space_options`) and the deduplicated evaluations."""
    from nas_common.registry import SPACES

    if not paths:
        raise UserError("give at least one run directory with --runs")
    space = None
    expected: tuple[str, dict] | None = None
    objective: Objective | None = None
    archs: list[Arch] = []
    scores: list[float] = []
    seen: set[str] = set()
    for path in paths:
        run = RunDir.open(path)
        config = run.read_config()
        name, options = config.get("space"), config.get("space_options") or {}
        if space_name is not None and name != space_name:
            raise UserError(f"run {run.path} searched space {name!r}, not {space_name!r}; "
                            f"pass only runs of space {space_name!r}")
        if expected is None:
            expected = (name, options)
            space = SPACES.get(name)(**options)
        elif (name, options) != expected:
            raise UserError(f"run {run.path} searched space {name!r} with options {options}, but "
                            f"earlier runs used {expected[0]!r} with {expected[1]}; a predictor learns one space")
        if objective is not None and run.objective() != objective:
            raise UserError(f"run {run.path} optimised {run.objective().metric!r}, earlier runs "
                            f"{objective.metric!r}; a predictor learns one objective")
        objective = run.objective()
        for number, record in enumerate(read_records(run.evaluations, strict=False, objective=objective), start=1):
            arch_space = record["arch"].get("space")
            if arch_space != name:
                raise UserError(f"record {number} of {run.evaluations} is an architecture of space "
                                f"{arch_space!r}, but the run's config says {name!r}; the archive is mixed")
            arch = space.parse(record["arch"])
            acc = objective.value(record["metrics"])
            if arch.hash in seen or not math.isfinite(acc):
                continue
            seen.add(arch.hash)
            archs.append(arch)
            scores.append(objective.utility(acc))
    if len(archs) < 4:
        raise UserError(f"the runs hold {len(archs)} distinct evaluated architectures; a predictor "
                        "needs at least 4 (run longer searches or pass more runs)")
    return RunData(space, archs, scores, objective or VAL_ACC)
