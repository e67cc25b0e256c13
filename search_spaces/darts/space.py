"""The `darts` space: DARTS's normal and reduction cells (Liu et al., ICLR 2019), ~10^18 architectures.

Decisions, for the normal cell then the reduction cell, per intermediate node j = 0..3:
`<cell>_node<j>_inputs` (which two of the j + 2 earlier nodes feed it: an unordered pair, so no
choice vector is invalid and no two vectors differ only by listing order) and `<cell>_node<j>_op_a`
/ `_op_b` (the op on the lower / higher input; any op but `none`).

`canonical` also merges cells that differ only by numbering their intermediate nodes (a node
may take any number that keeps its inputs earlier; the concat output then only permutes channels,
which the next cell's 1x1 preprocessing absorbs): the smallest choice vector among the valid
renumberings. `to_genotype` / `from_genotype` convert to and from DARTS's `Genotype(...)` string.
"""

from __future__ import annotations

import itertools
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import torch

from nas_common.errors import InvalidArchitecture
from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.cost import count_params, measure_flops
from search_spaces.darts.genotype import Genotype, parse_genotype
from search_spaces.darts.network import (CELL_TYPES, DARTS_OPS, EDGES, NODES, CellChoice, DartsConfig, DartsNetwork,
                                         DartsSupernet, OpSet, edge_index)

# Bi-Real Net / ReActNet: a binary multiply-add (XNOR + popcount) costs 1/64 of a float one.
BOPS_PER_FLOP = 64
from search_spaces.protocol import Decision, SearchSpace, config_dict, option_names, typed_options

# The unordered input pairs of node j, in a fixed order: node 0 reads (0, 1); node 3 one of 10 pairs.
PAIRS: tuple[tuple[tuple[int, int], ...], ...] = tuple(tuple(itertools.combinations(range(j + 2), 2))
                                                       for j in range(NODES))
PER_CELL = 3 * NODES  # inputs, op_a, op_b per node


