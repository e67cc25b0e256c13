"""Typed configs from user options: `key=value` strings (CLI, `-o`) or JSON values, checked against
the dataclass field types, so every component reads a typed object instead of reinterpreting a dict."""

from __future__ import annotations

import math
import types
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
            raise UserError(f"unknown option {_short(key)} for {owner}; valid options: {valid}")
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
    raise UserError(f"{owner} option {key}={_short(value)} is not a valid {kind.__name__}; e.g. {key}={default}")


def _short(value: Any) -> str:
    """A value as the user gave it, cut to 40 characters (a pasted file is not echoed in full)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_json_types(config_cls: type, values: Any, where: str) -> None:
    """Each value of a saved mapping (a run's config.json section) has its field's declared type:
    a bool for a flag, a whole number for an int (not 1.5, not true), a finite number for a float,
    a string for a str, null only where the field allows it. Unlike `build_config`, nothing is
    parsed: a saved file holds typed JSON, and anything else is damage or a typo. Ranges are the
    config's own checks; unknown keys are left to the caller."""
    if not isinstance(values, dict):
        return
    hints = typing.get_type_hints(config_cls)
    for key, value in values.items():
        if key in hints and not _json_value_fits(value, hints[key]):
            raise UserError(f"{where}: {key}={str(value)[:40]!r} is not {_type_name(hints[key])}")


def _json_value_fits(value: Any, kind: Any) -> bool:
    args = typing.get_args(kind)
    if args and typing.get_origin(kind) in (typing.Union, types.UnionType):
        return any(_json_value_fits(value, a) for a in args)
    if kind is type(None):
        return value is None
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, Integral) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)
    if kind is str:
        return isinstance(value, str)
    return True  # lists, tuples, mappings: the config's own checks


def _type_name(kind: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a finite number", str: "a string",
             type(None): "null"}
    args = typing.get_args(kind)
    if args:
        return " or ".join(names.get(a, getattr(a, "__name__", str(a))) for a in args)
    return names.get(kind, getattr(kind, "__name__", str(kind)))
