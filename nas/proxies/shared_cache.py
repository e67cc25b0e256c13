"""Zero-cost proxy scores shared between runs and benchmarks, one file per scoring setting.

A benchmark of 10 seeds x 3,000 warm-up scores would score the same NB201 cells again and again;
like NAS-Bench-Suite-Zero's precomputed scores, each cell is scored once per setting and kept under
`$NAS_CACHE_DIR` (default `~/.cache/nas`)/zc/, keyed by space, space options, data, batch size and
seed (everything a score depends on). The file is JSON lines `{"choices": [...], "scores": {proxy:
value, "<proxy>_cpu_s": seconds, ...}}`, the format of a proxy table (`nas bench --proxies`), appended
as scores arrive: a line cut by a kill is ignored, and that cell is scored again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

CACHE_VERSION = 1  # bump when a proxy's formula changes

# The data every NB201 table score is computed on: the table's CIFAR-10, 10% of training kept as
# validation (not used by the proxies, but part of the split that fixes the batch), split seed 0.
TABLE_DATA: dict[str, Any] = {"spec": "cifar10", "val_size": 0.1, "split_seed": 0}


def cache_root() -> Path:
    return Path(os.environ.get("NAS_CACHE_DIR", Path.home() / ".cache" / "nas")) / "zc"


def cache_path(space: str, space_options: dict[str, Any], data: dict[str, Any], batch_size: int, seed: int) -> Path:
    key = json.dumps([CACHE_VERSION, space, space_options, data, batch_size, seed], sort_keys=True)
    return cache_root() / f"{space}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


def read_cache(path: Path) -> dict[tuple[int, ...], dict[str, float]]:
    """{choices: {proxy: value, ...}}; later lines add to (and override) earlier ones."""
    scores: dict[tuple[int, ...], dict[str, float]] = {}
    if not path.exists():
        return scores
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            scores.setdefault(tuple(int(c) for c in row["choices"]), {}).update(
                {str(k): float(v) for k, v in row["scores"].items()})
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            continue  # a line cut by a kill: that cell is scored again
    return scores


def append_rows(path: Path, rows: Iterable[tuple[tuple[int, ...], dict[str, float]]]) -> None:
    """Append (choices, scores) rows, each as one write: several processes may append at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for choices, scores in rows:
            handle.write(json.dumps({"choices": [int(c) for c in choices], "scores": scores}) + "\n")
            handle.flush()
