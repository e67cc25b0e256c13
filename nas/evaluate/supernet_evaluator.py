"""Scores architectures on a trained supernet: per-path BN recalibration, then validation accuracy.

The calibration images and the validation split are tensors held by the evaluator (a Ray actor
holds one evaluator with its own replica), so an evaluation only runs forward passes.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Sequence

import torch
from torch import nn

from nas.data import data_config_from_dict
from nas.evaluate.spec import EvaluatorSpec
from nas.supernet.loading import SupernetRun, load_supernet_run, make_space, space_on_data
from nas.supernet.recalibrate import path_statistics
from nas.supernet.train import to_device
from nas.tasks import get_task
from nas.tasks.base import Task
from nas.tasks.classification import CLASSIFICATION
from nas.tasks.splits import validation_parts
from nas_common.objective import Objective
from nas_common.registry import EVALUATORS
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace

if TYPE_CHECKING:
    from nas.config.run_config import SearchConfig


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class EvaluatorConfig:
    """SPOS recalibrated on 200 x 128 ImageNet images; CPU defaults are smaller."""

    calibration_images: int = 1024
    batch_size: int = 256
    val_images: int | None = None  # None: the whole validation split (less the confirmation's images)
    # Validation images kept apart to confirm the verdict (`nas.tasks.splits`); 0: none, as in runs
    # saved before confirmation existed (a new search's comes from its preset).
    confirm_images: int = 0
    # "bf16" (`-E precision=bf16`): recalibration and validation forwards under bf16 autocast. On this
    # project's CPU (AVX512-BF16), at the demo's scale, 1.4-1.7x faster than fp32 with accuracies
    # within 0.2 standard errors and the same best of 16, identical with 1 or 2 threads (a Ray actor
    # scores with one, this process with two) (bench/scoring_precision.py); on a CPU without native
    # bf16 it is slower. Not the default: its scores differ from fp32's, if within noise. Channels-last
    # tensors would add 1.3x but make a score's last digits depend on the thread count: not used.
    # Exports and retraining stay fp32.
    precision: str = "fp32"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for key in ("calibration_images", "batch_size", "val_images"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise ValueError(f"{key} must be at least 1, got {value}")
        if self.confirm_images < 0:
            raise ValueError(f"confirm_images must be at least 0, got {self.confirm_images}")


def split_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Classification inputs and labels as the evaluator's validation batches."""
    return list(zip(x.split(batch_size), y.split(batch_size)))


