"""How well each estimator is known to rank: figures measured by the benchmarks, never assumed.

`known_rankings.json` (beside this module) holds, per space, the rank correlations of each
estimator against ground truth as a benchmark measured them (`bench/estimator_ranking_nb201.py
--write-known` for NB201: Kendall tau and Spearman rho against the 200-epoch test accuracy, on how
many architectures, at what CPU cost; where measured, `p_top5`: the share of the truly best 5% among
the estimator's best 5%, which decides what a search ends on more than a correlation does). A
search's summary and `nas rank-check` quote the figure of the estimator that ranked, beside counting
parameters, or say that it was never measured on that space.

A user's own `nas rank-check` adds its figure to `$NAS_CACHE_DIR/known_rankings.json` (default
`~/.cache/nas`), read over the bundled file: the check a user ran on their machine and space is
what their next search's summary quotes, with its date and interval.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE = Path(__file__).with_name("known_rankings.json")


def user_file() -> Path:
    """$NAS_KNOWN_RANKINGS if set (tests point it elsewhere), else known_rankings.json in the cache."""
    if os.environ.get("NAS_KNOWN_RANKINGS"):
        return Path(os.environ["NAS_KNOWN_RANKINGS"])
    return Path(os.environ.get("NAS_CACHE_DIR", Path.home() / ".cache" / "nas")) / "known_rankings.json"


def _read(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # absent, or damaged by hand: quote nothing from it rather than fail a search
    return data if isinstance(data, dict) else {}


def known_rankings() -> dict[str, dict[str, dict[str, Any]]]:
    """The bundled figures, with the user's own rank checks over them (per space and estimator)."""
    merged = _read(FILE)
    for space, estimators in _read(user_file()).items():
        if isinstance(estimators, dict):
            merged.setdefault(space, {}).update({k: v for k, v in estimators.items() if isinstance(v, dict)})
    return merged


def record_measured(space: str, estimator: str, figure: dict[str, Any]) -> Path:
    """Keep `figure` (kendall_tau, spearman_rho, archs, truth, source, ...) as what summaries quote
    for `estimator` on `space`, in the user's file (written atomically)."""
    from nas.archive import write_json_atomic

    path = user_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _read(path)
    data.setdefault(space, {})[estimator] = figure
    write_json_atomic(path, data)
    return path


def known_ranking(space: str, estimator: str) -> dict[str, Any] | None:
    """The measured figures of `estimator` (e.g. "zc:naswot", "supernet", "table") on `space`."""
    return known_rankings().get(space, {}).get(estimator)


def describe_estimator(space: str, estimator: str, label: str) -> str:
    """One line: what ranked, and how well it is known to rank on this space."""
    known = known_ranking(space, estimator)
    if known is None:
        return f"{label}; its ranking quality on {space} was never measured"
    text = (f"{label}; known to rank {space} with Kendall tau {known['kendall_tau']:.2f}{_interval(known)} "
            f"(Spearman {known['spearman_rho']:.2f}{_top(known)}) against {known['truth']} over "
            f"{known['archs']} architectures ({known['source']})")
    baseline = known_ranking(space, "zc:params")
    if "params_kendall_tau" in known:  # counting parameters on the same architectures
        text += f"; counting parameters: tau {known['params_kendall_tau']:.2f} on the same architectures"
    elif baseline is not None and estimator != "zc:params":  # the simplest estimator, to compare with
        text += f"; counting parameters: tau {baseline['kendall_tau']:.2f}{_top(baseline)}"
    return text


def _interval(figure: dict[str, Any]) -> str:
    """" (95% CI 0.21 to 0.70)" where the check bootstrapped one."""
    low_high = figure.get("kendall_tau_interval")
    return f" (95% CI {low_high[0]:.2f} to {low_high[1]:.2f})" if low_high else ""


def _top(figure: dict[str, Any]) -> str:
    """", precision at the top 5% 0.04" where the benchmark measured it."""
    return f", precision at the top 5% {figure['p_top5']:.2f}" if "p_top5" in figure else ""
