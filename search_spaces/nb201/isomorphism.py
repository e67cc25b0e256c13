"""Which NAS-Bench-201 cells compute the same function (Dong & Yang, ICLR 2020, Section 2.1).

NB201 counts 6,466 unique cells among its 15,625: a `skip_connect` edge passes its source node on
unchanged, a `none` edge (or any edge leaving a node that is always zero) contributes nothing, and
the inputs of a node are summed, so their order does not matter. `unique_key` writes each node as
the sorted sum of what its edges bring, exactly as NB201's `Structure.to_unique_str(consider_zero=True)`
does; two cells with the same key compute the same function (given equal weights per op). The
representative of a class is its smallest choice tuple, i.e. the lowest NB201 index.

NB201's key keeps a zero term beside others (`#+0`), so a few classes still compute the same
function as another (0 + x = x); we keep its definition so that the count and the classes are the
benchmark's own.
"""

from __future__ import annotations

import functools
import itertools
from typing import Sequence

from search_spaces.nb201.ops import EDGES, NUM_NODES, OPS

ZERO = "#"


def unique_key(choices: Sequence[int]) -> str:
    """NB201's isomorphism key of a cell (`to_unique_str(consider_zero=True)`)."""
    nodes = {0: "0"}
    for target in range(1, NUM_NODES):
        terms = []
        for choice, (dst, src) in zip(choices, EDGES):
            if dst != target:
                continue
            op = OPS[choice]
            if op == "none" or nodes[src] == ZERO:
                terms.append(ZERO)
            elif op == "skip_connect":
                terms.append(nodes[src])
            else:
                terms.append(f"({nodes[src]})@{op}")
        nodes[target] = "+".join(sorted(terms))
    return nodes[NUM_NODES - 1]


@functools.cache
def _classes() -> dict[str, tuple[int, ...]]:
    """Each key's representative: the smallest choice tuple with that key."""
    out: dict[str, tuple[int, ...]] = {}
    for choices in itertools.product(range(len(OPS)), repeat=len(EDGES)):  # ascending: first is smallest
        out.setdefault(unique_key(choices), choices)
    return out


def representative(choices: Sequence[int]) -> tuple[int, ...]:
    """The representative of the cell's class."""
    return _classes()[unique_key(choices)]


def representatives() -> tuple[tuple[int, ...], ...]:
    """One cell per class (6,466), in ascending order."""
    return tuple(sorted(_classes().values()))