@EVALUATORS.register("supernet")
class SupernetEvaluator:
    Config = EvaluatorConfig
    uses_supernet = True
    spaces = None  # any space
    hidden_metrics: frozenset[str] = frozenset()  # everything it measures is the search signal
    images_available: int | None = None  # images outside the test split (set by from_parts): how far val can grow
    spec: EvaluatorSpec | None = None  # set by the builders below

    def __init__(self, supernet: nn.Module, calibration: torch.Tensor,
                 val_batches: Sequence[tuple[torch.Tensor, Any]], batch_size: int = 256,
                 device: str | torch.device = "cpu", chance: float | None = None,
                 task: Task = CLASSIFICATION, precision: str = "fp32") -> None:
        """`val_batches`: the validation split as the task's (inputs, targets) batches."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self.precision = precision
        # Accuracy of guessing (percent): what an untrained supernet scores (nas.judging.trust).
        self.chance = chance
        self.device = torch.device(device)
        self.task = task
        self.supernet = supernet.to(self.device).eval()
        self.batch_size = batch_size
        self.calibration = calibration.to(self.device)
        self.val_batches = [(x.to(self.device), to_device(y, self.device)) for x, y in val_batches]
        # The test split's and the confirmation images' batches, made only when asked
        # (test_metrics, confirm_metrics): none by default.
        self.test_batches: Callable[[], Iterable[tuple[torch.Tensor, Any]]] | None = None
        self.confirm_batches: Callable[[], Iterable[tuple[torch.Tensor, Any]]] | None = None
        # how many images each role has (nas.tasks.splits): what a verdict says it was judged on
        self.split_images: dict[str, int] = {"validation": sum(len(x) for x, _ in val_batches)}

    def _chunks(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return iter(x.split(self.batch_size))

    def _path(self, arch: Arch) -> Callable[[torch.Tensor], Any]:
        return lambda x: self.supernet(x, arch)

    def _scoring(self) -> Any:
        """The precision the scoring forwards run in (recalibration and validation alike)."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _accuracy(self, arch: Arch, batches: Iterable[tuple[torch.Tensor, Any]] | None = None,
                  split: str = "val", per_image: bool = False) -> dict[str, Any]:
        """The task's metrics of the path as the supernet's statistics stand (validation by default)."""
        self.supernet.eval()
        return self.task.evaluate(self._path(arch), batches if batches is not None else self.val_batches,
                                  self.device, split, per_image=per_image)

    def evaluate(self, arch: Arch) -> dict[str, Any]:
        """Validation metrics of `arch` with recalibrated BN statistics (accuracy in percent for
        classification), their standard errors, and the per-image outcomes (`PER_IMAGE`) that
        paired comparisons between architectures use."""
        with self._scoring(), path_statistics(self.supernet, self._path(arch),
                                              self._chunks(self.calibration)):
            return self._accuracy(arch, per_image=True)

    def reported(self, arch: Arch) -> dict[str, float]:
        return {}

    def test_metrics(self, arch: Arch, per_image: bool = False) -> dict[str, Any]:
        """The task's metrics of `arch` (recalibrated) on the data's test split, which search never
        sees: reported once for the chosen architecture (`per_image`: with the outcomes that pair it
        with another architecture's). Empty when there is no test split."""
        batches = list(self.test_batches()) if self.test_batches is not None else []
        if not batches:
            return {}
        with self._scoring(), path_statistics(self.supernet, self._path(arch),
                                              self._chunks(self.calibration)):
            return self._accuracy(arch, batches, split="test", per_image=per_image)

    def confirm_metrics(self, arch: Arch) -> dict[str, Any]:
        """The task's metrics of `arch` (recalibrated) on the confirmation images, which neither
        trained the supernet nor scored the search ("confirm_acc", its standard error and the
        per-image outcomes that pair it with another architecture's). Empty when there are none."""
        batches = list(self.confirm_batches()) if self.confirm_batches is not None else []
        if not batches:
            return {}
        with self._scoring(), path_statistics(self.supernet, self._path(arch),
                                              self._chunks(self.calibration)):
            return self._accuracy(arch, batches, split="confirm", per_image=True)

    def evaluate_inherited(self, arch: Arch) -> dict[str, float]:
        """Validation accuracy with the supernet's running statistics as trained (for comparison)."""
        with self._scoring():
            return self._accuracy(arch)

    def recalibrated_model(self, arch: Arch) -> nn.Module:
        """The stand-alone net of `arch` with supernet weights and recalibrated BN statistics."""
        with path_statistics(self.supernet, self._path(arch), self._chunks(self.calibration)):
            return self.supernet.extract(arch).eval()

    def shared_weights(self) -> dict[str, torch.Tensor]:
        """The supernet's weights on the CPU, for `from_spec` in another process."""
        return {k: v.detach().cpu() for k, v in self.supernet.state_dict().items()}

    # ---- the EvaluatorKind contract (nas.evaluate.base) ----
    @classmethod
    def from_parts(cls, supernet: nn.Module, data: Any, cfg: EvaluatorConfig, device: torch.device,
                   seed: int, spec: EvaluatorSpec | None = None, task: Task = CLASSIFICATION) -> "SupernetEvaluator":
        """An evaluator over `supernet` with calibration images (picked by `seed`) and validation
        split from `data`, batched and scored as `task` says."""
        calibration = task.calibration_images(data, cfg.calibration_images, seed)
        parts = validation_parts(task.split_size(data, "val"), cfg.val_images, cfg.confirm_images,
                                 spare=task.split_size(data, "spare"))
        val_batches = list(task.eval_batches(data, "val", cfg.batch_size, parts.search))
        evaluator = cls(supernet, calibration, val_batches, cfg.batch_size, device,
                        chance=task.chance(data), task=task, precision=cfg.precision)
        evaluator.test_batches = functools.partial(task.eval_batches, data, "test", cfg.batch_size)
        if parts.confirm:
            def confirmation() -> Iterator[tuple[torch.Tensor, Any]]:
                if parts.from_spare:
                    yield from task.eval_batches(data, "spare", cfg.batch_size, parts.from_spare)
                if parts.from_val:
                    yield from task.eval_batches(data, "val", cfg.batch_size, parts.from_val, start=parts.confirm_start)

            evaluator.confirm_batches = confirmation
        evaluator.split_images = {"validation": parts.search, "confirmation": parts.confirm,
                                  "test": task.split_size(data, "test")}
        evaluator.spec = spec
        evaluator.images_available = task.images_outside_test(data)
        return evaluator

    @classmethod
    def from_run(cls, run: SupernetRun, cfg: EvaluatorConfig, device: torch.device, seed: int = 0,
                 device_name: str = "auto") -> "SupernetEvaluator":
        """The evaluator over a loaded supernet run (`nas.supernet.loading.load_supernet_run`)."""
        spec = EvaluatorSpec.for_supernet_run(run.config, asdict(cfg), seed, device_name)
        return cls.from_parts(run.supernet, run.data, cfg, device, seed, spec, task=run.task)

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, weights: dict[str, torch.Tensor] | None) -> "SupernetEvaluator":
        from nas.supernet.loading import resolve_device

        if weights is None:
            raise ValueError("a supernet evaluator spec needs the supernet weights")
        data_config = data_config_from_dict(spec.data)
        task = get_task(data_config.task)
        data = data_config.load()
        supernet = make_space(spec.space, data, spec.space_options, task).supernet()
        supernet.load_state_dict(weights)
        return cls.from_parts(supernet.eval(), data, EvaluatorConfig(**spec.evaluator), resolve_device(spec.device),
                              spec.seed, spec, task)

    @classmethod
    def objective_of(cls, config: "SearchConfig") -> Objective:
        """What its evaluate() returns as the search signal: the objective of the data's task."""
        return get_task(config.task).objective

    @classmethod
    def estimator(cls, config: "SearchConfig") -> tuple[str, str]:
        return "supernet", "weight-sharing supernet, BN recalibrated per path"

    @classmethod
    def search_space(cls, config: "SearchConfig") -> SearchSpace:
        """The space a supernet search searches, without training or loading a supernet."""
        from nas.supernet.loading import read_supernet_config
        from nas_common.registry import SPACES

        if config.supernet_run:
            trained = read_supernet_config(config.supernet_run)
            return SPACES.get(trained["space"])(**trained["space_config"])
        return space_on_data(config.space, config.data, config.space_options)

    @classmethod
    def for_search(cls, run_path: Path, config: "SearchConfig", device: torch.device,
                   quiet: bool) -> tuple[SearchSpace, "SupernetEvaluator"]:
        """The search run's supernet (referenced, or trained/resumed into `run_path`/supernet) as an evaluator."""
        from nas.supernet.pipeline import train_into

        supernet_dir = config.supernet_run
        if not supernet_dir:
            supernet_dir = Path(run_path) / "supernet"
            train = config.train
            if config.backbone_pretraining is not None and train.backbone is None:  # DetNAS step 1
                backbone = config.backbone_pretraining.run(Path(run_path) / "backbone", cls.search_space(config),
                                                           device, quiet)
                train = replace(train, backbone=str(backbone.resolve()))
            from nas.supernet.methods import method_settings

            trained_by = method_settings(config.strategy, config.strategy_options)  # DARTS: its own loop
            train_into(supernet_dir, config.space, config.space_options, config.data, train, device, quiet,
                       **(trained_by[0].trainer(trained_by[1]) if trained_by is not None else {}))
        run = load_supernet_run(supernet_dir)
        return run.space, cls.from_run(run, config.evaluator.typed(), device, seed=config.seed,
                                       device_name=config.device)
