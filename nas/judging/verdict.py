"""Can the validation set tell architectures apart, and is the best one really better?

Two questions every search answers from its own data, with `nas.tasks.uncertainty`:

- **Separability** (before the search, on the random architectures of the trust check): how much of
  the spread between architectures is real. For each pair of random architectures the observed
  difference d has a sampling noise se (paired over the same images when per-image outcomes are
  recorded); E[d^2] = true spread + E[se^2], so `reliability` = 1 - mean(se^2) / mean(d^2) is the
  share of the observed differences that is not noise (a classical test-retest reliability). Noise
  shrinks as 1 / images, so the images needed for a reliability r follow from the same figures.
- **Verdict** (after the search): the best architecture against the random architectures' median
  one, a paired difference with its 95% confidence interval, and the top architectures whose
  difference from the best is inside the noise (tied with it).
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np

from nas.tasks.uncertainty import (PER_IMAGE, distinguishable, interval, paired_difference, unpack_outcomes,
                             unpack_values)

MIN_RELIABILITY = 0.5  # below: more of the spread between architectures is noise than signal
WANTED_RELIABILITY = 0.8  # what the advice on validation images aims at
TIE_CANDIDATES = 10  # how many of the top records are checked for a tie with the best


def outcomes(entry: Mapping[str, Any], metric: str) -> np.ndarray | None:
    """Per-image correctness behind an accuracy (val_acc -> per_image.val_correct), or None."""
    if not metric.endswith("_acc"):
        return None
    text = (entry.get(PER_IMAGE) or {}).get(metric[: -len("acc")] + "correct")
    if text is None:
        return None
    try:
        return unpack_outcomes(text)
    except ValueError:
        return None  # a damaged field: the unpaired standard errors still serve


def resampled(entry: Mapping[str, Any], metric: str) -> np.ndarray | None:
    """The bootstrap resamples' values of `metric` (detection: per_image.val_mAP_boot), or None."""
    text = (entry.get(PER_IMAGE) or {}).get(f"{metric}_boot")
    if text is None:
        return None
    try:
        return unpack_values(text)
    except ValueError:
        return None


def difference(a: Mapping[str, Any], b: Mapping[str, Any], metric: str, values: tuple[float, float],
               scale: float = 100.0) -> tuple[float, float, bool]:
    """(a - b, its standard error, paired?) for two scored entries: paired over per-image outcomes
    (accuracy) or over the same bootstrap resamples (mAP) when both have them, else from the two
    standard errors as if independent."""
    oa, ob = outcomes(a, metric), outcomes(b, metric)
    if oa is not None and ob is not None and oa.shape == ob.shape:
        _, se = paired_difference(oa, ob, scale)
        return values[0] - values[1], se, True  # the recorded values: the same mean difference
    ra, rb = resampled(a, metric), resampled(b, metric)
    if ra is not None and rb is not None and ra.shape == rb.shape and len(ra) > 1:
        both = np.isfinite(ra) & np.isfinite(rb)
        if both.sum() > 1:
            return values[0] - values[1], float(np.std((ra - rb)[both], ddof=1)), True
    sa, sb = _se(a, metric), _se(b, metric)
    return values[0] - values[1], math.sqrt(sa * sa + sb * sb), False


def _se(entry: Mapping[str, Any], metric: str) -> float:
    source = entry.get("metrics", entry)
    value = source.get(f"{metric}_se")
    return float(value) if isinstance(value, (int, float)) else math.nan


def _value(entry: Mapping[str, Any], metric: str) -> float:
    return float(entry.get("metrics", entry)[metric])


