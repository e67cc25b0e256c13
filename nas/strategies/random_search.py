"""Random search: uniform sampling under the constraint.

The baseline every NAS method must beat (Li & Talwalkar 2019, "Random Search and Reproducibility
for Neural Architecture Search"); also the first generation of the evolutionary strategies.
"""

from __future__ import annotations

from dataclasses import dataclass

from nas_common.registry import STRATEGIES
from nas.strategies.base import Strategy
from search_spaces.arch import Arch


@dataclass(frozen=True)
class RandomConfig:
    """Random search has no options."""


@STRATEGIES.register("random")
class RandomSearch(Strategy):
    name = "random"
    Config = RandomConfig

    def _ask(self, n: int) -> list[Arch]:
        archs = []
        for _ in range(n):
            arch = self.proposals.sample()
            if arch is None:
                break
            archs.append(arch)
        return archs
