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


def mean_ap(per_category: Sequence[Sequence[ImageMatches | None]], recall_thresholds: np.ndarray,
            images: Sequence[int]) -> float:
    """AP@[.5:.95] in percent over the images `images` (indices; repeats count again); NaN when no
    category has a ground-truth box among them."""
    aps = []
    for row in per_category:
        found = [row[i] for i in images if row[i] is not None]
        boxes = sum(m.boxes for m in found)
        if not found or boxes == 0:
            continue
        scores = np.concatenate([m.scores for m in found])
        order = np.argsort(-scores, kind="mergesort")
        matched = np.concatenate([m.matched for m in found], axis=1)[:, order]
        ignored = np.concatenate([m.ignored for m in found], axis=1)[:, order]
        tp = np.cumsum(matched & ~ignored, axis=1, dtype=float)
        fp = np.cumsum(~matched & ~ignored, axis=1, dtype=float)
        precision_sum = 0.0
        for t in range(tp.shape[0]):
            count = tp.shape[1]
            if count == 0:
                continue  # every threshold's precision is 0
            recall = tp[t] / boxes
            precision = tp[t] / (fp[t] + tp[t] + np.spacing(1))
            envelope = np.maximum.accumulate(precision[::-1])[::-1]
            at = np.searchsorted(recall, recall_thresholds, side="left")
            precision_sum += float(envelope[at[at < count]].sum())
        aps.append(precision_sum / (tp.shape[0] * len(recall_thresholds)))
    return 100.0 * float(np.mean(aps)) if aps else math.nan


def bootstrap_maps(per_category, recall_thresholds: np.ndarray, images: int, draws: int = BOOTSTRAP_DRAWS,
                   seed: int = 0) -> np.ndarray:
    """mAP of `draws` resamples of the `images` validation images, seeded: the same resamples for
    every architecture scored on the same images, so two architectures' draws pair up."""
    rng = np.random.default_rng([seed, 0xB007, images])
    return np.array([mean_ap(per_category, recall_thresholds, rng.integers(0, images, images))
                     for _ in range(draws)])
