"""A compound-scaling run (`nas scale`, EfficientNet's method on our data), in two Ray Tune
experiments of the run directory:

1. `tune/scale_grid`: the base architecture and each (alpha, beta, gamma) candidate scaled to
   phi = 1, trained from scratch with one short recipe; the best by the task's objective wins.
2. `tune/scale_family`: the winner's family phi = 2..N (phi = 1 is the winning candidate, not
   trained twice) and, at each member's FLOPs, depth, width and resolution scaled alone.

Both experiments resume (`Tuner.restore`): finished trials are kept. The outcome is `scale.json`
(every member with its multipliers, FLOPs, params and figures) and `scale.png`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nas.archive.atomic import write_json_atomic
from nas.data import DataConfig, data_config_from_dict
from nas_common.errors import UserError
from nas.scaling.grid import Family, Member, ablation_members, compound_members, grid_members, product
from nas.supernet.train import TrainConfig
from nas.tasks import get_task
from nas_common.objective import Objective
from search_spaces.arch import Arch

SUMMARY = "scale.json"
COSTS = "scaled_costs.json"  # every scaled network counted: a resumed run does not count them again
PLOT = "scale.png"
GRID, FAMILY = "scale_grid", "scale_family"


@dataclass(frozen=True)
class ScaleJob:
    """What a scaling run does: which base, which candidates, how far the family goes, the recipe."""

    space: str
    space_options: dict[str, Any]  # the base's (complete: `space.config()`)
    base_arch: Arch
    data: DataConfig
    train: TrainConfig
    candidates: tuple[tuple[float, float, float], ...]
    max_phi: int = 3
    ablation: bool = True
    flops_tolerance: float = 0.05  # members off 2^phi x base FLOPs by more have their resolution adjusted
    test: bool = False
    source: dict[str, Any] = field(default_factory=dict)  # where the base came from (arch or run)

    def __post_init__(self) -> None:
        if not self.candidates:
            raise UserError("no (alpha, beta, gamma) candidate to try; see --grid-step/--grid-tolerance/--candidate")
        if self.max_phi < 1:
            raise UserError("--phi must be at least 1")
        if self.train.steps is not None:
            raise UserError("scaling trains whole epochs; use --epochs")

    @property
    def objective(self) -> Objective:
        return get_task(self.data.task).objective

    def config(self) -> dict[str, Any]:
        return {"kind": "scale", "space": self.space, "space_config": self.space_options,
                "base_arch": self.base_arch.to_dict(), "data": asdict(self.data), "train": asdict(self.train),
                "candidates": [list(c) for c in self.candidates], "max_phi": self.max_phi,
                "ablation": self.ablation, "flops_tolerance": self.flops_tolerance, "test": self.test,
                "source": self.source}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "ScaleJob":
        if config.get("kind") != "scale":
            raise UserError(f"not a scaling run (kind {config.get('kind')!r}); pass a directory written by `nas scale`")
        try:
            return cls(config["space"], dict(config["space_config"]), Arch.from_dict(config["base_arch"]),
                       data_config_from_dict(config["data"]), TrainConfig(**config["train"]),
                       tuple(tuple(float(x) for x in c) for c in config["candidates"]), int(config["max_phi"]),
                       bool(config["ablation"]), float(config["flops_tolerance"]), bool(config.get("test")),
                       dict(config.get("source") or {}))
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"the scaling run's config.json is damaged ({type(err).__name__}: {err})") from None

    def trial_settings(self) -> dict[str, Any]:
        return {"space": self.space, "space_options": self.space_options, "data": asdict(self.data),
                "train": asdict(self.train), "test": self.test}


def check_candidates(candidates: list[tuple[float, float, float]], dims: tuple[str, ...], target: float = 2.0,
                     tolerance: float = 0.05) -> None:
    """Each candidate has every multiplier >= 1, only the space's multipliers above 1, and
    alpha * beta^2 * gamma^2 within `tolerance` of `target`."""
    names = ("depth", "width", "resolution")
    for c in candidates:
        shown = ",".join(f"{x:g}" for x in c)
        if len(c) != 3 or any(not math.isfinite(x) or x < 1 for x in c):
            raise UserError(f"candidate {shown}: alpha, beta and gamma must each be >= 1")
        extra = [n for n, x in zip(names, c) if x != 1 and n not in dims]
        if extra:
            raise UserError(f"candidate {shown} scales {extra[0]}, which this space does not have "
                            f"(it scales {', '.join(dims)}); keep that multiplier at 1")
        if abs(product(*c) - target) > tolerance * target:
            raise UserError(f"candidate {shown}: alpha*beta^2*gamma^2 = {product(*c):.3f}, not within "
                            f"{tolerance:.0%} of {target:g}")


def make_family(job: ScaleJob, known: dict[str, Any] | None = None) -> Family:
    from nas.supernet.loading import make_space

    data, task = job.data.load(), get_task(job.data.task)
    return Family(lambda options: make_space(job.space, data, options, task), job.space_options, job.base_arch,
                  known)


def plan_members(job: ScaleJob, family: Family | None = None) -> tuple[Family, list[Member]]:
    """The base and the grid candidates (step 1), with their realised cost."""
    family = family or make_family(job)
    return family, [family.base(), *grid_members(family, list(job.candidates), job.flops_tolerance)]


def plan_family(job: ScaleJob, family: Family, winner: Member) -> tuple[list[Member], list[Member]]:
    """The compound family phi = 1..N of the winner's coefficients, and the single-dimension scalings
    at the same FLOPs (step 2)."""
    compound = compound_members(family, winner.coefficients, range(1, job.max_phi + 1), job.flops_tolerance)
    compound[0] = Member("compound_phi1", "compound", 1, winner.coefficients, winner.multipliers, winner.nominal,
                         winner.options, winner.arch, winner.flops, winner.params, winner.target_flops)
    return compound, ablation_members(family, compound) if job.ablation else []


def scale(out: Path, job: ScaleJob | None, *, resume: bool = False, workers: int | str = "auto",
          gpus_per_worker: float | None = None, address: str | None = None, max_failures: int = 1,
          trainable: Any = None) -> dict[str, Any]:
    """Run (or resume) the scaling run in `out`; returns the summary written to `scale.json`."""
    from nas.distributed.cluster import check_request, connect, resolve_workers
    from nas.distributed.tune import TrialSpec, retrain_trial, run_trials
    from nas.workflows.retrain import open_or_create

    check_request(workers, gpus_per_worker, address)
    run, job = open_or_create(out, job, resume, ScaleJob.from_config, "scaling")
    known = read_json(run.path / COSTS) if resume else None
    family, step1 = plan_members(job, make_family(job, known))
    metric = job.objective.metric

    def train(members: list[Member], experiment: str) -> dict[str, dict[str, Any]]:
        specs = [TrialSpec(m.name, m.arch, m.options) for m in members]
        outcomes = run_trials(run.path / "tune", job.trial_settings(), specs, workers=count, gpus_per_worker=gpus,
                              resume=resume, max_failures=max_failures, experiment=experiment,
                              trainable=trainable or retrain_trial)
        failed = [f"{o.name} ({o.error or 'no result'})" for o in outcomes
                  if o.error is not None or metric not in o.metrics]
        if failed:
            raise UserError(f"{len(failed)} of {len(outcomes)} scaling trials failed: {'; '.join(failed)}; "
                            f"rerun with --resume {run.path} to retry them")
        return {o.name: _figures(o.metrics, o.objective_per_epoch, metric) for o in outcomes}

    with connect(address):
        count, gpus = resolve_workers(workers, gpus_per_worker)
        results = train(step1, GRID)
        grid = step1[1:]
        winner = max(grid, key=lambda m: (job.objective.utility(results[m.name][metric]), -grid.index(m)))
        compound, ablation = plan_family(job, family, winner)
        write_json_atomic(run.path / COSTS, family.realised())
        results["compound_phi1"] = results[winner.name]
        to_train = compound[1:] + ablation
        if to_train:
            results.update(train(to_train, FAMILY))
    summary = summarise(job, step1[0], grid, winner, compound, ablation, results)
    write_json_atomic(run.path / SUMMARY, summary)
    from nas.archive.plots import plot_scaling

    plot_scaling(summary, run.path / PLOT, job.objective)
    return summary


def _figures(metrics: dict[str, Any], per_epoch: list[float], metric: str) -> dict[str, Any]:
    out = {k: float(v) for k, v in metrics.items() if k.split("_")[0] in ("val", "train", "test")
           and isinstance(v, (int, float)) and math.isfinite(v)}
    out[f"{metric}_per_epoch"] = per_epoch
    out["wall_s"] = float(metrics.get("time_total_s", 0.0))
    return out


def summarise(job: ScaleJob, base: Member, grid: list[Member], winner: Member, compound: list[Member],
              ablation: list[Member], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def entry(m: Member) -> dict[str, Any]:
        return {**m.to_dict(), "flops_vs_base": round(m.flops / base.flops, 4), "metrics": results[m.name]}

    return {"space": job.space, "task": job.data.task, "metric": job.objective.metric, "dims": list(base.multipliers),
            "base": entry(base), "grid": [entry(m) for m in grid],
            "winner": {"name": winner.name, "coefficients": list(winner.coefficients),
                       "product": round(product(*winner.coefficients), 4)},
            "family": [entry(base)] + [entry(m) for m in compound], "ablation": [entry(m) for m in ablation],
            "comparisons": compare_within_noise(compound, ablation, results, job.objective)}


def compare_within_noise(compound: list[Member], ablation: list[Member], results: dict[str, dict[str, Any]],
                         objective: Objective) -> list[dict[str, Any]]:
    """Compound scaling against each single-dimension scaling at the same phi: the difference of
    their validation scores with its standard error (independent trainings: the two errors add in
    quadrature) and whether it is outside the noise (95%)."""
    from nas.tasks.uncertainty import distinguishable, interval

    metric, sign = objective.metric, 1.0 if objective.maximise else -1.0
    out = []
    by_phi = {m.phi: m for m in compound}
    for single in ablation:
        comp = by_phi.get(single.phi)
        a, b = results.get(comp.name, {}) if comp else {}, results.get(single.name, {})
        if metric not in a or metric not in b:
            continue
        diff = sign * (a[metric] - b[metric])
        se = math.hypot(a.get(f"{metric}_se", math.nan), b.get(f"{metric}_se", math.nan))
        low, high = interval(diff, se)
        out.append({"phi": single.phi, "compound": comp.name, "single": single.name, "kind": single.kind,
                    "difference": diff, "se": se, "ci95": [low, high],
                    "verdict": ("compound better" if distinguishable(diff, se) and diff > 0 else
                                f"{single.kind} alone better" if distinguishable(diff, se) else
                                "inside noise" if math.isfinite(se) else "noise unknown")})
    return out


def read_json(path: Path) -> dict[str, Any] | None:
    """A saved cost cache, or None when absent or unreadable (then the costs are counted again)."""
    from nas_common.json_files import read_json_or_none

    return read_json_or_none(path)
