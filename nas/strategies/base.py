"""Ask/tell search strategies: the base class every strategy extends.

A strategy proposes architectures (`ask`) and learns their metrics (`tell`), keyed by trial id, in
the style of Ray Tune's `Searcher`. It knows only architectures and the space protocol, never a
supernet, data or Ray, so one runner drives every strategy and tests run on toy objectives in
milliseconds. The base class keeps what every strategy needs and nothing else: trial ids, the
budget, the trials (read by everyone through the read-only `history`) and the JSON state. What
strategies share is composed, each helper with public methods: `proposals` (never the same
architecture twice, never one that breaks the constraint), `proxies` (cheap scores), and the
ranking `history.top` reads (the objective, or MnasNet's reward).

A strategy supplies `_ask`; where it learns online, `_on_tell`, and `_state`/`_load_state` for its
own fields; optionally `_default_budget`, `_backlog`, `_reward_option` and `_goal_value`. Those
hooks are the whole contract between the base class and a subclass: a subclass reads the base
only through public members.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict
from numbers import Integral
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import numpy as np

from nas_common.errors import UserError
from nas.constraints.limits import Constraint
from nas_common.objective import VAL_ACC, Objective
from nas_common.pareto import Goal
from nas.strategies.goals import Goals, MeasuredCosts, told_or_counted
from nas.strategies.history import History, Trial
from nas.strategies.proposals import MAX_TRIES, Proposals
from nas.strategies.reward import Ranking
from nas.strategies.warmup import Proxies
from search_spaces.arch import Arch

if TYPE_CHECKING:  # torch stays out of `import nas.strategies` for light tools
    import torch

    from search_spaces.protocol import SearchSpace

__all__ = ["MAX_TRIES", "Strategy", "Trial"]


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
        self.proposals = Proposals(space, constraint, rng)
        self.proxies = Proxies(space, self.name)
        self._next_id = 0
        self._pending: dict[int, Arch] = {}
        self._told: list[tuple[int, Arch, dict]] = []
        self._history = History(self._told, self._pending, Ranking.of(objective, self._reward_option(), self.name))
        table = self._cost_table_option()
        # costs measured on a device (`-o cost_table=FILE`): goals and reward costs beside the counted ones
        self.costs = MeasuredCosts(table, space) if table else None
        self.budget: int | None = int(budget) if budget is not None else self._default_budget()

    # ---- what a strategy supplies ------------------------------------------------------------
    @abstractmethod
    def _ask(self, n: int) -> list[Arch]:
        """Up to `n` new architectures, each obtained through `self.proposals`."""

    def _on_tell(self, trial_id: int, arch: Arch, metrics: dict) -> None:
        """Learn from one result (the base class has already recorded it in the history)."""

    def _state(self) -> dict:
        """The strategy's own JSON state beyond what the base class saves."""
        return {}

    def _load_state(self, state: dict) -> None:
        pass

    def _backlog(self) -> int:
        """Architectures already claimed but not yet handed out by `_ask`."""
        return 0

    def _default_budget(self) -> int | None:
        """Trials to run when the user gives no budget; None runs until the space is exhausted."""
        return None

    def _reward_option(self) -> str:
        """The `reward=` option (`mnas:COST:T[:W]`) to rank by instead of the objective; "" for none."""
        return ""

    def _cost_table_option(self) -> str:
        """The `cost_table=` option (a file of costs measured on a device); "" for none."""
        return ""

    def _goal_value(self, arch: Arch, metrics: dict, metric: str) -> float | None:
        """One goal's raw value for a told result: the evaluator's metric, else `params`/`flops`
        counted by the space, else a column of the cost table; None when nothing knows it."""
        value = told_or_counted(self.proxies, arch, metrics, metric)
        if value is None and self.costs is not None:
            value = self.costs.value(arch, metric)
        return value

    # ---- ask / tell --------------------------------------------------------------------------
    def ask(self, n: int) -> list[Trial]:
        """Up to `n` new trials; [] while the strategy waits for results, or when it is done."""
        if n < 0:
            raise ValueError(f"ask(n) needs n >= 0, got {n}")
        if self.budget is not None:
            n = min(n, self.budget - self._next_id)
        if n <= 0 or (self.proposals.exhausted and not self._backlog()):
            return []
        archs = self._ask(n)
        if len(archs) > n:
            raise RuntimeError(f"{self.name}._ask({n}) returned {len(archs)} architectures")
        if not archs and not self._pending:
            # Nothing new and nothing outstanding to learn from: no later call can do better.
            self.proposals.exhausted = True
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
        # ranked by a reward: it joins the metrics, the objective stays in them too
        metrics = self._history.ranking.annotate(metrics, lambda cost: self._goal_value(arch, metrics, cost), self.name)
        self._told.append((trial_id, arch, metrics))
        self._on_tell(trial_id, arch, metrics)

    def done(self) -> bool:
        if self.budget is not None and len(self._told) >= self.budget:
            return True
        return self.proposals.exhausted and not self._pending and not self._backlog()

    @property
    def history(self) -> History:
        """The trials, read-only: told results in order, pending trials, the top by the ranking."""
        return self._history

    def warnings(self) -> list[str]:
        """Settings that run but probably not as meant (e.g. a budget too small to get past the
        random start); the CLI prints them before a search."""
        return []

    def goals(self) -> Goals:
        """The objectives this strategy trades off, with their values' reader: the search's one
        objective, unless it searches a Pareto front (then the run reports the front too)."""
        return Goals((Goal(self.objective.metric, self.objective.maximise),), self._goal_value)

    def proxies_requested(self) -> tuple[str, ...]:
        """The zero-cost proxies this strategy's options ask for (e.g. `warmup=naswot:3000`), which
        the search hands it with `use_proxies`; empty when it needs none."""
        return ()

    def use_proxies(self, score: Callable[[list[Arch], str], Any]) -> None:
        """`score(archs, proxy)` -> that proxy's values (higher predicted better), for each of
        `proxies_requested()`."""
        self.proxies.attach(score)

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
            "exhausted": self.proposals.exhausted,
            "seen": self.proposals.seen(),
            "pending": [{"trial_id": i, "arch": a.to_dict()} for i, a in sorted(self._pending.items())],
            "history": [{"trial_id": i, "arch": a.to_dict(), "metrics": dict(m)} for i, a, m in self._told],
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
        self.proposals.restore(state["seen"], state["exhausted"])
        # refilled in place: the history view reads these very containers
        self._pending.clear()
        self._pending.update({p["trial_id"]: parse(p["arch"]) for p in state["pending"]})
        self._told[:] = [(h["trial_id"], parse(h["arch"]), dict(h["metrics"])) for h in state["history"]]
        self._load_state(state["strategy_state"])

    def tensors(self) -> dict[str, torch.Tensor]:
        """Sidecar tensors (e.g. a controller's weights) saved beside the JSON state; none here."""
        return {}

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        if tensors:
            raise ValueError(f"strategy {self.name!r} keeps no tensors; got {sorted(tensors)}")
