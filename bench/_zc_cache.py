"""Zero-cost proxy scores of many NB201 architectures, computed once on Ray tasks and cached.

A cache file (JSON lines, one architecture each, appended as chunks finish) lives under
`$NAS_CACHE_DIR` (default `~/.cache/nas`)/zc/, keyed by space, options, data, batch size and seed,
so a killed run resumes and later benches reuse the scores. Architectures missing a requested
proxy are scored again with every requested proxy.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

CACHE_VERSION = 1  # bump when a proxy's formula changes


def cache_path(space: str, space_options: dict[str, Any], data: dict[str, Any], batch_size: int, seed: int) -> Path:
    key = json.dumps([CACHE_VERSION, space, space_options, data, batch_size, seed], sort_keys=True)
    root = Path(os.environ.get("NAS_CACHE_DIR", Path.home() / ".cache" / "nas")) / "zc"
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{space}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.jsonl"


def read_cache(path: Path) -> dict[tuple[int, ...], dict[str, float]]:
    scores: dict[tuple[int, ...], dict[str, float]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            scores.setdefault(tuple(row["choices"]), {}).update(row["scores"])
    return scores


def proxy_table(archs: Sequence[Sequence[int]], names: Sequence[str], *, space: str = "nb201",
                space_options: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                batch_size: int = 128, seed: int = 0, workers: int = 2, chunk: int = 40,
                quiet: bool = False) -> dict[tuple[int, ...], dict[str, float]]:
    """{choices: {proxy: value, "<proxy>_cpu_s": s, ...}} for every architecture of `archs`."""
    from nas.proxies.scoring import score_chunk

    space_options = space_options or {}
    data = data or {"spec": "cifar10", "val_size": 0.1, "split_seed": 0}
    path = cache_path(space, space_options, data, batch_size, seed)
    cached = read_cache(path)
    todo = [tuple(a) for a in archs if not set(names) <= set(cached.get(tuple(a), {}))]
    if todo:
        from nas.distributed.tasks import map_tasks

        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        started, done = time.perf_counter(), [0]

        def save(i: int, rows: list[dict[str, float]]) -> None:
            with path.open("a") as handle:
                for choices, row in zip(chunks[i], rows):
                    handle.write(json.dumps({"choices": list(choices), "scores": row}) + "\n")
                    cached.setdefault(choices, {}).update(row)
            done[0] += len(rows)
            if not quiet:
                print(f"  zc scores: {done[0]}/{len(todo)} ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr, flush=True)

        calls = [(space, space_options, data, list(names), [list(c) for c in part], seed, batch_size)
                 for part in chunks]
        map_tasks(score_chunk, calls, workers, save)
    return {tuple(a): cached[tuple(a)] for a in archs}
