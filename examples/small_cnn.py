"""A small CNN whose stages choose their kernel size, width and depth: a model space in plain
PyTorch, searched on CIFAR-10 with

    nas search --space examples.small_cnn:SmallCNN --strategy evolution --data cifar10-subset

Each stage downsamples, then repeats a residual bottleneck `depth` times; inside a stage every
block uses the stage's one kernel size and one width (shared choices: one decision, several
uses). The supernet keeps an independent candidate per (kernel, width) in each block.
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.model_space import Repeat, ValueChoice


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class Bottleneck(nn.Module):
    """x + (1x1 to `width` -> k x k -> 1x1 back to `channels`)."""

    def __init__(self, channels: int, width: int, kernel: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, width, 1), conv_bn(width, width, kernel),
                                  conv_bn(width, channels, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.body(x))


class SmallCNN(nn.Module):
    """A small CNN whose stages choose kernel size, width and depth."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, channels: int = 16, stages: int = 2) -> None:
        super().__init__()
        self.stem = conv_bn(in_channels, channels, 3)
        body = []
        for s in range(stages):
            c = channels * 2 ** (s + 1)
            kernel = ValueChoice([3, 5], label=f"stage{s}.kernel")
            width = ValueChoice([c // 2, c], label=f"stage{s}.width")
            depth = ValueChoice([1, 2, 3], label=f"stage{s}.depth")
            body += [conv_bn(c // 2, c, 3, stride=2),
                     Repeat(lambda i, c=c, kernel=kernel, width=width:
                            kernel.map(lambda k: width.map(lambda w: Bottleneck(c, w, k))), depth)]
        self.body = nn.Sequential(*body)
        self.head = nn.Linear(channels * 2 ** stages, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(self.stem(x)).mean((2, 3)))
