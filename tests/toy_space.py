"""A toy search space with a known optimum, for testing strategies in milliseconds.

Architectures are `num_decisions` choices among `num_options`; cost grows with the choice indices,
so a FLOPs limit cuts the space; the objective counts the choices that equal a hidden target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from search_spaces.arch import Arch
from search_spaces.protocol import Decision, SearchSpace


class ToySpace(SearchSpace):
    name = "toy"
    description = "independent integer choices with a hidden target (tests only)"

    def __init__(self, num_decisions: int = 12, num_options: int = 4, target_seed: int = 0) -> None:
        self.num_decisions, self.num_options, self.target_seed = num_decisions, num_options, target_seed
        options = tuple(f"op{j}" for j in range(num_options))
        self._decisions = tuple(Decision(f"d{i}", options) for i in range(num_decisions))
        hidden = np.random.default_rng(target_seed).integers(num_options, size=num_decisions)
        self.target = tuple(int(c) for c in hidden)

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    def build(self, arch: Arch, generator=None):
        raise NotImplementedError("the toy space has no networks")

    def supernet(self, generator=None):
        raise NotImplementedError("the toy space has no supernet")

    def flops(self, arch: Arch) -> int:
        return 5000 + 1000 * sum(arch.choices)

    def params(self, arch: Arch) -> int:
        return 500 + 100 * sum(arch.choices)

    def config(self) -> dict[str, Any]:
        return {
            "num_decisions": self.num_decisions,
            "num_options": self.num_options,
            "target_seed": self.target_seed,
        }

    def score(self, arch: Arch) -> float:
        """Percent of decisions equal to the target: 100.0 exactly at the optimum."""
        return 100.0 * sum(c == t for c, t in zip(arch.choices, self.target)) / self.num_decisions
