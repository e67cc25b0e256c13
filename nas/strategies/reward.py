"""MnasNet's soft reward: accuracy traded against a cost in one number.

Tan et al. 2019 ("MnasNet: Platform-Aware Neural Architecture Search for Mobile") rank by
ACC(m) x (COST(m) / T)^w with w = alpha when COST <= T, else beta. The paper's soft reward has
alpha = beta = -0.07: an architecture twice as costly must be about 5% more accurate to rank the
same (2^-0.07 = 0.953), and T then only scales every reward alike (the ranking does not depend on
it); its hard reward has alpha = 0, beta = -1: free up to T, penalised steeply beyond. A
single-objective strategy (evolution, rl) searches on it with `-o reward=mnas:COST:T[:W]` (alpha =
beta = W, default -0.07) or `mnas:COST:T:ALPHA:BETA`, where COST is `params`, `flops` or a metric the
evaluator records (e.g. a latency) and T its target (`300M`, `5e6`, `5`). The search's own
objective, best and verdict stay the accuracy; only the strategy's ranking uses the reward
(`REWARD` in its history).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from nas_common.errors import UserError
from nas_common.objective import Objective

REWARD = "mnas_reward"  # the metric a rewarded strategy ranks by
SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


@dataclass(frozen=True)
class MnasReward:
    cost: str
    target: float
    alpha: float = -0.07  # the exponent at or under the target
    beta: float = -0.07  # the exponent over it

    @classmethod
    def parse(cls, text: str, owner: str) -> "MnasReward | None":
        """`"mnas:flops:300M"`, `"mnas:params:1.5M:-0.1"`, `"mnas:lat_ms:5:0:-1"`; "" is no reward."""
        if not text:
            return None
        parts = str(text).split(":")
        usage = (f"{owner} option reward={text!r}: write mnas:COST:TARGET[:W] or mnas:COST:TARGET:ALPHA:BETA, e.g. "
                 "mnas:flops:300M (soft, W = -0.07) or mnas:lat_ms:5:0:-1 (hard); COST: params, flops or a "
                 "recorded metric")
        if parts[0] != "mnas" or len(parts) not in (3, 4, 5) or not parts[1]:
            raise UserError(usage)
        try:
            target = si_number(parts[2])
            exponents = [float(p) for p in parts[3:]] or [-0.07]
        except ValueError:
            raise UserError(usage) from None
        alpha, beta = exponents if len(exponents) == 2 else exponents * 2
        if not target > 0 or not -1 <= alpha <= 0 or not -1 <= beta < 0:
            raise UserError(usage + f"; got target {target:g}, alpha {alpha:g}, beta {beta:g} "
                            "(need target > 0, -1 <= alpha <= 0, -1 <= beta < 0)")
        return cls(parts[1], target, alpha, beta)

    def value(self, accuracy: float, cost: float) -> float:
        """ACC x (COST / T)^w, w = alpha at or under T, beta over it; a zero cost counts as the
        smallest positive one (no division by zero)."""
        ratio = max(float(cost), 1e-12) / self.target
        return float(accuracy) * ratio ** (self.alpha if ratio <= 1 else self.beta)


def si_number(text: str) -> float:
    """`300M`, `1.5k`, `5`, `2e6` as a number (suffixes k/K, M, G)."""
    text = text.strip()
    if text and text[-1] in SUFFIXES:
        return float(text[:-1]) * SUFFIXES[text[-1]]
    return float(text)


@dataclass(frozen=True)
class Ranking:
    """What a strategy ranks told results by: the search's objective, or MnasNet's reward on it.

    With a reward, `annotate` adds `REWARD` to each told result's metrics (the objective stays in
    them too), and `utility` reads it; without one, both leave the objective alone.
    """

    objective: Objective
    reward: MnasReward | None = None

    @classmethod
    def of(cls, objective: Objective, reward_option: str, owner: str) -> "Ranking":
        """The ranking a strategy's `reward=` option asks for ("" ranks by the objective)."""
        reward = MnasReward.parse(reward_option, owner)
        if reward is not None and not objective.maximise:
            raise UserError(f"{owner} option reward: MnasNet's reward scales an objective to maximise "
                            f"(an accuracy or mAP); this search minimises {objective.metric}")
        return cls(objective, reward)

    @property
    def metric(self) -> str:
        return REWARD if self.reward is not None else self.objective.metric

    def utility(self, metrics: dict) -> float:
        """The told objective as "higher is better" (negated when minimised), or the reward."""
        value = float(metrics[self.metric])
        return value if self.reward is not None else self.objective.utility(value)

    def annotate(self, metrics: dict, cost: Callable[[str], float | None], owner: str) -> dict:
        """`metrics` with the reward added where there is one; `cost(name)` is a goal's raw value."""
        if self.reward is None:
            return metrics
        value = cost(self.reward.cost)
        if value is None:
            raise UserError(f"{owner} option reward: cost {self.reward.cost!r} is neither params, flops, a metric the "
                            f"evaluator records ({', '.join(sorted(metrics))}) nor a column of -o cost_table")
        return {**metrics, REWARD: self.reward.value(self.objective.finite_value(metrics), value)}


def reward_cost_warnings(strategy: Any) -> list[str]:
    """What a rewarded strategy should say before it searches: its reward's cost read from a cost
    table that measured only part of the space (the rest is predicted, with this error)."""
    reward = strategy.history.ranking.reward
    if reward is None or strategy.costs is None:
        return []
    return strategy.costs.warnings([reward.cost])
