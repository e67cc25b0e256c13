"""Zero-cost warm-up: a cheap proxy chooses where an expensive search starts.

Abdelfattah et al. (ICLR 2021, "Zero-Cost Proxies for Lightweight NAS", Section 5) score N random
architectures with a zero-cost proxy before the search spends its first expensive evaluation:
aging evolution starts from the proxy's top architectures instead of random ones, the RL controller
is first trained with the proxy as its reward. A strategy option `warmup=PROXY:N` (e.g.
`naswot:3000`) asks for it; the search hands the strategy a function that scores architectures
with that proxy (`Strategy.use_proxies`), so strategies never see networks or data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from nas_common.errors import UserError
from search_spaces.arch import Arch

if TYPE_CHECKING:
    from nas.strategies.base import Strategy

# score(archs, proxy): a cheap estimator's values for a list of architectures, higher predicted better.
ProxyScores = Callable[[Sequence[Arch], str], Sequence[float]]

DRAWS_PER_ARCH = 20  # random draws per wanted warm-up architecture before the space counts as used up


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


def random_candidates(strategy: "Strategy", count: int) -> list[Arch]:
    """Up to `count` distinct random architectures within the constraint, none proposed before,
    drawn from the strategy's generator (not marked as proposed: only those handed out are)."""
    found: dict[str, Arch] = {}
    for _ in range(count * DRAWS_PER_ARCH):
        if len(found) >= count:
            break
        arch = strategy.space.sample(strategy.rng)
        if arch.hash in found or arch.hash in strategy._seen:
            continue
        if strategy.constraint.check(strategy._cost(arch)) is None:
            found[arch.hash] = arch
    return list(found.values())


def ranked_by_proxy(strategy: "Strategy", archs: Sequence[Arch], proxy: str) -> list[tuple[Arch, float]]:
    """`archs` with their `proxy` scores, best first (ties keep the drawing order)."""
    scores = strategy.proxy_scores(list(archs), proxy)
    order = sorted(range(len(archs)), key=lambda i: -scores[i])
    return [(archs[i], scores[i]) for i in order]
