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

The best is the maximum of many noisy scores on the images that chose it, so its lead there is
optimistic (the winner's curse: the best of 100 equal architectures leads the median by ~2.5
paired standard errors). `judge` therefore decides on the *confirmation* images, which took no part
in choosing (`nas.tasks.splits`): "better than random" only for a difference confirmed there. A
second opinion where there are none: the lead on validation against what the best of N equal
architectures would show from noise alone (`selection_null`). The test split is reported beside
both, never used.
"""

from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Mapping, Sequence

import numpy as np

from nas.tasks.uncertainty import (PER_IMAGE, Z95, distinguishable, interval, paired_difference, unpack_outcomes,
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
    out: dict[str, Any] = {"metric": metric, "best_arch_hash": best["arch_hash"],
                           "images": _images([best], metric)}
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
            out["best_vs_random_median"] = {"a": _value(best, metric), "b": _value(median, metric),
                                            "difference": d, "se": se, "ci95": [low, high], "paired": paired,
                                            "distinguishable": better, "random_median_arch_hash": median["arch_hash"],
                                            "random_median_choices": list(median.get("choices") or [])}
            lines.append(f"best vs the median random architecture: {d:+.2f}{unit} (95% CI {low:+.2f} to "
                         f"{high:+.2f}{unit}{', paired' if paired else ''}): "
                         + ("distinguishable" if better else "NOT distinguishable from random within noise"))
    lines.append(f"{len(ties)} of the next {checked} architectures tied with the best within noise"
                 if checked else "no other architecture to compare with the best")
    out["text"] = "; ".join(lines)
    return out


# ---- the verdict judged on images that took no part in choosing ------------------------------------

NULL_DRAWS = 20_000  # simulated searches behind the selection null (its 95% point moves < 0.02 se)


def selection_null(candidates: int, randoms: int, noise: float, seed: int = 0) -> dict[str, float]:
    """How far the best of `candidates` architectures that are all equal leads the median of
    `randoms` others on the same images, from noise alone: `noise` is the standard error of one
    paired difference, so each score carries noise / sqrt(2) of its own. Exact order statistics of
    normal draws (the maximum of n as the inverse CDF of U^(1/n)), seeded: {"expected", "q95"}.
    Candidates of a real search are often similar (mutations of each other) and err alike, so
    their maximum is smaller: this null is conservative."""
    from scipy.stats import norm

    rng = np.random.default_rng([seed, 0x5E1EC7])
    own = noise / math.sqrt(2.0)
    best = own * norm.ppf(rng.random(NULL_DRAWS) ** (1.0 / max(1, candidates)))
    median = np.sort(rng.normal(0.0, own, (NULL_DRAWS, max(1, randoms))), axis=1)[:, (max(1, randoms) - 1) // 2]
    lead = best - median
    return {"candidates": candidates, "noise": noise, "expected": float(lead.mean()),
            "q95": float(np.quantile(lead, 0.95))}


def images_to_confirm(difference: float, se: float, images: int) -> int | None:
    """About how many images a difference this size needs to clear the 95% noise (noise shrinks as
    1 / sqrt(images)); None for no gain to confirm."""
    if not (math.isfinite(difference) and math.isfinite(se)) or difference <= 0 or not images:
        return None
    return math.ceil(images * (Z95 * se / difference) ** 2)


def compare(a: Mapping[str, Any], b: Mapping[str, Any], metric: str, maximise: bool = True,
            scale: float = 100.0) -> dict[str, Any] | None:
    """a against b on one split's `metric` (their scores in `metric`, with per-image outcomes or
    standard errors): {"a", "b", "difference" (in the better direction), "se", "ci95", "paired",
    "distinguishable": a is better beyond noise}; None when either lacks the metric or its noise."""
    if metric not in a.get("metrics", a) or metric not in b.get("metrics", b):
        return None
    va, vb = _value(a, metric), _value(b, metric)
    d, se, paired = difference(a, b, metric, (va, vb), scale)
    if not (math.isfinite(d) and math.isfinite(se)):
        return None
    d = d if maximise else -d
    low, high = interval(d, se)
    return {"a": va, "b": vb, "difference": d, "se": se, "ci95": [low, high], "paired": paired,
            "distinguishable": bool(distinguishable(d, se) and d > 0)}


def judge(validation: Mapping[str, Any], held_out: Mapping[str, Any] | None, candidates: int,
          randoms: int, unit: str = "%") -> dict[str, Any]:
    """The verdict of a search: `validation` is `verdict(...)` on the images that chose the best;
    `held_out` what `nas.judging.confirmation.held_out_scores` measured on the confirmation images
    and the test split (None: no images apart, or an evaluator that cannot rescore). Decided on
    the confirmation images when there are some, else on the validation lead against the selection
    null of the best of `candidates`; the test split is reported beside, never used."""
    out = dict(validation)
    vs = validation.get("best_vs_random_median")
    splits: dict[str, Any] = {}
    lines: list[str] = []
    if vs is not None:
        splits["validation"] = {**vs, "images": validation.get("images")}
        null = selection_null(candidates, randoms, vs["se"])
        splits["validation"]["selection_null"] = null
    confirmation = (held_out or {}).get("confirmation")
    test = (held_out or {}).get("test")
    if confirmation is not None:
        splits["confirmation"] = confirmation
    if test is not None:
        splits["test"] = test
    out["splits"] = splits
    if confirmation is not None and confirmation.get("comparison") is not None:
        c = confirmation["comparison"]
        out["basis"] = "confirmation"
        out["better_than_random"] = c["distinguishable"]
        out["best_vs_random_median"] = {**vs, **c, "split": "confirmation", "images": confirmation["images"]} \
            if vs is not None else {**c, "split": "confirmation", "images": confirmation["images"]}
        head = (f"best vs the median random architecture on {confirmation['images']:,} confirmation images "
                f"(never used to choose): {c['difference']:+.2f}{unit} (95% CI {c['ci95'][0]:+.2f} to "
                f"{c['ci95'][1]:+.2f}{unit}{', paired' if c['paired'] else ''}): ")
        if c["distinguishable"]:
            lines.append(head + "CONFIRMED better than random")
        else:
            needed = images_to_confirm(c["difference"], c["se"], confirmation["images"])
            lines.append(head + "NOT confirmed, not distinguishable from random"
                         + (f" (a gain this size needs about {needed:,} images to confirm)" if needed else ""))
    elif vs is not None:
        null = splits["validation"]["selection_null"]
        beyond = vs["difference"] > null["q95"] and vs["distinguishable"]
        out["basis"] = "selection"
        out["better_than_random"] = bool(beyond)
        out["best_vs_random_median"] = {**vs, "split": "validation", "selection_q95": null["q95"]}
        why = (held_out or {}).get("unconfirmed_because", "no images were kept apart to confirm it")
        lines.append(f"UNCONFIRMED ({why}): the best leads the median random architecture by "
                     f"{vs['difference']:+.2f}{unit} on the images that chose it, "
                     + (f"beyond the {null['q95']:+.2f}{unit} the best of {candidates} equal architectures "
                        f"reaches from noise in 95% of searches: better than random, selection allowed for"
                        if beyond else
                        f"within the {null['q95']:+.2f}{unit} the best of {candidates} equal architectures "
                        f"reaches from noise in 95% of searches: NOT distinguishable from random"))
    else:
        out["basis"] = "none"
        out["better_than_random"] = False
    if test is not None and test.get("comparison") is not None:
        t = test["comparison"]
        lines.append(f"test split ({test['images']:,} images, reported only): {t['difference']:+.2f}{unit} "
                     f"± {t['se']:.2f}")
    ties, checked = validation.get("tied_with_best", []), validation.get("tie_candidates", 0)
    lines.append(f"{len(ties)} of the next {checked} architectures tied with the best within noise"
                 if checked else "no other architecture to compare with the best")
    out["text"] = "; ".join(lines)
    return out


def split_table(judged: Mapping[str, Any], unit: str = "%") -> list[str]:
    """The best and the median random architecture on each split, side by side (what chose it,
    what judges it, what is reported): lines for a terminal."""
    splits = judged.get("splits") or {}
    rows = [("validation", "chose the best"), ("confirmation", "judges the verdict"), ("test", "reported only")]
    lines = [f"{'split':<13} {'images':>7}  {'best':>7}  {'random median':>13}  {'difference':>18}  role"]
    for name, role in rows:
        part = splits.get(name)
        comparison = part and (part.get("comparison") if name != "validation" else part)
        if not comparison:
            continue
        images = part.get("images")
        lines.append(f"{name:<13} {images if images is not None else '-':>7}  {comparison['a']:>7.2f}  "
                     f"{comparison['b']:>13.2f}  {comparison['difference']:>+8.2f} ± {comparison['se']:<5.2f}{unit:<2} "
                     f" {role}")
    confirmation = splits.get("confirmation") or {}
    if confirmation.get("top_median") is not None and confirmation.get("random_set_median") is not None:
        lines.append(f"on the confirmation images, the search's top {confirmation['top_count']} have a median of "
                     f"{confirmation['top_median']:.2f}{unit}, the {confirmation['random_count']} random "
                     f"architectures {confirmation['random_set_median']:.2f}{unit}")
    return lines if len(lines) > 1 else []
