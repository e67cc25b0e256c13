"""Detector pieces around a searched backbone: an FPN neck and a RetinaNet head (Lin et al. 2017),
and the head's inference (decode, score threshold, top-k, per-class NMS).

The neck is its own module taking the backbone's multi-scale features, so a searched neck
(NAS-FPN merging cells) replaces it without touching backbone or head.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import torch
from torch import nn

from search_spaces.detection.boxes import anchor_grid, batched_nms, cell_anchors, decode


class FPN(nn.Module):
    """RetinaNet's FPN: P3-P5 from C3-C5 (lateral 1x1, top-down nearest upsampling, 3x3 output),
    P6 a stride-2 3x3 conv on C5, P7 a stride-2 3x3 conv on ReLU(P6). Input: the backbone's stage
    features, of which the last three are C3-C5; output: [P3, ..., P7]."""

    def __init__(self, in_channels: Sequence[int], channels: int = 256, extra_levels: int = 2,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        c3, c4, c5 = in_channels[-3:]
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in (c3, c4, c5))
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(3))
        extra = [nn.Conv2d(c5, channels, 3, stride=2, padding=1)]
        extra += [nn.Conv2d(channels, channels, 3, stride=2, padding=1) for _ in range(extra_levels - 1)]
        self.extra = nn.ModuleList(extra[:extra_levels])
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1, generator=generator)
                nn.init.zeros_(m.bias)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        c3, c4, c5 = features[-3:]
        p5 = self.lateral[2](c5)
        p4 = self.lateral[1](c4) + nn.functional.interpolate(p5, size=c4.shape[-2:], mode="nearest")
        p3 = self.lateral[0](c3) + nn.functional.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        levels = [conv(p) for conv, p in zip(self.output, (p3, p4, p5))]
        x = c5
        for i, conv in enumerate(self.extra):
            x = conv(x if i == 0 else torch.relu(x))
            levels.append(x)
        return levels


HEAD_NORMS = ("none", "gn")


def _groups(channels: int) -> int:
    """GroupNorm's 32 groups (Wu & He 2018), fewer for narrow heads: at least 4 channels a group."""
    groups = min(32, max(1, channels // 4))
    while channels % groups:
        groups -= 1
    return groups


class RetinaHead(nn.Module):
    """Class and box subnets (`convs` 3x3 conv + ReLU each), shared across pyramid levels. Outputs,
    per image, all levels' anchors in order: class logits (N, A_total, K) and box deltas (N, A_total, 4)."""

    def __init__(self, channels: int, num_anchors: int, num_classes: int, convs: int = 4,
                 prior: float = 0.01, generator: torch.Generator | None = None, norm: str = "none") -> None:
        super().__init__()
        if norm not in HEAD_NORMS:
            raise ValueError(f"head norm must be one of {', '.join(HEAD_NORMS)}, got {norm!r}")
        self.num_anchors, self.num_classes = num_anchors, num_classes

        def tower() -> nn.Sequential:
            layers: list[nn.Module] = []
            for _ in range(convs):
                layers.append(nn.Conv2d(channels, channels, 3, padding=1))
                if norm == "gn":  # RetinaNet-GN: the towers train from scratch at any batch size
                    layers.append(nn.GroupNorm(_groups(channels), channels))
                layers.append(nn.ReLU(inplace=True))
            return nn.Sequential(*layers)

        self.cls_tower, self.box_tower = tower(), tower()
        self.cls_out = nn.Conv2d(channels, num_anchors * num_classes, 3, padding=1)
        self.box_out = nn.Conv2d(channels, num_anchors * 4, 3, padding=1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01, generator=generator)
                nn.init.zeros_(m.bias)
        # Every anchor starts as background with probability 1 - prior: the focal loss is then not
        # swamped by the easy negatives in the first steps (RetinaNet, section 4.1).
        nn.init.constant_(self.cls_out.bias, -math.log((1 - prior) / prior))

    def forward(self, levels: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        cls, box = [], []
        for x in levels:
            n = x.shape[0]
            # (N, A*K, H, W) -> (N, H, W, A, K) -> (N, H*W*A, K): position-major, as `anchor_grid`.
            cls.append(self.cls_out(self.cls_tower(x)).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes))
            box.append(self.box_out(self.box_tower(x)).permute(0, 2, 3, 1).reshape(n, -1, 4))
        return torch.cat(cls, dim=1), torch.cat(box, dim=1)


@dataclass(frozen=True)
class AnchorConfig:
    """RetinaNet: sizes 32..512 on P3-P7 (strides 8..128), 3 ratios x 3 scales per position."""

    strides: tuple[int, ...] = (8, 16, 32, 64, 128)
    sizes: tuple[float, ...] = (32, 64, 128, 256, 512)
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    scales: tuple[float, ...] = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))

    @property
    def per_position(self) -> int:
        return len(self.ratios) * len(self.scales)

    @classmethod
    def scaled(cls, size_per_stride: float) -> "AnchorConfig":
        """Anchors of `size_per_stride` x each level's stride (RetinaNet: 4, so 32 px at stride 8);
        smaller values suit small objects."""
        strides = cls.strides
        return cls(strides=strides, sizes=tuple(float(size_per_stride * s) for s in strides))

    def anchors(self, feature_sizes: Sequence[tuple[int, int]]) -> torch.Tensor:
        """All levels' anchors, concatenated in the head's output order."""
        return torch.cat([anchor_grid(size, stride, cell_anchors(s, self.ratios, self.scales))
                          for size, stride, s in zip(feature_sizes, self.strides, self.sizes)])


