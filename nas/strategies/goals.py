"""The objectives a strategy trades off, with the one function that reads each goal's raw value.

A single-objective strategy has one goal, the search's objective; NSGA-II has several, some of
them costs (parameters and FLOPs counted by the space, columns of a measured cost table). The run's
front summary and `nas bench` read the values through `value`, so they never need to know where a
cost comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator

from nas_common.pareto import Goal
from nas.strategies.warmup import SPACE_COUNTS, Proxies
from search_spaces.arch import Arch

# value(arch, metrics, metric) -> the goal's raw value for a told result, None when nothing knows it
GoalValue = Callable[[Arch, dict, str], "float | None"]


@dataclass(frozen=True)
class Goals:
    goals: tuple[Goal, ...]
    value: GoalValue

    def __iter__(self) -> Iterator[Goal]:
        return iter(self.goals)

    def __len__(self) -> int:
        return len(self.goals)


def told_or_counted(proxies: Proxies, arch: Arch, metrics: dict, metric: str) -> float | None:
    """A goal's raw value: the evaluator's metric, else `params`/`flops` counted by the space;
    None when neither knows it."""
    if metric in metrics:
        return float(metrics[metric])
    if metric in SPACE_COUNTS:
        return proxies.scores([arch], metric)[0]
    return None


class MeasuredCosts:
    """Costs a table measured on a device (`-o cost_table=FILE`, nas.constraints.cost_table), read as
    goals: the table's value for an architecture it lists, a ridge regression's prediction for one
    it does not (fitted once per column, its cross-validated error said in `warnings`)."""

    def __init__(self, path: str, space: Any) -> None:
        from nas.constraints.cost_table import read_cost_table

        self.space = space
        self.table = read_cost_table(path, space)
        self._predicted: dict[str, tuple[Callable[[Arch], float], float]] = {}  # column -> (predict, error)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.table.columns

    def value(self, arch: Arch, column: str) -> float | None:
        """The measured (or predicted) `column` of `arch`; None when the table has no such column."""
        if column not in self.table.columns:
            return None
        measured = self.table.value(arch, column)
        return measured if measured is not None else self._predictor(column)[0](arch)

    def _predictor(self, column: str) -> tuple[Callable[[Arch], float], float]:
        if column not in self._predicted:
            self._predicted[column] = self.table.predictor(self.space, column)
        return self._predicted[column]

    def warnings(self, columns: Iterable[str]) -> list[str]:
        """For each of `columns` the table has: how much of the space it measured, and the error of
        the prediction the rest gets."""
        out = []
        for column in dict.fromkeys(columns):
            if column in self.table.columns and len(self.table.rows) < self.space.size():
                _, error = self._predictor(column)
                out.append(f"{column}: {len(self.table.rows)} of {self.space.size():,} architectures measured in "
                           f"{self.table.path}; the others get a ridge regression's prediction (cross-validated "
                           f"error {error:.1%})")
        return out
