"""A picklable recipe for an evaluator, built the same way in this process and in a Ray actor.

An evaluator holds tensors (a supernet, calibration and validation images) that should not travel
with every task: an actor builds its evaluator once from a spec. The supernet's weights travel
separately (`weights`), so the Ray executor can put them in the object store once and hand every
actor the same reference; data is re-read from `data` (a `DataConfig` as a dict) where the actor runs.
`build_evaluator` is the one place any evaluator is built from a spec: the registered kind does it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from nas_common.registry import EVALUATORS


@dataclass(frozen=True)
class EvaluatorSpec:
    kind: str  # a name in nas_common.registry.EVALUATORS ("table", "supernet")
    table: str | None = None  # table: CSV path (None: the bundled NB201 table)
    space: str | None = None  # supernet: space name and options as saved by its training run
    space_options: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # supernet: DataConfig fields
    evaluator: dict[str, Any] = field(default_factory=dict)  # the kind's Config fields
    seed: int = 0  # picks the calibration images
    device: str = "auto"

    def __post_init__(self) -> None:
        kind = EVALUATORS.get(self.kind)  # an unknown kind lists the valid ones
        if kind.uses_supernet and not (self.space and self.data):
            raise ValueError(f"a {self.kind} evaluator spec needs the space and data of the supernet run")

    @classmethod
    def for_supernet_run(cls, supernet_config: dict[str, Any], evaluator: dict[str, Any], seed: int,
                         device: str = "auto", kind: str = "supernet") -> "EvaluatorSpec":
        """From a supernet run's config.json and the kind's Config fields."""
        from nas_common.registry import SPACES

        space_options = SPACES.get(supernet_config["space"]).upgrade_config(supernet_config["space_config"])
        return cls(kind, space=supernet_config["space"], space_options=dict(space_options),
                   data=dict(supernet_config["data"]), evaluator=dict(evaluator), seed=seed, device=device)


def build_evaluator(spec: EvaluatorSpec, weights: dict[str, torch.Tensor] | None = None):
    """The evaluator `spec` describes; `weights` is the supernet state dict (supernet kinds only)."""
    return EVALUATORS.get(spec.kind).from_spec(spec, weights)
