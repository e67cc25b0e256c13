"""Box operations for detection heads: IoU, box coding, anchors, NMS.

Ours rather than torchvision's (PyPI's torchvision is a CUDA build that does not load beside the
pinned CPU torch), kept small and vectorised; each is tested against a brute-force reference.
Boxes are (x1, y1, x2, y2) in pixels, float tensors of shape (N, 4).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

# Faster R-CNN / RetinaNet box-coding weights and the clamp on log-size deltas (exp(4.135) = 62.5).
BOX_WEIGHTS = (1.0, 1.0, 1.0, 1.0)
MAX_LOG_SCALE = math.log(1000.0 / 16)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    return (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N, M) intersection over union; 0 where both boxes are empty."""
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def encode(anchors: torch.Tensor, boxes: torch.Tensor, weights: Sequence[float] = BOX_WEIGHTS) -> torch.Tensor:
    """Regression targets (dx, dy, dw, dh) that move each anchor onto its box."""
    wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    xa, ya = anchors[:, 0] + 0.5 * wa, anchors[:, 1] + 0.5 * ha
    wb, hb = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    xb, yb = boxes[:, 0] + 0.5 * wb, boxes[:, 1] + 0.5 * hb
    wx, wy, ww, wh = weights
    return torch.stack([wx * (xb - xa) / wa, wy * (yb - ya) / ha,
                        ww * torch.log(wb / wa), wh * torch.log(hb / ha)], dim=1)


def decode(anchors: torch.Tensor, deltas: torch.Tensor, weights: Sequence[float] = BOX_WEIGHTS) -> torch.Tensor:
    """The inverse of `encode`; log-size deltas are clamped so a wild prediction cannot overflow."""
    wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
    xa, ya = anchors[:, 0] + 0.5 * wa, anchors[:, 1] + 0.5 * ha
    wx, wy, ww, wh = weights
    x = xa + deltas[:, 0] / wx * wa
    y = ya + deltas[:, 1] / wy * ha
    w = wa * torch.exp((deltas[:, 2] / ww).clamp(max=MAX_LOG_SCALE))
    h = ha * torch.exp((deltas[:, 3] / wh).clamp(max=MAX_LOG_SCALE))
    return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], dim=1)


def cell_anchors(size: float, ratios: Sequence[float], scales: Sequence[float]) -> torch.Tensor:
    """(len(ratios) * len(scales), 4) anchors centred on the origin: area (size * scale)^2,
    height / width = ratio (RetinaNet: ratios 0.5, 1, 2; scales 2^0, 2^(1/3), 2^(2/3))."""
    out = []
    for ratio in ratios:
        for scale in scales:
            area = (size * scale) ** 2
            w = math.sqrt(area / ratio)
            h = w * ratio
            out.append([-w / 2, -h / 2, w / 2, h / 2])
    return torch.tensor(out, dtype=torch.float32)


def anchor_grid(feature_size: tuple[int, int], stride: int, cell: torch.Tensor) -> torch.Tensor:
    """Anchors of one pyramid level: `cell` anchors at every position (centres at stride * (i + 0.5)),
    ordered position-major ((y, x) row by row, then the cell's anchors), as a head's outputs are."""
    h, w = feature_size
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
    return (centres + cell[None]).reshape(-1, 4)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first: a box is
    dropped when its IoU with a kept, higher-scoring box exceeds `iou_threshold`."""
    order = torch.argsort(scores, descending=True, stable=True)
    if order.numel() == 0:
        return order
    iou = box_iou(boxes[order], boxes[order])
    suppressed = torch.zeros(order.numel(), dtype=torch.bool)
    keep = []
    # The IoU matrix is computed once; the loop only walks rows (cheap for the few hundred
    # candidates left after the score threshold and top-k).
    for i in range(order.numel()):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= iou[i] > iou_threshold
    return order[torch.tensor(keep, dtype=torch.long)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor,
                iou_threshold: float) -> torch.Tensor:
    """NMS within each class (boxes of different classes never suppress each other): the classes
    are moved apart by an offset larger than any coordinate, then one NMS runs."""
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    offset = classes.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)
    return nms(boxes + offset, scores, iou_threshold)
