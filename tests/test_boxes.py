"""Detection box ops against brute-force references (torchvision is not available beside the CPU torch)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from search_spaces.detection.boxes import (anchor_grid, batched_nms, box_iou, cell_anchors, decode, encode, nms)


def random_boxes(n: int, seed: int, size: float = 100.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 3 + 1
    return torch.cat([xy, xy + wh], dim=1)


def iou_one(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def test_iou_equals_the_pairwise_formula():
    a, b = random_boxes(17, 0), random_boxes(11, 1)
    expected = torch.tensor([[iou_one(x.tolist(), y.tolist()) for y in b] for x in a])
    torch.testing.assert_close(box_iou(a, b), expected, rtol=1e-5, atol=1e-6)
    assert torch.allclose(box_iou(a, a).diagonal(), torch.ones(17))


def test_encode_decode_round_trip():
    anchors, boxes = random_boxes(50, 2), random_boxes(50, 3)
    torch.testing.assert_close(decode(anchors, encode(anchors, boxes)), boxes, rtol=1e-4, atol=1e-3)
    weights = (10.0, 10.0, 5.0, 5.0)
    torch.testing.assert_close(decode(anchors, encode(anchors, boxes, weights), weights), boxes, rtol=1e-4, atol=1e-3)
    assert torch.isfinite(decode(anchors, torch.full((50, 4), 1e4))).all()  # clamped, no overflow


def test_anchors_have_the_asked_areas_ratios_and_centres():
    cell = cell_anchors(32, (0.5, 1.0, 2.0), (1.0, 2 ** (1 / 3)))
    w, h = cell[:, 2] - cell[:, 0], cell[:, 3] - cell[:, 1]
    expected_area = [(32 * s) ** 2 for _ in range(3) for s in (1.0, 2 ** (1 / 3))]
    torch.testing.assert_close(w * h, torch.tensor(expected_area), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(h / w, torch.tensor([r for r in (0.5, 1.0, 2.0) for _ in range(2)]), rtol=1e-5, atol=0)
    grid = anchor_grid((3, 4), 8, cell)
    assert grid.shape == (3 * 4 * 6, 4)
    for (y, x), k in itertools.product(itertools.product(range(3), range(4)), range(6)):
        box = grid[(y * 4 + x) * 6 + k]
        assert math.isclose(float(box[0] + box[2]) / 2, (x + 0.5) * 8, abs_tol=1e-4)
        assert math.isclose(float(box[1] + box[3]) / 2, (y + 0.5) * 8, abs_tol=1e-4)


def nms_reference(boxes, scores, threshold) -> list[int]:
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        if all(iou_one(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_keeps_what_the_quadratic_loop_keeps(seed, threshold):
    boxes = random_boxes(60, seed, size=60.0)  # crowded: many overlaps
    scores = torch.rand(60, generator=torch.Generator().manual_seed(100 + seed))
    assert nms(boxes, scores, threshold).tolist() == nms_reference(boxes.tolist(), scores.tolist(), threshold)


def test_batched_nms_never_suppresses_across_classes():
    boxes = random_boxes(40, 7, size=40.0)
    scores = torch.rand(40, generator=torch.Generator().manual_seed(8))
    classes = torch.arange(40) % 3
    kept = set(batched_nms(boxes, scores, classes, 0.5).tolist())
    expected = set()
    for c in range(3):
        idx = [i for i in range(40) if classes[i] == c]
        expected |= {idx[k] for k in nms_reference(boxes[idx].tolist(), scores[idx].tolist(), 0.5)}
    assert kept == expected
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
