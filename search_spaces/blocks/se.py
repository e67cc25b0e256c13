"""Squeeze-and-excitation (Hu et al. 2018), as MnasNet and EfficientNet use it inside MBConv."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn


class SqueezeExcite(nn.Module):
    """x * gate(W2 act(W1 avgpool(x))): a per-channel scale from global context.

    `reduced` is the bottleneck width (EfficientNet: max(1, block input channels * 0.25), so it
    depends on the block's input, not on the expanded width the SE sits on).
    """

    def __init__(self, channels: int, reduced: int, act: Callable[[], nn.Module] = nn.ReLU,
                 gate: Callable[[], nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        if reduced < 1:
            raise ValueError(f"squeeze-excite bottleneck must have at least one channel, got {reduced}")
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.act = act()
        self.expand = nn.Conv2d(reduced, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.expand(self.act(self.reduce(scale))))
