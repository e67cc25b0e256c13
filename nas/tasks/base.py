"""A task owns what is specific to a kind of learning problem; everything else takes a task.

The trainer, the evaluators, BN recalibration, retraining, export and rank-check never name a loss,
labels or boxes: they call the task. A task says
- which data it reads (`load_data`) and how a space is adapted to it (`space_options`: input size,
  channels, classes, ...),
- how its data is batched: seeded training batches (`train_loader`, a pure function of
  (seed, step)), held-out batches (`eval_batches`; which validation images choose and which
  confirm is `nas.tasks.splits`) and BN-calibration images
  (`calibration_images`),
- how a batch moves to a device (`to_device`: targets may be tensors or lists of boxes),
- the training loss and per-batch training metrics (`training_loss`),
- the metrics of a model on a held-out split (`evaluate`) and which of them is the search
  objective (`objective`), and what an untrained model scores (`chance`, for the trust check).
"""

from __future__ import annotations

from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol

import torch

from nas_common.objective import Objective

Forward = Callable[[torch.Tensor], Any]
# (outputs, targets) -> (loss to backpropagate, {name: detached scalar tensor}) for one batch
TrainingLoss = Callable[[Any, Any], tuple[torch.Tensor, dict[str, torch.Tensor]]]


class Loader(Protocol):
    """Seeded training batches: `batch(step)` depends only on (seed, step) (and the rank)."""

    steps_per_epoch: int

    def batch(self, step: int) -> tuple[torch.Tensor, Any]: ...


class Task(Protocol):
    name: ClassVar[str]
    objective: ClassVar[Objective]
    # where a supernet of this task keeps its backbone's tensors ("": the whole supernet is one)
    backbone_prefix: ClassVar[str]

    def load_data(self, data_config: Any) -> Any: ...

    def space_options(self, data: Any) -> dict[str, Any]: ...

    def train_loader(self, data: Any, batch_size: int, seed: int, *, augment: bool = True, rank: int = 0,
                     world_size: int = 1, device: torch.device = torch.device("cpu")) -> Loader: ...

    def eval_batches(self, data: Any, split: str, batch_size: int, limit: int | None = None,
                     start: int = 0) -> Iterator[tuple[torch.Tensor, Any]]:
        """Unaugmented batches of the split's images `start` .. `start + limit` (all from `start`
        when `limit` is None), in order."""
        ...

    def split_size(self, data: Any, split: str) -> int: ...  # images in a split ("train", "val", "test")

    def calibration_images(self, data: Any, count: int, seed: int) -> torch.Tensor: ...

    def to_device(self, batch: tuple[torch.Tensor, Any], device: torch.device) -> tuple[torch.Tensor, Any]: ...

    def training_loss(self, label_smoothing: float = 0.0) -> TrainingLoss: ...

    def evaluate(self, forward: Forward, batches: Iterable[tuple[torch.Tensor, Any]], device: torch.device,
                 split: str = "val", per_image: bool = False) -> dict[str, Any]:
        """The split's metrics, each with its standard error ("<metric>_se"); `per_image`: also
        the per-image outcomes a paired comparison needs, under `nas.tasks.uncertainty.PER_IMAGE`."""
        ...

    def chance(self, data: Any) -> float | None: ...

    def images_outside_test(self, data: Any) -> int:
        """Images a validation split could be drawn from (training + validation as loaded): the
        separability check says when the images it asks for exceed them."""
        ...

    def preprocessing(self, data: Any) -> dict[str, Any]: ...  # what a user must do to new inputs (export)
