"""How well each estimator is known to rank: figures measured by the benchmarks, never assumed.

`known_rankings.json` (beside this module) holds, per space, the rank correlations of each
estimator against ground truth as a benchmark measured them (`bench/estimator_ranking_nb201.py
--write-known` for NB201: Kendall tau and Spearman rho against the 200-epoch test accuracy, on how
many architectures, at what CPU cost; where measured, `p_top5`: the share of the truly best 5% among
the estimator's best 5%, which decides what a search ends on more than a correlation does). A
search's summary and `nas rank-check` quote the figure of the estimator that ranked, beside counting
parameters, or say that it was never measured on that space.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("known_rankings.json")


def known_rankings() -> dict[str, dict[str, dict[str, Any]]]:
    try:
        return json.loads(FILE.read_text())
    except (OSError, ValueError):
        return {}


def known_ranking(space: str, estimator: str) -> dict[str, Any] | None:
    """The measured figures of `estimator` (e.g. "zc:naswot", "supernet", "table") on `space`."""
    return known_rankings().get(space, {}).get(estimator)


def describe_estimator(space: str, estimator: str, label: str) -> str:
    """One line: what ranked, and how well it is known to rank on this space."""
    known = known_ranking(space, estimator)
    if known is None:
        return f"{label}; its ranking quality on {space} was never measured"
    text = (f"{label}; known to rank {space} with Kendall tau {known['kendall_tau']:.2f} (Spearman "
            f"{known['spearman_rho']:.2f}{_top(known)}) against {known['truth']} over {known['archs']} "
            f"architectures ({known['source']})")
    baseline = known_ranking(space, "zc:params")
    if baseline is not None and estimator != "zc:params":  # the simplest estimator, to compare with
        text += f"; counting parameters: tau {baseline['kendall_tau']:.2f}{_top(baseline)}"
    return text


def _top(figure: dict[str, Any]) -> str:
    """", precision at the top 5% 0.04" where the benchmark measured it."""
    return f", precision at the top 5% {figure['p_top5']:.2f}" if "p_top5" in figure else ""
