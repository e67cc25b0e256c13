"""Run every (strategy, seed) pair of a benchmark, in this process or as Ray tasks.

Each pair is a fresh strategy over the NB201 space, seeded with its seed, driven by the search loop
of `nas search` (`nas.workflows.runner.SearchLoop`, one evaluation at a time) for `budget` queries. Table
look-ups are instant, so pairs run with the archive in memory (no run directory). The strategy is told only `evaluate`'s
search signal (12-epoch validation accuracy); the 200-epoch test accuracy comes from `reported`
and stays on this side, recorded for the trajectory.

On Ray, the work is one task per chunk of seeds per strategy (a task per pair would spend more
time starting than searching), and each task reads the table once.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from nas.bench_harness.trajectory import aggregate, compare_to_baseline, trajectory
from nas.bench_harness.variants import Variant, parse_variants
from nas_common.errors import UserError
from nas.workflows.runner import LocalExecutor, SearchLoop
from nas.strategies import make_strategy
from nas_common.pareto import parse_goals
from search_spaces.arch import Arch

if TYPE_CHECKING:
    from nas.bench_harness.proxy_table import BenchProxies

DEFAULT_CHECKPOINTS = (50, 100, 150)
SPACES = ("nb201",)  # spaces with a benchmark table; the evaluator is the table's


@dataclass(frozen=True)
class BenchConfig:
    """A benchmark: strategy variant specs (see `variants`), queries per search, seeds 0..seeds-1,
    the query counts to report, and the table CSV (None: the bundled NB201 CIFAR-10 table)."""

    strategies: tuple[str, ...] = ("random", "evolution", "rl")
    budget: int = 150
    seeds: int = 30
    checkpoints: tuple[int, ...] = DEFAULT_CHECKPOINTS
    table: str | None = None
    space: str = "nb201"
    proxies: str | None = None  # a proxy table (nas.bench_harness.proxy_table) read before computing any proxy
    # several objectives ("val_acc:max,params:min"): each search's front is measured too (nas.bench_harness.fronts)
    objectives: str | None = None

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise UserError(f"space {self.space!r} has no benchmark table; valid spaces: {', '.join(SPACES)}")
        for key in ("budget", "seeds"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UserError(f"{key} must be a positive integer; got {value!r}")
        if not self.checkpoints:
            raise UserError("give at least one checkpoint (a query count to report, e.g. 50,100,150)")
        for q in self.checkpoints:
            if isinstance(q, bool) or not isinstance(q, int) or not 1 <= q <= self.budget:
                raise UserError(f"checkpoint {q!r} must be a query count from 1 to the budget ({self.budget}); "
                                "lower it or raise the budget")
        if list(self.checkpoints) != sorted(set(self.checkpoints)):
            raise UserError(f"checkpoints {list(self.checkpoints)} must be increasing, each once")
        if self.objectives is not None and len(parse_goals(self.objectives, "--objectives")) != 2:
            raise UserError(f"--objectives {self.objectives}: a benchmark measures fronts of exactly two objectives")

    @staticmethod
    def default_checkpoints(budget: int) -> tuple[int, ...]:
        """50, 100, 150 up to the budget, and the budget itself."""
        return tuple(sorted({q for q in DEFAULT_CHECKPOINTS if q <= budget} | {budget}))


def run_pair(space: Any, evaluator: Any, variant: Variant, seed: int, budget: int,
             proxies: "BenchProxies | None" = None, objectives: str | None = None) -> dict[str, Any]:
    """One search: `budget` queries of a fresh `variant` strategy seeded with `seed`.

    `proxies` answers the strategy's zero-cost proxies (a `BenchProxies`; None: one without a table,
    which counts params/FLOPs and computes data proxies into the shared cache). Returns the pair's record: every query's val acc (what the strategy saw), and
    per query count the best val acc so far and the test acc of that pick; `picks` maps each query
    count at which the pick changed to the picked architecture's NB201 string; `proxy_scores` and
    `proxy_cpu_s` say what the proxies a real search asks for would have cost it.
    """
    strategy = make_strategy(variant.name, space, budget=budget, seed=seed, options=variant.options)
    scored: dict[tuple[str, str], Arch] = {}  # (proxy, arch hash): what a real search would have computed
    if strategy.proxies_requested():
        if proxies is None:
            from nas.bench_harness.proxy_table import BenchProxies

            proxies = BenchProxies(space)
        strategy.use_proxies(counted(proxies, scored))
    hidden = frozenset(evaluator.hidden_metrics) | {"test_acc"}
    loop = SearchLoop(space, strategy, LocalExecutor(evaluator), None, hidden_metrics=hidden)
    records = loop.run_to_end()  # the search loop of `nas search`, with the archive in memory
    val_accs = [float(r["metrics"]["val_acc"]) for r in records]
    test_accs = [float(r["metrics"]["test_acc"]) for r in records]
    archs = [space.parse(r["arch"]) for r in records]
    best_val, pick_test, picks = trajectory(val_accs, test_accs)
    changes = {str(q + 1): space.to_string(archs[i]) for q, i in enumerate(picks) if q == 0 or i != picks[q - 1]}
    pair = {"strategy": variant.label, "seed": seed, "queries": len(val_accs), "val_acc": val_accs,
            "best_val": best_val, "pick_test_acc": pick_test, "picks": changes, "proxy_scores": len(scored),
            "proxy_cpu_s": proxy_cost(proxies, scored)}
    if objectives:  # each query's goals as a strategy reads them (the told metrics, the space's counts)
        seen = [{k: v for k, v in r["metrics"].items() if k not in hidden} for r in records]
        pair["goal_values"] = [[_goal(strategy, a, m, g.metric) for g in parse_goals(objectives)]
                               for a, m in zip(archs, seen)]
    return pair


def _universe(evaluator: Any, objectives: str) -> list[list[float]]:
    """The goals of every architecture the table holds, read as a search reads them (the true front)."""
    reader = make_strategy("random", evaluator.space, budget=1, seed=0)
    hidden = frozenset(evaluator.hidden_metrics) | {"test_acc"}
    goals = parse_goals(objectives)
    rows = []
    for arch in evaluator.rows():
        metrics = {k: v for k, v in evaluator.evaluate(arch).items() if k not in hidden}
        rows.append([_goal(reader, arch, metrics, g.metric) for g in goals])
    return rows


def _goal(strategy: Any, arch: Arch, metrics: dict, metric: str) -> float:
    value = strategy.goals().value(arch, metrics, metric)
    if value is None:
        raise UserError(f"--objectives: {metric!r} is neither a metric the table records ({', '.join(sorted(metrics))}) "
                        "nor params/flops")
    return value


def counted(proxies: Any, scored: dict[tuple[str, str], Arch]) -> Any:
    """`proxies` that also notes each (proxy, architecture) it is asked for."""

    def score(archs, proxy):
        scored.update(((proxy, a.hash), a) for a in archs)
        return proxies(archs, proxy)

    return score


def proxy_cost(proxies: "BenchProxies", scored: dict[tuple[str, str], Arch]) -> float | None:
    """CPU seconds of every distinct score the search asked for (cached or not: what a real search
    spends); None when a score's cost is unknown (a user's table without `<proxy>_cpu_s`)."""
    if not scored:
        return 0.0
    costs = [proxies.cost(arch, proxy) for (proxy, _), arch in scored.items()]
    return None if any(c is None for c in costs) else float(sum(costs))


def run_chunk(table: str | None, variant: dict[str, Any], seeds: Sequence[int], budget: int,
              proxies: str | None = None, objectives: str | None = None) -> list[dict[str, Any]]:
    """The pairs of one strategy for several seeds, reading the table once (a Ray task's body)."""
    from nas.bench_harness.proxy_table import BenchProxies
    from nas.evaluate.table import TableEvaluator

    evaluator = TableEvaluator(table)
    v = Variant(variant["label"], variant["strategy"], variant["options"])
    source = BenchProxies.from_file(evaluator.space, proxies)
    return [run_pair(evaluator.space, evaluator, v, seed, budget, source, objectives) for seed in seeds]


def requested_proxies(space: Any, variants: Sequence[Variant]) -> dict[str, tuple[str, ...]]:
    """{variant label: the proxies its strategy asks for}, checked against the proxy registry here,
    before any search starts (an unknown name: one line naming the valid ones)."""
    from nas.bench_harness.proxy_table import BenchProxies

    asked = {}
    for v in variants:
        names = make_strategy(v.name, space, budget=1, seed=0, options=v.options).proxies_requested()
        BenchProxies.check_names(names)
        if names:
            asked[v.label] = tuple(names)
    return asked


def _ray_chunk(table, variant, seeds, budget, proxies=None, objectives=None):
    import torch

    torch.set_num_threads(1)  # one core per task: intra-op threads would fight the other tasks
    return run_chunk(table, variant, seeds, budget, proxies, objectives)


def chunks(seeds: int, parts: int) -> list[list[int]]:
    """Seeds 0..seeds-1 in at most `parts` contiguous, near-equal chunks."""
    size = math.ceil(seeds / max(1, min(parts, seeds)))
    return [list(range(lo, min(lo + size, seeds))) for lo in range(0, seeds, size)]


def run_benchmark(
    config: BenchConfig,
    *,
    workers: int = 1,
    progress: Callable[[str, list[int], float], None] | None = None,
) -> dict[str, Any]:
    """Every (variant, seed) pair of `config`; `workers` > 1 runs them as Ray tasks on that many
    CPUs (joining Ray if this process is already connected), 1 runs them here, one after another.
    Results are identical either way. Returns the JSON-able results (config, pairs, aggregates)."""
    from nas.evaluate.table import TableEvaluator

    variants = parse_variants(list(config.strategies))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"workers must be a positive integer; got {workers!r}")
    evaluator = TableEvaluator(config.table)  # read here too: a bad --table fails before Ray starts
    table = str(evaluator.path.resolve())
    started = time.perf_counter()
    jobs = [(v, seeds) for v in variants for seeds in chunks(config.seeds, workers)]
    done: dict[tuple[str, int], list[dict[str, Any]]] = {}
    from nas.bench_harness.proxy_table import BenchProxies

    asked = requested_proxies(evaluator.space, variants)  # an unknown proxy fails before Ray starts
    lookup = BenchProxies.from_file(evaluator.space, config.proxies)  # read here too: a bad table fails first
    if workers == 1:
        for v, seeds in jobs:
            done[(v.label, seeds[0])] = [run_pair(evaluator.space, evaluator, v, s, config.budget, lookup,
                                                  config.objectives) for s in seeds]
            if progress:
                progress(v.label, seeds, time.perf_counter() - started)
    else:
        _run_on_ray(jobs, table, config.budget, workers, done, progress, started, config.proxies, config.objectives)
    pairs = [pair for v, seeds in jobs for pair in done[(v.label, seeds[0])]]
    best_arch, best_test = evaluator.best("test_acc")
    aggregates = aggregate(pairs, config.checkpoints)
    labels = [v.label for v in variants]
    baseline = "random" if "random" in labels else labels[0]
    fronts = None
    if config.objectives:
        from nas.bench_harness.fronts import front_stats

        fronts = front_stats(pairs, parse_goals(config.objectives), config.checkpoints, baseline,
                             universe=_universe(evaluator, config.objectives))
    return {
        **({"fronts": fronts} if fronts else {}),
        "config": {**asdict(config), "strategies": [v.to_dict() for v in variants], "table": table,
                   "seeds": list(range(config.seeds)), "workers": workers},
        "optimum": {"test_acc": best_test, "arch": evaluator.space.to_string(best_arch)},
        "aggregates": aggregates,
        "comparisons": {"baseline": baseline, "at": config.budget,
                        "strategies": compare_to_baseline(aggregates, baseline)},
        "proxies": {"asked": {label: list(names) for label, names in asked.items()}, "table": config.proxies,
                    "cache": str(lookup.cache_file())},
        "pairs": pairs,
        "wall_s": time.perf_counter() - started,
    }


def _run_on_ray(jobs, table, budget, workers, done, progress, started, proxies=None, objectives=None) -> None:
    from nas.distributed.tasks import map_tasks

    def finished(i: int, pairs: list[dict[str, Any]]) -> None:
        variant, seeds = jobs[i]
        done[(variant.label, seeds[0])] = pairs
        if progress:
            progress(variant.label, seeds, time.perf_counter() - started)

    map_tasks(_ray_chunk, [(table, v.to_dict(), seeds, budget, proxies, objectives) for v, seeds in jobs], workers,
              finished)
