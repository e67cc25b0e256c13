"""Benchmarks of several objectives: how much of the objectives' box each search's front covers.

With `objectives` (e.g. `val_acc:max,params:min`), every pair also records each query's goal
values (as the strategy reads them: the table's metrics, the space's counts), and each search's
front is measured by its hypervolume after q queries, in ONE box for the whole benchmark: from
the worst to the best value of each goal over every pair's queries, so 1.0 would be one
architecture best at both. Random search at the same budget is the baseline, as for accuracy:
the difference of mean hypervolumes with its standard error over seeds (unpaired, in quadrature).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nas_common.pareto import Goal, hypervolume_2d


def front_stats(pairs: Sequence[dict[str, Any]], goals: Sequence[Goal], checkpoints: Sequence[int],
                baseline: str, universe: np.ndarray | None = None) -> dict[str, Any]:
    """{"box": {"reference", "ideal"}, "strategies": {label: {q: {"mean", "sem"}}},
    "comparisons": {label: {"difference", "se", "low", "high", "distinguishable"}}} at the last checkpoint.
    `universe`: the raw goal values of every architecture of the space (a table's): the box is then
    the whole space's, and "true_front" the hypervolume of its own front (what a search can reach)."""
    from nas.tasks.uncertainty import distinguishable, interval

    oriented = {id(p): np.array([[g.oriented(v) for g, v in zip(goals, row)] for row in p["goal_values"]])
                for p in pairs}
    every = np.vstack(list(oriented.values()))
    if universe is not None:
        every = np.array([[g.oriented(v) for g, v in zip(goals, row)] for row in universe])
    reference, ideal = every.min(axis=0), every.max(axis=0)
    span = np.where(ideal > reference, ideal - reference, 1.0)
    by_label: dict[str, dict[str, list[float]]] = {}
    for pair in pairs:
        points = (oriented[id(pair)] - reference) / span
        stats = by_label.setdefault(pair["strategy"], {str(q): [] for q in checkpoints})
        for q in checkpoints:
            stats[str(q)].append(hypervolume_2d(points[:q], (0.0, 0.0)))
    strategies = {label: {q: _mean_sem(v) for q, v in per_q.items()} for label, per_q in by_label.items()}
    last = str(checkpoints[-1])
    comparisons = {}
    if baseline in strategies:
        base = strategies[baseline][last]
        for label, per_q in strategies.items():
            if label == baseline:
                continue
            diff = per_q[last]["mean"] - base["mean"]
            se = float(np.hypot(per_q[last]["sem"], base["sem"]))
            low, high = interval(diff, se)
            comparisons[label] = {"difference": diff, "se": se, "low": low, "high": high,
                                  "distinguishable": bool(distinguishable(diff, se))}
    true_front = hypervolume_2d((every - reference) / span, (0.0, 0.0)) if universe is not None else None
    return {"goals": [str(g) for g in goals], **({"true_front": true_front} if true_front is not None else {}),
            "box": {"reference": [g.oriented(v) for g, v in zip(goals, reference)],
                    "ideal": [g.oriented(v) for g, v in zip(goals, ideal)]},
            "at": int(last), "baseline": baseline, "strategies": strategies, "comparisons": comparisons}


def _mean_sem(values: list[float]) -> dict[str, float]:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "sem": float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")}


def front_table(fronts: dict[str, Any]) -> str:
    """A markdown table: hypervolume at each checkpoint, mean ± standard error, and vs the baseline."""
    checkpoints = list(next(iter(fronts["strategies"].values())))
    true = fronts.get("true_front")
    head = (["strategy"] + [f"hypervolume @{q}" for q in checkpoints] + [f"vs {fronts['baseline']} @{fronts['at']}"]
            + ([f"of the true front @{fronts['at']}"] if true else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for label, per_q in fronts["strategies"].items():
        cells = [f"`{label}`"] + [_cell(per_q[q]) for q in checkpoints]
        versus = fronts["comparisons"].get(label)
        if versus is None:
            cells.append("(baseline)" if label == fronts["baseline"] else "-")
        else:
            verdict = "beyond noise" if versus["distinguishable"] else "within noise"
            cells.append(f"{versus['difference']:+.3f} ± {versus['se']:.3f} ({verdict})")
        if true:
            cells.append(f"{per_q[str(fronts['at'])]['mean'] / true:.1%}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    box = ("the whole space's range (every architecture of the table)" if true else
           "the range over every search's queries")
    lines.append(f"Hypervolume of {', '.join(fronts['goals'])}: the share of one box, from the worst to the best value "
                 f"of each over {box}, that a search's front dominates after q queries; mean ± standard error over "
                 f"seeds." + (f" The space's own front covers {true:.4f}." if true else ""))
    return "\n".join(lines) + "\n"


def _cell(stats: dict[str, float]) -> str:
    sem = stats["sem"]
    return f"{stats['mean']:.3f}" + ("" if sem != sem else f" ± {sem:.3f}")
