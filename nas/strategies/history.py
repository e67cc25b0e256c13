"""A strategy's trials as a read-only view: what it asked, what it was told, what is outstanding.

The base class alone writes the trials (`ask`, `tell`, a restore); everyone else, the strategy's
own code included, reads them here, the way NNI hands a strategy a read-only history. Iterating
gives (architecture, metrics) in the order told; `top` ranks by the strategy's `Ranking`.
"""

from __future__ import annotations

from typing import Iterator, NamedTuple

from nas.strategies.reward import Ranking
from search_spaces.arch import Arch


class Trial(NamedTuple):
    trial_id: int
    arch: Arch


class History:
    def __init__(self, told: list[tuple[int, Arch, dict]], pending: dict[int, Arch], ranking: Ranking) -> None:
        self._told = told  # the base class's own lists, not copies: the view is always current
        self._pending = pending
        self.ranking = ranking

    def __len__(self) -> int:
        return len(self._told)

    def __iter__(self) -> Iterator[tuple[Arch, dict]]:
        return ((arch, metrics) for _, arch, metrics in self._told)

    def __getitem__(self, i: int) -> tuple[Arch, dict]:
        _, arch, metrics = self._told[i]
        return arch, metrics

    def __bool__(self) -> bool:
        return bool(self._told)

    def told(self) -> list[tuple[Trial, dict]]:
        """(trial, metrics told) in the order told (a resume checks them against the archive)."""
        return [(Trial(i, arch), metrics) for i, arch, metrics in self._told]

    def pending(self) -> list[Trial]:
        """Trials asked but not yet told (after a restore: the ones to evaluate again)."""
        return [Trial(i, a) for i, a in sorted(self._pending.items())]

    @property
    def asked(self) -> int:
        """Trials handed out so far, told or not."""
        return len(self._told) + len(self._pending)

    def utility(self, metrics: dict) -> float:
        """A told result's rank value, higher better: the objective, or the reward ranked by."""
        return self.ranking.utility(metrics)

    def top(self, k: int) -> list[tuple[Arch, dict]]:
        """The `k` best told results; ties go to the earlier told (a stable sort)."""
        ranked = sorted(self._told, key=lambda rec: -self.utility(rec[2]))
        return [(arch, metrics) for _, arch, metrics in ranked[:k]]
