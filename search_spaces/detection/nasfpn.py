"""The `nasfpn` space (Ghiasi et al., CVPR 2019): DetNAS's detector with a fixed backbone and a
searched feature pyramid of merging cells (`search_spaces.detection.nasfpn_cells` encodes them)."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Sequence

import torch
from torch import nn

from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.composition import ComposedNet
from search_spaces.cost import MeasuredCost
from search_spaces.detection.detnas import DetNASConfig, DetNASSpace
from search_spaces.detection.merging import Cell
from search_spaces.protocol import Decision, option_names
from search_spaces.shufflenet.blocks import CHOICES


@SPACES.register("nasfpn")
class NASFPNSpace(MeasuredCost, DetNASSpace):
    """NAS-FPN (Ghiasi et al. 2019): the detector of `detnas` with a fixed backbone
    (`backbone_arch`, choice indices of the layout's blocks; default all shuffle-3x3) and a
    searched neck of merging cells. The decisions are the neck's (`search_spaces.detection.nasfpn_cells`)."""

    name = "nasfpn"
    description = "NAS-FPN: RetinaNet whose feature pyramid is searched as merging cells, fixed ShuffleNetV2 backbone"
    cost_note = "the whole detector at its input size"
    classification_backbone = None  # the backbone is fixed: no backbone pre-training in search
    fixed_backbone = True  # `--backbone DETNAS_RUN` sets backbone_arch to that search's best
    options = tuple(name for name in option_names(DetNASConfig) if name != "neck") + ("backbone_arch",)

    def __init__(self, backbone_arch: Sequence[int] | None = None, **options: Any) -> None:
        options = {**options, "neck": "nasfpn"}
        super().__init__(**options)
        blocks = len(self.layout.blocks)
        self.backbone_arch = tuple(int(c) for c in backbone_arch) if backbone_arch is not None else (0,) * blocks
        if len(self.backbone_arch) != blocks or not all(0 <= c < len(CHOICES) for c in self.backbone_arch):
            raise ValueError(f"backbone_arch needs {blocks} choices in 0..{len(CHOICES) - 1} for layout "
                             f"{self.cfg.layout}, got {list(self.backbone_arch)}")

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        return self.neck_encoding.decisions

    def config(self) -> dict[str, Any]:
        return {**{k: v for k, v in super().config().items() if k != "neck"}, "backbone_arch": list(self.backbone_arch)}

    def split(self, arch: Arch | Sequence[int]) -> tuple[None, tuple[Cell, ...]]:
        return None, self.neck_encoding.cells(tuple(arch.choices if isinstance(arch, Arch) else arch))

    def build(self, arch: Arch, generator: torch.Generator | None = None) -> ComposedNet:
        _, cells = self.split(self.validate(arch))
        return ComposedNet(self._backbone(self.backbone_arch, generator), self._neck(cells, generator),
                           self._head(generator))

    def _backbone_supernet(self, generator: torch.Generator | None) -> nn.Module:
        return self._backbone(self.backbone_arch, generator)  # fixed: shared by every path

    def from_cells(self, cells: Sequence[tuple[int, str, int, int]]) -> Arch:
        """The architecture of (level, op, input, input) cells (e.g. `search_spaces.detection.nasfpn_cells.PUBLISHED`)."""
        return Arch(self.name, self.neck_encoding.choices(cells))

    # ---- costs: the whole detector, measured once per architecture ---------------------------------
    def cost_probe(self, arch: Arch) -> tuple[nn.Module, torch.Tensor]:
        return self.build(arch), torch.zeros(1, 3, self.cfg.input_size, self.cfg.input_size)
