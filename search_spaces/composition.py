"""A supernet inside a bigger model: backbone (a space's multi-scale supernet), neck and head.

Detection (DetNAS) searches the backbone of a detector: the detector's forward runs one backbone
path, and `extract(arch)` must give the stand-alone detector with that path's weights. Because a
supernet's `path_state` names tensors relative to itself, composition only prefixes them:
`backbone.<key>` for the path, `neck.<key>` / `head.<key>` for the fixed parts. The same holds
when the decisions live in the neck (NAS-FPN) or in both: a neck that is itself a supernet is
composed the same way, and `split` says which decisions are whose.
"""

from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

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


def _backbone_only(arch: Arch | Sequence[int]) -> tuple[Arch | Sequence[int], None]:
    return arch, None


class ComposedSupernet(nn.Module):
    """A `Supernet` made of a backbone, a neck and a head, each either searched (itself a
    supernet, given its part of the architecture) or fixed (an ordinary module shared by every
    path). `split(arch)` gives (backbone's part, neck's part), None for a fixed part; by default
    the decisions are the backbone's (DetNAS). Implements the supernet protocol exactly."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, head: nn.Module,
                 split: Callable[[Arch], tuple[Any, Any]] = _backbone_only) -> None:
        super().__init__()
        self.backbone, self.neck, self.head = backbone, neck, head
        self.split = split

    def forward_features(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> list[torch.Tensor]:
        b, n = self.split(arch)
        features = self.backbone.forward_features(x) if b is None else self.backbone.forward_features(x, b)
        return self.neck(features) if n is None else self.neck(features, n)

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[int]):
        return self.head(self.forward_features(x, arch))

    def path_state(self, arch: Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        b, n = self.split(arch)
        return {**prefixed("backbone", _state(self.backbone, b)), **prefixed("neck", _state(self.neck, n)),
                **prefixed("head", self.head.state_dict(keep_vars=True))}

    def extract(self, arch: Arch | Sequence[int]) -> ComposedNet:
        b, n = self.split(arch)
        return ComposedNet(_extract(self.backbone, b), _extract(self.neck, n), copy.deepcopy(self.head))


def _state(part: nn.Module, sub: Any) -> dict[str, torch.Tensor]:
    return part.state_dict(keep_vars=True) if sub is None else part.path_state(sub)


def _extract(part: nn.Module, sub: Any) -> nn.Module:
    return copy.deepcopy(part) if sub is None else part.extract(sub)
