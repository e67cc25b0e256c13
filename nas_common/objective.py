"""What a search optimises: one metric of an evaluator's metrics dict, and a direction.

Strategies, predictors' targets, the archive, summaries and plots all rank through an Objective,
never through a metric name of their own. `utility` turns a value into "higher is better" (the
value itself when maximising, its negation when minimising), so ranking code has one direction.
A run written before objectives were recorded reads as `val_acc`, maximised.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Any, Mapping

from nas_common.errors import UserError

DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Objective:
    metric: str = "val_acc"
    direction: str = "max"
    # The metric's natural range (100 for a percentage, 1 for a fraction): strategies that need a
    # reward of order one (REINFORCE) divide by it.
    scale: float = 100.0
    unit: str = "%"  # for printing: "60.70%"

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise UserError(f"objective direction must be max or min, got {self.direction!r}")
        if not self.metric:
            raise UserError("objective metric must be a non-empty metric name")
        if not (isinstance(self.scale, Real) and self.scale > 0):
            raise UserError(f"objective scale must be positive, got {self.scale!r}")

    @property
    def maximise(self) -> bool:
        return self.direction == "max"

    def value(self, metrics: Mapping[str, Any]) -> float:
        """The objective's value in a metrics dict (may be NaN); KeyError names the metric if missing."""
        if self.metric not in metrics:
            raise KeyError(f"metrics have no {self.metric!r} (the objective); got keys {sorted(metrics)}")
        return float(metrics[self.metric])

    def finite_value(self, metrics: Any) -> float:
        """The value, checked: a finite number (what a strategy may be told)."""
        score = metrics.get(self.metric) if isinstance(metrics, Mapping) else None
        if isinstance(score, bool) or not isinstance(score, Real) or not math.isfinite(score):
            raise ValueError(f"metrics must hold a finite number under {self.metric!r}; got {metrics!r}")
        return float(score)

    def utility(self, value: float) -> float:
        """Higher is better, whatever the direction."""
        return value if self.maximise else -value

    def record_utility(self, record: Mapping[str, Any]) -> float:
        """Utility of a run record (`record["metrics"]`); NaN ranks below every number."""
        value = self.value(record["metrics"])
        return -math.inf if math.isnan(value) else self.utility(value)

    def better(self, a: float, b: float) -> bool:
        """Whether value `a` is strictly better than `b`."""
        return self.utility(a) > self.utility(b)

    def format(self, value: float) -> str:
        return f"{value:.2f}{self.unit}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> "Objective":
        """From a run config's "objective" entry; None (runs written before objectives) is val_acc, max."""
        if data is None:
            return VAL_ACC
        if not isinstance(data, Mapping):
            raise UserError(f"objective must be an object like {VAL_ACC.to_dict()}, got {data!r}")
        unknown = set(data) - set(asdict(VAL_ACC))
        if unknown:
            raise UserError(f"objective has unknown keys {sorted(unknown)}; valid: {sorted(asdict(VAL_ACC))}")
        return cls(**data)

    @classmethod
    def of_run(cls, config: Mapping[str, Any]) -> "Objective":
        return cls.from_dict(config.get("objective"))


VAL_ACC = Objective()  # classification: validation accuracy in percent, maximised
