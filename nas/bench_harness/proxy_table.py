"""Zero-cost proxy scores of NB201 cells from a precomputed table, for strategies that ask for
proxies (`warmup=naswot:3000`, `features=...`) inside a benchmark.

Scoring a cell takes about a CPU second, so a benchmark of 30 seeds x 3,000 warm-up scores reads
them from a file instead, as NAS-Bench-Suite-Zero distributes precomputed zero-cost scores. The
file is JSON lines `{"choices": [...], "scores": {"naswot": ..., ...}}`, one per class of
isomorphic cells (`bench/_zc_cache.py` writes it): a cell is looked up by its class representative,
since isomorphic cells compute the same function.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from nas_common.errors import UserError
from search_spaces.arch import Arch


def read_proxy_table(path: str | Path) -> dict[tuple[int, ...], dict[str, float]]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UserError(f"cannot read proxy table {path}: {err.strerror or err}") from None
    table: dict[tuple[int, ...], dict[str, float]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            table.setdefault(tuple(int(c) for c in row["choices"]), {}).update(
                {k: float(v) for k, v in row["scores"].items()})
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):
                continue  # a last line cut while the table was being written
            raise UserError(f"{path} line {number} is not a proxy-table row "
                            '{"choices": [...], "scores": {...}}') from None
    return table


def proxy_lookup(space, table: dict[tuple[int, ...], dict[str, float]], path: str = "the proxy table"
                 ) -> Callable[[Sequence[Arch], str], list[float]]:
    """`score(archs, proxy)` reading `table` at each cell's class representative."""

    def score(archs: Sequence[Arch], proxy: str) -> list[float]:
        out = []
        for arch in archs:
            row = table.get(space.representative(arch).choices, {})
            if proxy not in row:
                raise UserError(f"{path} has no {proxy!r} score for {space.to_string(arch)}; "
                                "compute the table for every class of cells (bench/_zc_cache.py)")
            out.append(row[proxy])
        return out

    return score
