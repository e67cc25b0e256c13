"""A supernet inside a bigger model: backbone (a space's multi-scale supernet), neck and head.

Detection (DetNAS) searches the backbone of a detector: the detector's forward runs one backbone
path, and `extract(arch)` must give the stand-alone detector with that path's weights. Because a
supernet's `path_state` names tensors relative to itself, composition only prefixes them:
`backbone.<key>` for the path, `neck.<key>` / `head.<key>` for the fixed parts. The same holds
when the decisions live in the neck (NAS-FPN): a neck that is itself a supernet is composed the
same way.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

from search_spaces.arch import Arch


def prefixed(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{key}": value for key, value in state.items()}


class ComposedNet(nn.Module):
    """The stand-alone model: head(neck(backbone.forward_features(x)))."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The neck's outputs (a detector's pyramid levels)."""
        return self.neck(self.backbone.forward_features(x))

    def forward(self, x: torch.Tensor):
        return self.head(self.forward_features(x))


class ComposedSupernet(nn.Module):
    """A `Supernet` whose decisions live in `backbone` (a `MultiScaleSupernet`); `neck` and `head`
    are ordinary modules shared by every path. Implements the supernet protocol exactly."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head

    def forward_features(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> list[torch.Tensor]:
        return self.neck(self.backbone.forward_features(x, arch))

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[int]):
        return self.head(self.forward_features(x, arch))

    def path_state(self, arch: Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        return {**prefixed("backbone", self.backbone.path_state(arch)),
                **prefixed("neck", self.neck.state_dict(keep_vars=True)),
                **prefixed("head", self.head.state_dict(keep_vars=True))}

    def extract(self, arch: Arch | Sequence[int]) -> ComposedNet:
        return ComposedNet(self.backbone.extract(arch), copy.deepcopy(self.neck), copy.deepcopy(self.head))
