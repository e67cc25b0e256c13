"""Scores an architecture by training it alone, briefly: `--evaluator standalone`.

Each architecture's stand-alone network (`space.build`) is trained from scratch for `epochs` on the
run's training split with the supernet's recipe (`nas.training.standalone.StandaloneTrainer`: SGD, cosine
learning rate, label smoothing, augmentation) and scored on the validation split. No weights are
shared, so nothing needs recalibrating or trusting: it is the slowest evaluator and the one whose
figure means what it says. Two uses:

- the default scorer of a DARTS search on a space without a benchmark table: DARTS is judged by the
  architecture it derives, and single paths of a supernet trained in mixed mode score near chance
  (they were never trained alone);
- a baseline for any strategy at small budgets ("train each candidate briefly").
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nas.data import data_config_from_dict
from nas_common.errors import UserError
from nas.evaluate.spec import EvaluatorSpec
from nas.supernet.loading import make_space, resolve_device, space_on_data
from nas.supernet.train import TrainConfig
from nas.tasks import get_task
from nas_common.objective import Objective
from nas_common.registry import EVALUATORS
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace

if TYPE_CHECKING:
    from nas.config.run_config import SearchConfig


@dataclass(frozen=True)
class StandaloneConfig:
    """`epochs` of training per architecture at `lr` (cosine to 0) and `weight_decay`, batches of
    `batch_size`; the run's seed initialises and orders the batches (the same for every
    architecture, so their differences are the architectures')."""

    epochs: int = 1
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 5e-4

    def __post_init__(self) -> None:
        if not 1 <= self.epochs <= 1000:
            raise ValueError(f"epochs must be in 1..1000, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not (math.isfinite(self.lr) and 0 < self.lr <= 10):
            raise ValueError(f"lr must be in (0, 10], got {self.lr}")
        if not (math.isfinite(self.weight_decay) and 0 <= self.weight_decay <= 1):
            raise ValueError(f"weight_decay must be in [0, 1], got {self.weight_decay}")


@EVALUATORS.register("standalone")
class StandaloneEvaluator:
    """Each architecture trained alone for a few epochs, scored on the validation split (-E epochs=N)."""

    Config = StandaloneConfig
    uses_supernet = False
    spaces = None  # any space
    chance = None  # nothing is shared: there is no supernet to trust
    images_available: int | None = None  # no validation split to grow: separability never asks
    hidden_metrics: frozenset[str] = frozenset({"train_loss", "train_s"})

    def __init__(self, space: SearchSpace, task: Any, data: Any, cfg: StandaloneConfig, seed: int,
                 device: torch.device, spec: EvaluatorSpec | None = None) -> None:
        self.space, self.task, self.data, self.cfg, self.device = space, task, data, cfg, device
        self.train = TrainConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                                 weight_decay=cfg.weight_decay, seed=seed)
        self.spec = spec
        self._last: tuple[str, dict[str, float]] | None = None  # evaluate then reported: train once

    def _train(self, arch: Arch) -> dict[str, float]:
        if self._last is None or self._last[0] != arch.hash:
            from nas.training.standalone import StandaloneTrainer

            started = time.perf_counter()
            trainer = StandaloneTrainer(self.space, arch, self.data, self.train, self.device, task=self.task)
            for _ in range(self.cfg.epochs):
                trained = trainer.train_epoch()
            scores = {**trainer.accuracy("val"), "train_loss": trained["train_loss"],
                      "train_s": time.perf_counter() - started}
            self._last = (arch.hash, scores)
        return self._last[1]

    def evaluate(self, arch: Arch) -> dict[str, float]:
        return {k: v for k, v in self._train(arch).items() if k not in self.hidden_metrics}

    def reported(self, arch: Arch) -> dict[str, float]:
        return {k: v for k, v in self._train(arch).items() if k in self.hidden_metrics}

    def shared_weights(self) -> None:
        return None

    # ---- the EvaluatorKind contract (nas.evaluate.base) ----
    @classmethod
    def objective_of(cls, config: "SearchConfig") -> Objective:
        return get_task(config.task).objective

    @classmethod
    def estimator(cls, config: "SearchConfig") -> tuple[str, str]:
        epochs = config.evaluator.typed().epochs
        return "standalone", f"stand-alone training, {epochs} epoch{'s' if epochs > 1 else ''} per architecture"

    @classmethod
    def search_space(cls, config: "SearchConfig") -> SearchSpace:
        if config.data is None:
            raise UserError("a stand-alone evaluation needs data (--data) to train on")
        return space_on_data(config.space, config.data, config.space_options)

    @classmethod
    def for_search(cls, run_path: Path, config: "SearchConfig", device: torch.device, quiet: bool):
        if config.data is None:
            raise UserError("a stand-alone evaluation needs data (--data) to train on")
        spec = EvaluatorSpec("standalone", space=config.space, space_options=dict(config.space_options),
                             data=asdict(config.data), evaluator=dict(config.evaluator.settings), seed=config.seed,
                             device=config.device)
        evaluator = cls.from_spec(spec, None)
        return evaluator.space, evaluator

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, weights: Any = None) -> "StandaloneEvaluator":
        from nas_common.typed_config import build_config

        data_config = data_config_from_dict(spec.data)
        task = get_task(data_config.task)
        data = task.load_data(data_config)
        space = make_space(spec.space, data, spec.space_options, task)
        cfg = build_config(StandaloneConfig, spec.evaluator, owner="evaluator 'standalone'")
        return cls(space, task, data, cfg, spec.seed, resolve_device(spec.device), spec)
