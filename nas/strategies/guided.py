"""Predictor-guided search: a random forest on what is known without training (encoding, cell
paths, zero-cost scores) picks each architecture to evaluate, refitted on every result.

The loop of BANANAS-style predictor search (White et al., AAAI 2021) with the combined estimator of
NAS-Bench-Suite-Zero (`predictors.forest`: encoding + zero-cost features) and Abdelfattah et al.'s
zero-cost warm-up (ICLR 2021):
1. `warmup=PROXY:N` scores N random architectures with a proxy; the first `init` evaluations are
   its best ones (without a warm-up: random architectures).
2. Then, for every architecture asked: the forest is fitted on all results so far (the objective's
   utility against encoding + path features + the `features` proxies), and the candidate with the
   best `mean + explore * spread` among (a) the warm-up's architectures not yet evaluated, (b)
   `pool` fresh random ones and (c) every one-decision neighbour of the `topk` best results is
   proposed. Neighbours make it a local search once the forest has found the good region (local
   search is strong on NAS benchmarks: White et al., "Local Search is State of the Art for NAS
   Benchmarks", 2020).
Proxy scores come from the search (`use_proxies`), each architecture scored once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.base import Strategy
from nas.strategies.warmup import Warmup
from search_spaces.arch import Arch


@dataclass(frozen=True)
class GuidedConfig:
    # Defaults: measured on NB201 at 100 queries (bench/zero_cost_payoff_nb201.py, 30 seeds: test
    # accuracy 94.34 +- 0.14, regularized evolution 94.06 +- 0.27): the parameter count is free on
    # every space, as warm-up and as a feature. `warmup=` (empty) and `features=` turn them off.
    warmup: str = "params:3000"  # PROXY:N, e.g. naswot:1000
    init: int = 10  # evaluations before the forest takes over
    features: str = "params"  # proxies the forest reads beside the encoding, comma-separated (e.g. naswot,synflow)
    pool: int = 100  # fresh random candidates per proposal
    topk: int = 5  # results whose one-decision neighbours are candidates
    explore: float = 1.0  # weight of the trees' spread in the acquisition (0: greedy on the mean)
    trees: int = 100

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UserError(f"guided option {message}")

        Warmup.parse(self.warmup, "guided")
        for key in ("init", "trees"):
            need(getattr(self, key) >= 1, f"{key}={getattr(self, key)} must be at least 1")
        for key in ("pool", "topk"):
            need(getattr(self, key) >= 0, f"{key}={getattr(self, key)} must be at least 0")
        need(self.explore >= 0, f"explore={self.explore} must be at least 0")


@STRATEGIES.register("guided")
class Guided(Strategy):
    name = "guided"
    Config = GuidedConfig

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._warmup = Warmup.parse(self.config.warmup, "guided")
        self._features = tuple(n.strip() for n in self.config.features.split(",") if n.strip())
        self._warm: list[Arch] | None = None  # the warm-up's architectures, best proxy score first
        self._forest_seed = int(self.rng.integers(2**31))

    def _default_budget(self) -> int:
        return 100

    def proxies_requested(self) -> tuple[str, ...]:
        names = ((self._warmup.proxy,) if self._warmup else ()) + self._features
        return tuple(dict.fromkeys(names))

    # ---- ask -------------------------------------------------------------------------------------
    def _ask(self, n: int) -> list[Arch]:
        if self._warmup is not None and self._warm is None:
            ranked = self.proxies.ranked(self.proposals.candidates(self._warmup.count), self._warmup.proxy)
            self._warm = [arch for arch, _ in ranked]
        archs: list[Arch] = []
        while len(archs) < n:
            if self.history.asked + len(archs) < self.config.init or not self.history:
                arch = self._initial()
            else:
                arch = self._predicted(exclude={a.hash for a in archs})
            if arch is None:
                break
            archs.append(arch)
        return archs

    def _initial(self) -> Arch | None:
        return self.proposals.take_first(self._warm or []) or self.proposals.sample()

    def _predicted(self, exclude: set[str]) -> Arch | None:
        from predictors.forest import ForestEstimator

        told = [arch for arch, _ in self.history]
        forest = ForestEstimator(self.space, trees=self.config.trees, seed=self._forest_seed)
        forest.fit(told, [self.history.utility(m) for _, m in self.history], self._extra(told))
        pool = self._candidates(exclude)
        if not pool:
            return self.proposals.sample()
        extra = self._extra(pool)
        if self.config.explore:
            mean, spread = forest.predict_spread(pool, extra)
            acquisition = mean + self.config.explore * spread
        else:
            acquisition = forest.predict(pool, extra)
        best = int(np.argmax(acquisition))
        return self.proposals.propose(lambda: pool[best], tries=1, strict=False) or self.proposals.sample()

    def _candidates(self, exclude: set[str]) -> list[Arch]:
        found: dict[str, Arch] = {}

        def add(arch: Arch) -> None:
            if self.proposals.is_new(arch) and arch.hash not in exclude and self.space.contains(arch):
                if self.proposals.feasible(arch):
                    found.setdefault(arch.hash, arch)

        for arch in self._warm or []:
            add(arch)
        for arch in self.proposals.candidates(self.config.pool):
            add(arch)
        for arch, _ in self.history.top(self.config.topk):
            for neighbour in neighbours(self.space, arch):
                add(neighbour)
        return list(found.values())

    def _extra(self, archs: list[Arch]) -> np.ndarray | None:
        if not self._features:
            return None
        return np.stack([self.proxies.scores(archs, name) for name in self._features], axis=1)

    # ---- state -----------------------------------------------------------------------------------
    def _state(self) -> dict:
        return {"forest_seed": self._forest_seed,
                "warm": None if self._warm is None else [a.to_dict() for a in self._warm]}

    def _load_state(self, state: dict) -> None:
        self._forest_seed = int(state["forest_seed"])
        self._warm = None if state["warm"] is None else [self.space.parse(a) for a in state["warm"]]


def neighbours(space, arch: Arch) -> list[Arch]:
    """Every architecture one decision away from `arch` (in the space's canonical form)."""
    out = []
    for i, decision in enumerate(space.decisions):
        for option in range(decision.num_options):
            if option != arch.choices[i]:
                choices = list(arch.choices)
                choices[i] = option
                out.append(space.canonical(Arch(space.name, tuple(choices))))
    return out
