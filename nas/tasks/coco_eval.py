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

NAMES = ("mAP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
         "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large")


def coco_metrics(images: Sequence[dict], ground_truth: Sequence[dict], detections: Sequence[dict],
                 categories: Sequence[int]) -> dict[str, float]:
    """`images`: {"id", "width", "height"}; `ground_truth`: {"image_id", "category_id", "bbox"
    (x1, y1, x2, y2)}; `detections`: the same plus "score". Percentages; NaN where COCO has no
    answer (e.g. no ground-truth box of that size), 0 mAP when nothing was detected."""
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
        if not detections:  # nothing detected: every precision and recall is 0 (loadRes refuses [])
            return {name: 0.0 for name in NAMES}
        dt = gt.loadRes([{"image_id": d["image_id"], "category_id": int(d["category_id"]),
                          "bbox": xywh(d["bbox"]), "score": float(d["score"])} for d in detections])
        evaluation = COCOeval(gt, dt, iouType="bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return {name: (math.nan if value < 0 else 100.0 * float(value)) for name, value in zip(NAMES, evaluation.stats)}
