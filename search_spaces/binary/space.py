"""The `binary` space: DARTS-style normal and reduction cells of binary operations (Kim et al.,
ECCV 2020), with real-valued stem, cell preprocessing, classifier and cell shortcuts.

Everything but the op set is the `darts` space (`CellSpace`: decisions, canonical form, genotype
strings, single-path and mixed supernet, DARTS discretisation). Costs: `bops(arch)` counts the
binary convolutions' multiply-adds, `float_flops(arch)` the real-valued rest (2 per multiply-add,
as everywhere in nas), and `flops(arch)` = float FLOPs + BOPs / 64 in the same units, the
Bi-Real / ReActNet convention, so FLOPs constraints and Pareto plots compare binary and float
cells fairly.
"""

from __future__ import annotations

from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.binary.ops import BINARY, OPS, make_op
from search_spaces.darts.network import OpSet
from search_spaces.darts.space import BOPS_PER_FLOP, CellSpace

BINARY_OPS = OpSet(OPS, make_op, BINARY, shortcut=True)


@SPACES.register("binary")
class BinarySpace(CellSpace):
    name = "binary"
    description = "binary-operation cells (Kim et al. 2020): 4 nodes x 2 inputs x 6 ops, 1-bit convs"
    opset = BINARY_OPS

    def bops(self, arch: Arch) -> int:
        return self._cost(arch, "bops")

    def float_flops(self, arch: Arch) -> int:
        return self._cost(arch, "flops")

    def flops(self, arch: Arch) -> int:
        return self.float_flops(arch) + round(2 * self.bops(arch) / BOPS_PER_FLOP)
