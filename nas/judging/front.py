"""The Pareto front a multi-objective search ends on, and how much it covers.

A search that trades several objectives off (`Strategy.goals()` names more than one) ends on a
front, not a best: every architecture no other beats on all objectives at once. Its size is the
hypervolume (for two objectives: the area the front dominates above a reference point), measured
in one box for the search and for its random baseline, so the two are comparable: from the worst
to the best value of each objective over both, so that 1 would be one architecture best at both. Objectives are metrics the evaluator
recorded, `params`/`flops`, which the space counts, or costs measured elsewhere, read as the search
read them (`Strategy.goals().value`).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from nas_common.pareto import Goal, hypervolume_2d, non_dominated_fronts
from search_spaces.arch import Arch

# value(arch, metrics, metric) -> the goal's raw value, None when unknown (`Strategy.goals().value`)
GoalValue = Callable[[Arch, dict, str], "float | None"]


def front_summary(space: Any, records: Sequence[dict[str, Any]], goals: Sequence[Goal], value: GoalValue,
                  baseline: dict[str, Any] | None = None, figure: Any = None) -> dict[str, Any]:
    """{"goals", "front": [{step, arch, arch_hash, values}], "hypervolume", "reference", "ideal",
    "random_baseline": {"count", "hypervolume"}} (hypervolumes for two goals only); `value` reads a
    goal of one result as the search did (metrics, the space's counts, a measured cost table).
    `figure`: a path where two goals are drawn (every point, the front, the random baseline)."""
    run = _points([(Arch.from_dict(r["arch"]), r["metrics"], r) for r in records], goals, value)
    randoms = []
    for row in (baseline or {}).get("evaluations", []):
        arch = Arch(space.name, tuple(int(c) for c in row["choices"]))
        randoms.append((arch, {k: v for k, v in row.items() if k not in ("arch_hash", "choices")}, row))
    base = _points(randoms, goals, value)
    out: dict[str, Any] = {"goals": [str(g) for g in goals], "front": []}
    if not run:
        return out
    oriented = np.array([[g.oriented(v) for g, v in zip(goals, values)] for _, values, _ in run])
    for i in sorted(non_dominated_fronts(oriented)[0], key=lambda i: run[i][1][1:]):
        arch, values, record = run[i]
        metrics = record.get("metrics", {})
        errors = {g.metric: float(metrics[f"{g.metric}_se"]) for g in goals if f"{g.metric}_se" in metrics}
        out["front"].append({"step": record.get("step"), "arch": arch.to_dict(), "arch_hash": arch.hash,
                             "values": dict(zip((g.metric for g in goals), values)),
                             **({"se": errors} if errors else {})})
    _mark_noise(out["front"], goals)
    if len(goals) == 2 and figure is not None:
        from nas.archive.plots import plot_front

        plot_front(figure, [tuple(v) for _, v, _ in run], [tuple(f["values"][g.metric] for g in goals) for f in out["front"]],
                   [tuple(v) for _, v, _ in base], str(goals[0]), str(goals[1]),
                   f"Pareto front: {len(out['front'])} of {len(run)} evaluated")
    if len(goals) == 2:
        every = oriented if not base else np.vstack(
            [oriented, [[g.oriented(v) for g, v in zip(goals, values)] for _, values, _ in base]])
        reference, ideal = every.min(axis=0), every.max(axis=0)
        span = np.where(ideal > reference, ideal - reference, 1.0)
        out["reference"] = [g.oriented(v) for g, v in zip(goals, reference)]  # back to raw units
        out["ideal"] = [g.oriented(v) for g, v in zip(goals, ideal)]
        # as a share of the box between the worst and the best value of each objective (0 to 1)
        out["hypervolume"] = hypervolume_2d((oriented - reference) / span, (0.0, 0.0))
        if base:
            points = np.array([[g.oriented(v) for g, v in zip(goals, values)] for _, values, _ in base])
            out["random_baseline"] = {"count": len(base),
                                      "hypervolume": hypervolume_2d((points - reference) / span, (0.0, 0.0))}
    return out


def _mark_noise(front: list[dict[str, Any]], goals: Sequence[Goal]) -> None:
    """Along the front (ordered by the later goals), each step buys the first goal with the others;
    where that gain is inside its noise (both points' standard errors, 95%), the step is marked
    `within_noise`: the dearer architecture is not shown to be better on the first goal."""
    from nas.tasks.uncertainty import distinguishable

    first = goals[0].metric
    for before, after in zip(front, front[1:]):
        if first in before.get("se", {}) and first in after.get("se", {}):
            gain = after["values"][first] - before["values"][first]
            se = float(np.hypot(before["se"][first], after["se"][first]))
            after["within_noise"] = not distinguishable(gain, se)


def _points(rows, goals, value):
    """(arch, raw goal values, record) of the rows whose every goal is known."""
    points = []
    for arch, metrics, record in rows:
        values = [value(arch, metrics, g.metric) for g in goals]
        if all(v is not None for v in values):
            points.append((arch, [float(v) for v in values], record))
    return points


def describe_front(front: dict[str, Any], evaluated: int) -> str:
    """One line for the report: the front's size and its hypervolume beside the random baseline's."""
    text = f"{len(front['front'])} architectures on the front of {', '.join(front['goals'])}"
    noisy = sum(bool(f.get("within_noise")) for f in front["front"])
    if any("within_noise" in f for f in front["front"]):
        text += f" ({noisy} of its steps within the {front['goals'][0].split(':')[0]} noise)"
    if "hypervolume" in front:
        text += f"; hypervolume {front['hypervolume']:.3f} of the box ({evaluated} evaluated)"
        base = front.get("random_baseline")
        if base:
            text += f"; the random baseline's {base['hypervolume']:.3f} ({base['count']} random architectures)"
    return text


def parse_pick(text: str) -> tuple[str, str, float]:
    """`"latency_ms<=3"`, `"params<=300k"`, `"val_acc>=70"` -> (metric, "<=" or ">=", value)."""
    import re

    from nas.strategies.reward import si_number
    from nas_common.errors import UserError

    match = re.fullmatch(r"\s*([A-Za-z_][\w.]*)\s*(<=|>=)\s*([^\s]+)\s*", str(text))
    try:
        if match is None:
            raise ValueError
        return match.group(1), match.group(2), si_number(match.group(3))
    except ValueError:
        raise UserError(f"--pick {text!r}: write METRIC<=VALUE or METRIC>=VALUE, e.g. latency_ms<=3 or "
                        "params<=300k") from None


def pick(summary: dict[str, Any], records: Sequence[dict[str, Any]], condition: str, objective: Any
         ) -> dict[str, Any]:
    """The record of the best architecture (by `objective`) that meets `condition`, chosen from the
    run's front when it has one (its values include costs measured elsewhere), else from every record
    (metrics, flops, params). UserError, naming the range there is, when none meets it."""
    from nas_common.errors import UserError

    metric, op, bound = parse_pick(condition)
    by_hash = {r["arch_hash"]: r for r in records}

    def value(record: dict[str, Any], values: dict[str, Any]) -> float | None:
        for source in (values, record.get("metrics", {}), record):
            if metric in source and isinstance(source[metric], (int, float)):
                return float(source[metric])
        return None

    front = (summary or {}).get("front", {}).get("front") or []
    candidates = ([(by_hash[f["arch_hash"]], f["values"]) for f in front if f["arch_hash"] in by_hash]
                  or [(r, {}) for r in records])
    known = [(r, value(r, v)) for r, v in candidates]
    known = [(r, x) for r, x in known if x is not None]
    if not known:
        raise UserError(f"--pick {condition}: the run records no {metric!r} (try flops, params or a metric it records)")
    meets = [r for r, x in known if (x <= bound if op == "<=" else x >= bound)]
    if not meets:
        values = [x for _, x in known]
        raise UserError(f"--pick {condition}: no architecture {'on the front ' if front else ''}meets it; "
                        f"{metric} ranges {min(values):g} to {max(values):g} there")
    return max(meets, key=objective.record_utility)
