"""Typed configs from user options: `key=value` strings (CLI, `-o`) or JSON values, checked against
the dataclass field types, so every component reads a typed object instead of reinterpreting a dict."""

from __future__ import annotations

import typing
from dataclasses import fields
from numbers import Integral, Real
from typing import Any

from nas_common.errors import UserError

_BOOLS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}

# No option of a strategy or evaluator (a population, a learning rate, a pool of candidates) comes
# near 10^12: a larger value is a typo that would run until killed or overflow a tensor size.
LIMIT = 10**12


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
    kwargs = {key: _bounded(_convert(value, types[key], key, owner, defaults[key]), key, owner)
              for key, value in options.items()}
    try:
        return config_cls(**kwargs)
    except ValueError as err:  # the config's own checks (a range, a choice): the user's value, said so
        raise UserError(f"{owner}: {err}") from None


def _bounded(value: Any, key: str, owner: str) -> Any:
    """Numbers finite and within +-LIMIT (bool is a number to Python, not here)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not abs(value) <= LIMIT:  # also nan and inf
            raise UserError(f"{owner} option {key}={value!r:.30} is out of range (a finite number of at most "
                            f"10^12 in size)")
    return value


def _convert(value: Any, kind: type, key: str, owner: str, default: Any) -> Any:
    args = typing.get_args(kind)
    if type(None) in args and len(args) == 2:  # `T | None`: unset stays None, a value is a T
        if value is None:
            return None
        kind = next(a for a in args if a is not type(None))
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
