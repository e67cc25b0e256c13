"""RetinaNet's training targets and loss (Lin et al. 2017): anchor matching and sigmoid focal loss."""

from __future__ import annotations

import torch

from search_spaces.detection.boxes import box_iou

BACKGROUND, IGNORED = -1, -2


def sigmoid_focal_loss(logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25,
                       gamma: float = 2.0) -> torch.Tensor:
    """Sum over elements of -alpha_t (1 - p_t)^gamma log(p_t), with p = sigmoid(logits) and
    targets in {0, 1}; computed from logits (log-sigmoid) so large logits stay finite."""
    p = torch.sigmoid(logits)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (alpha_t * (1 - p_t) ** gamma * ce).sum()


def match_anchors(anchors: torch.Tensor, boxes: torch.Tensor, fg_iou: float = 0.5,
                  bg_iou: float = 0.4) -> torch.Tensor:
    """For each anchor: the index of its ground-truth box (IoU >= fg_iou), BACKGROUND (< bg_iou)
    or IGNORED (in between). As RetinaNet, every box also claims the anchors it overlaps most
    (ties included), so a box smaller than every anchor still trains one."""
    if boxes.numel() == 0:
        return torch.full((len(anchors),), BACKGROUND, dtype=torch.long)
    iou = box_iou(boxes, anchors)  # (boxes, anchors)
    best_iou, best_box = iou.max(dim=0)
    matched = best_box.clone()
    matched[best_iou < fg_iou] = IGNORED
    matched[best_iou < bg_iou] = BACKGROUND
    per_box_best = iou.max(dim=1, keepdim=True).values
    box_idx, anchor_idx = torch.nonzero((iou == per_box_best) & (per_box_best > 0), as_tuple=True)
    matched[anchor_idx] = best_box[anchor_idx]
    return matched
