"""Scores architectures on a trained supernet: per-path BN recalibration, then validation accuracy.

The calibration images and the validation split are tensors held by the evaluator (a Ray actor
holds one evaluator with its own replica), so an evaluation only runs forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from nas.supernet.recalibrate import path_statistics
from search_spaces.arch import Arch


@dataclass(frozen=True)
class EvaluatorConfig:
    """SPOS recalibrated on 200 x 128 ImageNet images; CPU defaults are smaller."""

    calibration_images: int = 1024
    batch_size: int = 256
    val_images: int | None = None  # None: the whole validation split


class SupernetEvaluator:
    hidden_metrics: frozenset[str] = frozenset()  # everything it measures is the search signal

    def __init__(self, supernet: nn.Module, calibration: torch.Tensor, x_val: torch.Tensor,
                 y_val: torch.Tensor, batch_size: int = 256, device: str | torch.device = "cpu",
                 num_classes: int | None = None) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        # Accuracy of guessing (percent): what an untrained supernet scores (nas.trust).
        self.chance = 100.0 / num_classes if num_classes else None
        self.device = torch.device(device)
        self.supernet = supernet.to(self.device).eval()
        self.batch_size = batch_size
        self.calibration = calibration.to(self.device)
        self.x_val = x_val.to(self.device)
        self.y_val = y_val.to(self.device)

    def _chunks(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        return iter(x.split(self.batch_size))

    @torch.no_grad()
    def _accuracy(self, arch: Arch) -> dict[str, float]:
        self.supernet.eval()
        correct, loss = 0, 0.0
        for x, y in zip(self.x_val.split(self.batch_size), self.y_val.split(self.batch_size)):
            logits = self.supernet(x, arch).float()
            loss += nn.functional.cross_entropy(logits, y, reduction="sum").item()
            correct += (logits.argmax(1) == y).sum().item()
        n = len(self.y_val)
        return {"val_acc": 100.0 * correct / n, "val_loss": loss / n}

    def evaluate(self, arch: Arch) -> dict[str, float]:
        """Validation accuracy (percent) of `arch` with recalibrated BN statistics."""
        with path_statistics(self.supernet, lambda x: self.supernet(x, arch), self._chunks(self.calibration)):
            return self._accuracy(arch)

    def reported(self, arch: Arch) -> dict[str, float]:
        return {}

    def evaluate_inherited(self, arch: Arch) -> dict[str, float]:
        """Validation accuracy with the supernet's running statistics as trained (for comparison)."""
        return self._accuracy(arch)

    def recalibrated_model(self, arch: Arch) -> nn.Module:
        """The stand-alone net of `arch` with supernet weights and recalibrated BN statistics."""
        with path_statistics(self.supernet, lambda x: self.supernet(x, arch), self._chunks(self.calibration)):
            return self.supernet.extract(arch).eval()
