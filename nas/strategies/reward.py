"""MnasNet's soft reward: accuracy traded against a cost in one number.

Tan et al. 2019 ("MnasNet: Platform-Aware Neural Architecture Search for Mobile") rank by
ACC(m) x (COST(m) / T)^w: at the target cost T the reward is the accuracy itself; with w = -0.07
an architecture twice as costly must be about 5% more accurate to rank the same (2^-0.07 = 0.953).
A single-objective strategy (evolution, rl) searches on it with `-o reward=mnas:COST:T[:w]`, where
COST is `params`, `flops` or a metric the evaluator records (e.g. a latency), T its target
(`300M`, `5e6`, `5`), and w the exponent (default -0.07). The search's own objective, best and
verdict stay the accuracy; only the strategy's ranking uses the reward (`REWARD` in its history).
"""

from __future__ import annotations

from dataclasses import dataclass

from nas_common.errors import UserError

REWARD = "mnas_reward"  # the metric a rewarded strategy ranks by
SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9}


@dataclass(frozen=True)
class MnasReward:
    cost: str
    target: float
    w: float = -0.07

    @classmethod
    def parse(cls, text: str, owner: str) -> "MnasReward | None":
        """`"mnas:flops:300M"`, `"mnas:params:1.5M:-0.1"`; "" is no reward."""
        if not text:
            return None
        parts = str(text).split(":")
        usage = (f"{owner} option reward={text!r}: write mnas:COST:TARGET[:W], e.g. mnas:flops:300M or "
                 "mnas:lat_ms:5:-0.07 (COST: params, flops or a recorded metric; W < 0)")
        if parts[0] != "mnas" or len(parts) not in (3, 4) or not parts[1]:
            raise UserError(usage)
        try:
            target = si_number(parts[2])
            w = float(parts[3]) if len(parts) == 4 else -0.07
        except ValueError:
            raise UserError(usage) from None
        if not target > 0 or not -1 <= w < 0:
            raise UserError(usage + f"; got target {target:g}, w {w:g} (need target > 0, -1 <= w < 0)")
        return cls(parts[1], target, w)

    def value(self, accuracy: float, cost: float) -> float:
        """ACC x (COST / T)^w; a zero cost counts as the smallest positive one (no division by zero)."""
        return float(accuracy) * (max(float(cost), 1e-12) / self.target) ** self.w


def si_number(text: str) -> float:
    """`300M`, `1.5k`, `5`, `2e6` as a number (suffixes k/K, M, G)."""
    text = text.strip()
    if text and text[-1] in SUFFIXES:
        return float(text[:-1]) * SUFFIXES[text[-1]]
    return float(text)
