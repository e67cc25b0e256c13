"""`summary.json`: the best architecture of a run and its top-k, derived from the evaluation log.

The summary is always recomputable from `evaluations.jsonl`; it exists so that a person (or
`nas show`) gets the answer without parsing the log.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from nas_common.objective import VAL_ACC, Objective


def rank_key(record: dict[str, Any], objective: Objective = VAL_ACC) -> tuple[float, float, str]:
    """Sort key, best first: better objective, then the earlier step (found first), then hash.

    The hash makes the order total, so the same log always gives the same summary.
    """
    step = record.get("step")
    step = float(step) if isinstance(step, (int, float)) else math.inf
    return (-objective.record_utility(record), step, str(record.get("arch_hash", "")))


def ranked(records: Iterable[dict[str, Any]], objective: Objective = VAL_ACC) -> list[dict[str, Any]]:
    """Records best first, one per architecture (its best evaluation).

    A strategy may evaluate the same architecture more than once; listing it k times in a top-k
    would hide the other candidates.
    """
    seen: set[str] = set()
    out = []
    for record in sorted(records, key=lambda r: rank_key(r, objective)):
        if record["arch_hash"] not in seen:
            seen.add(record["arch_hash"])
            out.append(record)
    return out


def summarize(records: list[dict[str, Any]], top_k: int = 10, objective: Objective = VAL_ACC) -> dict[str, Any]:
    """{"objective", "evaluations": n, "unique_architectures": m, "best": record or None, "top": best top_k}."""
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0, got {top_k}")
    order = ranked(records, objective)
    return {
        "objective": objective.to_dict(),
        "evaluations": len(records),
        "unique_architectures": len(order),
        "best": order[0] if order else None,
        "top": order[:top_k],
    }
