"""Zero-cost proxies: score an architecture from its untrained network on one batch.

Importing this package registers every proxy in `nas_common.registry.PROXIES`: `params`, `flops`,
`naswot`, `jacov`, `synflow`, `snip`, `grad_norm`, `zico` (one module each; see `base.py` for the
contract). `ProxyScorer` scores architectures with any of them on a fixed, seeded batch.
"""

from nas.proxies import counts, gradients, jacov, naswot, synflow, zico  # noqa: F401  (register)
from nas.proxies.base import DEGENERATE, Proxy, ProxyInput
from nas.proxies.scoring import ProxyScorer, fixed_batch, proxy_names

__all__ = ["DEGENERATE", "Proxy", "ProxyInput", "ProxyScorer", "fixed_batch", "proxy_names"]
