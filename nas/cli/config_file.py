"""`--config FILE`: settings from a JSON or YAML file (a run's saved config.json included); flags
given on the command line override it. Unknown keys are errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from nas.errors import UserError


def read_config_file(path: Path, allowed: Iterable[str], what: str) -> dict[str, Any]:
    """The mapping in `path` (.yaml/.yml read as YAML, anything else as JSON), checked against `allowed` keys."""
    try:
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
            data = json.loads(text)
    except Exception as err:  # json and yaml raise their own types: both mean a malformed file
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"--config {path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'} "
                        f"({first})") from None
    if not isinstance(data, dict):
        raise UserError(f"--config {path} must hold a mapping of {what} settings")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UserError(f"--config {path}: unknown key {unknown[0]!r} for {what} settings; valid keys: "
                        f"{', '.join(sorted(allowed))}")
    return data
