"""One search, from its resolved config to a complete run directory.

`config.json` of a search run holds everything needed to redo or resume it: space, strategy and
options, budget, constraint, seed, evaluator settings, data, and either the supernet's training
settings (trained into this run) or a reference to a supernet trained elsewhere.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable


from nas.archive import RunDir, plot_pareto, plot_progress, summarize, write_json_atomic
from nas.supernet.methods import method_settings
from nas.distributed.cluster import uses_ray
from nas_common.errors import UserError
from nas.workflows.runner import LocalExecutor, SearchLoop, load_strategy
from nas.config.run_config import SearchConfig
from nas.archive.scalars import ScalarLog
from nas.strategies import make_strategy
from nas.strategies.base import Strategy
from nas_common.registry import EVALUATORS
from nas.supernet.loading import resolve_device
from nas.judging.confirmation import TOP as CONFIRM_TOP, held_out_scores
from nas.judging.verdict import judge, verdict
from nas.judging.front import front_summary
from nas.judging.trust import check_learned, check_mixed_learned, check_separable, random_baseline
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace


TRUST_PATHS = 5  # random architectures scored at least, before any supernet search


@dataclass
class SearchOutcome:
    run: RunDir
    records: list[dict[str, Any]]
    summary: dict[str, Any]


def evaluator_kind(config: SearchConfig):
    """The registered evaluator class of a search config (nas.evaluate.base.EvaluatorKind)."""
    return EVALUATORS.get(config.evaluator.kind)


def space_for_config(config: SearchConfig) -> SearchSpace:
    """The run's space, built without training or loading any supernet (validates its options)."""
    return evaluator_kind(config).search_space(config)


def check_feasible(space: SearchSpace, config: SearchConfig) -> Strategy:
    """Raise now, rather than after a run directory exists or a supernet has been trained: an
    infeasible constraint, or a strategy that cannot be built (its options, a predictor directory
    it loads). Returns the strategy so built (its budget, its warnings about its settings)."""
    size = space.size()
    if config.budget is not None and config.budget > size:  # it would search until killed for the rest
        raise UserError(f"--budget {config.budget:,} is more than the {size:,} architectures of {space.name}; "
                        f"ask for at most {size:,}")
    strategy = make_strategy(config.strategy, space, budget=config.budget, constraint=config.constraint,
                             seed=config.seed, options=config.strategy_options, objective=config.objective)
    if strategy.proxies_requested():
        from nas.proxies import proxy_names

        proxy_names(strategy.proxies_requested())  # an unknown proxy lists the valid ones
    if config.constraint.limits():
        make_strategy("random", space, budget=1, constraint=config.constraint, seed=config.seed).ask(1)
    return strategy


def proxies_for_run(run: RunDir, config: SearchConfig, space: SearchSpace, proxies: tuple[str, ...], device: Any,
                    quiet: bool = True) -> Callable:
    """`score(archs, proxy)` for the zero-cost proxies a strategy asked for, on the run's space and a
    fixed batch of the run's training data (a table search reads the table's CIFAR-10), each
    architecture scored once and kept in the run directory."""
    from nas.data import DataConfig
    from nas.proxies import ProxyScorer, fixed_batch
    from nas.proxies.cache import FILE, cached_proxy
    from nas.tasks import get_task

    data_config = config.data or DataConfig()
    task = get_task(data_config.task)
    data = task.load_data(data_config)
    inputs, targets = fixed_batch(task, data, 128, config.seed)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if quiet or total < 2:
            return
        if bar is None:
            from nas_common.progress import progress

            bar = progress(total=total, desc="zero-cost proxies", unit="arch", leave=False)
        bar.update(1)
        if done == total:
            bar.close()
            bar = None

    scores = {p: cached_proxy(ProxyScorer(space, task, inputs, targets, [p], seed=config.seed, device=device), p,
                              run.path / FILE, progress) for p in proxies}
    return lambda archs, proxy: scores[proxy](archs)


def estimator_summary(space: SearchSpace, config: SearchConfig) -> dict[str, Any]:
    """What ranked the search's architectures and how well it is known to rank on this space."""
    from nas.evaluate.known import describe_estimator, known_ranking

    estimator, label = evaluator_kind(config).estimator(config)
    return {"id": estimator, "label": label, "known": known_ranking(space.name, estimator),
            "text": describe_estimator(space.name, estimator, label)}


