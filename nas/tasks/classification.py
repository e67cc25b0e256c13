"""Image classification: integer labels, cross-entropy, top-1 accuracy in percent (the objective)."""

from __future__ import annotations

import math
from typing import Any, Iterable

import torch
from torch import nn

from nas.data import ImageData
from nas.tasks.base import Forward, TrainingLoss
from nas_common.objective import Objective
from nas_common.registry import TASKS


@TASKS.register("classification")
class Classification:
    name = "classification"
    objective = Objective("val_acc", "max", scale=100.0, unit="%")

    def load_data(self, data_config: Any) -> ImageData:
        return data_config.load()

    def space_options(self, data: ImageData) -> dict[str, Any]:
        return {"input_size": data.image_size, "in_channels": data.channels, "num_classes": data.num_classes}

    def to_device(self, batch: tuple[torch.Tensor, torch.Tensor], device: torch.device):
        x, y = batch
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def training_loss(self, label_smoothing: float = 0.0) -> TrainingLoss:
        criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

        def loss(logits: torch.Tensor, y: torch.Tensor):
            logits = logits.float()
            return criterion(logits, y), {"acc": 100.0 * (logits.detach().argmax(1) == y).float().mean()}

        return loss

    @torch.no_grad()
    def evaluate(self, forward: Forward, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                 device: torch.device, split: str = "val") -> dict[str, float]:
        """{"<split>_acc" (percent), "<split>_loss"} over all batches; NaN for an empty split."""
        correct, loss, n = 0, 0.0, 0
        for x, y in batches:
            x, y = self.to_device((x, y), device)
            logits = forward(x).float()
            loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
            n += len(y)
        if n == 0:
            return {f"{split}_acc": math.nan, f"{split}_loss": math.nan}
        return {f"{split}_acc": 100.0 * correct / n, f"{split}_loss": loss / n}

    def chance(self, data: ImageData) -> float | None:
        return 100.0 / data.num_classes if data.num_classes else None


CLASSIFICATION = Classification()
