"""What a search would have picked after q queries, and the mean ± std of that over seeds.

A search picks the architecture with the best validation accuracy it has seen (the only signal it
gets); what we report is that architecture's 200-epoch test accuracy. So the trajectory after q
queries is test_acc[argmax(val_acc[:q])], with ties going to the earlier query (as `Strategy.top`).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def trajectory(val_accs: Sequence[float], test_accs: Sequence[float]) -> tuple[list[float], list[float], list[int]]:
    """Per query count q = 1..n: (best val among the first q, test acc of that pick, its index)."""
    if len(val_accs) != len(test_accs):
        raise ValueError(f"{len(val_accs)} validation accuracies but {len(test_accs)} test accuracies")
    best_val: list[float] = []
    pick_test: list[float] = []
    picks: list[int] = []
    best = -1
    for i, val in enumerate(val_accs):
        if best < 0 or val > val_accs[best]:  # strictly better: ties keep the earlier pick
            best = i
        best_val.append(float(val_accs[best]))
        pick_test.append(float(test_accs[best]))
        picks.append(best)
    return best_val, pick_test, picks


def aggregate(pairs: Sequence[dict[str, Any]], checkpoints: Sequence[int]) -> dict[str, dict[str, Any]]:
    """Mean and std over seeds, per strategy label and checkpoint, of the pick's test acc and of the
    best val acc; plus the same at the last query each pair made (`final`).

    A pair is a dict with `strategy`, `best_val` and `pick_test_acc` (one value per query). std is
    the population std (numpy's default, ddof=0); with one seed it is 0.
    """
    by_label: dict[str, list[dict[str, Any]]] = {}
    for pair in pairs:
        by_label.setdefault(pair["strategy"], []).append(pair)
    out: dict[str, dict[str, Any]] = {}
    for label, group in by_label.items():
        stats: dict[str, Any] = {"seeds": len(group), "checkpoints": {}}
        for q in checkpoints:
            short = [len(p["pick_test_acc"]) for p in group if len(p["pick_test_acc"]) < q]
            if short:
                raise ValueError(f"{label}: a pair made only {min(short)} queries, fewer than checkpoint {q}")
            stats["checkpoints"][str(q)] = _mean_std(group, q - 1)
        stats["final"] = _mean_std(group, -1)
        out[label] = stats
    return out


def _mean_std(group: Sequence[dict[str, Any]], index: int) -> dict[str, float]:
    test = np.array([p["pick_test_acc"][index] for p in group], dtype=float)
    val = np.array([p["best_val"][index] for p in group], dtype=float)
    return {"test_acc_mean": float(test.mean()), "test_acc_std": float(test.std()),
            "best_val_mean": float(val.mean()), "best_val_std": float(val.std())}


def curve_stats(pairs: Sequence[dict[str, Any]], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the seeds of `label` of the pick's test acc at every query count (for plots),
    over the queries every seed made."""
    curves = [p["pick_test_acc"] for p in pairs if p["strategy"] == label]
    n = min(len(c) for c in curves)
    stacked = np.array([c[:n] for c in curves], dtype=float)
    return stacked.mean(axis=0), stacked.std(axis=0)
