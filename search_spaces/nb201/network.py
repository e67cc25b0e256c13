"""NAS-Bench-201 networks: the stand-alone net of one cell and the weight-sharing cell supernet.

Layout (NB201 `TinyNetwork`): stem conv 3x3 + BN (C channels), then N cells at C, a ResNet
reduction to 2C (stride 2), N cells at 2C, a reduction to 4C, N cells at 4C, then BN-ReLU,
global average pooling and a linear classifier. Every cell of the net is the same cell (the
architecture). A cell has 4 nodes; node 0 is the cell input, node j the sum of its incoming
edges, node 3 the cell output.

Both nets share module names except for the `candidates.<choice>` level of the supernet edges, so
a path's weights move between them by renaming keys (`extract`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from search_spaces.arch import Arch
from nas_common.limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIZE, MAX_WIDTH, check_limits
from search_spaces.weight_sharing import freeze_affine_norms, init_weights, load_path_weights
from search_spaces.nb201.ops import (CELL, EDGES, OPS, ClassifierHead, NestedMixedEdge, ResNetBasicBlock, Stem,
                                     make_op, mixed_edge)


@dataclass(frozen=True)
class NB201Config:
    """NB201 defaults: C = 16, N = 5 cells per stage, CIFAR-10 input.

    `width` scales C (rounded, at least 4 channels); `input_size` only sets the shape FLOPs are
    counted on: the nets accept any square input.
    """

    channels: int = 16
    cells_per_stage: int = 5
    input_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    width: float = 1.0
    sharing: str = "independent"  # supernet only: or "nested" (conv 1x1 = centre of conv 3x3)
    # `sample`: "uniform" over the 15,625 cells, or "unique": uniform over the 6,466 classes of
    # cells that compute the same function (NB201's isomorphism), drawing each class's representative.
    sampling: str = "uniform"
    # supernet only: False fixes every BN inside the search cells at scale 1, shift 0 (the
    # affine-free BN of NB201's and DARTS's search code); stand-alone nets always learn theirs.
    affine: bool = True
    # supernet only: >= 0 splits the supernet on that edge into one sub-supernet per op (few-shot
    # NAS, `search_spaces.few_shot`); -1 keeps one supernet.
    few_shot: int = -1

    def __post_init__(self) -> None:
        for key in ("channels", "cells_per_stage", "input_size", "in_channels", "num_classes"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if not 0 < self.width < float("inf"):
            raise ValueError(f"width must be a positive finite number, got {self.width}")
        check_limits(width=(self.width, MAX_WIDTH), channels=(self.channels, 1024), cells_per_stage=(self.cells_per_stage, 64),
                     input_size=(self.input_size, MAX_INPUT_SIZE), in_channels=(self.in_channels, MAX_CHANNELS),
                     num_classes=(self.num_classes, MAX_CLASSES))
        if self.sharing not in ("independent", "nested"):
            raise ValueError(f"sharing must be independent or nested, got {self.sharing!r}")
        if isinstance(self.few_shot, bool) or not isinstance(self.few_shot, int) or not -1 <= self.few_shot < len(EDGES):
            raise ValueError(f"few_shot must be an edge index 0..{len(EDGES) - 1} or -1, got {self.few_shot!r}")
        if not isinstance(self.affine, bool):
            raise ValueError(f"affine must be true or false, got {self.affine!r}")
        if self.sampling not in ("uniform", "unique"):
            raise ValueError(f"sampling must be uniform or unique, got {self.sampling!r}")

    @property
    def stage_channels(self) -> tuple[int, int, int]:
        c = max(4, round(self.channels * self.width))
        return (c, 2 * c, 4 * c)


def _choices(arch: Arch | Sequence[int]) -> Sequence[int]:
    choices = arch.choices if isinstance(arch, Arch) else arch
    if len(choices) != len(EDGES):
        raise ValueError(f"an NB201 cell has {len(EDGES)} edges, got {len(choices)} choices")
    return choices


class Cell(nn.Module):
    """The cell of one architecture: `edges[e]` is the op on edge `EDGES[e]`."""

    def __init__(self, channels: int, choices: Sequence[int]) -> None:
        super().__init__()
        self.edges = nn.ModuleList(make_op(OPS[c], channels) for c in choices)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return CELL.walk([x], lambda e, node: self.edges[e](node))


class SearchCell(nn.Module):
    """The supernet cell: every edge a mixed op; the same graph walk as `Cell`."""

    def __init__(self, channels: int, nested: bool = False) -> None:
        super().__init__()
        edge = NestedMixedEdge if nested else mixed_edge
        self.edges = nn.ModuleList(edge(channels) for _ in EDGES)

    def forward(self, x: torch.Tensor, choices: Sequence[int]) -> torch.Tensor:
        return CELL.walk([x], lambda e, node: self.edges[e](node, choices[e]))

    def forward_mixed(self, x: torch.Tensor, weights: torch.Tensor, aux_skip: float = 0.0) -> torch.Tensor:
        """`weights`: (6 edges, 5 ops), e.g. a softmax of DARTS architecture parameters. `aux_skip`:
        DARTS-'s auxiliary skip connection beside every mixed op, with that fixed weight."""
        if aux_skip:
            return CELL.walk([x], lambda e, node: self.edges[e].forward_mixed(node, weights[e]) + aux_skip * node)
        return CELL.walk([x], lambda e, node: self.edges[e].forward_mixed(node, weights[e]))


