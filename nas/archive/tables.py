"""Plain-text tables for the terminal (`nas runs`, `nas show`); no dependency beyond the stdlib."""

from __future__ import annotations

import json
import os
from typing import Any, Callable, Sequence

from nas.archive.summary import ranked
from nas_common.errors import InvalidArchitecture
from nas_common.objective import VAL_ACC, Objective


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned so digits line up."""
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"row {i} has {len(row)} cells for {len(headers)} headers")
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    numeric = [
        bool(rows) and all(isinstance(row[i], (int, float)) and not isinstance(row[i], bool) for row in rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(list(headers)), rule] + [line(row) for row in cells])


def runs_table(root: str | os.PathLike) -> str:
    """One row per run under `root` (subfolders too, `nas.archive.listing`), damaged runs marked."""
    from nas.archive.listing import list_runs

    infos = list_runs(root)
    if not infos:
        return f"no runs under {root} (a run is a folder with a config.json, e.g. from `nas search`)"
    rows = []
    for info in infos:
        if info["problem"]:
            rows.append([info["run"], info["kind"], info["space"], info["strategy"], "-", "DAMAGED", "-", "-",
                         info["problem"][:60]])
            continue
        progress = "-" if info["evaluations"] is None else (
            f"{info['evaluations']}/{info['budget'] or '?'}")
        status = "-" if info["finished"] is None else (
            "done" if info["finished"] else "running" if info.get("running") else "stopped")
        rows.append([info["run"], info["kind"], info["space"], info["strategy"], progress, status,
                     "-" if info["best"] is None else f"{info['best']:.2f}",
                     "-" if info["test"] is None else f"{info['test']:.2f}",
                     info["objective"] or "-"])
    return format_table(["run", "kind", "space", "strategy", "evaluated", "status", "best", "test", "objective"],
                        rows)


def top_table(
    records: list[dict[str, Any]],
    k: int = 10,
    describe: Callable[[dict[str, Any]], str] | None = None,
    objective: Objective = VAL_ACC,
    readable: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """The k best architectures; `describe(arch_dict)` may render the key column (the digit form by
    default); `readable(arch_dict)` adds the choices as a person reads them (`SearchSpace.readable`)."""
    describe = describe or _describe
    rows = [
        [
            rank,
            f"{objective.value(r['metrics']):.2f}",
            f"{r.get('flops', 0) / 1e6:.1f}",
            f"{r.get('params', 0) / 1e6:.2f}",
            describe(r["arch"]),
            r["arch_hash"],
            *([readable(r["arch"])] if readable else []),
        ]
        for rank, r in enumerate(ranked(records, objective)[:k], start=1)
    ]
    return format_table(["rank", objective.metric, "MFLOPs", "Mparams", "arch", "hash",
                         *(["choices"] if readable else [])], rows)


def readable_by(space: Any) -> Callable[[dict[str, Any]], str] | None:
    """`readable(arch_dict)` through `space` (None without one); an architecture the space refuses
    reads as '-', never an error in a listing."""
    if space is None:
        return None
    from search_spaces.arch import Arch

    def readable(arch: dict[str, Any]) -> str:
        try:
            return space.readable(Arch.from_dict(arch))
        except (InvalidArchitecture, ValueError, KeyError, IndexError):
            return "-"

    return readable


def _describe(arch: dict[str, Any]) -> str:
    from search_spaces.arch import Arch  # lazily: search_spaces pulls in torch

    try:
        return str(Arch.from_dict(arch))
    except InvalidArchitecture:
        return json.dumps(arch, separators=(",", ":"))
