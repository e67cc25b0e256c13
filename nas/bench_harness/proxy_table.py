"""Zero-cost proxy scores of NB201 cells for strategies that ask for proxies (`guided`,
`warmup=naswot:3000`, `features=...`) inside a benchmark.

`BenchProxies(space, table)` answers `score(archs, proxy)` from, in order: a user's proxy table
(`nas bench --proxies FILE`), the space's own counts (`params`, `flops`: no data needed), and for
data proxies (naswot, synflow, jacov, ...) the shared cache of scores on the table's CIFAR-10
(`nas.proxies.shared_cache`), scoring a missing cell there once, on a fixed batch of 128 training
images with a seeded initialisation. A cell is looked up by its class representative, since
isomorphic cells compute the same function. It also knows what each score cost (`cost`), so a
benchmark reports what a real search would have spent, whether or not the score was cached.

A proxy table is JSON lines `{"choices": [...], "scores": {"naswot": ..., "naswot_cpu_s": ...}}`, one
per class of isomorphic cells (`bench/_zc_cache.py` and the shared cache write this format).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

from nas_common.errors import UserError
from nas_common.registry import PROXIES
from nas.strategies.warmup import SPACE_COUNTS
from search_spaces.arch import Arch



def read_proxy_table(path: str | Path) -> dict[tuple[int, ...], dict[str, float]]:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise UserError(f"cannot read proxy table {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a proxy table (not UTF-8 text); write JSON lines "
                        '{"choices": [...], "scores": {...}}') from None
    table: dict[tuple[int, ...], dict[str, float]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            table.setdefault(tuple(int(c) for c in row["choices"]), {}).update(
                {k: float(v) for k, v in row["scores"].items()})
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            if number == len(lines):
                continue  # a last line cut while the table was being written
            raise UserError(f"{path} line {number} is not a proxy-table row "
                            '{"choices": [...], "scores": {...}}') from None
    return table


def proxy_lookup(space, table: dict[tuple[int, ...], dict[str, float]], path: str = "the proxy table"
                 ) -> "BenchProxies":
    """Proxies read from `table` only (a proxy it lacks for a cell: UserError)."""
    return BenchProxies(space, table=table, table_name=path, compute=False)


class BenchProxies:
    """`score(archs, proxy)` -> the proxy's values, and `cost(arch, proxy)` -> CPU seconds of one
    score (None when unknown: a user's table without `<proxy>_cpu_s` columns).

    With `compute` (the default), a data proxy missing from the table is read from, or scored into,
    the shared cache; without, it is an error naming the table."""

    def __init__(self, space, table: dict[tuple[int, ...], dict[str, float]] | None = None, *,
                 table_name: str = "the proxy table", compute: bool = True, batch_size: int = 128,
                 seed: int = 0, data: dict | None = None) -> None:
        self.space = space
        self.table = table or {}
        self.table_name = table_name
        self.compute = compute
        self.batch_size, self.seed = batch_size, seed
        self.data = data  # a DataConfig as a dict; None: the table's CIFAR-10 (shared_cache.TABLE_DATA)
        self._cache: dict[tuple[int, ...], dict[str, float]] | None = None
        self._scorers: dict[str, object] = {}
        self._counted_cost: dict[tuple[str, str], float] = {}
        self.computed = 0  # data-proxy scores computed here (not found in a table or the cache)

    @classmethod
    def from_file(cls, space, path: str | Path | None, **kwargs) -> "BenchProxies":
        if path is None:
            return cls(space, **kwargs)
        return cls(space, read_proxy_table(path), table_name=str(path), **kwargs)

    @staticmethod
    def check_names(names: Sequence[str]) -> None:
        """Unknown proxy names fail before any search starts (the registry lists the valid ones)."""
        for name in names:
            PROXIES.get(name)

    # ---- scores --------------------------------------------------------------------------------
    def score(self, archs: Sequence[Arch], proxy: str) -> list[float]:
        return [self._row(arch, proxy)[proxy] for arch in archs]

    __call__ = score

    def cost(self, arch: Arch, proxy: str) -> float | None:
        """CPU seconds that scoring `arch` with `proxy` takes (the proxy itself; network build excluded)."""
        if (proxy, arch.hash) in self._counted_cost:
            return self._counted_cost[(proxy, arch.hash)]
        value = self._row(arch, proxy).get(f"{proxy}_cpu_s")
        return None if value is None else float(value)

    def _row(self, arch: Arch, proxy: str) -> dict[str, float]:
        key = self.space.representative(arch).choices
        row = self.table.get(key, {})
        if proxy in row:
            return row
        if proxy in SPACE_COUNTS:
            return self._counted(arch, proxy)
        if not self.compute:
            raise UserError(f"{self.table_name} has no {proxy!r} score for {self.space.to_string(arch)}; "
                            "compute the table for every class of cells (bench/_zc_cache.py)")
        cached = self._shared().get(key, {})
        if proxy not in cached:
            cached = self._score_into_cache(key, proxy)
        return cached

    def _counted(self, arch: Arch, proxy: str) -> dict[str, float]:
        started = time.process_time()
        value = float(self.space.params(arch) if proxy == "params" else self.space.flops(arch))
        self._counted_cost.setdefault((proxy, arch.hash), time.process_time() - started)
        return {proxy: value}

    # ---- the shared cache ------------------------------------------------------------------------
    def cache_file(self) -> Path:
        from nas.proxies.shared_cache import TABLE_DATA, cache_path

        return cache_path(self.space.name, {}, self.data or TABLE_DATA, self.batch_size, self.seed)

    def _shared(self) -> dict[tuple[int, ...], dict[str, float]]:
        if self._cache is None:
            from nas.proxies.shared_cache import read_cache

            self._cache = read_cache(self.cache_file())
        return self._cache

    def _score_into_cache(self, key: tuple[int, ...], proxy: str) -> dict[str, float]:
        from nas.proxies.shared_cache import TABLE_DATA, append_rows
        from nas.proxies.scoring import scorer_for

        if proxy not in self._scorers:  # CIFAR-10 is loaded once per process, on the first miss
            self._scorers[proxy] = scorer_for(self.space.name, {}, self.data or TABLE_DATA, [proxy], self.seed,
                                              self.batch_size)
        scores = self._scorers[proxy].score(Arch(self.space.name, key))
        row = {proxy: scores[proxy], f"{proxy}_cpu_s": scores[f"{proxy}_cpu_s"]}
        append_rows(self.cache_file(), [(key, row)])
        self.computed += 1
        cached = self._shared().setdefault(key, {})
        cached.update(row)
        return cached
