"""Search strategies: ask/tell, state as JSON. Importing this package registers every strategy in
`nas_common.registry.STRATEGIES`; build one with `make_strategy`."""


from nas.strategies.base import Strategy, Trial
from nas.strategies.factory import build_config, make_strategy

from nas.strategies import darts, evolution, guided, nao, nsga2, random_search, rl, seminas  # noqa: F401  (register them)

__all__ = ["Strategy", "Trial", "build_config", "make_strategy"]
