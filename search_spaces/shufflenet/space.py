"""The `shufflenet` space: Single Path One-Shot (Guo et al., 2019), also the DetNAS backbone."""

from __future__ import annotations

from functools import cached_property
from typing import Any

import torch

from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.cost import CostTable, TabulatedCost
from search_spaces.protocol import Decision, SearchSpace, config_dict, option_names, typed_options
from search_spaces.shufflenet.blocks import CHOICES, ChoiceBlockUnit, ClassifierHead, Stem
from search_spaces.shufflenet.network import (
    Layout, ShuffleNet, ShuffleNetConfig, ShuffleNetSupernet, make_layout,
)


@SPACES.register("shufflenet")
class ShuffleNetSpace(TabulatedCost, SearchSpace):
    name = "shufflenet"
    description = "SPOS/DetNAS ShuffleNetV2 choice blocks: 20 blocks x {shuffle 3x3/5x5/7x7, xception}"
    multipliers = ("width",)  # space options that `nas scale` varies (its depth and input size are fixed)

    options = option_names(ShuffleNetConfig)

    def __init__(self, **options: Any) -> None:
        self.cfg = typed_options(self.name, ShuffleNetConfig, options)
        self.layout: Layout = make_layout(self.cfg)

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(Decision(f"block_{i}", CHOICES) for i in range(len(self.layout.blocks)))

    def config(self) -> dict[str, Any]:
        return config_dict(self.cfg)

    def readable(self, arch: Arch) -> str:
        """The blocks in order, stages apart: `3x3 7x7 | xception 5x5 | ...`."""
        return blocks_text(self.layout, [option for _, option in self.describe(arch)])

    @classmethod
    def upgrade_config(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """Configs saved before nested weight sharing existed describe SPOS's independent candidates."""
        upgraded = dict(saved)
        if "sharing" not in upgraded and "last_channels" in upgraded:  # a complete saved config()
            upgraded["sharing"] = "independent"
        if "last_channels" in upgraded:
            upgraded.setdefault("classifier", True)  # added with DetNAS backbones
        return upgraded

    def build(self, arch: Arch, generator: torch.Generator | None = None) -> ShuffleNet:
        return ShuffleNet(self.cfg, self.validate(arch), generator)

    def supernet(self, generator: torch.Generator | None = None) -> ShuffleNetSupernet:
        return ShuffleNetSupernet(self.cfg, generator)

    def _measure_costs(self) -> CostTable:
        """Per-candidate FLOPs/params, each measured on its own input shape; stem + head fixed."""
        cfg, layout = self.cfg, self.layout
        table = CostTable(len(layout.blocks), len(CHOICES))
        x = torch.zeros(1, cfg.in_channels, cfg.input_size, cfg.input_size)
        stem = Stem(cfg.in_channels, layout.stem_channels, layout.stem_stride)
        table.add_fixed(stem, x)
        x = stem.eval()(x)
        for b, spec in enumerate(layout.blocks):
            units = [ChoiceBlockUnit(spec.in_channels, spec.out_channels, spec.stride, spec.projection, c)
                     for c in range(len(CHOICES))]
            for c, unit in enumerate(units):
                table.add_option(b, c, unit, x)
            with torch.no_grad():
                x = units[0].eval()(x)
        if cfg.classifier:
            table.add_fixed(ClassifierHead(layout.blocks[-1].out_channels, layout.last_channels, cfg.num_classes,
                                           cfg.dropout), x)
        return table


def blocks_text(layout: Layout, options: list[str]) -> str:
    """Choice blocks as read: kernel sizes (or xception) in order, `|` between stages."""
    stages: dict[int, list[str]] = {}
    for block, option in zip(layout.blocks, options):
        stages.setdefault(block.stage, []).append(option.removeprefix("shuffle"))
    return " | ".join(" ".join(names) for names in stages.values())
