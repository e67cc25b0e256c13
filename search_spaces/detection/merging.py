"""NAS-FPN merging cells (Ghiasi et al., CVPR 2019): a feature pyramid built by a sequence of
cells over a growing pool of feature maps.

The pool starts as P3-P7 of the backbone: C3-C5 projected to the pyramid's channels (1x1 conv +
BN), P6 and P7 by stride-2 max-pooling (as the paper's RetinaNet setting). Every map then has the
same channels, so resampling a map to another level needs no weights: max-pooling to go down
(coarser), nearest-neighbour to go up. A cell reads two maps of the pool, resamples both to its
output level, combines them (`sum`, or `attention`: global-pool attention), and appends
ReLU -> 3x3 conv -> BN of the result to the pool. The last five cells output P3-P7, one level
each; when an output cell is built, every intermediate map of its level that nothing has read
yet is added to it (the paper's rule, as the tensorflow/tpu implementation does it), so no cell
is dead.

Global-pool attention, `attention="max"` (the paper and tensorflow/tpu): out = coarser + finer x
sigmoid(global max-pool of the coarser input), both resampled to the output level (the later
input counts as the coarser when the levels are equal). `attention="avg"` (mmdetection's
GlobalPoolingCell): out = second + first x sigmoid(global average-pool of the second).

`MergingNeck` is the stand-alone neck of one architecture; `MergingSupernetNeck` holds, for each
cell position, the 3x3 conv shared by every choice and one BN per output level (statistics of a
level differ; recalibration then sets them per path); its `path_state(cells)` names the
stand-alone neck's tensors, so extraction is exact.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

LEVELS = (3, 4, 5, 6, 7)  # P3..P7
OPS = ("sum", "attention")
ATTENTION = ("max", "avg")


@dataclass(frozen=True)
class Cell:
    """One merging cell: reads pool nodes `inputs` (a < b), writes a node at `level` with `op`."""

    inputs: tuple[int, int]
    level: int
    op: str


def resample(x: torch.Tensor, from_level: int, to_level: int, size: tuple[int, int]) -> torch.Tensor:
    """A map of level `from_level` at level `to_level` (spatial `size`): max-pool down, nearest up."""
    if to_level > from_level:
        factor = 2 ** (to_level - from_level)
        x = nn.functional.max_pool2d(x, kernel_size=factor, stride=factor, ceil_mode=True)
    elif to_level < from_level:
        x = nn.functional.interpolate(x, size=size, mode="nearest")
    if tuple(x.shape[-2:]) != tuple(size):  # odd sizes: ceil-mode pooling can overshoot by one
        x = x[..., :size[0], :size[1]]
    return x


def merge(op: str, a: torch.Tensor, level_a: int, b: torch.Tensor, level_b: int,
          level: int, size: tuple[int, int], attention: str = "max") -> torch.Tensor:
    """The binary op of a cell on pool maps `a` (earlier node) and `b` (later node)."""
    ra, rb = resample(a, level_a, level, size), resample(b, level_b, level, size)
    if op == "sum":
        return ra + rb
    if attention == "avg":  # mmdetection: second + first * sigmoid(avg-pool(second))
        return rb + ra * torch.sigmoid(rb.mean(dim=(2, 3), keepdim=True))
    # paper / tensorflow-tpu: coarser + finer * sigmoid(global max-pool of the coarser input)
    (coarse, coarse_raw), fine = ((rb, b), ra) if level_b >= level_a else ((ra, a), rb)
    return coarse + fine * torch.sigmoid(coarse_raw.amax(dim=(2, 3), keepdim=True))


class PyramidInputs(nn.Module):
    """P3-P7 from the backbone's C3-C5: 1x1 conv + BN to `channels`, then two stride-2 max-pools
    of P5. Only the levels in `levels` (P5 always: P6 and P7 come from it) are projected: a P3 or
    P4 that no cell reads has no weights (a stand-alone neck holds only what it uses)."""

    def __init__(self, in_channels: Sequence[int], channels: int, levels: Sequence[int] = (3, 4, 5)) -> None:
        super().__init__()
        used = sorted(set(levels) & {3, 4} | {5})
        self.project = nn.ModuleDict(
            {str(lvl): nn.Sequential(nn.Conv2d(c, channels, 1, bias=False), nn.BatchNorm2d(channels))
             for lvl, c in zip((3, 4, 5), in_channels[-3:]) if lvl in used})

    def forward(self, features: Sequence[torch.Tensor], levels: Sequence[int] = (3, 4, 5)
                ) -> tuple[list[torch.Tensor | None], list[tuple[int, int]]]:
        """(P3..P7, None for an unread P3/P4; the five levels' spatial sizes)."""
        c3, c4, c5 = features[-3:]
        p5 = self.project["5"](c5)
        maps: list[torch.Tensor | None] = [self.project[str(lvl)](c) if lvl in levels else None
                                           for lvl, c in ((3, c3), (4, c4))]
        maps.append(p5)
        for _ in range(2):
            maps.append(nn.functional.max_pool2d(maps[-1], kernel_size=2, stride=2, ceil_mode=True))
        sizes = [tuple(c3.shape[-2:]), tuple(c4.shape[-2:])] + [tuple(x.shape[-2:]) for x in maps[2:]]
        return maps, sizes


def read_input_levels(cells: Sequence[Cell]) -> tuple[int, ...]:
    """The pyramid input levels (P3-P7) that some cell reads."""
    return tuple(sorted({LEVELS[i] for c in cells for i in c.inputs if i < len(LEVELS)}))


def post_merge(channels: int) -> nn.Sequential:
    """ReLU -> 3x3 conv -> BN, applied to a cell's merged map (the paper's order)."""
    return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))


