"""Zero-cost warm-up: a cheap proxy chooses where an expensive search starts.

Abdelfattah et al. (ICLR 2021, "Zero-Cost Proxies for Lightweight NAS", Section 5) score N random
architectures with a zero-cost proxy before the search spends its first expensive evaluation:
aging evolution starts from the proxy's top architectures instead of random ones, the RL controller
is first trained with the proxy as its reward. A strategy option `warmup=PROXY:N` (e.g.
`naswot:3000`) asks for it; the search hands the strategy a function that scores architectures
with that proxy (`Strategy.use_proxies`, read through `Proxies`), so strategies never see networks or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from nas_common.errors import UserError
from search_spaces.arch import Arch

if TYPE_CHECKING:
    from search_spaces.protocol import SearchSpace

# score(archs, proxy): a cheap estimator's values for a list of architectures, higher predicted better.
ProxyScores = Callable[[Sequence[Arch], str], Sequence[float]]

SPACE_COUNTS = ("params", "flops")  # costs every space counts for itself: no data, no network


@dataclass(frozen=True)
class Warmup:
    proxy: str
    count: int

    @classmethod
    def parse(cls, text: str, owner: str) -> "Warmup | None":
        """`"naswot:3000"` -> Warmup("naswot", 3000); `""` -> None."""
        if not text:
            return None
        proxy, sep, count = text.partition(":")
        try:
            n = int(count)
        except ValueError:
            n = 0
        if not sep or not proxy.strip() or n < 1:
            raise UserError(f"{owner} option warmup={text!r} must read PROXY:N, e.g. warmup=naswot:3000")
        return cls(proxy.strip(), n)


class Proxies:
    """The proxy scores a strategy may read: `params` and `flops` counted by the space (no data
    needed), and whatever the search hands over with `attach` (data proxies such as naswot)."""

    def __init__(self, space: "SearchSpace", owner: str) -> None:
        self.space = space
        self.owner = owner
        self._score: ProxyScores | None = None

    def attach(self, score: ProxyScores) -> None:
        self._score = score

    def scores(self, archs: Sequence[Arch], proxy: str) -> list[float]:
        if self._score is None and proxy in SPACE_COUNTS:
            count = self.space.params if proxy == "params" else self.space.flops
            return [float(count(a)) for a in archs]
        if self._score is None:
            raise UserError(f"strategy {self.owner!r} needs the scores of proxy {proxy!r}; run it through "
                            "`nas search` (or give it a scoring function with use_proxies)")
        return [float(v) for v in self._score(list(archs), proxy)]

    def ranked(self, archs: Sequence[Arch], proxy: str) -> list[tuple[Arch, float]]:
        """`archs` with their `proxy` scores, best first (ties keep the drawing order)."""
        scores = self.scores(list(archs), proxy)
        order = sorted(range(len(archs)), key=lambda i: -scores[i])
        return [(archs[i], scores[i]) for i in order]
