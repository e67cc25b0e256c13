"""One architecture built from scratch (`space.build`) and trained alone: the ground truth a
one-shot supernet's ranking is checked against (Yu et al. 2020, "Evaluating the search phase of
neural architecture search"; Guo et al. 2019 retrain the SPOS winner the same way).

The recipe is the supernet's: SGD + Nesterov, cosine learning rate, label smoothing, crop/flip
augmentation, and the same training step (`sgd_step`), so only the weight sharing differs.
Accuracy is measured on the validation split after every epoch; the test split is scored once at
the end, only when asked, and kept apart. The trainer's state (model, optimizer, epoch) is a
plain dict, so a Ray Tune trial can checkpoint it each epoch and continue after a restore.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nas.data import ImageData
from nas.supernet.train import TrainConfig, cosine_lr, make_optimizer, sgd_step
from nas.tasks.base import Task
from nas.tasks.classification import CLASSIFICATION
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace


class StandaloneTrainer:
    """One architecture trained from scratch for `cfg.epochs` epochs (`cfg.steps` is not used)."""

    def __init__(self, space: SearchSpace, arch: Arch, data: ImageData, cfg: TrainConfig,
                 device: torch.device = torch.device("cpu"), eval_batch_size: int = 256,
                 task: Task = CLASSIFICATION) -> None:
        if cfg.steps is not None:
            raise ValueError("retraining counts whole epochs; leave TrainConfig.steps unset")
        self.arch, self.data, self.cfg, self.device = space.validate(arch), data, cfg, device
        self.eval_batch_size, self.task = eval_batch_size, task
        self.model = space.build(arch, torch.Generator().manual_seed(cfg.seed)).to(device)
        if device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, cfg)
        self.loss_fn = task.training_loss(cfg.label_smoothing)
        self.loader = task.train_loader(data, cfg.batch_size, cfg.seed, augment=cfg.augment, device=device)
        self.total_steps = cfg.epochs * self.loader.steps_per_epoch
        self.warmup_steps = min(self.total_steps, round(cfg.warmup_epochs * self.loader.steps_per_epoch))
        self.epoch = 0  # epochs completed

    def train_epoch(self) -> dict[str, float]:
        """One more epoch; the mean of each training metric over its steps ("train_loss", and the
        task's: "train_acc" (percent) for classification, "train_cls"/"train_box" for detection)."""
        spe = self.loader.steps_per_epoch
        metrics = []
        for step in range(self.epoch * spe, (self.epoch + 1) * spe):
            metrics.append(sgd_step(self.model, self.model, self.optimizer, self.loss_fn, self.loader.batch(step),
                                    cosine_lr(self.cfg.lr, step, self.total_steps, self.warmup_steps), self.device,
                                    grad_clip=self.cfg.grad_clip))
        self.epoch += 1
        return {f"train_{k}": float(np.mean([m[k] for m in metrics])) for k in metrics[0]}

    def accuracy(self, split: str = "val") -> dict[str, float]:
        """The task's metrics ({"<split>_acc" (percent), "<split>_loss"}) on the whole "val" or
        "test" split (NaN if empty)."""
        self.model.eval()
        batches = self.task.eval_batches(self.data, split, self.eval_batch_size)
        return self.task.evaluate(self.model, batches, self.device, split)

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "arch": self.arch.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if Arch.from_dict(state["arch"]) != self.arch:
            raise ValueError(f"checkpoint of {state['arch']} does not belong to {self.arch}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
