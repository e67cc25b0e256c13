"""The noise of a COCO mAP: a bootstrap over validation images from pycocotools' own matching.

mAP is not a mean over images, so its standard error is estimated by resampling the images with
replacement and recomputing the metric. Re-running COCOeval per resample would cost seconds; the
per-image matches COCOeval already made (`evalImgs`: which detection matched which box at each IoU
threshold) are reused, and only the accumulation (precision envelope, 101-point interpolation,
mean over IoU thresholds and categories) is redone, exactly as `COCOeval.accumulate` does it for
the "all" area range and the largest detection count. On the images as given (no resampling) it
reproduces pycocotools' mAP (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

BOOTSTRAP_DRAWS = 200


@dataclass(frozen=True)
class ImageMatches:
    scores: np.ndarray  # (D,) detection scores, sorted high to low within the image
    matched: np.ndarray  # (T, D) bool: matched to a ground-truth box at IoU threshold t
    ignored: np.ndarray  # (T, D) bool: ignored detections (crowd or outside the area range)
    boxes: int  # ground-truth boxes that count (not ignored)


def matches_of(evaluation) -> tuple[list[list[ImageMatches | None]], np.ndarray]:
    """Per category, per image (in the evaluation's image order): the matches at area "all" and
    the largest maxDets; and the recall thresholds. `evaluation` has run evaluate()."""
    p = evaluation.params
    images, areas, max_det = len(p.imgIds), len(p.areaRng), p.maxDets[-1]
    all_area = [tuple(a) for a in p.areaRng].index(tuple(p.areaRng[0]))  # "all" is COCO's first range
    per_category = []
    for k in range(len(p.catIds)):
        row: list[ImageMatches | None] = []
        for i in range(images):
            e = evaluation.evalImgs[k * areas * images + all_area * images + i]
            if e is None:
                row.append(None)
                continue
            row.append(ImageMatches(np.asarray(e["dtScores"][:max_det], dtype=float),
                                    np.asarray(e["dtMatches"])[:, :max_det] > 0,
                                    np.asarray(e["dtIgnore"])[:, :max_det].astype(bool),
                                    int(np.count_nonzero(np.asarray(e["gtIgnore"]) == 0))))
        per_category.append(row)
    return per_category, np.asarray(p.recThrs, dtype=float)


@dataclass(frozen=True)
class _Category:
    """One category's detections over all images, sorted by score once (stable, in image order):
    a resample only reweights them by how often it drew each image."""

    image: np.ndarray  # (D,) the image of each sorted detection
    true_positive: np.ndarray  # (T, D) float: matched and not ignored
    false_positive: np.ndarray  # (T, D) float: unmatched and not ignored
    boxes: np.ndarray  # (images,) ground-truth boxes that count, per image


def _prepare(per_category: Sequence[Sequence[ImageMatches | None]], images: int) -> list[_Category]:
    prepared = []
    for row in per_category:
        present = [(i, m) for i, m in enumerate(row[:images]) if m is not None]
        boxes = np.zeros(images)
        for i, m in present:
            boxes[i] = m.boxes
        if not present or not boxes.any():
            continue
        scores = np.concatenate([m.scores for _, m in present])
        order = np.argsort(-scores, kind="mergesort")
        image = np.concatenate([np.full(len(m.scores), i) for i, m in present])[order]
        matched = np.concatenate([m.matched for _, m in present], axis=1)[:, order]
        ignored = np.concatenate([m.ignored for _, m in present], axis=1)[:, order]
        prepared.append(_Category(image, (matched & ~ignored).astype(float), (~matched & ~ignored).astype(float),
                                  boxes))
    return prepared


def _weighted_map(prepared: Sequence[_Category], recall_thresholds: np.ndarray, counts: np.ndarray) -> float:
    """AP@[.5:.95] in percent when image i counts `counts[i]` times. Equal to concatenating the
    repeats as separate images: a repeated detection's copies are adjacent in score order, and
    collapsing them into one step of the precision/recall curve changes no point of its
    envelope that a recall threshold reads (tested against the explicit repeats)."""
    aps = []
    for category in prepared:
        boxes = float(category.boxes @ counts)
        if boxes == 0:
            continue  # no ground truth of this category among the drawn images
        weight = counts[category.image]
        keep = weight > 0
        tp = np.cumsum(category.true_positive[:, keep] * weight[keep], axis=1)
        fp = np.cumsum(category.false_positive[:, keep] * weight[keep], axis=1)
        thresholds, count = tp.shape
        if not count:
            aps.append(0.0)
            continue
        precision = tp / (fp + tp + np.spacing(1))
        envelope = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
        recall = tp / boxes  # (exactly as COCOeval: an offset trick here would round ties differently)
        at = np.stack([np.searchsorted(row, recall_thresholds, side="left") for row in recall])
        rows = np.broadcast_to(np.arange(thresholds)[:, None], at.shape)
        inside = at < count
        precision_sum = float(envelope[rows[inside], at[inside]].sum())
        aps.append(precision_sum / (thresholds * len(recall_thresholds)))
    return 100.0 * float(np.mean(aps)) if aps else math.nan


def mean_ap(per_category: Sequence[Sequence[ImageMatches | None]], recall_thresholds: np.ndarray,
            images: Sequence[int]) -> float:
    """AP@[.5:.95] in percent over the images `images` (indices; repeats count again); NaN when no
    category has a ground-truth box among them."""
    size = max((len(row) for row in per_category), default=0)
    counts = np.bincount(np.asarray(images, dtype=int), minlength=size).astype(float)[:size]
    return _weighted_map(_prepare(per_category, size), recall_thresholds, counts)


def bootstrap_maps(per_category, recall_thresholds: np.ndarray, images: int, draws: int = BOOTSTRAP_DRAWS,
                   seed: int = 0) -> np.ndarray:
    """mAP of `draws` resamples of the `images` validation images, seeded: the same resamples for
    every architecture scored on the same images, so two architectures' draws pair up."""
    rng = np.random.default_rng([seed, 0xB007, images])
    prepared = _prepare(per_category, images)
    return np.array([_weighted_map(prepared, recall_thresholds,
                                   np.bincount(rng.integers(0, images, images), minlength=images).astype(float))
                     for _ in range(draws)])
