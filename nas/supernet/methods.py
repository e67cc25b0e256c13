"""The hook for methods that train a supernet their own way before the search loop.

Single-path uniform sampling (`nas.supernet.train`) is the default. A method registered in
`nas_common.registry.TRAINING_METHODS` (DARTS today) replaces it for the strategies that name it in
`trains_supernet`, and is asked, in order: its settings from the strategy's options, the training
recipe a search uses when the user gives none, the trainer keywords for `train_into`, what to hand
the strategy once training has ended, and what to add to the run's summary. The search workflow,
the evaluators and the CLI ask this module; none of them knows a method by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from nas_common.registry import STRATEGIES, TRAINING_METHODS


class TrainingMethod(Protocol):
    train_defaults: dict[str, Any]  # the method's own weight-training recipe (lr, batch, held-out share)
    proposes: str  # what the strategy does once training ends, as the plan line says it

    def settings(self, strategy_options: dict[str, Any], owner: str) -> Any: ...  # typed, checked

    def trainer(self, settings: Any) -> dict[str, Any]: ...  # `train_into` keywords (trainer, extra, label)

    def hand_over(self, strategy: Any, supernet_dir: Path, run_dir: Path) -> dict[str, Any]:
        ...  # after training: give the strategy what it searches on; returns what the summary needs

    def summary(self, space: Any, settings: Any, handed: dict[str, Any]) -> dict[str, Any]: ...


def method_of(strategy: str) -> TrainingMethod | None:
    """The training method strategy `strategy` uses, or None for single-path training."""
    name = STRATEGIES.get(strategy).trains_supernet
    return TRAINING_METHODS.get(name) if name else None


def method_settings(strategy: str, options: dict[str, Any]) -> tuple[TrainingMethod, Any] | None:
    """(method, its typed settings) of a search whose strategy trains its own supernet, else None."""
    method = method_of(strategy)
    return None if method is None else (method, method.settings(options, owner=f"strategy {strategy!r}"))
