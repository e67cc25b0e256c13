"""A picklable recipe for an evaluator, built the same way in this process and in a Ray actor.

An evaluator holds tensors (a supernet, calibration and validation images) that should not travel
with every task: an actor builds its evaluator once from a spec. The supernet's weights travel
separately (`weights`), so the Ray executor can put them in the object store once and hand every
actor the same reference; data is re-read from `data` (a `DataConfig` as a dict) where the actor runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class EvaluatorSpec:
    kind: str  # "table" or "supernet"
    table: str | None = None  # table: CSV path (None: the bundled NB201 table)
    space: str | None = None  # supernet: space name and options as saved by its training run
    space_options: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # supernet: DataConfig fields
    evaluator: dict[str, Any] = field(default_factory=dict)  # supernet: EvaluatorConfig fields
    seed: int = 0  # picks the calibration images
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.kind not in ("table", "supernet"):
            raise ValueError(f"evaluator kind must be 'table' or 'supernet', got {self.kind!r}")
        if self.kind == "supernet" and not (self.space and self.data):
            raise ValueError("a supernet evaluator spec needs the space and data of the supernet run")

    @classmethod
    def for_supernet_run(cls, supernet_config: dict[str, Any], evaluator: dict[str, Any], seed: int,
                         device: str = "auto") -> "EvaluatorSpec":
        """From a supernet run's config.json and an EvaluatorConfig dict."""
        return cls("supernet", space=supernet_config["space"], space_options=dict(supernet_config["space_config"]),
                   data=dict(supernet_config["data"]), evaluator=dict(evaluator), seed=seed, device=device)


def build_evaluator(spec: EvaluatorSpec, weights: dict[str, torch.Tensor] | None = None):
    """The evaluator `spec` describes; `weights` is the supernet state dict (supernet specs only)."""
    if spec.kind == "table":
        from nas.evaluate.table import TableEvaluator

        return TableEvaluator(spec.table)
    from nas.evaluate.supernet_evaluator import EvaluatorConfig
    from nas.supernet.loading import DataConfig, SupernetRun, make_space, resolve_device

    if weights is None:
        raise ValueError("a supernet evaluator spec needs the supernet weights")
    data_config = DataConfig(**spec.data)
    data = data_config.load()
    space = make_space(spec.space, data, spec.space_options)
    supernet = space.supernet()
    supernet.load_state_dict(weights)
    run = SupernetRun(None, {}, data_config, data, space, supernet.eval())  # type: ignore[arg-type]
    return run.evaluator(EvaluatorConfig(**spec.evaluator), resolve_device(spec.device), seed=spec.seed)
