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
        stats.update(_proxy_spend(group))
        out[label] = stats
    return out


def _proxy_spend(group: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Mean zero-cost scores per search and their mean CPU seconds (None when a cost is unknown);
    nothing for strategies that asked for no proxy."""
    counts = [p.get("proxy_scores", 0) for p in group]
    if not any(counts):
        return {}
    costs = [p.get("proxy_cpu_s") for p in group]
    known = all(c is not None for c in costs)
    return {"proxy_scores_mean": float(np.mean(counts)),
            "proxy_cpu_s_mean": float(np.mean(costs)) if known else None}


# NB201's CIFAR-10 test split: every table accuracy is measured on these 10,000 images.
TEST_IMAGES = 10_000


def _mean_std(group: Sequence[dict[str, Any]], index: int) -> dict[str, float]:
    """Mean and std over seeds, and the two noises a reader needs to judge a difference: the
    standard error of the mean over seeds (`test_acc_sem`, the seed spread / sqrt(seeds)) and the
    sampling noise of one record (`test_acc_record_se`: the binomial standard error of an accuracy
    on the 10,000 test images, averaged over the picks)."""
    test = np.array([p["pick_test_acc"][index] for p in group], dtype=float)
    val = np.array([p["best_val"][index] for p in group], dtype=float)
    sem = float(test.std(ddof=1) / np.sqrt(len(test))) if len(test) > 1 else float("nan")
    p = np.clip(test / 100.0, 0.0, 1.0)
    record_se = float(np.mean(100.0 * np.sqrt(p * (1 - p) / TEST_IMAGES)))
    return {"test_acc_mean": float(test.mean()), "test_acc_std": float(test.std()), "test_acc_sem": sem,
            "test_acc_record_se": record_se, "best_val_mean": float(val.mean()), "best_val_std": float(val.std())}


def compare_to_baseline(aggregates: dict[str, dict[str, Any]], baseline: str, key: str = "final"
                        ) -> dict[str, dict[str, Any]]:
    """Each other strategy's mean test acc minus `baseline`'s at `key` ("final" or a checkpoint),
    with the standard error of that difference over seeds and whether its 95% interval excludes 0.
    Records are not paired across strategies (each seed searches its own way), so the two
    standard errors of the mean add in quadrature."""
    from nas.tasks.uncertainty import distinguishable, interval

    def stats(label: str) -> dict[str, float]:
        group = aggregates[label]
        return group["final"] if key == "final" else group["checkpoints"][key]

    base = stats(baseline)
    out: dict[str, dict[str, Any]] = {}
    for label in aggregates:
        if label == baseline:
            continue
        mine = stats(label)
        diff = mine["test_acc_mean"] - base["test_acc_mean"]
        se = float(np.hypot(mine.get("test_acc_sem", float("nan")), base.get("test_acc_sem", float("nan"))))
        low, high = interval(diff, se)
        out[label] = {"difference": diff, "se": se, "low": low, "high": high,
                      "distinguishable": bool(distinguishable(diff, se))}
    return out


def curve_stats(pairs: Sequence[dict[str, Any]], label: str) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over the seeds of `label` of the pick's test acc at every query count (for plots),
    over the queries every seed made."""
    curves = [p["pick_test_acc"] for p in pairs if p["strategy"] == label]
    n = min(len(c) for c in curves)
    stacked = np.array([c[:n] for c in curves], dtype=float)
    return stacked.mean(axis=0), stacked.std(axis=0)
