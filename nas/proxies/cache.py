"""Proxy scores kept beside a run (`<run>/proxy_scores.jsonl`), so a resumed search or a warm-up cut
short by a crash never scores an architecture twice.

One JSON line per scored architecture, appended as scores arrive: {"arch_hash", "proxy", "value",
"cpu_s"}. A line cut by a crash is ignored when read; the architecture is scored again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from search_spaces.arch import Arch

FILE = "proxy_scores.jsonl"


def read_scores(path: Path, proxy: str) -> dict[str, float]:
    scores: dict[str, float] = {}
    if not path.exists():
        return scores
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            if row["proxy"] == proxy:
                scores[str(row["arch_hash"])] = float(row["value"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            continue  # a torn or foreign line: that architecture is scored again
    return scores


def cached_proxy(scorer, proxy: str, path: Path | None,
                 on_scored: Callable[[int, int], None] | None = None) -> Callable[[Sequence[Arch]], list[float]]:
    """`score(archs)` -> the proxy's value of each architecture, scored by `scorer` (a `ProxyScorer`
    whose names include `proxy`) once, remembered in memory and appended to `path`."""
    known = read_scores(path, proxy) if path is not None else {}

    def score(archs: Sequence[Arch]) -> list[float]:
        todo = [a for a in dict.fromkeys(archs) if a.hash not in known]
        for i, arch in enumerate(todo):
            scores = scorer.score(arch)
            known[arch.hash] = scores[proxy]
            if path is not None:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps({"arch_hash": arch.hash, "proxy": proxy, "value": scores[proxy],
                                             "cpu_s": scores["zc_cpu_s"]}) + "\n")
            if on_scored is not None:
                on_scored(i + 1, len(todo))
        return [known[a.hash] for a in archs]

    return score
