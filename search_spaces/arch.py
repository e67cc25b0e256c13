"""The architecture value: frozen, hashable, JSON round-trip, stable content hash.

Every space describes an architecture as one integer choice per decision (see `Decision`), which
is what lets strategies, predictors and RL controllers walk any space without knowing it. The
space name travels with the choices so that an architecture cannot be fed to the wrong space.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from nas_common.errors import InvalidArchitecture


@dataclass(frozen=True)
class Arch:
    space: str
    choices: tuple[int, ...]

    def __post_init__(self) -> None:
        # Normalise lists and numpy ints into a tuple of plain ints: equal archs must hash equal.
        object.__setattr__(self, "choices", tuple(int(c) for c in self.choices))

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "choices": list(self.choices)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, obj: Any) -> "Arch":
        if not isinstance(obj, dict) or set(obj) != {"space", "choices"}:
            raise InvalidArchitecture(
                'an architecture is a JSON object {"space": NAME, "choices": [INT, ...]}; got '
                f"{_short(obj)}"
            )
        space, choices = obj["space"], obj["choices"]
        if not isinstance(space, str) or not isinstance(choices, list):
            raise InvalidArchitecture('"space" must be a string and "choices" a list of integers')
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in choices):
            raise InvalidArchitecture(f'"choices" must hold integers only; got {_short(choices)}')
        return cls(space, tuple(choices))

    @classmethod
    def from_json(cls, text: str) -> "Arch":
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise InvalidArchitecture(f"architecture is not valid JSON ({err.msg} at char {err.pos})") from None
        return cls.from_dict(obj)

    @cached_property  # strategies look it up for every candidate; the value never changes
    def hash(self) -> str:
        """Content hash, stable across runs, processes and machines (not Python's salted hash)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return f"{self.space}:{''.join(map(str, self.choices)) if max(self.choices, default=0) < 10 else self.choices}"


def _short(obj: Any, limit: int = 80) -> str:
    text = repr(obj)
    return text if len(text) <= limit else text[: limit - 3] + "..."
