"""Inverted-residual blocks whose width and kernel size are shared, nested choices (Once-for-All
style): one set of weights per layer, the 3x3 kernel the centre of the 7x7, 16 channels the first
16 of 32. Compare `examples/small_cnn.py`, where every option has its own weights.

    nas search --space examples.nested_blocks:NestedNet --strategy evolution --data cifar10-subset
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.model_space import Repeat, ValueChoice
from search_spaces.model_space.nested import BatchNorm2d, Conv2d


class InvertedResidual(nn.Module):
    """x + (1x1 expand to `width` -> k x k depthwise -> 1x1 project back), batch norm after each."""

    def __init__(self, channels: int, width: ValueChoice, kernel: ValueChoice) -> None:
        super().__init__()
        self.body = nn.Sequential(Conv2d(channels, width, 1), BatchNorm2d(width), nn.ReLU(),
                                  Conv2d(width, width, kernel, depthwise=True), BatchNorm2d(width), nn.ReLU(),
                                  Conv2d(width, channels, 1), BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class NestedNet(nn.Module):
    """Two stages of inverted-residual blocks with nested width, kernel and depth choices."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, channels: int = 16) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                                   nn.ReLU()]
        for s in range(2):
            if s:
                layers += [nn.Conv2d(channels, 2 * channels, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * channels), nn.ReLU()]
                channels *= 2
            width = ValueChoice([channels * 2, channels * 4], label=f"stage{s}.width")
            kernel = ValueChoice([3, 5, 7], label=f"stage{s}.kernel")
            layers.append(Repeat(lambda i, c=channels, w=width, k=kernel: InvertedResidual(c, w, k),
                                 ValueChoice([1, 2], label=f"stage{s}.depth")))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3)))
