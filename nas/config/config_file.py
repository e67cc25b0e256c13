"""`--config FILE`: settings from a JSON or YAML file (a run's saved config.json included); flags
given on the command line override it. Unknown keys are errors that name the key."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable

from nas_common.errors import UserError


# A search config is a few KB. The caps stop a YAML anchor bomb (a few lines that expand into
# millions of values) and a wrong file (a dataset, a checkpoint) before they are expanded or saved.
MAX_BYTES = 1 << 20
MAX_VALUES = 100_000


def read_config_file(path: Path, allowed: Iterable[str], what: str) -> dict[str, Any]:
    """The mapping in `path` (.yaml/.yml read as YAML, anything else as JSON), checked against `allowed` keys."""
    try:
        if path.stat().st_size > MAX_BYTES:
            raise UserError(f"--config {path} is {path.stat().st_size:,} bytes, larger than any {what} config "
                            f"(at most {MAX_BYTES:,}); is it the right file?")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--config {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"--config {path} cannot be read ({getattr(err, 'strerror', None) or err})") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text, parse_constant=_refuse_constant)
    except UserError as err:
        raise UserError(f"--config {path}: {err}") from None
    except Exception as err:  # json and yaml raise their own types: both mean a malformed file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"--config {path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} "
                        f"({first})") from None
    if not isinstance(data, dict):
        raise UserError(f"--config {path} must hold a mapping of {what} settings")
    problem = _first_problem(data)
    if problem:
        raise UserError(f"--config {path}: {problem}")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UserError(f"--config {path}: unknown key {unknown[0]!r} for {what} settings; valid keys: "
                        f"{', '.join(sorted(allowed))}")
    return data


def _refuse_constant(name: str) -> Any:
    raise UserError(f"{name} is not a setting (JSON has no {name}; give a number)")


def _first_problem(data: Any) -> str | None:
    """What makes a parsed config unusable: more values than any config has (anchors expanded),
    or a non-finite number; None when it is fine. Walks at most MAX_VALUES values."""
    stack, seen = [data], 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            return (f"expands to more than {MAX_VALUES:,} values (YAML anchors and aliases?); "
                    "a config has a few dozen")
        if isinstance(value, float) and not math.isfinite(value):
            return f"{value} is not a setting (give a finite number)"
        if isinstance(value, dict):
            stack.extend(value.keys())
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return None