def separability(entries: Sequence[Mapping[str, Any]], metric: str, scale: float = 100.0) -> dict[str, Any] | None:
    """How well `entries` (architectures scored on one validation set, each with `<metric>_se` or
    per-image outcomes) are told apart; None when the noise is unknown or too few entries."""
    if len(entries) < 3:
        return None
    d2, se2, paired = [], [], []
    for a, b in combinations(entries, 2):
        d, se, is_paired = difference(a, b, metric, (_value(a, metric), _value(b, metric)), scale)
        if not (math.isfinite(d) and math.isfinite(se)):
            return None
        d2.append(d * d)
        se2.append(se * se)
        paired.append(is_paired)
    observed, noise = float(np.mean(d2)), float(np.mean(se2))
    images = _images(entries, metric)
    reliability = 1.0 - noise / observed if observed > 0 else (1.0 if noise == 0 else -math.inf)
    signal = observed - noise
    needed = None
    if images and signal > 0:
        # noise scales as 1/images: signal / (signal + noise * images / n) >= WANTED  <=>  n >= ...
        needed = math.ceil(images * noise * WANTED_RELIABILITY / ((1 - WANTED_RELIABILITY) * signal))
    return {"reliability": reliability, "pairs": len(d2), "paired": all(paired),
            "rms_difference": math.sqrt(observed), "rms_noise": math.sqrt(noise), "images": images,
            "images_needed": needed}


def _images(entries: Sequence[Mapping[str, Any]], metric: str) -> int | None:
    """How many validation images the scores came from (for the advice on how many would do)."""
    for entry in entries:
        found = outcomes(entry, metric)
        if found is not None:
            return len(found)
        count = (entry.get(PER_IMAGE) or {}).get("images")
        if isinstance(count, int):
            return count
    return None


def describe_separability(sep: Mapping[str, Any], unit: str = "%") -> str:
    kind = "paired over the same images" if sep["paired"] else "from each score's standard error"
    if sep.get("images"):
        kind += f", {sep['images']:,} images"
    return (f"random architectures differ by {sep['rms_difference']:.2f}{unit} (rms over {sep['pairs']} pairs), "
            f"noise {sep['rms_noise']:.2f}{unit} ({kind}): reliability {sep['reliability']:.2f}")


def verdict(records: Sequence[Mapping[str, Any]], baseline: Mapping[str, Any] | None, metric: str,
            maximise: bool = True, unit: str = "%", scale: float = 100.0) -> dict[str, Any] | None:
    """The best record against the random baseline's median architecture, and the records tied with
    the best; None when the scores carry no noise estimate."""
    scored = [r for r in records if math.isfinite(_value(r, metric))]
    if not scored:
        return None
    sign = 1.0 if maximise else -1.0
    ranked = sorted(scored, key=lambda r: -sign * _value(r, metric))
    best = ranked[0]
    out: dict[str, Any] = {"metric": metric}
    ties, checked = [], 0
    for other in ranked[1:TIE_CANDIDATES + 1]:
        d, se, _ = difference(best, other, metric, (_value(best, metric), _value(other, metric)), scale)
        if not math.isfinite(se):
            return None
        checked += 1
        if not distinguishable(d, se):
            ties.append({"arch_hash": other["arch_hash"], metric: _value(other, metric), "difference": d, "se": se})
    out["tied_with_best"] = ties
    out["tie_candidates"] = checked
    lines = []
    randoms = [e for e in (baseline or {}).get("evaluations", []) if math.isfinite(_value(e, metric))]
    if randoms:
        median = sorted(randoms, key=lambda e: _value(e, metric))[(len(randoms) - 1) // 2]
        d, se, paired = difference(best, median, metric, (_value(best, metric), _value(median, metric)), scale)
        if math.isfinite(se):
            d *= sign
            low, high = interval(d, se)
            better = distinguishable(d, se) and d > 0
            out["best_vs_random_median"] = {"difference": d, "se": se, "ci95": [low, high], "paired": paired,
                                            "distinguishable": better, "random_median_arch_hash": median["arch_hash"]}
            lines.append(f"best vs the median random architecture: {d:+.2f}{unit} (95% CI {low:+.2f} to "
                         f"{high:+.2f}{unit}{', paired' if paired else ''}): "
                         + ("distinguishable" if better else "NOT distinguishable from random within noise"))
    lines.append(f"{len(ties)} of the next {checked} architectures tied with the best within noise"
                 if checked else "no other architecture to compare with the best")
    out["text"] = "; ".join(lines)
    return out
