"""The objectives a strategy trades off, with the one function that reads each goal's raw value.

A single-objective strategy has one goal, the search's objective; NSGA-II has several, some of
them costs (parameters and FLOPs counted by the space, columns of a measured cost table). The run's
front summary and `nas bench` read the values through `value`, so they never need to know where a
cost comes from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

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
