"""Detection losses and metrics: focal loss against its formula, anchor matching against a loop,
COCO mAP from pycocotools against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from nas.tasks.detection.coco_eval import coco_metrics
from nas.tasks.detection.loss import BACKGROUND, IGNORED, match_anchors, sigmoid_focal_loss
from search_spaces.detection.boxes import box_iou


def test_focal_loss_equals_the_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 3, generator=g) * 3
    targets = (torch.rand(40, 3, generator=g) < 0.2).float()
    expected = 0.0
    for z, t in zip(logits.flatten().tolist(), targets.flatten().tolist()):
        p = 1 / (1 + math.exp(-z))
        expected += -0.25 * (1 - p) ** 2 * math.log(p) if t else -0.75 * p ** 2 * math.log(1 - p)
    assert math.isclose(float(sigmoid_focal_loss(logits, targets)), expected, rel_tol=1e-5)
    assert torch.isfinite(sigmoid_focal_loss(torch.tensor([80.0, -80.0]), torch.tensor([0.0, 1.0])))


def test_anchor_matching_equals_a_loop():
    g = torch.Generator().manual_seed(1)
    anchors = torch.cat([torch.rand(80, 2, generator=g) * 50, torch.zeros(80, 2)], 1)
    anchors[:, 2:] = anchors[:, :2] + 8 + torch.rand(80, 2, generator=g) * 10
    boxes = torch.tensor([[5.0, 5.0, 20.0, 18.0], [30.0, 30.0, 31.0, 31.0]])  # the second: tiny
    matched = match_anchors(anchors, boxes)
    iou = box_iou(boxes, anchors)
    for a in range(80):
        best = float(iou[:, a].max())
        claimed = [b for b in range(2) if iou[b, a] > 0 and iou[b, a] == iou[b].max()]
        if claimed:
            assert matched[a] == int(iou[:, a].argmax())
        elif best >= 0.5:
            assert matched[a] == int(iou[:, a].argmax())
        else:
            assert matched[a] == (BACKGROUND if best < 0.4 else IGNORED)
    assert (matched == 1).any()  # the tiny box still trains its best anchor
    assert (match_anchors(anchors, torch.zeros(0, 4)) == BACKGROUND).all()


IMAGES = [{"id": 1, "width": 100, "height": 100}]
TRUTH = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50]},
         {"image_id": 1, "category_id": 1, "bbox": [60, 60, 90, 95]}]


def test_map_of_a_hand_built_case():
    """One exact hit (score .9), one false positive (.8), one box missed: precision 1 up to recall
    0.5 at every IoU threshold, so COCO's 101-point AP is 51/101."""
    detections = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 50, 50], "score": 0.9},
                  {"image_id": 1, "category_id": 1, "bbox": [0, 70, 5, 75], "score": 0.8}]
    m = coco_metrics(IMAGES, TRUTH, detections, categories=[1])
    assert m["mAP"] == pytest.approx(100 * 51 / 101, abs=1e-6)
    assert m["AP50"] == m["AP75"] == pytest.approx(100 * 51 / 101, abs=1e-6)
    perfect = [{**t, "score": 0.5} for t in TRUTH]
    assert coco_metrics(IMAGES, TRUTH, perfect, categories=[1])["mAP"] == pytest.approx(100.0)
    assert coco_metrics(IMAGES, TRUTH, [], categories=[1])["mAP"] == 0.0


def test_map_at_half_overlap_counts_for_ap50_only():
    """IoU 0.6 with the first box: a hit at the .50 and .55 thresholds only."""
    taller = [10.0, 10.0, 50.0, 10.0 + 40.0 / 0.6]  # same width, 1/0.6 as tall: IoU = 0.6
    shifted = {"image_id": 1, "category_id": 1, "bbox": taller, "score": 0.9}
    m = coco_metrics(IMAGES, TRUTH[:1], [shifted], categories=[1])
    assert m["AP50"] == pytest.approx(100.0) and m["AP75"] == pytest.approx(0.0)
    assert m["mAP"] == pytest.approx(100.0 * 3 / 10)  # thresholds .50, .55, .60 of ten
