"""Build a registered strategy from its name and user options (CLI `key=value` strings included)."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from nas_common.errors import UserError
from nas_common.objective import VAL_ACC, Objective
from nas_common.registry import STRATEGIES
from nas_common.typed_config import build_config
from nas.constraints.limits import Constraint
from nas.strategies.base import Strategy

def make_strategy(
    name: str,
    space: Any,
    *,
    budget: int | None,
    constraint: Constraint = Constraint(),
    seed: int,
    options: dict[str, Any] | None = None,
    objective: Objective = VAL_ACC,
) -> Strategy:
    """The strategy `name` over `space`, its generator seeded from the run's one `seed`."""
    cls = STRATEGIES.get(name)  # UnknownName (a UserError) lists the valid names
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise UserError(f"seed must be a non-negative integer; got {seed!r}")
    config = build_config(cls.Config, options or {}, owner=f"strategy {name!r}")
    return cls(space, budget=budget, constraint=constraint, rng=np.random.default_rng(int(seed)), config=config,
               objective=objective)


__all__ = ["build_config", "make_strategy"]
