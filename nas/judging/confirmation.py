"""After a search: its best, its top architectures and the random ones scored again on images that
took no part in choosing (`nas.tasks.splits`), and the best and the median random architecture on
the test split, reported once.

What is scored, and why:
- the search's top `TOP` (by validation) and every random architecture of the baseline, on the
  confirmation images: the best against the random median decides the verdict
  (`nas.judging.verdict.judge`); the two sets' medians show whether the search's picks as a group
  beat random picks, which the best alone cannot;
- the best and the median random architecture on the test split: the figure a paper reports, next
  to the two that chose and judged it.

Every score is a deterministic function of the supernet, the run's seed and the images, so a
resumed search judges exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
import statistics
from typing import Any, Callable, Mapping, Sequence

from nas.archive.summary import ranked
from nas.evaluate.base import HeldOutScorer
from nas.judging.verdict import compare
from nas_common.objective import Objective
from search_spaces.arch import Arch

TOP = 10  # the search's best architectures rescored on the confirmation images


def _split_metric(metric: str, split: str) -> str:
    """val_acc -> confirm_acc / test_acc: the task names a split's metrics after the split."""
    return f"{split}_" + metric.split("_", 1)[1] if "_" in metric else f"{split}_{metric}"


def held_out_scores(records: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None, objective: Objective,
                    scorer: Any, top: int = TOP, on_step: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """{"confirmation": {...}, "test": {...}} for `nas.judging.verdict.judge`, or
    {"unconfirmed_because": why} when nothing can be confirmed. `scorer`: the search's evaluator."""
    if not isinstance(scorer, HeldOutScorer):
        return {"unconfirmed_because": "this evaluator keeps no network to score again on other images"}
    images = scorer.split_images
    randoms = [e for e in (baseline or {}).get("evaluations", [])
               if isinstance(e.get(objective.metric), (int, float)) and math.isfinite(e[objective.metric])]
    order = ranked(list(records), objective)
    if not order or not randoms:
        return {"unconfirmed_because": "no random architecture to compare with"}
    space = order[0]["arch"]["space"]
    median = sorted(randoms, key=lambda e: objective.value(e))[(len(randoms) - 1) // 2]
    best = Arch.from_dict(order[0]["arch"])
    median_arch = Arch(space, tuple(median["choices"]))
    out: dict[str, Any] = {}
    if images.get("confirmation"):
        picks = [Arch.from_dict(r["arch"]) for r in order[:top]]
        total, done = len(picks) + len(randoms), 0
        scored: dict[str, dict[str, Any]] = {}
        for arch in [*picks, *(Arch(space, tuple(e["choices"])) for e in randoms)]:
            if arch.hash not in scored:
                scored[arch.hash] = scorer.confirm_metrics(arch)
            done += 1
            if on_step is not None:
                on_step(done, total)
        metric = _split_metric(objective.metric, "confirm")
        values = {h: m[metric] for h, m in scored.items() if metric in m}
        comparison = compare(scored[best.hash], scored[median_arch.hash], metric, objective.maximise, objective.scale)
        top_values = [values[a.hash] for a in picks if a.hash in values]
        random_values = [values[e["arch_hash"]] for e in randoms if e["arch_hash"] in values]
        out["confirmation"] = {
            "images": images["confirmation"], "metric": metric, "comparison": comparison,
            "top": [{"arch_hash": a.hash, metric: values.get(a.hash)} for a in picks],
            "random": [{"arch_hash": e["arch_hash"], metric: values.get(e["arch_hash"])} for e in randoms],
            "top_count": len(top_values), "random_count": len(random_values),
            "top_median": statistics.median(top_values) if top_values else None,
            "random_set_median": statistics.median(random_values) if random_values else None}
    else:
        out["unconfirmed_because"] = ("no validation images were kept apart to confirm it (runs saved before "
                                      "confirmation existed; --confirm-images N for a new search)")
    if images.get("test"):
        metric = _split_metric(objective.metric, "test")
        a, b = scorer.test_metrics(best, per_image=True), scorer.test_metrics(median_arch, per_image=True)
        out["test"] = {"images": images["test"], "metric": metric,
                       "comparison": compare(a, b, metric, objective.maximise, objective.scale),
                       "best": {k: v for k, v in a.items() if k != "per_image"}}
    return out
