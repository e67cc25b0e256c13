"""The `nb201` space: the NAS-Bench-201 cell (Dong & Yang, ICLR 2020), 5^6 = 15,625 architectures.

An architecture is one op index (into `OPS`) per edge, in the edge order of the NB201 string
`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`; `to_string`/`from_string` convert exactly, so an
architecture can be looked up in the NB201 tables (see `nas.evaluate.table`).
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import torch

from nas_common.errors import InvalidArchitecture
from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.cost import CostTable, TabulatedCost
from search_spaces.few_shot import FewShotSupernet
from search_spaces.nb201 import isomorphism
from search_spaces.nb201.network import NB201Config, NB201Network, NB201Supernet
from search_spaces.nb201.ops import EDGES, NUM_NODES, OPS, ClassifierHead, ResNetBasicBlock, Stem, make_op
from search_spaces.protocol import Decision, SearchSpace, config_dict, option_names, typed_options

_EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
_OP_INDEX = {name: i for i, name in enumerate(OPS)}


@SPACES.register("nb201")
class NB201Space(TabulatedCost, SearchSpace):
    name = "nb201"
    description = "NAS-Bench-201 cell: 6 edges x {none, skip, conv 1x1, conv 3x3, avg pool 3x3}, 15,625 archs"

    options = option_names(NB201Config)

    def __init__(self, **options: Any) -> None:
        self.cfg = typed_options(self.name, NB201Config, options)

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        return tuple(Decision(f"edge_{dst}<-{src}", OPS) for dst, src in EDGES)

    # ---- DARTS (nas.darts): one logit per (edge, op), shared by every cell ----------------------
    @property
    def alpha_shape(self) -> tuple[int, int]:
        return (len(EDGES), len(OPS))

    alpha_ops = OPS  # what the last axis of the alphas means (skip counting, plots)

    def discretise(self, alphas: Any) -> Arch:
        """The op of largest weight on each edge (NB201's DARTS baseline)."""
        import numpy as np

        alphas = np.asarray(alphas, dtype=float)
        if alphas.shape != self.alpha_shape:
            raise ValueError(f"need alphas of shape {self.alpha_shape}, got {alphas.shape}")
        return Arch(self.name, tuple(int(i) for i in alphas.argmax(axis=1)))

    def one_hot(self, arch: Arch) -> Any:
        import numpy as np

        return np.eye(len(OPS))[list(self.validate(arch).choices)]

    def config(self) -> dict[str, Any]:
        options = config_dict(self.cfg)
        for key, default in (("sampling", "uniform"), ("affine", True), ("few_shot", -1)):
            if options[key] == default:
                del options[key]  # added later: configs at the default keep their first layout
        return options

    # ---- isomorphism (search_spaces.nb201.isomorphism) -------------------------------------------
    def unique_key(self, arch: Arch) -> str:
        """NB201's key of the class of cells that compute the same function as `arch`."""
        return isomorphism.unique_key(self.validate(arch).choices)

    def representative(self, arch: Arch) -> Arch:
        """The lowest-index cell computing the same function as `arch` (NB201's isomorphism)."""
        return Arch(self.name, isomorphism.representative(self.validate(arch).choices))

    def unique_archs(self) -> list[Arch]:
        """One architecture per class of isomorphic cells: 6,466 of the 15,625."""
        return [Arch(self.name, choices) for choices in isomorphism.representatives()]

    def sample(self, rng: np.random.Generator) -> Arch:
        """Uniform over the cells, or (`sampling="unique"`) over the classes of isomorphic cells."""
        if self.cfg.sampling == "unique":
            classes = isomorphism.representatives()
            return Arch(self.name, classes[int(rng.integers(len(classes)))])
        return super().sample(rng)

    def canonical(self, arch: Arch) -> Arch:
        """Identity, on purpose. Many NB201 cells compute the same function (a `none` edge makes
        others dead, skip/none permutations, ...), but the NB201 tables index every one of the
        15,625 raw strings with its own trained accuracies, so merging them would change which
        table row an architecture reads. `representative` maps a cell to its class."""
        return arch

    # ---- the NB201 string ----------------------------------------------------------------------
    def readable(self, arch: Arch) -> str:
        return self.to_string(arch)

    def to_string(self, arch: Arch) -> str:
        """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`: node j lists its incoming edges from nodes 0..j-1."""
        self.validate(arch)
        nodes = []
        for target in range(1, NUM_NODES):
            ops = [f"{OPS[c]}~{src}" for c, (dst, src) in zip(arch.choices, EDGES) if dst == target]
            nodes.append("|" + "|".join(ops) + "|")
        return "+".join(nodes)

    def from_string(self, text: str) -> Arch:
        """The architecture of an NB201 string; raises `InvalidArchitecture` saying what is wrong."""
        if not isinstance(text, str):
            raise InvalidArchitecture(f"an NB201 architecture string is a str, got {type(text).__name__}")
        parts = text.strip().split("+")
        if len(parts) != NUM_NODES - 1:
            raise _bad(text, f"need {NUM_NODES - 1} nodes separated by '+', got {len(parts)}")
        choices = []
        for target, part in enumerate(parts, 1):
            if len(part) < 2 or part[0] != "|" or part[-1] != "|":
                raise _bad(text, f"node {target} must be written between '|' characters, got {part!r}")
            entries = part[1:-1].split("|")
            if len(entries) != target:
                raise _bad(text, f"node {target} needs {target} edge(s) (from nodes 0..{target - 1}), "
                                 f"got {len(entries)}")
            for src, entry in enumerate(entries):
                op, tilde, source = entry.partition("~")
                if op not in _OP_INDEX:
                    raise _bad(text, f"unknown op {op!r} on node {target}; valid: {', '.join(OPS)}")
                if not tilde or source != str(src):
                    raise _bad(text, f"edge {src + 1} of node {target} must read '{op}~{src}', got {entry!r}")
                choices.append(_OP_INDEX[op])
        return Arch(self.name, tuple(choices))

    # ---- graph (for graph predictors) ------------------------------------------------------------
    def graph(self, arch: Arch) -> "networkx.DiGraph":
        """The cell as an op-on-node DAG (the form NAS-Bench-101 and GATES use): node `input`, one
        node per edge labelled with its op (attribute `op`), node `output`. An op node reads the op
        nodes that end in its source cell node (or `input` for cell node 0); `output` reads the op
        nodes ending in the last cell node. A `none` op outputs zeros, so its node keeps its label
        but sends nothing on: what reaches `output` is exactly what the network computes."""
        import networkx  # only graph predictors need it

        self.validate(arch)
        g = networkx.DiGraph()
        g.add_node("input", op="input")
        names = [f"e{dst}<-{src}" for dst, src in EDGES]
        for name, choice in zip(names, arch.choices):
            g.add_node(name, op=OPS[choice])
        g.add_node("output", op="output")

        def feeders(cell_node: int) -> list[str]:
            if cell_node == 0:
                return ["input"]
            return [n for n, (dst, _), c in zip(names, EDGES, arch.choices) if dst == cell_node and OPS[c] != "none"]

        for name, (_, src) in zip(names, EDGES):
            g.add_edges_from((f, name) for f in feeders(src))
        g.add_edges_from((f, "output") for f in feeders(NUM_NODES - 1))
        return g

    # ---- networks ------------------------------------------------------------------------------
    def build(self, arch: Arch, generator: torch.Generator | None = None) -> NB201Network:
        return NB201Network(self.cfg, self.validate(arch), generator)

    def supernet(self, generator: torch.Generator | None = None) -> NB201Supernet | FewShotSupernet:
        if self.cfg.few_shot >= 0:
            return FewShotSupernet(lambda: NB201Supernet(self.cfg, generator), self.cfg.few_shot, len(OPS))
        return NB201Supernet(self.cfg, generator)

    # ---- cost ----------------------------------------------------------------------------------
    def _measure_costs(self) -> CostTable:
        """Fixed part (stem, reductions, head) plus, per edge and op, the cost of that op summed
        over every cell of the net (all cells share the architecture). Each op is measured once
        per stage, on that stage's input shape: every edge of a stage sees the same shape."""
        cfg = self.cfg
        stage_channels = cfg.stage_channels
        table = CostTable(len(EDGES), len(OPS))
        x = torch.zeros(1, cfg.in_channels, cfg.input_size, cfg.input_size)
        stem = Stem(cfg.in_channels, stage_channels[0])
        table.add_fixed(stem, x)
        with torch.no_grad():
            x = stem.eval()(x)
            for stage, channels in enumerate(stage_channels):
                if stage > 0:
                    block = ResNetBasicBlock(stage_channels[stage - 1], channels)
                    table.add_fixed(block, x)
                    x = block.eval()(x)
                for i, name in enumerate(OPS):
                    op = make_op(name, channels)
                    table.add_option(range(len(EDGES)), i, op, x, times=cfg.cells_per_stage)
        table.add_fixed(ClassifierHead(stage_channels[-1], cfg.num_classes), x)
        return table


def _bad(text: str, why: str) -> InvalidArchitecture:
    return InvalidArchitecture(f"bad NB201 architecture string {text!r}: {why}; expected e.g. {_EXAMPLE!r}")
