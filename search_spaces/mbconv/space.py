"""The `mbconv` space: MnasNet/EfficientNet MBConv blocks with SE, searched per block and per stage."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.cost import count_params, measure_flops
from search_spaces.mbconv.network import (
    EXPANSIONS, KERNELS, SE_OPTIONS, BlockChoice, Head, Layout, MBConv, MBConvConfig, MBConvNet, MBConvSupernet,
    Resize, Stem, active_blocks, make_layout,
)
from search_spaces.protocol import Decision, SearchSpace, config_dict, option_names, typed_options

# Every (kernel, expansion, SE) of a block, in the order of its three decisions.
COMBINATIONS = tuple((k, e, s) for k in range(len(KERNELS)) for e in range(len(EXPANSIONS))
                     for s in range(len(SE_OPTIONS)))


@SPACES.register("mbconv")
class MBConvSpace(SearchSpace):
    """Decisions, in order: per searchable block `block_i_kernel`, `block_i_expand`, `block_i_se`;
    then per searchable stage `stage_s_depth` (1 .. the stage's blocks). Choices of a block beyond
    its stage's depth do not change the network: `canonical` sets them to 0."""

    name = "mbconv"
    description = "MnasNet/EfficientNet-B0 MBConv+SE: kernel x expansion x SE per block, depth per stage"
    multipliers = ("depth", "width", "resolution")  # space options that compound scaling (`nas scale`) varies

    options = option_names(MBConvConfig)

    def __init__(self, **options: Any) -> None:
        self.cfg = typed_options(self.name, MBConvConfig, options)
        self.layout: Layout = make_layout(self.cfg)

    # ---- decisions --------------------------------------------------------------------------------
    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        per_block = []
        for i in range(len(self.layout.blocks)):
            per_block += [Decision(f"block_{i}_kernel", tuple(f"k{k}" for k in KERNELS)),
                          Decision(f"block_{i}_expand", tuple(f"e{e}" for e in EXPANSIONS)),
                          Decision(f"block_{i}_se", SE_OPTIONS)]
        depths = [Decision(f"stage_{s + 1}_depth", tuple(str(d) for d in range(1, len(blocks) + 1)))
                  for s, blocks in enumerate(self.layout.stage_blocks)]
        return tuple(per_block + depths)

    def config(self) -> dict[str, Any]:
        out = config_dict(self.cfg)
        out["stages"] = [list(s) for s in self.cfg.stages]
        return out

    def split(self, choices: Sequence[int]) -> tuple[list[tuple[int, int, int]], list[int]]:
        """(per block (kernel, expansion, SE) indices, per stage depth)."""
        n = len(self.layout.blocks)
        blocks = [tuple(choices[3 * i: 3 * i + 3]) for i in range(n)]
        return blocks, [c + 1 for c in choices[3 * n:]]

    def block_choices(self, choices: Sequence[int]) -> dict[int, BlockChoice]:
        """The blocks an architecture runs (position -> kernel, expansion, SE)."""
        blocks, depths = self.split(choices)
        return {i: BlockChoice(KERNELS[blocks[i][0]], EXPANSIONS[blocks[i][1]], bool(blocks[i][2]))
                for i in active_blocks(self.layout, depths)}

    def canonical(self, arch: Arch) -> Arch:
        self.validate(arch)
        blocks, depths = self.split(arch.choices)
        active = set(active_blocks(self.layout, depths))
        choices = [c for i, b in enumerate(blocks) for c in (b if i in active else (0, 0, 0))]
        return Arch(self.name, (*choices, *arch.choices[3 * len(blocks):]))

    # ---- networks ---------------------------------------------------------------------------------
    def build(self, arch: Arch, generator: torch.Generator | None = None) -> MBConvNet:
        return MBConvNet(self.cfg, self.block_choices(self.validate(arch).choices), generator)

    def supernet(self, generator: torch.Generator | None = None) -> MBConvSupernet:
        return MBConvSupernet(self, generator)

    # ---- costs: fixed parts + one entry per (block position, kernel, expansion, SE) ----------------
    def parts(self, batch: int = 1) -> tuple[list[tuple[torch.nn.Module, torch.Tensor]],
                                             list[list[tuple[torch.nn.Module, torch.Tensor]]]]:
        """The network cut where costs add up: fixed modules (resize, stem, first block, head) and,
        per searchable block position, one module per entry of COMBINATIONS, each with its input.
        FLOPs/params tables and the latency lookup table (`nas.constraints.latency`) are measured on these."""
        cfg, layout = self.cfg, self.layout
        x = torch.zeros(batch, cfg.in_channels, cfg.input_size, cfg.input_size)
        fixed = []
        for module in (Resize(cfg.image_size), Stem(cfg.in_channels, layout.stem_channels, layout.stem_stride),
                       MBConv(layout.first, layout.first_kernel, 1, True)):
            fixed.append((module.eval(), x))
            with torch.no_grad():
                x = module(x)
        options = []
        for spec in layout.blocks:
            options.append([(MBConv(spec, KERNELS[k], EXPANSIONS[e], bool(s)).eval(), x) for k, e, s in COMBINATIONS])
            x = torch.zeros(batch, spec.out_channels, *_out_size(x.shape[-2:], spec.stride))
        fixed.append((Head(layout.blocks[-1].out_channels, layout.head_channels, cfg.num_classes, cfg.dropout).eval(), x))
        return fixed, options

    def part_keys(self, arch: Arch) -> list[tuple[int, int]]:
        """(block position, index into COMBINATIONS) of every block `arch` runs."""
        blocks, depths = self.split(self.validate(arch).choices)
        index = {c: j for j, c in enumerate(COMBINATIONS)}
        return [(i, index[blocks[i]]) for i in active_blocks(self.layout, depths)]

    @cached_property
    def _cost_table(self) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
        fixed_parts, option_parts = self.parts()
        fixed = {"flops": sum(measure_flops(m, x) for m, x in fixed_parts),
                 "params": sum(count_params(m) for m, _ in fixed_parts)}
        flops = np.array([[measure_flops(m, x) for m, x in row] for row in option_parts], dtype=np.int64)
        params = np.array([[count_params(m) for m, _ in row] for row in option_parts], dtype=np.int64)
        return fixed, flops, params

    def _cost(self, arch: Arch, quantity: str) -> int:
        keys = self.part_keys(arch)  # validates first: a bad arch fails before the table is measured
        fixed, flops, params = self._cost_table
        table = flops if quantity == "flops" else params
        return int(fixed[quantity] + sum(table[i, j] for i, j in keys))

    def flops(self, arch: Arch) -> int:
        return self._cost(arch, "flops")

    def params(self, arch: Arch) -> int:
        return self._cost(arch, "params")


def _out_size(size: Sequence[int], stride: int) -> tuple[int, int]:
    """Spatial size after a 'same'-padded conv with odd kernel and `stride`."""
    return tuple((s + stride - 1) // stride for s in size)  # type: ignore[return-value]

