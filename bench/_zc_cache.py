"""Zero-cost proxy scores of many NB201 architectures, computed once on Ray tasks and cached.

The cache is `nas.proxies.shared_cache`'s (the one `nas bench` reads and fills), appended as chunks
finish, so a killed run resumes and later benches reuse the scores. Architectures missing a requested
proxy are scored again with every requested proxy.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from nas.proxies.shared_cache import TABLE_DATA, append_rows, cache_path, read_cache



def proxy_table(archs: Sequence[Sequence[int]], names: Sequence[str], *, space: str = "nb201",
                space_options: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                batch_size: int = 128, seed: int = 0, workers: int = 2, chunk: int = 40,
                quiet: bool = False) -> dict[tuple[int, ...], dict[str, float]]:
    """{choices: {proxy: value, "<proxy>_cpu_s": s, ...}} for every architecture of `archs`."""
    from nas.proxies.scoring import score_chunk

    space_options = space_options or {}
    data = data or TABLE_DATA
    path = cache_path(space, space_options, data, batch_size, seed)
    cached = read_cache(path)
    todo = [tuple(a) for a in archs if not set(names) <= set(cached.get(tuple(a), {}))]
    if todo:
        from nas.distributed.tasks import map_tasks

        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        started, done = time.perf_counter(), [0]

        def save(i: int, rows: list[dict[str, float]]) -> None:
            append_rows(path, zip(chunks[i], rows))
            for choices, row in zip(chunks[i], rows):
                cached.setdefault(choices, {}).update(row)
            done[0] += len(rows)
            if not quiet:
                print(f"  zc scores: {done[0]}/{len(todo)} ({time.perf_counter() - started:.0f} s)",
                      file=sys.stderr, flush=True)

        calls = [(space, space_options, data, list(names), [list(c) for c in part], seed, batch_size)
                 for part in chunks]
        map_tasks(score_chunk, calls, workers, save)
    return {tuple(a): cached[tuple(a)] for a in archs}
