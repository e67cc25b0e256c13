"""A cell with input choices: each node reads one earlier node (an `InputChoice`) and applies one
op to it (a `LayerChoice`); the cell's output is its last node. Three cells, with a reduction
between them, every cell its own architecture (labels carry the cell's index).

    nas search --space examples.cell_inputs:CellNet --strategy evolution --data cifar10-subset
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.model_space import InputChoice, LayerChoice


def ops(channels: int) -> dict[str, nn.Module]:
    return {
        "conv3x3": nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                                 nn.BatchNorm2d(channels)),
        "sep5x5": nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 5, padding=2, groups=channels, bias=False),
                                nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels)),
        "avgpool": nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        "skip": nn.Identity(),
    }


class Cell(nn.Module):
    def __init__(self, channels: int, nodes: int, name: str) -> None:
        super().__init__()
        self.ops = nn.ModuleList(LayerChoice(ops(channels), label=f"{name}.node{j}.op") for j in range(nodes))
        # node 0 reads the cell input; node j > 0 picks one of the j + 1 states before it
        self.inputs = nn.ModuleList(InputChoice(j + 1, label=f"{name}.node{j}.input") for j in range(1, nodes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [self.ops[0](x)]
        for j, pick in enumerate(self.inputs, start=1):
            states.append(self.ops[j](pick([x, *states])))
        return states[-1]


class CellNet(nn.Module):
    """Three cells with input and op choices, a reduction between them."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3, channels: int = 16, nodes: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels)]
        for i in range(3):
            if i:
                layers += [nn.Conv2d(channels, 2 * channels, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * channels)]
                channels *= 2
            layers.append(Cell(channels, nodes, f"cell{i}"))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3)))