class CellSpace(SearchSpace):
    """A two-cell (normal, reduction) space over an op set; `darts` and `binary` differ in ops."""

    name = "cells"
    opset: OpSet = DARTS_OPS

    options = option_names(DartsConfig)

    def __init__(self, **options: Any) -> None:
        self.cfg = typed_options(self.name, DartsConfig, options)

    @property
    def choice_ops(self) -> tuple[str, ...]:
        """The ops an architecture may choose (all but `none`); choice i is `opset.names[i + 1]`."""
        return self.opset.names[1:]

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        out = []
        for cell in CELL_TYPES:
            for j in range(NODES):
                out.append(Decision(f"{cell}_node{j}_inputs", tuple(f"{a}+{b}" for a, b in PAIRS[j])))
                out.append(Decision(f"{cell}_node{j}_op_a", self.choice_ops))
                out.append(Decision(f"{cell}_node{j}_op_b", self.choice_ops))
        return tuple(out)

    def config(self) -> dict[str, Any]:
        return config_dict(self.cfg)

    # ---- choices <-> cells ---------------------------------------------------------------------
    def cells(self, choices: Sequence[int]) -> tuple[CellChoice, CellChoice]:
        """(normal, reduce), each per node ((source, op index into opset.names), ...) x 2."""
        if len(choices) != 2 * PER_CELL:
            raise ValueError(f"a {self.name} architecture has {2 * PER_CELL} choices, got {len(choices)}")
        out = []
        for c in range(2):
            part = choices[c * PER_CELL:(c + 1) * PER_CELL]
            cell = []
            for j in range(NODES):
                (a, b), op_a, op_b = PAIRS[j][part[3 * j]], part[3 * j + 1], part[3 * j + 2]
                cell.append(((a, op_a + 1), (b, op_b + 1)))
            out.append(tuple(cell))
        return out[0], out[1]

    @staticmethod
    def _encode_cell(cell: Sequence[Sequence[tuple[int, int]]]) -> list[int]:
        out = []
        for j, node in enumerate(cell):
            (a, op_a), (b, op_b) = sorted(node)
            if a == b:
                raise InvalidArchitecture(f"node {j + 2} reads node {a} twice; its two inputs must differ")
            if (a, b) not in PAIRS[j]:
                raise InvalidArchitecture(f"node {j + 2} may read nodes 0..{j + 1}, not {b}")
            if op_a < 1 or op_b < 1:
                raise InvalidArchitecture(f"node {j + 2}: 'none' is not an op an architecture can choose")
            out += [PAIRS[j].index((a, b)), op_a - 1, op_b - 1]
        return out

    def encode_cells(self, normal: Sequence, reduce: Sequence) -> Arch:
        return Arch(self.name, tuple(self._encode_cell(normal) + self._encode_cell(reduce)))

    def canonical(self, arch: Arch) -> Arch:
        """The smallest choice vector among the renumberings of each cell's intermediate nodes that
        keep every input earlier than its node (the same cells, up to channel order)."""
        cells = self.cells(arch.choices)
        return Arch(self.name, tuple(c for cell in cells for c in min(self._renumberings(cell))))

    def _renumberings(self, cell: CellChoice):
        for order in itertools.permutations(range(NODES)):
            new_of = {0: 0, 1: 1, **{j + 2: order[j] + 2 for j in range(NODES)}}
            renumbered: list = [None] * NODES
            valid = True
            for j, node in enumerate(cell):
                inputs = [(new_of[source], op) for source, op in node]
                if any(source >= order[j] + 2 for source, _ in inputs):
                    valid = False
                    break
                renumbered[order[j]] = inputs
            if valid:
                yield self._encode_cell(renumbered)

    # ---- the DARTS genotype ----------------------------------------------------------------------
    def to_genotype(self, arch: Arch) -> Genotype:
        cells = self.cells(self.validate(arch).choices)
        concat = list(range(2, NODES + 2))
        normal, reduce = ([(self.opset.names[op], source) for node in cell for source, op in node] for cell in cells)
        return Genotype(normal, concat, reduce, list(concat))

    def from_genotype(self, genotype: Genotype | str) -> Arch:
        if isinstance(genotype, str):
            genotype = parse_genotype(genotype)
        index = {name: i for i, name in enumerate(self.opset.names)}
        cells = []
        for key in ("normal", "reduce"):
            pairs = getattr(genotype, key)
            if len(pairs) != 2 * NODES:
                raise InvalidArchitecture(f"genotype {key} needs {2 * NODES} (op, input) pairs, got {len(pairs)}")
            unknown = [op for op, _ in pairs if op not in index]
            if unknown:
                raise InvalidArchitecture(f"unknown op {unknown[0]!r}; valid: {', '.join(self.choice_ops)}")
            cells.append([[(source, index[op]) for op, source in pairs[2 * j:2 * j + 2]] for j in range(NODES)])
            concat = getattr(genotype, f"{key}_concat")
            if list(concat) != list(range(2, NODES + 2)):
                raise InvalidArchitecture(f"genotype {key}_concat must be [2, 3, 4, 5], got {concat}")
        return self.encode_cells(*cells)

    # ---- DARTS (nas.darts): alphas per (cell type, edge, op) ---------------------------------------
    @property
    def alpha_shape(self) -> tuple[int, int, int]:
        return (2, len(EDGES), len(self.opset.names))

    @property
    def alpha_ops(self) -> tuple[str, ...]:
        return self.opset.names

    def one_hot(self, arch: Arch) -> np.ndarray:
        """1 on each chosen (edge, op); edges no node reads weigh 0 (the `none` op's output)."""
        weights = np.zeros(self.alpha_shape)
        for c, cell in enumerate(self.cells(self.validate(arch).choices)):
            for j, node in enumerate(cell):
                for source, op in node:
                    weights[c, edge_index(j + 2, source), op] = 1.0
        return weights

    def discretise(self, alphas: Any) -> Arch:
        """DARTS's rule: for each node keep the 2 incoming edges whose strongest op other than
        `none` is strongest, each with that op."""
        alphas = np.asarray(alphas, dtype=float)
        if alphas.shape != self.alpha_shape:
            raise ValueError(f"need alphas of shape {self.alpha_shape}, got {alphas.shape}")
        weights = np.exp(alphas - alphas.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        cells = []
        for c in range(2):
            cell = []
            for j in range(NODES):
                candidates = []
                for source in range(j + 2):
                    w = weights[c, edge_index(j + 2, source), 1:]
                    candidates.append((-float(w.max()), source, int(w.argmax()) + 1))
                cell.append([(source, op) for _, source, op in sorted(candidates)[:2]])
            cells.append(cell)
        return self.encode_cells(*cells)

    # ---- networks and cost -------------------------------------------------------------------------
    def build(self, arch: Arch, generator: torch.Generator | None = None) -> DartsNetwork:
        return DartsNetwork(self.cfg, self.cells(self.validate(arch).choices), self.opset, generator)

    def supernet(self, generator: torch.Generator | None = None) -> DartsSupernet:
        return DartsSupernet(self.cfg, self.opset, generator, decode=self.cells)

    @cached_property
    def _cost_table(self) -> tuple[dict[str, int], dict[str, np.ndarray], list[bool]]:
        """Fixed cost (stem, preprocessing, classifier: the net with every op `none`) and, per
        (cell, edge, op), that op's FLOPs, params and BOPs (the multiply-adds of 1-bit ops, whose
        FLOPs are then 0) on the edge's input shape (captured in a mixed forward)."""
        supernet = self.supernet().eval()
        inputs: dict[int, torch.Size] = {}  # per cell: the shape of its preprocessed inputs
        hooks = [cell.preprocess1.register_forward_hook(lambda m, a, out, i=i: inputs.__setitem__(i, out.shape))
                 for i, cell in enumerate(supernet.cells)]
        size = self.cfg.input_size
        with torch.no_grad():
            supernet.forward_mixed(torch.zeros(1, self.cfg.in_channels, size, size), torch.full(self.alpha_shape, 0.1))
            for h in hooks:
                h.remove()
            shapes = {}
            for i, cell in enumerate(supernet.cells):
                node = cell.edges[edge_index(2, 0)].candidates[0](torch.zeros(inputs[i])).shape  # `none`: the node's shape
                shapes.update({(i, e): inputs[i] if source < 2 else node for e, (_, source) in enumerate(EDGES)})
        nothing = tuple(((0, 0), (1, 0)) for _ in range(NODES))  # every op `none`: what no choice changes
        empty = DartsNetwork(self.cfg.without_auxiliary(), (nothing, nothing), self.opset).eval()
        x = torch.zeros(1, self.cfg.in_channels, size, size)
        fixed = {"flops": measure_flops(empty, x), "params": count_params(empty)}
        shape_of = (len(supernet.cells), len(EDGES), len(self.opset.names))
        tables = {q: np.zeros(shape_of, dtype=np.int64) for q in ("flops", "params", "bops")}
        for (i, e), shape in shapes.items():
            for o, candidate in enumerate(supernet.cells[i].edges[e].candidates):
                counted = measure_flops(candidate, torch.zeros(shape))
                if self.opset.names[o] in self.opset.binary:
                    tables["bops"][i, e, o] = counted // 2  # one BOP per binary multiply-add
                else:
                    tables["flops"][i, e, o] = counted
                tables["params"][i, e, o] = count_params(candidate)
        return {**fixed, "bops": 0}, tables, list(supernet.reduction)

    def _cost(self, arch: Arch, quantity: str) -> int:
        cells = self.cells(self.validate(arch).choices)  # before the table: a bad arch fails fast
        fixed, tables, reduction = self._cost_table
        table = tables[quantity]
        total = fixed[quantity]
        for i, red in enumerate(reduction):
            for j, node in enumerate(cells[int(red)]):
                total += sum(int(table[i, edge_index(j + 2, source), op]) for source, op in node)
        return int(total)

    def flops(self, arch: Arch) -> int:
        return self._cost(arch, "flops")

    def params(self, arch: Arch) -> int:
        return self._cost(arch, "params")


@SPACES.register("darts")
class DartsSpace(CellSpace):
    name = "darts"
    description = "DARTS normal + reduction cells: 4 nodes x 2 inputs x 7 ops each (~10^18 archs)"