class DetectorOutput(NamedTuple):
    """What a detector returns: per-anchor class logits (N, A, K) and box deltas (N, A, 4), and
    the anchors (A, 4), which depend on the input size."""

    cls_logits: torch.Tensor
    box_deltas: torch.Tensor
    anchors: torch.Tensor


class AnchoredHead(nn.Module):
    """A RetinaNet head that also returns its anchors: the detector's output is self-contained,
    so losses and inference need no knowledge of strides or input sizes."""

    def __init__(self, channels: int, num_classes: int, anchors: AnchorConfig | None = None, convs: int = 4,
                 generator: torch.Generator | None = None, norm: str = "none") -> None:
        super().__init__()
        self.anchor_config = anchors or AnchorConfig()
        self.head = RetinaHead(channels, self.anchor_config.per_position, num_classes, convs, generator=generator,
                               norm=norm)
        self._cache: tuple[tuple, torch.Tensor] | None = None  # memo only: anchors of the last sizes

    def forward(self, levels: Sequence[torch.Tensor]) -> DetectorOutput:
        cls, box = self.head(levels)
        sizes = tuple(tuple(x.shape[-2:]) for x in levels)
        if self._cache is None or self._cache[0] != sizes or self._cache[1].device != cls.device:
            self._cache = (sizes, self.anchor_config.anchors(sizes).to(cls.device))
        return DetectorOutput(cls, box, self._cache[1])


@dataclass(frozen=True)
class InferenceConfig:
    score_threshold: float = 0.05
    topk: int = 1000  # candidates kept before NMS (RetinaNet: per level; here over all levels)
    nms_threshold: float = 0.5
    max_detections: int = 100


@torch.no_grad()
def detect(cls_logits: torch.Tensor, box_deltas: torch.Tensor, anchors: torch.Tensor,
           image_sizes: Sequence[tuple[int, int]], cfg: InferenceConfig = InferenceConfig()
           ) -> list[dict[str, torch.Tensor]]:
    """Per image: {"boxes" (D, 4) clipped to (height, width), "scores" (D,), "labels" (D,)}."""
    results = []
    num_classes = cls_logits.shape[-1]
    for logits, deltas, (h, w) in zip(cls_logits, box_deltas, image_sizes):
        scores = torch.sigmoid(logits.float()).flatten()
        keep = torch.nonzero(scores > cfg.score_threshold).squeeze(1)
        if keep.numel() > cfg.topk:
            keep = keep[scores[keep].topk(cfg.topk).indices]
        anchor_idx, labels = keep // num_classes, keep % num_classes
        boxes = decode(anchors[anchor_idx], deltas[anchor_idx].float())
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
        kept = batched_nms(boxes, scores[keep], labels, cfg.nms_threshold)[:cfg.max_detections]
        results.append({"boxes": boxes[kept], "scores": scores[keep][kept], "labels": labels[kept]})
    return results
