"""The two rules every strategy's proposals obey, as one helper a strategy composes: never propose
an architecture twice, never propose one that breaks the constraint.

A strategy draws each architecture it hands out through `propose` (or `sample`), so neither rule
is written again in any strategy. Costs are cached per architecture (counting FLOPs builds a
network); the cache is pure, so it is never saved. The set of claimed architectures is part of
the strategy's JSON state (`seen`), which makes a resumed search propose exactly what an
uninterrupted one would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Collection, Iterable

import numpy as np

from nas.constraints.limits import Constraint, InfeasibleConstraint, format_si
from search_spaces.arch import Arch

if TYPE_CHECKING:
    from search_spaces.protocol import SearchSpace

MAX_TRIES = 1000  # draws per proposal before a strategy concludes infeasible or exhausted
DRAWS_PER_CANDIDATE = 20  # random draws per wanted candidate before the space counts as used up


class Proposals:
    """What has been proposed, and what may be: the constraint, the costs, the claimed set."""

    def __init__(self, space: SearchSpace, constraint: Constraint, rng: np.random.Generator) -> None:
        self.space = space
        self.constraint = constraint
        self.rng = rng
        self.exhausted = False  # a random draw found nothing new: the space (under the constraint) is used up
        self._seen: set[str] = set()  # hashes of every architecture ever claimed (all feasible)
        self._costs: dict[str, dict[str, int]] = {}

    # ---- questions ---------------------------------------------------------------------------
    def is_new(self, arch: Arch) -> bool:
        """Never claimed before."""
        return arch.hash not in self._seen

    def costs(self, arch: Arch) -> dict[str, int]:
        """The constrained quantities of `arch` (FLOPs, parameters, latency), counted once."""
        key = arch.hash
        if key not in self._costs:
            self._costs[key] = self.constraint.costs(self.space, arch)
        return self._costs[key]

    def feasible(self, arch: Arch) -> bool:
        return self.constraint.check(self.costs(arch)) is None

    def claimed(self) -> int:
        return len(self._seen)

    # ---- drawing -----------------------------------------------------------------------------
    def propose(self, generate: Callable[[], Arch], tries: int = MAX_TRIES, *, strict: bool = True,
                claim: bool = True, exclude: Collection[str] = ()) -> Arch | None:
        """Draw from `generate` until an architecture appears that is new (neither claimed nor in
        `exclude`, a set of hashes) and within the constraint; claim it unless `claim` is False (a
        strategy that drafts more candidates than it hands out claims the chosen ones later).

        Returns None when every draw was old or broke the constraint (for random draws: the space
        is exhausted). With `strict`, raises InfeasibleConstraint when not one draw met the
        constraint; strategies pass strict=False for local moves such as mutation, whose failure
        says nothing about the whole space.
        """
        feasible = False
        smallest: dict[str, int] = {}
        for _ in range(tries):
            arch = generate()
            key = arch.hash
            if key in self._seen or key in exclude:
                feasible = True  # only feasible architectures are ever claimed or excluded
                continue
            costs = self.costs(arch)
            if self.constraint.check(costs) is None:
                if claim:
                    self._seen.add(key)
                return arch
            for q, v in costs.items():
                smallest[q] = min(smallest.get(q, v), v)
        if strict and not feasible and smallest:
            limits = ", ".join(f"max_{q}={format_si(v)}" for q, v in self.constraint.limits().items())
            seen = ", ".join(f"{q} {format_si(v)}" for q, v in smallest.items())
            raise InfeasibleConstraint(
                f"constraint {limits} is infeasible: none of {tries} random architectures met it "
                f"(smallest seen: {seen}); raise the limit"
            )
        return None

    def sample(self, *, claim: bool = True, exclude: Collection[str] = ()) -> Arch | None:
        """A new uniformly random architecture within the constraint; None once the space is used up
        (and then `exhausted` is set)."""
        if len(self._seen) + len(exclude) >= self.space.size():
            arch = None
        else:
            arch = self.propose(lambda: self.space.sample(self.rng), claim=claim, exclude=exclude)
        if arch is None:
            self.exhausted = True
        return arch

    def take(self, archs: Iterable[Arch]) -> list[Arch]:
        """Claim each of `archs` that is new and feasible, in order; the others are dropped."""
        taken = [self.propose(lambda a=a: a, 1, strict=False) for a in archs]
        return [a for a in taken if a is not None]

    def take_first(self, queue: list[Arch]) -> Arch | None:
        """Pop `queue` from the front until an architecture can be claimed; None when it runs out."""
        while queue:
            arch = self.propose(lambda: queue.pop(0), 1, strict=False)
            if arch is not None:
                return arch
        return None

    def candidates(self, count: int) -> list[Arch]:
        """Up to `count` distinct random architectures within the constraint, none claimed before,
        drawn from the strategy's generator and not claimed (only those handed out are)."""
        found: dict[str, Arch] = {}
        for _ in range(count * DRAWS_PER_CANDIDATE):
            if len(found) >= count:
                break
            arch = self.space.sample(self.rng)
            if arch.hash in found or arch.hash in self._seen:
                continue
            if self.feasible(arch):
                found[arch.hash] = arch
        return list(found.values())

    # ---- state -------------------------------------------------------------------------------
    def seen(self) -> list[str]:
        """The claimed hashes, sorted (the JSON state's `seen`)."""
        return sorted(self._seen)

    def restore(self, seen: Iterable[str], exhausted: bool) -> None:
        self._seen = set(seen)
        self.exhausted = bool(exhausted)