def describe_steps(config: SearchConfig, budget: int | None) -> str:
    """What a new search will do, in order (printed before it starts)."""
    steps = []
    if config.backbone_pretraining is not None:
        steps.append(f"pre-train the backbone ({config.backbone_pretraining.train.get('steps')} steps)")
    if config.train is not None:
        from nas.data.batches import augmentation

        length = f"{config.train.steps} steps" if config.train.steps else f"{config.train.epochs} epochs"
        steps.append(f"train the supernet ({length}, augmentation {augmentation(config.train.augment)})")
    elif config.supernet_run:
        steps.append(f"use the supernet of {config.supernet_run}")
    baseline = config.random_baseline
    if config.uses_supernet:
        baseline = max(baseline, TRUST_PATHS)
    if baseline:
        steps.append(f"score {baseline} random architectures{' (trust check)' if config.uses_supernet else ''}")
    warmup = str(config.strategy_options.get("warmup") or "")
    if warmup:
        proxy, _, count = warmup.partition(":")
        steps.append(f"score {count} random architectures with {proxy} (warm-up)")
    trained_by = method_settings(config.strategy, config.strategy_options)
    if trained_by is not None:
        label = evaluator_kind(config).estimator(config)[1]
        steps.append(f"{trained_by[0].proposes} and score it by {label}")
    else:
        steps.append(f"search {budget} architectures with {config.strategy}" if budget is not None
                     else f"search with {config.strategy} until it ends")
    confirm = config.evaluator.settings.get("confirm_images", 0) if evaluator_kind(config).uses_supernet else 0
    if confirm and baseline:
        steps.append(f"judge the verdict on up to {confirm:,} images kept apart (training images the supernet "
                     f"never trains on, then the end of the validation split, at most half of it; the search's top "
                     f"{CONFIRM_TOP} and the random architectures scored again)")
    elif baseline and evaluator_kind(config).uses_supernet:
        steps.append("verdict UNCONFIRMED (no images kept apart: --confirm-images)")
    return " -> ".join(steps)


def mixed_forward_check(run: RunDir, config: SearchConfig) -> dict[str, float] | None:
    """DARTS's supernet judged by its mixed forward on held-out images (`nas.judging.trust.check_mixed_learned`)."""
    from nas.supernet.loading import supernet_dir_of
    from nas.supernet.train import read_training_log
    from nas.tasks import get_task

    supernet = supernet_dir_of(run, run.read_config()) or run.path / "supernet"
    log = supernet / "training.jsonl"
    if not log.exists() or config.data is None:
        return None
    chance = get_task(config.task).chance(config.data.load())
    return check_mixed_learned(read_training_log(log), chance, run.path, config.force)


