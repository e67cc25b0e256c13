"""An auxiliary classifier (Szegedy et al.; DARTS, NASNet and AmoebaNet use it in retraining).

A small head reads an intermediate feature map and predicts the labels too; in training its
cross-entropy is added to the main loss with a weight (DARTS: 0.4), which gives the lower cells
a short gradient path. It is a training aid only: a net with one returns `AuxiliaryLogits` in
train mode and plain logits in eval mode, so inference, cost counting and export never see it.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class AuxiliaryLogits(NamedTuple):
    """A train-mode output: the main logits, the auxiliary head's, and the auxiliary loss's weight."""

    logits: torch.Tensor
    aux_logits: torch.Tensor
    weight: float


class AuxiliaryHead(nn.Sequential):
    """DARTS's CIFAR head: ReLU, average pool to 2x2, 1x1 conv to 128 + BN + ReLU, 2x2 conv to 768 +
    BN + ReLU, linear. The reference pools with a 5x5 window at stride 3, sized for the 8x8 maps of
    32-px inputs; an adaptive pool gives the same 2x2 grid at any input size."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__(nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Conv2d(in_channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
                         nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(),
                         nn.Flatten(), nn.Linear(768, num_classes))