def run_cells(pool: list[torch.Tensor | None], cells: Sequence[Cell], post: Sequence[nn.Module],
              attention: str, sizes: Sequence[tuple[int, int]] | None = None) -> list[torch.Tensor]:
    """Build the pyramid: the pool (levels P3-P7; None for an input no cell reads) grows by one map
    per cell; returns P3..P7, each the output cell of its level. `post[i]` is cell i's
    ReLU-conv-BN; `sizes` the five levels' spatial sizes (default: the pool's)."""
    levels = list(LEVELS)
    sizes = dict(zip(LEVELS, sizes if sizes is not None else [tuple(x.shape[-2:]) for x in pool]))
    reads = [0] * len(pool)
    first_output = len(cells) - len(LEVELS)
    outputs: dict[int, torch.Tensor] = {}
    for i, (cell, conv) in enumerate(zip(cells, post)):
        a, b = cell.inputs
        x = merge(cell.op, pool[a], levels[a], pool[b], levels[b], cell.level, sizes[cell.level], attention)
        reads[a] += 1
        reads[b] += 1
        if i >= first_output:  # an output cell takes in the unread intermediate maps of its level
            for j in range(len(LEVELS), len(pool)):
                if reads[j] == 0 and levels[j] == cell.level:
                    x = x + pool[j]
                    reads[j] += 1
        x = conv(x)
        pool.append(x)
        levels.append(cell.level)
        reads.append(0)
        if i >= first_output:
            outputs[cell.level] = x
    return [outputs[lvl] for lvl in LEVELS]


class MergingNeck(nn.Module):
    """The stand-alone NAS-FPN neck of `cells` (repeated `stacks` times, weights not shared)."""

    def __init__(self, in_channels: Sequence[int], channels: int, cells: Sequence[Cell], stacks: int = 1,
                 attention: str = "max") -> None:
        super().__init__()
        self.cells, self.attention = tuple(cells), attention
        self.read_levels = read_input_levels(self.cells)
        self.inputs = PyramidInputs(in_channels, channels, self.read_levels)
        self.stacks = nn.ModuleList(nn.ModuleList(post_merge(channels) for _ in self.cells) for _ in range(stacks))

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        pyramid, sizes = self.inputs(features, self.read_levels)
        for post in self.stacks:
            pyramid = run_cells(list(pyramid), self.cells, post, self.attention, sizes)
        return pyramid


class MergingSupernetNeck(nn.Module):
    """Every NAS-FPN neck of `num_cells` cells: per cell position one 3x3 conv shared by all
    choices and one BN per output level. `forward(features, cells)` runs one path."""

    def __init__(self, in_channels: Sequence[int], channels: int, num_cells: int, stacks: int = 1,
                 attention: str = "max") -> None:
        super().__init__()
        self.num_cells, self.attention = num_cells, attention
        self.in_channels, self.channels = tuple(in_channels), channels
        self.inputs = PyramidInputs(in_channels, channels)
        self.convs = nn.ModuleList(nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1, bias=False)
                                                 for _ in range(num_cells)) for _ in range(stacks))
        self.norms = nn.ModuleList(nn.ModuleList(nn.ModuleList(nn.BatchNorm2d(channels) for _ in LEVELS)
                                                 for _ in range(num_cells)) for _ in range(stacks))

    def _post(self, stack: int, cells: Sequence[Cell]) -> list[nn.Module]:
        return [nn.Sequential(nn.ReLU(), self.convs[stack][i], self.norms[stack][i][c.level - LEVELS[0]])
                for i, c in enumerate(cells)]

    def forward(self, features: Sequence[torch.Tensor], cells: Sequence[Cell]) -> list[torch.Tensor]:
        pyramid, sizes = self.inputs(features, read_input_levels(cells))
        for stack in range(len(self.convs)):
            pyramid = run_cells(list(pyramid), cells, self._post(stack, cells), self.attention, sizes)
        return pyramid

    def path_state(self, cells: Sequence[Cell]) -> dict[str, torch.Tensor]:
        """`MergingNeck(..., cells).state_dict()` keys, as this module's tensors."""
        used = {str(lvl) for lvl in read_input_levels(cells)} | {"5"}
        state = {f"inputs.{k}": v for k, v in self.inputs.state_dict(keep_vars=True).items()
                 if k.split(".")[1] in used}
        for s in range(len(self.convs)):
            for i, cell in enumerate(cells):
                state[f"stacks.{s}.{i}.1.weight"] = self.convs[s][i].weight
                norm = self.norms[s][i][cell.level - LEVELS[0]]
                state.update({f"stacks.{s}.{i}.2.{k}": v for k, v in norm.state_dict(keep_vars=True).items()})
        return state

    def extract(self, cells: Sequence[Cell]) -> MergingNeck:
        neck = MergingNeck(self.in_channels, self.channels, cells, len(self.convs), self.attention)
        neck.load_state_dict({k: copy.deepcopy(v.detach()) for k, v in self.path_state(cells).items()})
        return neck
