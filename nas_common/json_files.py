"""Reading the JSON files a run keeps, in the two ways they are needed.

- Derived data (a cached summary, a random baseline, cost caches) is recomputed when its file is
  missing or damaged: `read_json_or_none` says None, never raises.
- Recorded data (a config, a strategy state, alphas, a latency table) cannot be recomputed:
  `read_json_object` refuses with one line naming the file, what is wrong and what to do, and
  never touches the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from nas_common.errors import UserError


def read_json_or_none(path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON object in `path`, or None when it is missing, unreadable, not JSON or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_json_object(path: str | os.PathLike, *, what: str, fix: str = "fix it by hand",
                     missing: str | None = None) -> dict[str, Any]:
    """The JSON object in `path` (the `what` file); a UserError that says `fix` when it is damaged,
    and `missing` (default: the run directory is incomplete) when it does not exist."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(missing or f"{path} is missing; the run directory is incomplete") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read {what} file {path} ({err}); check its permissions and contents") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{what} file {path} is corrupt JSON ({err.msg} at line {err.lineno}, column "
                        f"{err.colno}); {fix}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{what} file {path} must hold a JSON object, not {type(obj).__name__}; {fix}")
    return obj
