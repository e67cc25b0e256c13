"""Evolutionary search, in two modes.

`spos`: the generational search of Single Path One-Shot (Guo et al. 2019, "Single Path One-Shot
Neural Architecture Search with Uniform Sampling"; also DetNAS, Chen et al. 2019). Generation 0 is
`population` random architectures; each later generation is `mutations` mutants and `crossovers`
children of parents drawn from the top-k of everything evaluated so far. Constraint and duplicates
are handled by rejection before evaluation; a generation that cannot be filled with children is
topped up with random architectures. Generational means `ask` returns [] while the current
generation still has results outstanding.

`regularized`: aging evolution (Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search"). After `population` random architectures, each child mutates exactly one
decision of the best of `sample_size` members drawn from the population, and the oldest member
dies when a result arrives. Asynchronous: `ask(n)` breeds n children from the current population,
so workers never wait for a generation.

`warmup=PROXY:N` (both modes): the first population is the top of N random architectures by a
zero-cost proxy instead of random architectures (Abdelfattah et al., ICLR 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.base import Strategy
from nas.strategies.reward import MnasReward, reward_cost_warnings
from nas.strategies.warmup import Warmup
from search_spaces.arch import Arch

MODES = ("spos", "regularized")
CHILD_TRIES = 20  # draws per child; a child that cannot be found is replaced by a random one


@dataclass(frozen=True)
class EvolutionConfig:
    population: int = 50
    topk: int = 10
    mutations: int = 25
    crossovers: int = 25
    mutation_prob: float = 0.1
    generations: int = 20
    mode: str = "spos"
    sample_size: int = 10  # regularized mode only: tournament size
    # "PROXY:N": the first population is the proxy's top of N random architectures (nas.strategies.warmup)
    warmup: str = ""
    # "mnas:COST:TARGET[:W]": rank by MnasNet's soft reward ACC x (COST/TARGET)^W (nas.strategies.reward)
    reward: str = ""
    # costs measured on a device (nas.constraints.cost_table): the reward's COST may be one of its columns
    cost_table: str = ""

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UserError(f"evolution option {message}")

        need(self.mode in MODES, f"mode={self.mode!r} is unknown; valid modes: {', '.join(MODES)}")
        MnasReward.parse(self.reward, "evolution")
        warmup = Warmup.parse(self.warmup, "evolution")
        need(warmup is None or warmup.count >= self.population,
             f"warmup={self.warmup!r} must score at least population={self.population} architectures")
        for key in ("population", "topk", "generations", "sample_size"):
            need(getattr(self, key) >= 1, f"{key}={getattr(self, key)} must be at least 1")
        for key in ("mutations", "crossovers"):
            need(getattr(self, key) >= 0, f"{key}={getattr(self, key)} must be at least 0")
        need(0 < self.mutation_prob <= 1, f"mutation_prob={self.mutation_prob} must be in (0, 1]")
        if self.mode == "spos":
            need(self.topk <= self.population, f"topk={self.topk} must be <= population={self.population}")
            need(self.mutations + self.crossovers >= 1, "mutations + crossovers must be at least 1")
            need(self.crossovers == 0 or self.topk >= 2, "crossovers need topk >= 2 (two distinct parents)")
        else:
            need(
                self.sample_size <= self.population,
                f"sample_size={self.sample_size} must be <= population={self.population}",
            )


@STRATEGIES.register("evolution")
class Evolution(Strategy):
    name = "evolution"
    Config = EvolutionConfig

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._generation = 0  # spos: generations built so far
        self._queue: list[Arch] = []  # spos: built but not yet handed out
        self._population: list[tuple[Arch, float]] = []  # regularized: oldest first
        self._warmup = Warmup.parse(self.config.warmup, "evolution")
        self._warm: list[Arch] | None = None  # the proxy's top architectures, once scored

    def _reward_option(self) -> str:
        return self.config.reward

    def _cost_table_option(self) -> str:
        return self.config.cost_table

    def proxies_requested(self) -> tuple[str, ...]:
        return (self._warmup.proxy,) if self._warmup else ()

    def _initial(self) -> Arch | None:
        """A member of the first population: the next of the proxy's top architectures (scored
        once, on the first call) when warming up, else a random one."""
        if self._warmup is not None:
            if self._warm is None:
                ranked = self.proxies.ranked(self.proposals.candidates(self._warmup.count), self._warmup.proxy)
                self._warm = [arch for arch, _ in ranked[: self.config.population]]
            arch = self.proposals.take_first(self._warm)
            if arch is not None:
                return arch
        return self.proposals.sample()

    def warnings(self) -> list[str]:
        return self._budget_warnings() + reward_cost_warnings(self)

    def _budget_warnings(self) -> list[str]:
        cfg = self.config
        full = cfg.population + (cfg.generations - 1) * (cfg.mutations + cfg.crossovers)
        if self.budget is not None and self.budget <= cfg.population:
            needed = f"{full} for all {cfg.generations} generations" if cfg.mode == "spos" else \
                f"more than {cfg.population}"
            return [f"--budget {self.budget} is at or below the evolution population ({cfg.population}): every "
                    f"architecture is random, so this is a random search; the settings need --budget {needed} "
                    "(or lower -o population)"]
        return []

    def _default_budget(self) -> int:
        # Same in both modes, so switching mode compares the two at an equal cost.
        cfg = self.config
        return cfg.population + (cfg.generations - 1) * (cfg.mutations + cfg.crossovers)

    def _backlog(self) -> int:
        return len(self._queue)

    def _ask(self, n: int) -> list[Arch]:
        return self._ask_spos(n) if self.config.mode == "spos" else self._ask_regularized(n)

    # ---- spos ------------------------------------------------------------------------------------
    def _ask_spos(self, n: int) -> list[Arch]:
        if not self._queue:
            if self.history.pending():
                return []  # the next generation's parents depend on every result of this one
            self._queue = self._next_generation()
            self._generation += 1
        handed, self._queue = self._queue[:n], self._queue[n:]
        return handed

    def _next_generation(self) -> list[Arch]:
        cfg, rng, space = self.config, self.rng, self.space
        size = cfg.population if self._generation == 0 else cfg.mutations + cfg.crossovers
        children: list[Arch] = []
        if self._generation > 0:
            parents = [arch for arch, _ in self.history.top(cfg.topk)]

            def mutant() -> Arch:
                return space.mutate(parents[int(rng.integers(len(parents)))], rng, cfg.mutation_prob)

            def cross() -> Arch:
                i, j = rng.choice(len(parents), size=2, replace=False)
                return space.crossover(parents[int(i)], parents[int(j)], rng)

            crossovers = cfg.crossovers if len(parents) > 1 else 0  # a lone survivor cannot mate
            for generate, count in ((mutant, cfg.mutations), (cross, crossovers)):
                for _ in range(count):
                    child = self.proposals.propose(generate, CHILD_TRIES, strict=False)
                    if child is not None:
                        children.append(child)
        while len(children) < size:
            arch = self._initial() if self._generation == 0 else self.proposals.sample()
            if arch is None:
                break
            children.append(arch)
        return children

    # ---- regularized -----------------------------------------------------------------------------
    def _ask_regularized(self, n: int) -> list[Arch]:
        archs: list[Arch] = []
        for _ in range(n):
            if self.history.asked + len(archs) < self.config.population:
                arch = self._initial()
            elif not self._population:
                break  # the random initial population is still being evaluated
            else:
                arch = self.proposals.propose(self._tournament_child, CHILD_TRIES, strict=False) or self.proposals.sample()
            if arch is None:
                break
            archs.append(arch)
        return archs

    def _tournament_child(self) -> Arch:
        pop = self._population
        drawn = self.rng.choice(len(pop), size=min(self.config.sample_size, len(pop)), replace=False)
        parent = pop[max((int(i) for i in drawn), key=lambda i: pop[i][1])][0]
        return mutate_one(self.space, parent, self.rng)

    def _on_tell(self, trial_id: int, arch: Arch, metrics: dict) -> None:
        if self.config.mode == "regularized":
            self._population.append((arch, self.history.utility(metrics)))
            if len(self._population) > self.config.population:
                self._population.pop(0)  # aging: the oldest dies, however good it is

    # ---- state -----------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "generation": self._generation,
            "queue": [a.to_dict() for a in self._queue],
            "population": [[a.to_dict(), score] for a, score in self._population],
            **({"warm": None if self._warm is None else [a.to_dict() for a in self._warm]} if self._warmup else {}),
        }

    def _load_state(self, state: dict) -> None:
        self._generation = state["generation"]
        self._queue = [self.space.parse(a) for a in state["queue"]]
        self._population = [(self.space.parse(a), float(score)) for a, score in state["population"]]
        warm = state.get("warm")
        self._warm = None if warm is None else [self.space.parse(a) for a in warm]


def mutate_one(space, arch: Arch, rng: np.random.Generator) -> Arch:
    """`arch` with exactly one decision changed to another option (Real et al.'s mutation)."""
    free = [i for i, d in enumerate(space.decisions) if d.num_options > 1]
    if not free:
        return arch
    i = free[int(rng.integers(len(free)))]
    choices = list(arch.choices)
    other = int(rng.integers(space.decisions[i].num_options - 1))
    choices[i] = other if other < choices[i] else other + 1
    child = space.canonical(Arch(space.name, tuple(choices)))
    # Spaces with rules between decisions (graph cells) may reject a one-decision change; handing
    # back the parent makes `proposals.propose` discard it as a duplicate and draw again.
    return child if space.contains(child) else arch
