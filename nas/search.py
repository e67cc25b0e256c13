"""One search, from its resolved config to a complete run directory.

`config.json` of a search run holds everything needed to redo or resume it: space, strategy and
options, budget, constraint, seed, evaluator settings, data, and either the supernet's training
settings (trained into this run) or a reference to a supernet trained elsewhere.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable


from nas.archive import RunDir, plot_pareto, plot_progress, summarize, write_json_atomic
from nas.distributed.cluster import uses_ray
from nas.errors import UserError
from nas.evaluate.supernet_evaluator import EvaluatorConfig
from nas.runner import LocalExecutor, SearchLoop, load_strategy
from nas.strategies import Constraint, make_strategy
from nas.registry import SPACES
from nas.supernet.loading import DataConfig, load_supernet_run, make_space, read_supernet_config, resolve_device
from nas.supernet.pipeline import train_into
from nas.supernet.train import TrainConfig
from nas.trust import check_learned, random_baseline
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace


TRUST_PATHS = 5  # random architectures scored at least, before any supernet search


@dataclass
class SearchOutcome:
    run: RunDir
    records: list[dict[str, Any]]
    summary: dict[str, Any]


def prepare_supernet(run: RunDir, config: dict[str, Any], device, quiet: bool) -> Path:
    """The search run's supernet: referenced, or trained (resumed) into the run directory."""
    ref = config["supernet"].get("run")
    if ref:
        return Path(ref)
    supernet_dir = run.path / "supernet"
    train_into(supernet_dir, config["space"], config["space_options"], DataConfig(**config["data"]),
               TrainConfig(**config["train"]), device, quiet)
    return supernet_dir


def space_for_config(config: dict[str, Any]) -> SearchSpace:
    """The run's space, built without training or loading any supernet (validates its options)."""
    if config["evaluator"].get("kind") == "table":
        return SPACES.get(config["space"])(**config["space_options"])
    if config["supernet"].get("run"):
        trained = read_supernet_config(config["supernet"]["run"])
        return SPACES.get(trained["space"])(**trained["space_config"])
    return make_space(config["space"], DataConfig(**config["data"]).load(), config["space_options"])


def check_feasible(space: SearchSpace, config: dict[str, Any]) -> None:
    """Raise InfeasibleConstraint now, rather than after a supernet has been trained."""
    constraint = Constraint(**config["constraint"])
    if constraint.limits():
        make_strategy("random", space, budget=1, constraint=constraint, seed=config["seed"]).ask(1)


def build_evaluator(run: RunDir, config: dict[str, Any], device, quiet: bool):
    """The run's space and evaluator: a lookup table, or a supernet (trained first if needed)."""
    settings = dict(config["evaluator"])
    if settings.pop("kind", "supernet") == "table":
        from nas.evaluate.table import TableEvaluator

        return SPACES.get(config["space"])(**config["space_options"]), TableEvaluator(settings.get("table"))
    supernet_run = load_supernet_run(prepare_supernet(run, config, device, quiet))
    return supernet_run.space, supernet_run.evaluator(EvaluatorConfig(**settings), device, seed=config["seed"])


def trusted_baseline(run: RunDir, config: dict[str, Any], space, evaluator, constraint: Constraint,
                     on_baseline: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Score random architectures first; stop unless the supernet has learned (nas.trust)."""
    chance = getattr(evaluator, "chance", None)
    count = config.get("random_baseline", 0)
    if chance is not None:
        count = max(count, TRUST_PATHS)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if on_baseline is not None:
            on_baseline(done[0], count)

    baseline = random_baseline(run.path, space, evaluator, constraint, count, config["seed"], on_result=tick)
    check_learned(baseline, chance, run.path, force=bool(config.get("force", False)))
    return baseline


def execute(run: RunDir, *, quiet: bool = False,
            on_record: Callable[[dict[str, Any], bool], None] | None = None,
            on_baseline: Callable[[int, int], None] | None = None) -> SearchOutcome:
    config = run.read_config()
    device = resolve_device(config.get("device", "auto"))
    space, evaluator = build_evaluator(run, config, device, quiet)
    constraint = Constraint(**config["constraint"])
    baseline = trusted_baseline(run, config, space, evaluator, constraint, on_baseline)
    strategy = make_strategy(config["strategy"], space, budget=config["budget"], constraint=constraint,
                             seed=config["seed"], options=config["strategy_options"])
    load_strategy(strategy, run)
    with contextlib.ExitStack() as stack:
        executor = LocalExecutor(evaluator)
        if uses_ray(config.get("workers", 1), config.get("address")):  # Ray is imported only then
            from nas.distributed.search import ray_executor

            executor = stack.enter_context(ray_executor(run, config, evaluator))
        loop = SearchLoop(space, strategy, executor, run,
                          hidden_metrics=evaluator.hidden_metrics, on_record=on_record)
        try:
            records = loop.run_to_end()
        finally:
            loop.close()
    if not records:
        raise UserError("the search evaluated no architecture; check the budget and constraint")
    summary = summarize(records)
    if baseline["count"]:
        summary["random_baseline"] = {**baseline, "chance": getattr(evaluator, "chance", None)}
    if hasattr(evaluator, "evaluate_inherited"):
        best = Arch.from_dict(summary["best"]["arch"])
        summary["best_inherited_bn_val_acc"] = evaluator.evaluate_inherited(best)["val_acc"]
    write_json_atomic(run.summary, summary)
    plot_progress(records, run.progress_plot)
    plot_pareto(records, run.pareto_plot)
    return SearchOutcome(run, records, summary)
