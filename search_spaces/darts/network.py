"""DARTS networks: stacked normal and reduction cells (reductions at 1/3 and 2/3 of the depth).

A cell has two inputs (the outputs of the two previous cells, each brought to C channels by a
1x1 ReLU-conv-BN, or by `FactorizedReduce` when the previous cell reduced), 4 intermediate nodes
and the channel concat of the intermediate nodes as output; `CELL` is its graph (14 edges: node j
reads every earlier node). An architecture keeps 2 of each node's incoming edges, each with an op.

- `DartsNetwork(cfg, cells)`: the stand-alone net; a cell holds only its 8 chosen ops.
- `DartsSupernet(cfg)`: every edge of every cell a `MixedOp` over all ops. `forward(x, arch)`
  runs exactly the chosen edges and ops (single path); `forward_mixed(x, weights)` is DARTS's
  relaxation, `weights` (2 cell types, 14 edges, ops) = softmax of the alphas; both run the same
  modules, and `extract(arch)` is the stand-alone net with the supernet's weights (equal outputs).

The op set is a parameter (`OpSet`), so the binary-operation cells reuse all of this.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

import torch
from torch import nn

from nas_common.limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIZE, MAX_WIDTH, check_limits
from search_spaces.arch import Arch
from search_spaces.blocks.auxiliary import AuxiliaryHead, AuxiliaryLogits
from search_spaces.blocks.cell import CellGraph
from search_spaces.blocks.mixed import MixedOp
from search_spaces.darts import ops as darts_ops
from search_spaces.darts.ops import FactorizedReduce, ReLUConvBN
from search_spaces.weight_sharing import init_weights, load_path_weights

NODES = 4  # intermediate nodes per cell
EDGES: tuple[tuple[int, int], ...] = tuple((j + 2, s) for j in range(NODES) for s in range(j + 2))
CELL = CellGraph(num_inputs=2, num_nodes=NODES + 2, edges=EDGES, output="concat")
CELL_TYPES = ("normal", "reduce")


class OpSet(NamedTuple):
    """The candidate ops of a cell space: their names (index = alpha index; the zero op first), a
    factory `make(name, channels, stride)`, which ops compute in 1 bit (their multiply-adds are
    BOPs), and whether cells add a real-valued shortcut (binary cells: the preprocessed second
    input, repeated over the 4 nodes' channels and average-pooled in reduction cells, added to the
    output, so real-valued information crosses every binary cell)."""

    names: tuple[str, ...]
    make: Callable[[str, int, int], nn.Module]
    binary: frozenset = frozenset()
    shortcut: bool = False


def _shortcut(s1: torch.Tensor, out: torch.Tensor, reduction: bool) -> torch.Tensor:
    if reduction:
        s1 = nn.functional.avg_pool2d(s1, 3, 2, padding=1, count_include_pad=False)
    return out + s1.repeat(1, NODES, 1, 1)


DARTS_OPS = OpSet(darts_ops.OPS, darts_ops.make_op)


@dataclass(frozen=True)
class DartsConfig:
    """DARTS's CIFAR settings are C = 16, 8 cells for search and C = 36, 20 cells for evaluation.
    `width` scales C (rounded to an even count, at least 2). `auxiliary_weight` > 0 (DARTS's
    retraining: 0.4) gives the stand-alone net an auxiliary classifier after the second reduction
    cell, whose loss is added with that weight in training; the supernet never has one, and costs
    leave it out (inference drops it, as DARTS's reported sizes do)."""

    channels: int = 16
    layers: int = 8
    stem_multiplier: int = 3
    input_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    width: float = 1.0
    auxiliary_weight: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.auxiliary_weight <= 10:  # DARTS uses 0.4; above 10 the auxiliary loss is all that trains
            raise ValueError(f"auxiliary_weight must be in [0, 10], got {self.auxiliary_weight}")
        for key in ("channels", "layers", "stem_multiplier", "input_size", "in_channels", "num_classes"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        if self.channels % 2:
            raise ValueError(f"channels must be even (reductions split them in two), got {self.channels}")
        if self.layers < 3:
            raise ValueError(f"layers must be at least 3 (two of them reduce), got {self.layers}")
        if not 0 < self.width < float("inf"):
            raise ValueError(f"width must be a positive finite number, got {self.width}")
        check_limits(width=(self.width, MAX_WIDTH), channels=(self.channels, 1024), layers=(self.layers, 64),
                     stem_multiplier=(self.stem_multiplier, 16), input_size=(self.input_size, MAX_INPUT_SIZE),
                     in_channels=(self.in_channels, MAX_CHANNELS), num_classes=(self.num_classes, MAX_CLASSES))

    @property
    def c(self) -> int:
        """The first cells' channel count: channels x width, even."""
        return max(2, 2 * round(self.channels * self.width / 2))

    def without_auxiliary(self) -> "DartsConfig":
        """The inference net's config: the auxiliary head is training-only."""
        return dataclasses.replace(self, auxiliary_weight=0.0)

    def reductions(self) -> tuple[int, ...]:
        return (self.layers // 3, 2 * self.layers // 3)


# A cell's architecture: per intermediate node, two (source, op index into OpSet.names) pairs.
CellChoice = tuple[tuple[tuple[int, int], tuple[int, int]], ...]


def edge_index(target: int, source: int) -> int:
    return EDGES.index((target, source))


class _Preprocess(nn.Module):
    def __init__(self, c_pp: int, c_p: int, c: int, reduction_prev: bool) -> None:
        super().__init__()
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1)
        self.preprocess1 = ReLUConvBN(c_p, c, 1)


class Cell(_Preprocess):
    """The stand-alone cell of one `CellChoice`: `ops[2 j + k]` is input k of node j."""

    def __init__(self, opset: OpSet, choice: CellChoice, c_pp: int, c_p: int, c: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__(c_pp, c_p, c, reduction_prev)
        self.choice, self.reduction, self.shortcut = choice, reduction, opset.shortcut
        self.ops = nn.ModuleList(opset.make(opset.names[op], c, 2 if reduction and source < 2 else 1)
                                 for node in choice for source, op in node)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        nodes = [self.preprocess0(s0), self.preprocess1(s1)]
        for j, node in enumerate(self.choice):
            nodes.append(sum(self.ops[2 * j + k](nodes[source]) for k, (source, _) in enumerate(node)))
        out = torch.cat(nodes[2:], dim=1)
        return _shortcut(nodes[1], out, self.reduction) if self.shortcut else out


class SearchCell(_Preprocess):
    """Every edge a mixed op over the whole op set (stride 2 on a reduction cell's input edges)."""

    def __init__(self, opset: OpSet, c_pp: int, c_p: int, c: int, reduction: bool, reduction_prev: bool) -> None:
        super().__init__(c_pp, c_p, c, reduction_prev)
        self.reduction, self.shortcut = reduction, opset.shortcut
        self.skip = opset.names.index("skip_connect") if "skip_connect" in opset.names else None
        self.edges = nn.ModuleList(
            MixedOp(opset.make(name, c, 2 if reduction and source < 2 else 1) for name in opset.names)
            for _, source in EDGES)

    def inputs(self, s0: torch.Tensor, s1: torch.Tensor) -> list[torch.Tensor]:
        return [self.preprocess0(s0), self.preprocess1(s1)]

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, choice: CellChoice) -> torch.Tensor:
        nodes = self.inputs(s0, s1)
        for j, node in enumerate(choice):
            nodes.append(sum(self.edges[edge_index(j + 2, source)](nodes[source], op) for source, op in node))
        out = torch.cat(nodes[2:], dim=1)
        return _shortcut(nodes[1], out, self.reduction) if self.shortcut else out

    def forward_mixed(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor,
                      aux_skip: float = 0.0) -> torch.Tensor:
        """`weights`: (14 edges, ops). `aux_skip` (DARTS-) adds that weight times the edge's skip
        op (identity, or FactorizedReduce on a reducing edge) to every edge."""
        def edge(e: int, x: torch.Tensor) -> torch.Tensor:
            out = self.edges[e].forward_mixed(x, weights[e])
            if aux_skip and self.skip is not None:
                out = out + aux_skip * self.edges[e].candidates[self.skip](x)
            return out

        inputs = self.inputs(s0, s1)
        out = CELL.walk(inputs, edge)
        return _shortcut(inputs[1], out, self.reduction) if self.shortcut else out

    def path_state(self, choice: CellChoice, prefix: str) -> dict[str, torch.Tensor]:
        state = {f"{prefix}.{name}.{k}": v for name in ("preprocess0", "preprocess1")
                 for k, v in getattr(self, name).state_dict(keep_vars=True).items()}
        for j, node in enumerate(choice):
            for k, (source, op) in enumerate(node):
                unit = self.edges[edge_index(j + 2, source)].unit_state(op)
                state.update({f"{prefix}.ops.{2 * j + k}.{name}": v for name, v in unit.items()})
        return state


def _stem(cfg: DartsConfig) -> nn.Sequential:
    c = cfg.stem_multiplier * cfg.c
    return nn.Sequential(nn.Conv2d(cfg.in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))


def _layout(cfg: DartsConfig):
    """(c_pp, c_p, c, reduction, reduction_prev) of each cell, and the classifier's input channels."""
    c_pp = c_p = cfg.stem_multiplier * cfg.c
    c, reduction_prev, out = cfg.c, False, []
    for i in range(cfg.layers):
        reduction = i in cfg.reductions()
        if reduction:
            c *= 2
        out.append((c_pp, c_p, c, reduction, reduction_prev))
        c_pp, c_p, reduction_prev = c_p, NODES * c, reduction
    return out, c_p


class DartsNetwork(nn.Module):
    """The stand-alone network of (normal cell, reduction cell)."""

    def __init__(self, cfg: DartsConfig, cells: tuple[CellChoice, CellChoice], opset: OpSet = DARTS_OPS,
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.stem = _stem(cfg)
        layout, c_out = _layout(cfg)
        self.cells = nn.ModuleList(Cell(opset, cells[int(reduction)], c_pp, c_p, c, reduction, reduction_prev)
                                   for c_pp, c_p, c, reduction, reduction_prev in layout)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, cfg.num_classes)
        self.auxiliary_weight = cfg.auxiliary_weight
        self.auxiliary_after = cfg.reductions()[1]  # the cell whose output the auxiliary head reads
        if self.auxiliary_weight:
            self.auxiliary = AuxiliaryHead(NODES * layout[self.auxiliary_after][2], cfg.num_classes)
        init_weights(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor | AuxiliaryLogits:
        s0 = s1 = self.stem(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1)
            if i == self.auxiliary_after and self.auxiliary_weight and self.training:
                aux = self.auxiliary(s1)
        logits = self.classifier(self.pool(s1).flatten(1))
        return logits if aux is None else AuxiliaryLogits(logits, aux, self.auxiliary_weight)


class DartsSupernet(nn.Module):
    def __init__(self, cfg: DartsConfig, opset: OpSet = DARTS_OPS, generator: torch.Generator | None = None,
                 decode: Callable[[Sequence[int]], tuple[CellChoice, CellChoice]] | None = None) -> None:
        super().__init__()
        self.cfg, self.opset, self.decode = cfg, opset, decode
        self.stem = _stem(cfg)
        layout, c_out = _layout(cfg)
        self.reduction = [reduction for *_, reduction, _ in layout]
        self.cells = nn.ModuleList(SearchCell(opset, c_pp, c_p, c, reduction, reduction_prev)
                                   for c_pp, c_p, c, reduction, reduction_prev in layout)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_out, cfg.num_classes)
        init_weights(self, generator)

    def _cells(self, arch) -> tuple[CellChoice, CellChoice]:
        return self.decode(arch.choices if isinstance(arch, Arch) else arch)

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        cells = self._cells(arch)
        s0 = s1 = self.stem(x)
        for cell, reduction in zip(self.cells, self.reduction):
            s0, s1 = s1, cell(s0, s1, cells[int(reduction)])
        return self.classifier(self.pool(s1).flatten(1))

    def forward_mixed(self, x: torch.Tensor, weights: torch.Tensor, aux_skip: float = 0.0) -> torch.Tensor:
        if weights.shape != (2, len(EDGES), len(self.opset.names)):
            raise ValueError(f"need (2, {len(EDGES)}, {len(self.opset.names)}) weights, got {tuple(weights.shape)}")
        s0 = s1 = self.stem(x)
        for cell, reduction in zip(self.cells, self.reduction):
            s0, s1 = s1, cell.forward_mixed(s0, s1, weights[int(reduction)], aux_skip)
        return self.classifier(self.pool(s1).flatten(1))

    def path_state(self, arch) -> dict[str, torch.Tensor]:
        cells = self._cells(arch)
        state = {f"stem.{k}": v for k, v in self.stem.state_dict(keep_vars=True).items()}
        for i, (cell, reduction) in enumerate(zip(self.cells, self.reduction)):
            state.update(cell.path_state(cells[int(reduction)], f"cells.{i}"))
        state.update({f"classifier.{k}": v for k, v in self.classifier.state_dict(keep_vars=True).items()})
        return state

    def extract(self, arch) -> DartsNetwork:
        """The stand-alone net of `arch` with this supernet's weights (no auxiliary head: the
        supernet has none to give it)."""
        return load_path_weights(self, DartsNetwork(self.cfg.without_auxiliary(), self._cells(arch), self.opset), arch)