def trusted_baseline(run: RunDir, config: SearchConfig, space, evaluator,
                     on_baseline: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Score random architectures first; stop unless the supernet has learned (nas.judging.trust)."""
    chance = evaluator.chance
    count = config.random_baseline
    if chance is not None:
        count = max(count, TRUST_PATHS)
    done = [0]

    def tick() -> None:
        done[0] += 1
        if on_baseline is not None:
            on_baseline(done[0], count)

    baseline = random_baseline(run.path, space, evaluator, config.constraint, count, config.seed,
                               objective=config.objective.metric, on_result=tick)
    check_learned(baseline, chance, run.path, force=config.force, unit=config.objective.unit)
    sep = check_separable(baseline, run.path, force=config.force, unit=config.objective.unit,
                          scale=config.objective.scale, available=evaluator.images_available)
    if sep is not None:
        baseline = {**baseline, "separability": sep}
    return baseline


def execute(run: RunDir, *, quiet: bool = False,
            on_record: Callable[[dict[str, Any], bool], None] | None = None,
            on_baseline: Callable[[int, int], None] | None = None,
            on_search_start: Callable[[int | None], None] | None = None,
            on_held_out: Callable[[int, int], None] | None = None) -> SearchOutcome:
    """Train (or load) the supernet, check it, search, then judge the best on images that took no
    part in choosing it. The callbacks report progress: `on_baseline(done, total)` per random
    architecture, `on_search_start(budget)` once the search itself begins (the strategy's budget:
    the run's, or what its own settings come to), `on_record(record, new)` per result, and
    `on_held_out(done, total)` per architecture scored again on the confirmation images."""
    config = SearchConfig.from_dict(run.read_config(), where=str(run.config))
    device = resolve_device(config.device)
    trained_by = method_settings(config.strategy, config.strategy_options)  # DARTS: its own training
    if trained_by is not None and not evaluator_kind(config).uses_supernet:  # a table scores what it finds
        from nas.supernet.pipeline import train_into

        method, settings = trained_by
        train_into(run.path / "supernet", config.space, config.space_options, config.data, config.train, device,
                   quiet, **method.trainer(settings))
    space, evaluator = evaluator_kind(config).for_search(run.path, config, device, quiet)
    baseline = trusted_baseline(run, config, space, evaluator, on_baseline)
    mixed = mixed_forward_check(run, config) if trained_by is not None else None
    objective = config.objective
    strategy = make_strategy(config.strategy, space, budget=config.budget, constraint=config.constraint,
                             seed=config.seed, options=config.strategy_options, objective=objective)
    handed = trained_by[0].hand_over(strategy, run.path / "supernet", run.path) if trained_by is not None else None
    load_strategy(strategy, run)
    if strategy.proxies_requested():
        strategy.use_proxies(proxies_for_run(run, config, space, strategy.proxies_requested(), device, quiet))
    with contextlib.ExitStack() as stack:
        executor = LocalExecutor(evaluator)
        if uses_ray(config.cluster.workers, config.cluster.address):  # Ray is imported only then
            from nas.distributed.search import ray_executor

            executor = stack.enter_context(ray_executor(config.cluster, evaluator))
        scalars = stack.enter_context(contextlib.closing(ScalarLog(run.path)))
        best = [None]

        def record_seen(record: dict[str, Any], new: bool) -> None:
            if new:  # TensorBoard: each evaluation and the best so far, by evaluation count
                value = objective.value(record["metrics"])
                if best[0] is None or objective.better(value, best[0]):
                    best[0] = value
                scalars.add(f"search/{objective.metric}", value, record["step"])
                scalars.add(f"search/best_{objective.metric}", best[0], record["step"])
            if on_record is not None:
                on_record(record, new)

        loop = SearchLoop(space, strategy, executor, run,
                          hidden_metrics=evaluator.hidden_metrics, on_record=record_seen)
        if on_search_start is not None:
            on_search_start(strategy.budget)
        try:
            records = loop.run_to_end()
        finally:
            loop.close()
    if not records:
        raise UserError("the search evaluated no architecture; check the budget and constraint")
    summary = summarize(records, objective=objective)
    best_arch = Arch.from_dict(summary["best"]["arch"])
    summary["best_readable"] = space.readable(best_arch)  # the digit form stays the key
    summary["best_labels"] = dict(space.describe(best_arch))
    summary["estimator"] = estimator_summary(space, config)
    goals = strategy.goals()
    if len(goals) > 1:  # a Pareto search ends on a front, not only on a best
        summary["front"] = front_summary(space, records, goals.goals, goals.value,
                                         baseline if baseline["count"] else None, figure=run.path / "front.png")
    if baseline["count"]:
        summary["random_baseline"] = {**baseline, "chance": evaluator.chance}
    if mixed is not None:  # how DARTS's supernet was judged (its mixed forward, not single paths)
        summary["darts_mixed_forward"] = mixed
    judged = verdict(records, baseline if baseline["count"] else None, objective.metric, objective.maximise,
                     objective.unit, objective.scale)
    held = {}
    if judged is not None:
        # judged on images that took no part in choosing the best (nas.judging.confirmation)
        held = held_out_scores(records, baseline, objective, evaluator, on_step=on_held_out)
        summary["verdict"] = judge(judged, held, candidates=summary["unique_architectures"],
                                   randoms=baseline["count"], unit=objective.unit)
    if evaluator_kind(config).uses_supernet:
        best = Arch.from_dict(summary["best"]["arch"])
        summary[f"best_inherited_bn_{objective.metric}"] = evaluator.evaluate_inherited(best)[objective.metric]
        # reported only: the search never saw the test split
        test = held["test"]["best"] if "test" in held else evaluator.test_metrics(best)
        if test:
            summary["best_test"] = test
    if trained_by is not None:
        summary.update(trained_by[0].summary(space, trained_by[1], handed))
    write_json_atomic(run.summary, summary)
    plot_progress(records, run.progress_plot, objective, summary.get("verdict"))
    plot_pareto(records, run.pareto_plot, objective)
    return SearchOutcome(run, records, summary)
