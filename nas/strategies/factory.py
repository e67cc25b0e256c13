"""Build a registered strategy from its name and user options (CLI `key=value` strings included)."""

from __future__ import annotations

import typing
from dataclasses import fields
from numbers import Integral, Real
from typing import Any

import numpy as np

from nas.errors import UserError
from nas.registry import STRATEGIES
from nas.strategies.base import Constraint, Strategy

_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def make_strategy(
    name: str,
    space: Any,
    *,
    budget: int | None,
    constraint: Constraint = Constraint(),
    seed: int,
    options: dict[str, Any] | None = None,
) -> Strategy:
    """The strategy `name` over `space`, its generator seeded from the run's one `seed`."""
    cls = STRATEGIES.get(name)  # UnknownName (a UserError) lists the valid names
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise UserError(f"seed must be a non-negative integer; got {seed!r}")
    config = build_config(cls.Config, options or {}, owner=f"strategy {name!r}")
    return cls(space, budget=budget, constraint=constraint, rng=np.random.default_rng(int(seed)), config=config)


def build_config(config_cls: type, options: dict[str, Any], *, owner: str) -> Any:
    """`config_cls(**options)` with each value checked against, or parsed into, its field's type.

    Strings are parsed (the CLI passes `key=value` text); nothing is `eval`ed.
    """
    types = typing.get_type_hints(config_cls)
    defaults = {f.name: f.default for f in fields(config_cls)}
    for key in options:
        if key not in defaults:
            valid = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "(none)"
            raise UserError(f"unknown option {key!r} for {owner}; valid options: {valid}")
    kwargs = {key: _convert(value, types[key], key, owner, defaults[key]) for key, value in options.items()}
    return config_cls(**kwargs)


def _convert(value: Any, kind: type, key: str, owner: str, default: Any) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if kind is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _BOOLS:
            return _BOOLS[text.lower()]
    elif kind is int:
        if isinstance(value, Integral) and not isinstance(value, bool):
            return int(value)
        if text is not None:
            try:
                return int(text)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, Real) and not isinstance(value, bool):
            return float(value)
        if text is not None:
            try:
                return float(text)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    else:
        raise TypeError(f"{owner} option {key!r} has type {kind!r}; options must be bool, int, float or str")
    raise UserError(f"{owner} option {key}={value!r} is not a valid {kind.__name__}; e.g. {key}={default}")
