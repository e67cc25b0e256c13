"""Pareto fronts of several objectives: non-dominated sorting, crowding distance, hypervolume.

The small core of NSGA-II (Deb et al. 2002, "A fast and elitist multiobjective genetic algorithm:
NSGA-II"), written here rather than taken from pymoo: it is about sixty lines over numpy, and the
strategies need it on a few hundred points with their own ask/tell state, not pymoo's problem and
algorithm objects. Every function takes points already oriented so that HIGHER IS BETTER in
every column (`Goal.oriented` negates the ones to minimise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from nas_common.errors import UserError

DIRECTIONS = ("max", "min")


@dataclass(frozen=True)
class Goal:
    """One objective: a metric (told by the evaluator, or `params`/`flops` counted by the space)
    and its direction."""

    metric: str
    maximise: bool

    def oriented(self, value: float) -> float:
        return float(value) if self.maximise else -float(value)

    def __str__(self) -> str:
        return f"{self.metric}:{'max' if self.maximise else 'min'}"


def parse_goals(text: str, owner: str = "objectives") -> tuple[Goal, ...]:
    """`"val_acc:max,params:min"` (or joined by `+`, where commas separate other things, as in
    `nas bench --strategies nsga2:objectives=val_acc:max+params:min`) -> goals (at least two, each
    named once)."""
    goals = []
    for part in (p.strip() for p in str(text).replace("+", ",").split(",")):
        metric, _, direction = part.partition(":")
        if not metric or direction not in DIRECTIONS:
            raise UserError(f"{owner}={text!r}: write each objective as METRIC:max or METRIC:min, separated by "
                            "commas or + (e.g. val_acc:max,params:min)")
        goals.append(Goal(metric, direction == "max"))
    if len(goals) < 2 or len({g.metric for g in goals}) != len(goals):
        raise UserError(f"{owner}={text!r}: name at least two different objectives (in `nas bench`, join them "
                        "with +: objectives=val_acc:max+params:min)")
    return tuple(goals)


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """`a` is at least as good as `b` everywhere and better somewhere (higher is better)."""
    return bool(np.all(a >= b) and np.any(a > b))


def non_dominated_fronts(points: np.ndarray) -> list[list[int]]:
    """Indices of `points` (n x m, higher is better) by front: front 0 is the Pareto front, front 1
    the front once front 0 is removed, and so on (Deb's fast non-dominated sort, O(m n^2)).
    Equal points share a front; within a front, indices keep their order."""
    points = np.asarray(points, dtype=float)
    n = len(points)
    if n == 0:
        return []
    ge = np.all(points[:, None, :] >= points[None, :, :], axis=2)
    gt = np.any(points[:, None, :] > points[None, :, :], axis=2)
    beats = ge & gt  # beats[i, j]: i dominates j
    dominated_by = beats.sum(axis=0)
    fronts, current = [], [i for i in range(n) if dominated_by[i] == 0]
    while current:
        fronts.append(current)
        following = []
        for i in current:
            for j in np.flatnonzero(beats[i]):
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    following.append(int(j))
        current = sorted(following)
    return fronts


def crowding_distance(points: np.ndarray) -> np.ndarray:
    """Per point of one front: the sum over objectives of the normalised gap between its two
    neighbours; the extremes of each objective get infinity (kept first, so the front's ends survive)."""
    points = np.asarray(points, dtype=float)
    n, m = points.shape if points.ndim == 2 else (len(points), 0)
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for k in range(m):
        order = np.argsort(points[:, k], kind="stable")
        span = points[order[-1], k] - points[order[0], k]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (points[order[2:], k] - points[order[:-2], k]) / span
    return distance


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """The area dominated by `points` (higher is better in both columns) and bounded below by
    `reference`; points not better than the reference in both columns add nothing."""
    ref = np.asarray(reference, dtype=float)
    pts = np.asarray(points, dtype=float).reshape(-1, 2)
    pts = pts[np.all(pts > ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    # Sweep from the largest x down: a point adds the strip between its y and the highest y of the
    # points right of it, as wide as its x. O(n log n): a table's 15,625 points need no front first.
    pts = pts[np.lexsort((-pts[:, 1], -pts[:, 0]))]
    floor = np.maximum.accumulate(np.r_[ref[1], pts[:-1, 1]])
    floor = np.maximum(floor, ref[1])
    gain = np.clip(pts[:, 1] - floor, 0.0, None)
    return float(np.sum((pts[:, 0] - ref[0]) * gain))
