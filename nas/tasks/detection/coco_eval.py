"""COCO detection metrics through pycocotools (the reference implementation, not ours).

`coco_metrics` takes plain lists (ground truth per image, detections per image) and returns the
twelve COCO numbers as percentages under readable names; `mAP` (AP@[.5:.95]) is the search
objective of detection.
"""

from __future__ import annotations

import contextlib
import io
import math
from typing import Sequence

import numpy as np

from nas.tasks.detection.coco_bootstrap import bootstrap_maps, matches_of

NAMES = ("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
         "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def coco_metrics(images: Sequence[dict], ground_truth: Sequence[dict], detections: Sequence[dict],
                 categories: Sequence[int]) -> dict[str, float]:
    """`images`: {"id", "width", "height"}; `ground_truth`: {"image_id", "category_id", "bbox"
    (x1, y1, x2, y2)}; `detections`: the same plus "score". Percentages; NaN where COCO has no
    answer (e.g. no ground-truth box of that size), 0 mAP when nothing was detected."""
    return coco_metrics_with_bootstrap(images, ground_truth, detections, categories, draws=0)[0]


def coco_metrics_with_bootstrap(images: Sequence[dict], ground_truth: Sequence[dict], detections: Sequence[dict],
                                categories: Sequence[int], draws: int = 200,
                                seed: int = 0) -> tuple[dict[str, float], np.ndarray | None]:
    """`coco_metrics`, and the mAP of `draws` bootstrap resamples of the images
    (`nas.tasks.detection.coco_bootstrap`; None when `draws` is 0; all 0 when nothing was detected)."""
    evaluation = coco_evaluation(images, ground_truth, detections, categories)
    if evaluation is None:  # nothing detected: every precision and recall is 0
        return {name: 0.0 for name in NAMES}, (np.zeros(draws) if draws else None)
    metrics = {name: (math.nan if value < 0 else 100.0 * float(value)) for name, value in zip(NAMES, evaluation.stats)}
    if not draws:
        return metrics, None
    per_category, recall_thresholds = matches_of(evaluation)
    return metrics, bootstrap_maps(per_category, recall_thresholds, len(images), draws, seed)


def coco_evaluation(images: Sequence[dict], ground_truth: Sequence[dict], detections: Sequence[dict],
                    categories: Sequence[int]):
    """pycocotools' COCOeval, evaluated, accumulated and summarised (None when nothing was detected:
    loadRes refuses an empty list)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box: Sequence[float]) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in box)
        return [x1, y1, x2 - x1, y2 - y1]

    gt = COCO()
    gt.dataset = {
        "images": [dict(im) for im in images],
        "categories": [{"id": int(c), "name": str(c)} for c in categories],
        "annotations": [{"id": i + 1, "image_id": g["image_id"], "category_id": int(g["category_id"]),
                         "bbox": xywh(g["bbox"]), "area": xywh(g["bbox"])[2] * xywh(g["bbox"])[3],
                         "iscrowd": 0} for i, g in enumerate(ground_truth)],
    }
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        if not detections:
            return None
        dt = gt.loadRes([{"image_id": d["image_id"], "category_id": int(d["category_id"]),
                          "bbox": xywh(d["bbox"]), "score": float(d["score"])} for d in detections])
        evaluation = COCOeval(gt, dt, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation
