"""Image classification: integer labels, cross-entropy, top-1 accuracy in percent (the objective)."""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

import torch
from torch import nn

from nas.data import ImageData, TrainLoader, calibration_images, eval_batches
from nas.tasks.base import Forward, TrainingLoss
from nas.tasks.uncertainty import PER_IMAGE, accuracy_se, mean_se, pack_outcomes
from nas_common.objective import Objective
from nas_common.registry import TASKS
from search_spaces.blocks.auxiliary import AuxiliaryLogits


@TASKS.register("classification")
class Classification:
    name = "classification"
    backbone_prefix = ""  # the classifier is the backbone
    objective = Objective("val_acc", "max", scale=100.0, unit="%")

    def load_data(self, data_config: Any) -> ImageData:
        return data_config.load()

    def space_options(self, data: ImageData) -> dict[str, Any]:
        return {"input_size": data.image_size, "in_channels": data.channels, "num_classes": data.num_classes}

    def train_loader(self, data: ImageData, batch_size: int, seed: int, *, augment: bool = True, rank: int = 0,
                     world_size: int = 1, device: torch.device = torch.device("cpu")) -> TrainLoader:
        return TrainLoader(data, batch_size, seed, augment=augment, rank=rank, world_size=world_size, device=device)

    def eval_batches(self, data: ImageData, split: str, batch_size: int, limit: int | None = None,
                     start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        end = None if limit is None else start + limit
        x, y = getattr(data, f"x_{split}")[start:end], getattr(data, f"y_{split}")[start:end]
        return eval_batches(x, y, batch_size, data.mean, data.std)

    def split_size(self, data: ImageData, split: str) -> int:
        return len(getattr(data, f"y_{split}"))

    def calibration_images(self, data: ImageData, count: int, seed: int) -> torch.Tensor:
        return calibration_images(data, count, seed)

    def to_device(self, batch: tuple[torch.Tensor, torch.Tensor], device: torch.device):
        x, y = batch
        return x.to(device, non_blocking=True), y.to(device, non_blocking=True)

    def training_loss(self, label_smoothing: float = 0.0) -> TrainingLoss:
        criterion = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

        def loss(out: torch.Tensor | AuxiliaryLogits, y: torch.Tensor):
            aux = None
            if isinstance(out, AuxiliaryLogits):  # a net with an auxiliary head, in training
                out, aux = out.logits, out
            logits = out.float()
            total = criterion(logits, y)
            metrics = {"acc": 100.0 * (logits.detach().argmax(1) == y).float().mean()}
            if aux is not None:
                aux_loss = criterion(aux.aux_logits.float(), y)
                total = total + aux.weight * aux_loss
                metrics["aux_loss"] = aux_loss.detach()
            return total, metrics

        return loss

    @torch.no_grad()
    def evaluate(self, forward: Forward, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                 device: torch.device, split: str = "val", per_image: bool = False) -> dict[str, Any]:
        """{"<split>_acc" (percent), "<split>_loss", and their standard errors "<split>_acc_se"
        (binomial) and "<split>_loss_se"} over all batches; NaN for an empty split. `per_image`:
        also the correctness of each image, packed (`nas.tasks.uncertainty.PER_IMAGE`)."""
        correct, losses = [], []
        for x, y in batches:
            x, y = self.to_device((x, y), device)
            logits = forward(x).float()
            losses.append(nn.functional.cross_entropy(logits, y, reduction="none").cpu())
            correct.append((logits.argmax(1) == y).cpu())
        if not correct or sum(len(c) for c in correct) == 0:
            return {f"{split}_acc": math.nan, f"{split}_loss": math.nan}
        hits, loss = torch.cat(correct).numpy(), torch.cat(losses).double().numpy()
        result: dict[str, Any] = {f"{split}_acc": 100.0 * float(hits.mean()), f"{split}_loss": float(loss.mean()),
                                  f"{split}_acc_se": accuracy_se(hits), f"{split}_loss_se": mean_se(loss)}
        if per_image:
            result[PER_IMAGE] = {f"{split}_correct": pack_outcomes(hits)}
        return result

    def preprocessing(self, data: ImageData) -> dict[str, Any]:
        """Saved with an exported net: how to turn an image into its input, and what outputs mean."""
        return {"input_size": data.image_size, "channels": data.channels, "resize": "none (images of input_size)",
                "scale": "pixels / 255, then (x - mean) / std per channel, NCHW",
                "mean": list(data.mean), "std": list(data.std), "classes": list(data.classes)}

    def images_outside_test(self, data: ImageData) -> int:
        return len(data.x_train) + len(data.x_val)

    def chance(self, data: ImageData) -> float | None:
        return 100.0 / data.num_classes if data.num_classes else None


CLASSIFICATION = Classification()
