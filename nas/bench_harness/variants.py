"""Strategy variants: `name` or `name:key=value,key=value`, resolved against the harness defaults.

A list of variants is written comma-separated, so commas separate both variants and options; a
token with `=` continues the options of the variant before it, a token without starts a new one
(strategy names never contain `=`):

    random,evolution:population=20,sample_size=5,rl  ->  random | evolution:population=20,sample_size=5 | rl

The harness defaults are the published NAS-Bench-201 settings (below); a variant's own options
override them, and any registered strategy without harness defaults runs with its Config defaults,
so later strategies plug in by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.factory import build_config

# Regularized evolution as Dong & Yang ran REA on NAS-Bench-201: population 10, tournament 3
# (the strategy's own defaults are SPOS-scale). Random search and RL keep their defaults.
HARNESS_DEFAULTS: dict[str, dict[str, Any]] = {
    "random": {},
    "evolution": {"mode": "regularized", "population": 10, "sample_size": 3},
    "rl": {},
}

_FORMAT = "write a variant as NAME or NAME:KEY=VALUE,KEY=VALUE (e.g. evolution:population=20,sample_size=5)"


@dataclass(frozen=True)
class Variant:
    """One strategy setting of a benchmark. `label` is the spec as written (the results key);
    `options` are the resolved options: harness defaults overridden by the spec's own."""

    label: str
    name: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def is_default(self) -> bool:
        """Whether this is the harness's default setting of the strategy (published figures apply)."""
        return self.options == HARNESS_DEFAULTS.get(self.name, {})

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "strategy": self.name, "options": dict(self.options)}


def parse_variants(specs: str | list[str]) -> list[Variant]:
    """Variants of one or more comma-separated spec strings, checked against the registry and each
    strategy's Config (unknown name, bad option or value: UserError saying how to fix it)."""
    texts = [specs] if isinstance(specs, str) else list(specs)
    groups: list[list[str]] = []
    for text in texts:
        for token in text.split(","):
            token = token.strip()
            if not token:
                raise UserError(f"empty entry in strategy list {text!r}; {_FORMAT}")
            if "=" in token and ":" not in token:
                if not groups:
                    raise UserError(f"option {token!r} in {text!r} comes before any strategy; {_FORMAT}")
                groups[-1].append(token)
            else:
                groups.append([token])
    if not groups:
        raise UserError(f"no strategies given; {_FORMAT}")
    variants = [_variant(group) for group in groups]
    labels = [v.label for v in variants]
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise UserError(f"strategy variant(s) {', '.join(duplicates)} given twice; list each once")
    return variants


def _variant(tokens: list[str]) -> Variant:
    name, colon, first = tokens[0].partition(":")
    name = name.strip()
    spec = ",".join(tokens)
    if not name:
        raise UserError(f"variant {spec!r} has no strategy name; {_FORMAT}")
    cls = STRATEGIES.get(name)  # UnknownName lists the valid strategies
    if cls.trains_supernet:
        raise UserError(f"strategy {name!r} trains a supernet before it proposes, so it cannot run on the table "
                        f"alone; benchmark it with bench/darts_nb201.py (valid here: "
                        f"{', '.join(n for n in STRATEGIES.names() if not STRATEGIES.get(n).trains_supernet)})")
    pairs = ([first] if colon else []) + tokens[1:]
    own: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = (part.strip() for part in pair.partition("="))
        if not eq or not key or not value:
            raise UserError(f"variant {spec!r}: {pair.strip()!r} is not KEY=VALUE; {_FORMAT}")
        if key in own:
            raise UserError(f"variant {spec!r} sets {key} twice; give each option once")
        own[key] = value
    options = {**HARNESS_DEFAULTS.get(name, {}), **own}
    # Parse and check now, before any worker starts: a typo must fail in a second, not in a task.
    config = build_config(cls.Config, options, owner=f"strategy {name!r}")
    resolved = {key: getattr(config, key) for key in options}
    label = name if not own else f"{name}:" + ",".join(f"{k}={v}" for k, v in own.items())
    return Variant(label, name, resolved)