def _body(cfg: NB201Config, make_cell) -> tuple[Stem, nn.ModuleList, ClassifierHead]:
    """Stem, the list of 3N cells with the two reductions between stages, head."""
    stage_channels = cfg.stage_channels
    layers: list[nn.Module] = []
    for stage, channels in enumerate(stage_channels):
        if stage > 0:
            layers.append(ResNetBasicBlock(stage_channels[stage - 1], channels))
        layers += [make_cell(channels) for _ in range(cfg.cells_per_stage)]
    head = ClassifierHead(stage_channels[-1], cfg.num_classes)
    return Stem(cfg.in_channels, stage_channels[0]), nn.ModuleList(layers), head


class NB201Network(nn.Module):
    """The stand-alone network of one architecture."""

    def __init__(self, cfg: NB201Config, arch: Arch | Sequence[int], generator: torch.Generator | None = None) -> None:
        super().__init__()
        choices = _choices(arch)
        self.stem, self.cells, self.head = _body(cfg, lambda c: Cell(c, choices))
        init_weights(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x)
        return self.head(x)


class NB201Supernet(nn.Module):
    """Weight-sharing supernet: every edge of every cell holds all five ops.

    `forward(x, arch)` runs exactly the path of `arch` (SPOS/SETN-style single path: unsampled
    ops get no gradient, so after `zero_grad(set_to_none=True)` optimizers skip them);
    `forward_mixed(x, weights)` is the DARTS relaxation over the same modules, with one (6, 5)
    weight matrix shared by all cells, as in NB201's DARTS baseline.
    """

    def __init__(self, cfg: NB201Config, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.stem, self.cells, self.head = _body(cfg, lambda c: SearchCell(c, nested=cfg.sharing == "nested"))
        init_weights(self, generator)
        for m in self.modules():
            if isinstance(m, NestedMixedEdge):
                m.finish_init()
        if not cfg.affine:
            freeze_affine_norms(layer for layer in self.cells if isinstance(layer, SearchCell))

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> torch.Tensor:
        choices = _choices(arch)
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, choices) if isinstance(layer, SearchCell) else layer(x)
        return self.head(x)

    def forward_mixed(self, x: torch.Tensor, weights: torch.Tensor, aux_skip: float = 0.0) -> torch.Tensor:
        if weights.shape != (len(EDGES), len(OPS)):
            raise ValueError(f"need ({len(EDGES)}, {len(OPS)}) edge weights, got shape {tuple(weights.shape)}")
        x = self.stem(x)
        for layer in self.cells:
            x = layer.forward_mixed(x, weights, aux_skip) if isinstance(layer, SearchCell) else layer(x)
        return self.head(x)

    def path_state(self, arch: Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        """The stand-alone net's state dict of `arch`, as this supernet's tensors."""
        choices = _choices(arch)
        state = {f"stem.{k}": v for k, v in self.stem.state_dict(keep_vars=True).items()}
        for i, layer in enumerate(self.cells):
            if isinstance(layer, SearchCell):
                for e, (edge, choice) in enumerate(zip(layer.edges, choices)):
                    state.update({f"cells.{i}.edges.{e}.{k}": v for k, v in edge.unit_state(choice).items()})
            else:
                state.update({f"cells.{i}.{k}": v for k, v in layer.state_dict(keep_vars=True).items()})
        state.update({f"head.{k}": v for k, v in self.head.state_dict(keep_vars=True).items()})
        return state

    def extract(self, arch: Arch | Sequence[int]) -> NB201Network:
        """The stand-alone net of `arch` holding this supernet's weights and BN statistics."""
        return load_path_weights(self, NB201Network(self.cfg, arch), arch)
