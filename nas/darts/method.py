"""DARTS as a supernet-training method (`nas.supernet.methods`): the bilevel loop trains the run's
supernet in mixed mode (`nas.darts.trainer`), then the `darts` strategy is handed the learned
alphas and proposes their discretisation; the run keeps `alphas.png` and the skip-connection
counts in its summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nas.darts.config import TRAIN_DEFAULTS, DartsConfig
from nas_common.registry import TRAINING_METHODS
from nas_common.typed_config import build_config


@TRAINING_METHODS.register("darts")
class DartsMethod:
    train_defaults = TRAIN_DEFAULTS
    proposes = "derive the architecture from the alphas"  # the plan line's step

    @staticmethod
    def settings(strategy_options: dict[str, Any], owner: str) -> DartsConfig:
        return build_config(DartsConfig, strategy_options, owner=owner)

    @staticmethod
    def trainer(settings: DartsConfig) -> dict[str, Any]:
        from nas.darts.trainer import darts_training

        return darts_training(settings)

    @staticmethod
    def hand_over(strategy: Any, supernet_dir: Path, run_dir: Path) -> dict[str, Any]:
        from nas.darts.alphas import plot_alphas, read_alphas

        alphas = read_alphas(supernet_dir)
        strategy.use_alphas(alphas["logits"])
        plot_alphas(alphas, run_dir / "alphas.png")
        return {"alphas": alphas}

    @staticmethod
    def summary(space: Any, settings: DartsConfig, handed: dict[str, Any]) -> dict[str, Any]:
        from nas.darts.alphas import darts_summary

        alphas = handed["alphas"]
        return {"darts": darts_summary(space, alphas, settings.capped(alphas["logits"], alphas["ops"]))}
