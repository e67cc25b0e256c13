"""`nas strategies`, `nas evaluators`, `nas predictors`: each registered component with its options.

The options come from the component's typed config (a dataclass: `Strategy.Config`, an evaluator
kind's `Config`, `predictors.base.PredictorConfig`), so the listing is the truth: what `-o KEY=VALUE`
(strategies), config.json's "evaluator" entry, or `nas predictor train` accept, with types and defaults.
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, fields
from typing import Any

LISTINGS = {"strategies": "search strategies and their -o options", "evaluators": "evaluator kinds and their settings",
            "predictors": "performance predictors and their settings"}


def add_parser(sub: argparse._SubParsersAction, name: str) -> None:
    p = sub.add_parser(name, help=f"list the {LISTINGS[name]}", description=f"List the {LISTINGS[name]}.",
                       epilog=f"example: nas {name}" + (";  nas search --strategy evolution -o population=20"
                                                        if name == "strategies" else ""))
    p.set_defaults(handler=lambda args: run(name))


def run(kind: str) -> int:
    from nas.config.presets import preset_overrides

    for name, summary, config in components(kind):
        print(f"{name}: {summary}")
        for option, type_name, default in options_of(config):
            # `nas search` runs a preset: where it sets the option, that is the value a search uses
            if kind == "strategies":
                presets = preset_overrides(option, strategy=name, fallback=default)
            elif kind == "evaluators" and (name, option) in _PRESET_EVALUATION:
                presets = preset_overrides(option, fallback=default)
            else:
                presets = ""
            shown = f"  (nas search: {presets})" if presets and presets.split("; ") != [
                f"{p}: {default}" for p in ("cpu", "full")] else ""
            print(f"    {option:<20} {type_name:<12} default {default!r}{shown}")
    return 0


# Evaluator settings a preset sets (its "batch_size" is the training batch, not the evaluator's).
_PRESET_EVALUATION = {("supernet", "calibration_images"), ("supernet", "val_images"), ("supernet", "confirm_images")}


def components(kind: str) -> list[tuple[str, str, type | None]]:
    """(name, one-line description, config dataclass) of every registered component of `kind`."""
    from nas_common.registry import EVALUATORS, PREDICTORS, STRATEGIES

    if kind == "predictors":
        from predictors.base import PredictorConfig

        return [(n, _summary(PREDICTORS.get(n)), PredictorConfig) for n in PREDICTORS.names()]
    registry = {"strategies": STRATEGIES, "evaluators": EVALUATORS}[kind]
    return [(n, _summary(registry.get(n)), registry.get(n).Config) for n in registry.names()]


def options_of(config: type | None) -> list[tuple[str, str, Any]]:
    """(name, type, default) of a config dataclass's fields."""
    if config is None:
        return []
    hints = typing.get_type_hints(config)
    rows = []
    for f in fields(config):
        kind = hints.get(f.name, Any)
        name = getattr(kind, "__name__", None) or str(kind).replace("typing.", "")
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else None)
        rows.append((f.name, name, default))
    return rows


def _summary(obj: Any) -> str:
    """The first paragraph of the component's docstring (or of its module's)."""
    import sys

    doc = (obj.__doc__ or "").strip() or (getattr(sys.modules.get(obj.__module__), "__doc__", "") or "").strip()
    return " ".join(doc.split("\n\n")[0].split())
