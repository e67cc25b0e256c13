"""The NAS-Bench-201 network written as a user model: the built-in `nb201` space's network with
its six cell edges as `LayerChoice`s shared by every cell (one label per edge). It derives the
same 15,625 architectures, and an extracted network has the built-in network's module names, so
the built-in network's weights load into it unchanged (tests/test_model_space.py checks both).
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.model_space import LayerChoice
from search_spaces.nb201.ops import CELL, EDGES, OPS, ClassifierHead, ResNetBasicBlock, Stem, make_op


class Cell(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(LayerChoice({op: make_op(op, channels) for op in OPS}, label=f"edge_{e}")
                                   for e in range(len(EDGES)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return CELL.walk([x], lambda e, node: self.edges[e](node))


class NB201(nn.Module):
    """NAS-Bench-201's network: stem, 3 stages of N cells with ResNet reductions, classifier."""

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        stage_channels = (channels, 2 * channels, 4 * channels)
        layers: list[nn.Module] = []
        for stage, c in enumerate(stage_channels):
            if stage:
                layers.append(ResNetBasicBlock(stage_channels[stage - 1], c))
            layers += [Cell(c) for _ in range(cells_per_stage)]
        self.stem, self.cells = Stem(in_channels, channels), nn.ModuleList(layers)
        self.head = ClassifierHead(stage_channels[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x)
        return self.head(x)
