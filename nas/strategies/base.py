"""Ask/tell search strategies: the constraint and the base class every strategy extends.

A strategy proposes architectures (`ask`) and learns their metrics (`tell`), keyed by trial id, in
the style of Ray Tune's `Searcher`. It knows only architectures and the space protocol, never a
supernet, data or Ray, so one runner drives every strategy and tests run on toy objectives in
milliseconds. The base class owns what every strategy needs: trial ids, pending trials, the told
history, the budget, the rules "never propose an architecture twice" and "never propose one that
breaks the constraint", and the JSON state. A strategy supplies `_ask` and, where it learns
online, `_on_tell` plus `_state`/`_load_state` for its own fields.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict
from numbers import Integral
from typing import TYPE_CHECKING, Any, Callable, ClassVar, NamedTuple

import numpy as np

from nas_common.errors import UserError
from nas.constraints.limits import Constraint, InfeasibleConstraint, format_si
from nas_common.objective import VAL_ACC, Objective
from nas.strategies.reward import REWARD
from search_spaces.arch import Arch

if TYPE_CHECKING:  # torch stays out of `import nas.strategies` for light tools
    import torch

    from search_spaces.protocol import SearchSpace

MAX_TRIES = 1000  # draws per proposal before a strategy concludes infeasible or exhausted


class Trial(NamedTuple):
    trial_id: int
    arch: Arch


class Strategy(ABC):
    name: ClassVar[str]
    Config: ClassVar[type]  # a frozen dataclass of options with defaults
    # the registered supernet-training method (nas.supernet.methods) that trains its supernet before
    # the search loop (DARTS); None: the run's supernet is trained by single-path sampling
    trains_supernet: ClassVar[str | None] = None

    def __init__(
        self,
        space: SearchSpace,
        *,
        budget: int | None,
        constraint: Constraint = Constraint(),
        rng: np.random.Generator,
        config: Any = None,
        objective: Objective = VAL_ACC,
    ) -> None:
        config = self.Config() if config is None else config
        if not isinstance(config, self.Config):
            raise TypeError(
                f"{type(self).__name__} takes a {self.Config.__name__}, got {type(config).__name__}"
            )
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, Integral) or budget < 1):
            raise UserError(f"budget must be a positive number of trials; got {budget!r}")
        self.space = space
        self.config = config
        self.constraint = constraint
        self.objective = objective
        self.rng = rng
        self.budget: int | None = int(budget) if budget is not None else self.default_budget()
        self._next_id = 0
        self._seen: set[str] = set()  # hashes of every architecture ever proposed (all feasible)
        self._pending: dict[int, Arch] = {}
        self._history: list[tuple[int, Arch, dict]] = []
        self._exhausted = False
        self._costs: dict[str, dict[str, int]] = {}  # measuring can be slow; pure, so never saved
        self._proxy: Callable[[list[Arch], str], Any] | None = None  # cheap estimators (use_proxies)
        self._reward = None  # a MnasReward the strategy ranks by (nas.strategies.reward), if asked for
        self._ranking = objective  # what `utility` reads: the objective, or the reward

    # ---- what a strategy supplies ------------------------------------------------------------
    @abstractmethod
    def _ask(self, n: int) -> list[Arch]:
        """Up to `n` new architectures, each obtained through `_propose` (or `_sample`)."""

    def _on_tell(self, trial_id: int, arch: Arch, metrics: dict) -> None:
        """Learn from one result (the base class has already recorded it in the history)."""

    def _state(self) -> dict:
        """The strategy's own JSON state beyond what the base class saves."""
        return {}

    def _load_state(self, state: dict) -> None:
        pass

    def _backlog(self) -> int:
        """Architectures already proposed (so marked seen) but not yet handed out by `_ask`."""
        return 0

    def proxies_requested(self) -> tuple[str, ...]:
        """The zero-cost proxies this strategy's options ask for (e.g. `warmup=naswot:3000`), which
        the search hands it with `use_proxies`; empty when it needs none."""
        return ()

    def use_proxies(self, score: Callable[[list[Arch], str], Any]) -> None:
        """`score(archs, proxy)` -> that proxy's values (higher predicted better), for each of
        `proxies_requested()`."""
        self._proxy = score

    def proxy_scores(self, archs: list[Arch], proxy: str) -> list[float]:
        if self._proxy is None and proxy in ("params", "flops"):  # the space counts them: no data needed
            count = self.space.params if proxy == "params" else self.space.flops
            return [float(count(a)) for a in archs]
        if self._proxy is None:
            raise UserError(f"strategy {self.name!r} needs the scores of proxy {proxy!r}; run it through "
                            "`nas search` (or give it a scoring function with use_proxies)")
        return [float(v) for v in self._proxy(list(archs), proxy)]

    def default_budget(self) -> int | None:
        """Trials to run when the user gives no budget; None runs until the space is exhausted."""
        return None

    # ---- ask / tell --------------------------------------------------------------------------
    def ask(self, n: int) -> list[Trial]:
        """Up to `n` new trials; [] while the strategy waits for results, or when it is done."""
        if n < 0:
            raise ValueError(f"ask(n) needs n >= 0, got {n}")
        if self.budget is not None:
            n = min(n, self.budget - self._next_id)
        if n <= 0 or (self._exhausted and not self._backlog()):
            return []
        archs = self._ask(n)
        if len(archs) > n:
            raise RuntimeError(f"{self.name}._ask({n}) returned {len(archs)} architectures")
        if not archs and not self._pending:
            # Nothing new and nothing outstanding to learn from: no later call can do better.
            self._exhausted = True
        trials = [Trial(self._next_id + i, arch) for i, arch in enumerate(archs)]
        self._next_id += len(trials)
        self._pending.update(trials)
        return trials

    def tell(self, trial_id: int, metrics: dict) -> None:
        """Record the metrics of a pending trial; `metrics[self.objective.metric]` is the objective."""
        if trial_id not in self._pending:
            why = "was already told" if 0 <= trial_id < self._next_id else "was never asked"
            raise ValueError(f"unknown trial id {trial_id}: it {why}")
        # A failed evaluation should be told as a poor score, not left out: the trial must close.
        self.objective.finite_value(metrics)
        metrics = {k: v.item() if isinstance(v, np.generic) else v for k, v in metrics.items()}
        arch = self._pending.pop(trial_id)
        if self._reward is not None:  # ranked by the reward; the objective stays in the metrics too
            metrics = {**metrics, REWARD: self._rewarded(arch, metrics)}
        self._history.append((trial_id, arch, metrics))
        self._on_tell(trial_id, arch, metrics)

    def done(self) -> bool:
        if self.budget is not None and len(self._history) >= self.budget:
            return True
        return self._exhausted and not self._pending and not self._backlog()

    def warnings(self) -> list[str]:
        """Settings that run but probably not as meant (e.g. a budget too small to get past the
        random start); the CLI prints them before a search."""
        return []

    def pending(self) -> list[Trial]:
        """Trials asked but not yet told (after a restore: the ones to evaluate again)."""
        return [Trial(i, a) for i, a in sorted(self._pending.items())]

    def told(self) -> list[tuple[Trial, dict]]:
        """(trial, metrics told) in the order they were told (a resume checks them against the archive)."""
        return [(Trial(i, arch), metrics) for i, arch, metrics in self._history]

    @property
    def history(self) -> list[tuple[Arch, dict]]:
        """Told results in the order they were told."""
        return [(arch, metrics) for _, arch, metrics in self._history]

    def top(self, k: int) -> list[tuple[Arch, dict]]:
        """The `k` best told results; ties go to the earlier told (a stable sort)."""
        ranked = sorted(self._history, key=lambda rec: -self.utility(rec[2]))
        return [(arch, metrics) for _, arch, metrics in ranked[:k]]

    def goals(self) -> tuple:
        """The objectives this strategy trades off (`nas_common.pareto.Goal`s): the search's one
        objective, unless it searches a Pareto front (then the run reports the front too)."""
        from nas_common.pareto import Goal

        return (Goal(self.objective.metric, self.objective.maximise),)

    def _rank_by_reward(self, text: str) -> None:
        """Rank by MnasNet's soft reward (`reward=mnas:COST:T[:w]`) instead of the objective (what
        `utility` and `top` read); the search's objective, records and verdict stay as they were."""
        from dataclasses import replace

        from nas.strategies.reward import MnasReward

        self._reward = MnasReward.parse(text, self.name)
        if self._reward is not None and not self.objective.maximise:
            raise UserError(f"{self.name} option reward: MnasNet's reward scales an objective to maximise "
                            f"(an accuracy or mAP); this search minimises {self.objective.metric}")
        if self._reward is not None:
            self._ranking = replace(self.objective, metric=REWARD, direction="max")

    def _rewarded(self, arch: Arch, metrics: dict) -> float:
        accuracy = self.objective.finite_value(metrics)
        cost = self.goal_value(arch, metrics, self._reward.cost)
        if cost is None:
            raise UserError(f"{self.name} option reward: cost {self._reward.cost!r} is neither params, flops nor a "
                            f"metric the evaluator records ({', '.join(sorted(metrics))})")
        return self._reward.value(accuracy, cost)

    def goal_value(self, arch: Arch, metrics: dict, metric: str) -> float | None:
        """One goal's raw value for a told result: the evaluator's metric, else `params`/`flops`
        counted by the space; None when neither knows it (strategies with other sources extend it)."""
        if metric in metrics:
            return float(metrics[metric])
        if metric in ("params", "flops"):
            return self.proxy_scores([arch], metric)[0]
        return None

    # ---- helpers for strategies ----------------------------------------------------------------
    def utility(self, metrics: dict) -> float:
        """The told objective as "higher is better" (negated when the objective is minimised), or the
        reward where the strategy ranks by one."""
        return self._ranking.utility(float(metrics[self._ranking.metric]))

    def _cost(self, arch: Arch) -> dict[str, int]:
        key = arch.hash
        if key not in self._costs:
            self._costs[key] = self.constraint.costs(self.space, arch)
        return self._costs[key]

    def _propose(
        self, generate: Callable[[], Arch], tries: int = MAX_TRIES, *, strict: bool = True
    ) -> Arch | None:
        """Draw from `generate` until an unseen architecture within the constraint appears.

        Returns None when every draw was seen before or broke the constraint (for random draws:
        the space is exhausted). With `strict`, raises InfeasibleConstraint when not one draw met
        the constraint; strategies pass strict=False for local moves such as mutation, whose
        failure says nothing about the whole space.
        """
        feasible = False
        smallest: dict[str, int] = {}
        for _ in range(tries):
            arch = generate()
            key = arch.hash
            if key in self._seen:
                feasible = True  # only feasible architectures are ever marked seen
                continue
            costs = self._cost(arch)
            if self.constraint.check(costs) is None:
                self._seen.add(key)
                return arch
            for q, v in costs.items():
                smallest[q] = min(smallest.get(q, v), v)
        if strict and not feasible and smallest:
            limits = ", ".join(f"max_{q}={format_si(v)}" for q, v in self.constraint.limits().items())
            seen = ", ".join(f"{q} {format_si(v)}" for q, v in smallest.items())
            raise InfeasibleConstraint(
                f"constraint {limits} is infeasible: none of {tries} random architectures met it "
                f"(smallest seen: {seen}); raise the limit"
            )
        return None

    def _sample(self) -> Arch | None:
        """A new uniformly random architecture within the constraint; None once the space is used up."""
        if len(self._seen) >= self.space.size():
            arch = None
        else:
            arch = self._propose(lambda: self.space.sample(self.rng))
        if arch is None:
            self._exhausted = True
        return arch

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-serialisable state: everything needed to continue exactly as if never stopped."""
        return {
            "strategy": self.name,
            "space": self.space.name,
            "config": asdict(self.config),
            "constraint": asdict(self.constraint),
            "budget": self.budget,
            "rng": self.rng.bit_generator.state,
            "next_id": self._next_id,
            "exhausted": self._exhausted,
            "seen": sorted(self._seen),
            "pending": [{"trial_id": i, "arch": a.to_dict()} for i, a in sorted(self._pending.items())],
            "history": [{"trial_id": i, "arch": a.to_dict(), "metrics": dict(m)} for i, a, m in self._history],
            "strategy_state": self._state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from `state`; this strategy must be built with the same space, options and
        constraint. Its own budget is kept, so a resumed search may be given a larger one."""
        # Options added in later versions are missing from older states: they had the default.
        saved_config = {**asdict(self.Config()), **state.get("config", {})}
        for key, ours in (
            ("strategy", self.name),
            ("space", self.space.name),
            ("config", asdict(self.config)),
            ("constraint", asdict(self.constraint)),
        ):
            if (saved_config if key == "config" else state.get(key)) != ours:
                raise UserError(
                    f"saved strategy state has {key} {state.get(key)!r}, not {ours!r}; "
                    f"resume with the saved {key}"
                )
        parse = self.space.parse
        self.rng.bit_generator.state = state["rng"]
        self._next_id = state["next_id"]
        self._exhausted = state["exhausted"]
        self._seen = set(state["seen"])
        self._pending = {p["trial_id"]: parse(p["arch"]) for p in state["pending"]}
        self._history = [(h["trial_id"], parse(h["arch"]), dict(h["metrics"])) for h in state["history"]]
        self._load_state(state["strategy_state"])

    def tensors(self) -> dict[str, torch.Tensor]:
        """Sidecar tensors (e.g. a controller's weights) saved beside the JSON state; none here."""
        return {}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if tensors:
            raise ValueError(f"strategy {self.name!r} keeps no tensors; got {sorted(tensors)}")
