"""The NAS-FPN neck as decisions (Ghiasi et al., CVPR 2019), and the `nasfpn` space: a detector
with a fixed backbone whose FPN is searched as merging cells (`search_spaces.detection.merging`).

Each cell i (of N, 7 in the paper) decides
- `cell{i}_inputs`: two distinct nodes of the pool it sees (P3-P7 are nodes 0-4, cell j's output
  is node 5 + j), as one decision over unordered pairs, so "the same node twice" or "a node not
  built yet" cannot be encoded,
- `cell{i}_op`: `sum` or `attention` (global-pool attention),
- `cell{i}_level`, for the first N - 5 cells only: the output level, P3-P7.
The last five cells output P3-P7, one level each: their order is one decision, `output_levels`,
over the 120 orders (the published cell's is P3, P4, P5, P7, P6). Every architecture of this
encoding is a valid network (no dead node: unread maps join the output of their level), and two
different encodings build different graphs, so the canonical form is the identity.

`cells_to_arch` turns a list of (level, op, input, input) cells, as the tensorflow/tpu code and
the paper describe them, into an architecture, or says what is wrong with it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property
from typing import Sequence

from nas_common.errors import InvalidArchitecture
from search_spaces.detection.merging import LEVELS, OPS, Cell
from search_spaces.protocol import Decision

# tensorflow/tpu nasfpn.py: (level, op, input 1, input 2); inputs 0-4 are P3-P7.
PUBLISHED = ((4, "attention", 1, 3), (4, "sum", 1, 5), (3, "sum", 0, 6), (4, "sum", 6, 7),
             (5, "attention", 7, 8), (7, "attention", 6, 9), (6, "attention", 9, 10))
ORDERS = tuple(itertools.permutations(LEVELS))


@dataclass(frozen=True)
class NeckEncoding:
    """The decisions of an N-cell NAS-FPN neck and the mapping between choices and cells."""

    num_cells: int = 7

    def __post_init__(self) -> None:
        if self.num_cells < len(LEVELS):
            raise ValueError(f"a NAS-FPN neck needs at least {len(LEVELS)} cells (the last five output P3-P7), "
                             f"got {self.num_cells}")

    @property
    def first_output(self) -> int:
        return self.num_cells - len(LEVELS)

    def pairs(self, cell: int) -> tuple[tuple[int, int], ...]:
        return tuple(itertools.combinations(range(len(LEVELS) + cell), 2))

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        out = []
        for i in range(self.num_cells):
            out.append(Decision(f"cell{i}_inputs", tuple(f"{a}+{b}" for a, b in self.pairs(i))))
            out.append(Decision(f"cell{i}_op", OPS))
            if i < self.first_output:
                out.append(Decision(f"cell{i}_level", tuple(f"P{lvl}" for lvl in LEVELS)))
        out.append(Decision("output_levels", tuple(",".join(f"P{lvl}" for lvl in order) for order in ORDERS)))
        return tuple(out)

    def cells(self, choices: Sequence[int]) -> tuple[Cell, ...]:
        """The cells of this neck's part of an architecture (len(self.decisions) choices)."""
        order = ORDERS[choices[-1]]
        cells, k = [], 0
        for i in range(self.num_cells):
            inputs, op = self.pairs(i)[choices[k]], OPS[choices[k + 1]]
            k += 2
            if i < self.first_output:
                level = LEVELS[choices[k]]
                k += 1
            else:
                level = order[i - self.first_output]
            cells.append(Cell(inputs, level, op))
        return tuple(cells)

    def choices(self, cells: Sequence[tuple[int, str, int, int]]) -> tuple[int, ...]:
        """(level, op, input, input) per cell -> choices; `InvalidArchitecture` says what is wrong."""
        if len(cells) != self.num_cells:
            raise InvalidArchitecture(f"the neck has {self.num_cells} cells, got {len(cells)}")
        out = []
        for i, cell in enumerate(cells):
            try:
                level, op, a, b = cell
                level, a, b = int(level), int(a), int(b)
            except (TypeError, ValueError):
                raise InvalidArchitecture(f"cell {i} must be (level, op, input, input), got {cell!r}") from None
            built = len(LEVELS) + i
            if a == b:
                raise InvalidArchitecture(f"cell {i} reads node {a} twice; a cell merges two different nodes")
            if not (0 <= a < built and 0 <= b < built):
                raise InvalidArchitecture(f"cell {i} reads node {max(a, b) if max(a, b) >= built else min(a, b)}, "
                                          f"but only nodes 0-{built - 1} exist before it (P3-P7 are 0-4)")
            if op not in OPS:
                raise InvalidArchitecture(f"cell {i} has op {op!r}; valid: {', '.join(OPS)}")
            if level not in LEVELS:
                raise InvalidArchitecture(f"cell {i} outputs level {level}; valid: P3-P7 (3-7)")
            out += [self.pairs(i).index((min(a, b), max(a, b))), OPS.index(op)]
            if i < self.first_output:
                out.append(LEVELS.index(level))
        order = tuple(int(c[0]) for c in cells[self.first_output:])
        if sorted(order) != list(LEVELS):
            twice = sorted({lvl for lvl in order if order.count(lvl) > 1})
            raise InvalidArchitecture(f"the last {len(LEVELS)} cells must output P3-P7 once each; they output "
                                      f"{', '.join(f'P{lvl}' for lvl in order)}"
                                      + (f" (P{twice[0]} twice)" if twice else ""))
        out.append(ORDERS.index(order))
        return tuple(out)

    def describe_cells(self, choices: Sequence[int]) -> list[tuple[int, str, int, int]]:
        return [(c.level, c.op, *c.inputs) for c in self.cells(choices)]

