"""Plain-text tables for the terminal (`nas runs`, `nas show`); no dependency beyond the stdlib."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from nas.archive.records import read_records
from nas.archive.run_dir import RunDir
from nas.archive.summary import ranked
from nas.errors import InvalidArchitecture, UserError
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
    """One row per run directory under `root`, oldest first; other directories are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root} is not a directory; pass the folder that holds your runs (default runs/)")
    rows = []
    for path in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            run = RunDir.open(path)
            config = run.read_config()
        except UserError:
            continue  # not a run (or an unreadable one): a listing should not fail on it
        # Lenient: `nas runs` lists damaged runs too; `nas resume` is where damage must stop us.
        try:
            objective = Objective.of_run(config)
        except UserError:
            continue
        records = read_records(run.evaluations, strict=False, missing_ok=True, objective=objective)
        best = ranked(records, objective)[0] if records else None
        provenance = config.get("provenance") if isinstance(config.get("provenance"), dict) else {}
        rows.append([
            run.id,
            _name(config.get("space")),
            _name(config.get("strategy")),
            len(records),
            "-" if best is None else f"{objective.value(best['metrics']):.2f}",
            f"{objective.metric} ({objective.direction})",
            str(provenance.get("created", "-")),
        ])
    if not rows:
        return f"no runs under {root}"
    return format_table(["run", "space", "strategy", "evaluations", "best", "objective", "created"], rows)


def _name(value: Any) -> str:
    # The config may hold a component as its name or as its resolved config with a "name" key.
    if isinstance(value, dict):
        value = value.get("name")
    return "-" if value is None else str(value)


def top_table(
    records: list[dict[str, Any]],
    k: int = 10,
    describe: Callable[[dict[str, Any]], str] | None = None,
    objective: Objective = VAL_ACC,
) -> str:
    """The k best architectures; `describe(arch_dict)` may render them (e.g. op names per layer)."""
    describe = describe or _describe
    rows = [
        [
            rank,
            f"{objective.value(r['metrics']):.2f}",
            f"{r.get('flops', 0) / 1e6:.1f}",
            f"{r.get('params', 0) / 1e6:.2f}",
            describe(r["arch"]),
            r["arch_hash"],
        ]
        for rank, r in enumerate(ranked(records, objective)[:k], start=1)
    ]
    return format_table(["rank", objective.metric, "MFLOPs", "Mparams", "arch", "hash"], rows)


def _describe(arch: dict[str, Any]) -> str:
    from search_spaces.arch import Arch  # lazily: search_spaces pulls in torch

    try:
        return str(Arch.from_dict(arch))
    except InvalidArchitecture:
        return json.dumps(arch, separators=(",", ":"))
