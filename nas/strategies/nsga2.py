"""NSGA-II: a Pareto front of several objectives instead of one best architecture.

Deb et al. 2002 as NSGA-Net (Lu et al. 2019) and mmrazor's NSGA2SearchLoop run it over
architectures: generation 0 is `population` random architectures; each later generation is
`population` children, each the uniform crossover of two parents (with probability
`crossover_prob`, else a copy of the first) mutated with `mutation_prob` per decision, the parents
drawn by binary tournaments on (front, crowding distance); the next population is the best
`population` of parents and children by front, then by crowding distance (elitism). Duplicates and
constraint-breakers are rejected before evaluation, as in every strategy here; constraints stay
hard limits (feasibility), objectives are traded off.

`objectives` names the goals, `METRIC:max|min` comma-separated (default: the search's own objective
and `params:min`): any metric the evaluator tells,
`params`/`flops`, counted by the space (free), or a column of `cost_table` (costs measured on a
device: `-o cost_table=phone.csv,objectives=val_acc:max,lat_ms:min`); an architecture the table does
not list gets the cost a ridge regression on the encoding predicts, its cross-validated error
said before the search (`warnings`). The search's own objective (val_acc) must be one of
them, so the run's best, verdict and reports keep their meaning; `front()` is the Pareto front of
everything told.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.base import Strategy
from nas.strategies.goals import Goals
from nas.strategies.warmup import SPACE_COUNTS
from nas_common.pareto import crowding_distance, non_dominated_fronts, parse_goals
from search_spaces.arch import Arch

CHILD_TRIES = 20  # draws per child; a child that cannot be found is replaced by a random one


@dataclass(frozen=True)
class NSGA2Config:
    # measured on NB201 at 100 evaluations (tests/test_pareto.py): 10 x 10 gave a larger front than
    # 20 x 5 (hypervolume 19.21 +- 0.07 vs 18.95 +- 0.17; random search 18.70 +- 0.11, 20 seeds)
    population: int = 10
    generations: int = 10
    # "" = the search's own objective (val_acc, or val_mAP for detection) against the parameter count
    objectives: str = ""
    crossover_prob: float = 0.9
    mutation_prob: float = 0.2
    # a table of costs measured elsewhere (nas.constraints.cost_table): its columns may be objectives
    cost_table: str = ""

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UserError(f"nsga2 option {message}")

        if self.objectives:
            parse_goals(self.objectives, "nsga2 option objectives")
        need(self.population >= 2, f"population={self.population} must be at least 2")
        need(self.generations >= 1, f"generations={self.generations} must be at least 1")
        need(0 <= self.crossover_prob <= 1, f"crossover_prob={self.crossover_prob} must be in [0, 1]")
        need(0 < self.mutation_prob <= 1, f"mutation_prob={self.mutation_prob} must be in (0, 1]")


@STRATEGIES.register("nsga2")
class NSGA2(Strategy):
    name = "nsga2"
    Config = NSGA2Config

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        objectives = self.config.objectives or f"{self.objective.metric}:{self.objective.direction},params:min"
        self._goals = parse_goals(objectives, "nsga2 option objectives")
        if self.objective.metric not in {g.metric for g in self._goals}:
            raise UserError(f"nsga2 option objectives={objectives!r} must include the search's "
                            f"objective {self.objective.metric!r}, so that its best and verdict keep their meaning")
        self._generation = 0  # generations built so far
        self._queue: list[Arch] = []  # built but not yet handed out
        self._parents: list[int] = []  # trial ids of the current population (elitist survivors)
        self._children_from = 0  # the first trial id of the generation being evaluated

    def _cost_table_option(self) -> str:
        return self.config.cost_table

    def goals(self) -> Goals:
        return Goals(self._goals, super().goals().value)

    def _default_budget(self) -> int:
        return self.config.population * self.config.generations

    def _backlog(self) -> int:
        return len(self._queue)

    # ---- objectives ---------------------------------------------------------------------------
    def values(self, arch: Arch, metrics: dict) -> np.ndarray:
        """The goals of one told result, oriented so that higher is better."""
        out = []
        for goal in self._goals:
            value = self.goals().value(arch, metrics, goal.metric)
            if value is None:
                columns = f", nor a column of {self.costs.table.path}" if self.costs is not None else ""
                raise UserError(f"nsga2 objective {goal.metric!r} is neither a metric the evaluator records "
                                f"({', '.join(sorted(metrics))}) nor one the space counts ({', '.join(SPACE_COUNTS)})"
                                + columns)
            out.append(goal.oriented(value))
        return np.asarray(out)

    def warnings(self) -> list[str]:
        return self.costs.warnings(g.metric for g in self._goals) if self.costs is not None else []

    def front(self) -> list[tuple[Arch, dict]]:
        """The Pareto front of everything told, in the order told."""
        history = self.history
        if not history:
            return []
        points = np.stack([self.values(a, m) for a, m in history])
        return [history[i] for i in sorted(non_dominated_fronts(points)[0])]

    # ---- ask ----------------------------------------------------------------------------------
    def _ask(self, n: int) -> list[Arch]:
        if not self._queue:
            if self.history.pending():
                return []  # the next generation's parents depend on every result of this one
            self._select_survivors()
            self._queue = self._next_generation()
            self._generation += 1
        handed, self._queue = self._queue[:n], self._queue[n:]
        return handed

    def _results(self) -> dict[int, tuple[Arch, dict]]:
        """Every told result by trial id: selection reads them in id order, so workers that finish in
        another order (Ray) select the same survivors."""
        return {trial.trial_id: (trial.arch, metrics) for trial, metrics in self.history.told()}

    def _select_survivors(self) -> None:
        """Parents and the generation just told, cut to `population` by front, then crowding."""
        results = self._results()
        pool = sorted(set(self._parents) | {i for i in results if i >= self._children_from})
        self._children_from = max(results, default=-1) + 1
        if not pool:
            return
        points = np.stack([self.values(*results[i]) for i in pool])
        keep: list[int] = []
        for front in non_dominated_fronts(points):
            if len(keep) + len(front) <= self.config.population:
                keep += front
                continue
            crowd = crowding_distance(points[front])
            order = np.argsort(-crowd, kind="stable")
            keep += [front[i] for i in order[: self.config.population - len(keep)]]
            break
        self._parents = sorted(pool[i] for i in keep)

    def _next_generation(self) -> list[Arch]:
        cfg, rng, space = self.config, self.rng, self.space
        children: list[Arch] = []
        if self._parents:
            results = self._results()
            members = [results[i] for i in self._parents]
            points = np.stack([self.values(a, m) for a, m in members])
            rank, crowd = np.zeros(len(members), dtype=int), np.zeros(len(members))
            for r, front in enumerate(non_dominated_fronts(points)):
                rank[front] = r
                crowd[front] = crowding_distance(points[front])

            def tournament() -> Arch:
                i, j = (int(k) for k in rng.integers(len(members), size=2))
                better = i if (rank[i], -crowd[i]) <= (rank[j], -crowd[j]) else j
                return members[better][0]

            def child() -> Arch:
                first, second = tournament(), tournament()
                base = space.crossover(first, second, rng) if rng.random() < cfg.crossover_prob else first
                return space.mutate(base, rng, cfg.mutation_prob)

            for _ in range(cfg.population):
                arch = self.proposals.propose(child, CHILD_TRIES, strict=False)
                if arch is not None:
                    children.append(arch)
        while len(children) < cfg.population:
            arch = self.proposals.sample()
            if arch is None:
                break
            children.append(arch)
        return children

    # ---- state --------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"generation": self._generation, "queue": [a.to_dict() for a in self._queue],
                "parents": list(self._parents), "children_from": self._children_from}

    def _load_state(self, state: dict) -> None:
        self._generation = int(state["generation"])
        self._queue = [self.space.parse(a) for a in state["queue"]]
        self._parents = [int(i) for i in state["parents"]]
        self._children_from = int(state["children_from"])
