"""Single-path uniform-sampling supernet training (SPOS, Guo et al. 2019).

Each step trains one path drawn uniformly from the space. The path, the batch and its
augmentation depend only on (seed, step), never on a generator carried from step to step: a run
resumed from any checkpoint continues exactly, and data-parallel ranks that share the seed agree
on the path of every step without talking to each other (a known pitfall is ranks silently
training different paths).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from nas.archive.scalars import ScalarLog
from nas_common.errors import UserError
from nas.supernet.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from nas.tasks.base import Task, TrainingLoss
from nas.tasks.classification import CLASSIFICATION
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10
    steps: int | None = None  # overrides epochs when set
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    # one of nas.data.batches.AUGMENTATIONS (flip-crop, crop, flip, none); true/false in configs saved
    # before it was a choice (flip-crop / none); a new run's default depends on its data
    augment: bool | str = True
    seed: int = 0
    checkpoint_every: int = 0  # steps between checkpoints; 0 = at each epoch end only
    warmup_epochs: float = 0.0  # linear warm-up to lr over these epochs, then cosine decay
    backbone: str | None = None  # a classification supernet run that initialises the backbone (DetNAS step 1)
    # a supernet run of the same space whose weights start this one (continued training; a few-shot
    # supernet copies them into every split: Zhao et al. 2021)
    init_from: str | None = None
    # a JSON file listing architectures: each step trains one of them (uniformly) instead of a path
    # of the whole space, e.g. the top 10% by a first supernet's scores (continued training)
    path_pool: str | None = None
    # average the weights saved at the epoch ends of the last fraction of training, and end on the
    # average (checkpoint averaging, as in SWA: Izmailov et al. 2018); 0 = off. BN statistics are
    # recalibrated per path before any scoring, so only the learned weights matter.
    average_last: float = 0.0
    # clip the global gradient norm of each step to this (0 = off): detection recipes clip (mmdetection's
    # RetinaNet at 35) so that one bad batch of a small data set cannot blow the weights up
    grad_clip: float = 0.0

    def __post_init__(self) -> None:
        from nas.data.batches import augmentation

        augmentation(self.augment)  # one of the known modes (a ValueError names them)
        for key in ("epochs", "batch_size"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if self.steps is not None and self.steps <= 0:
            raise ValueError(f"steps must be positive, got {self.steps}")
        for key in ("lr", "momentum", "weight_decay", "label_smoothing"):
            if not math.isfinite(getattr(self, key)):
                raise ValueError(f"{key} must be a finite number, got {getattr(self, key)}")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.label_smoothing < 1:
            raise ValueError("need lr > 0, weight_decay >= 0 and 0 <= label_smoothing < 1")
        if not 0 <= self.warmup_epochs < math.inf:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if not 0 <= self.grad_clip < math.inf:
            raise ValueError(f"grad_clip must be >= 0 (0 = off), got {self.grad_clip}")
        if not 0 <= self.average_last < 1:
            raise ValueError(f"average_last must be in [0, 1), got {self.average_last}")
        # Values no recipe uses: typos (1e3 for 1e-3) that would otherwise train to nonsense and exit 0.
        for key, limit in LIMITS.items():
            value = getattr(self, key)
            if value is not None and value > limit:
                raise ValueError(f"{key}={value:g} is above {limit:g}, more than any recipe uses")


LIMITS = {"lr": 10.0, "weight_decay": 1.0, "epochs": 100_000, "steps": 10**9, "warmup_epochs": 100_000,
          "batch_size": 1_000_000}
EXPLODED = 100.0  # a loss this many times its first steps' mean has diverged, even if still finite


def path_for_step(space: SearchSpace, seed: int, step: int, pool: list[Arch] | None = None) -> Arch:
    """The path trained at `step`: a pure function of (seed, step), identical on every rank; drawn
    from the space, or uniformly from `pool` when one is given."""
    rng = np.random.default_rng([seed, step, 0x5EED])
    return pool[int(rng.integers(len(pool)))] if pool else space.sample(rng)


def read_path_pool(path: str, space: SearchSpace) -> list[Arch]:
    """The architectures of a path-pool file: a JSON list of architectures (`{"space", "choices"}`
    objects, or choice lists), each checked against the space."""
    try:
        items = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"path pool {path} is not a readable JSON list of architectures ({err})") from None
    if not isinstance(items, list) or not items:
        raise UserError(f"path pool {path} must be a non-empty JSON list of architectures")
    try:
        return [space.parse(item if isinstance(item, dict) else {"space": space.name, "choices": item})
                for item in items]
    except (UserError, ValueError, TypeError, KeyError) as err:
        raise UserError(f"path pool {path}: {err}") from None


def cosine_lr(base: float, step: int, total: int, warmup: int = 0) -> float:
    """Cosine decay from `base` to 0 over `total` steps, after `warmup` steps rising linearly to `base`."""
    if step < warmup:
        return base * (step + 1) / warmup
    return 0.5 * base * (1 + math.cos(math.pi * step / total))


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.SGD:
    """SGD + Nesterov momentum; no weight decay on BN parameters and biases (as SPOS).

    Gradients are set to None between steps, so candidates off the sampled path have no grad and
    SGD skips them: no momentum update and no weight-decay drift.
    """
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.SGD([{"params": decay, "weight_decay": cfg.weight_decay},
                            {"params": no_decay, "weight_decay": 0.0}],
                           lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)


def sgd_step(model: nn.Module, forward: Callable[[torch.Tensor], Any], optimizer: torch.optim.Optimizer,
             loss_fn: TrainingLoss, batch: tuple[torch.Tensor, Any], lr: float, device: torch.device,
             after_backward: Callable[[], None] | None = None, grad_clip: float = 0.0) -> dict[str, float]:
    """One SGD step on `batch` at learning rate `lr`; bf16 autocast on GPU. `loss_fn` is a task's
    training loss: (outputs, targets) -> (loss, {metric: scalar}); returns {"loss", *metrics}.
    `grad_clip` > 0 clips the global norm of the step's gradients (after `after_backward`, which
    averages them across ranks, so every rank clips alike).

    Shared by supernet training (`forward` runs one path) and stand-alone retraining (`nas.training.standalone`).
    """
    x, y = batch
    x, y = x.to(device, non_blocking=True), to_device(y, device)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    for group in optimizer.param_groups:
        group["lr"] = lr
    model.train()
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        outputs = forward(x)
        loss, metrics = loss_fn(outputs, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if after_backward is not None:
        after_backward()
    if grad_clip > 0:
        nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]
                                  if p.grad is not None], grad_clip)
    optimizer.step()
    # One host-device sync per step for all the numbers.
    names = ["loss", *metrics]
    values = torch.stack([loss.detach().float(), *(torch.as_tensor(v, device=loss.device).float()
                                                   for v in metrics.values())]).tolist()
    return dict(zip(names, values))


def to_device(value: Any, device: torch.device) -> Any:
    """Tensors, and lists / tuples / dicts of them (detection targets), moved to `device`."""
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: to_device(v, device) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_device(v, device) for v in value)
    return value


@dataclass
class SupernetTrainer:
    """Owns one training run: model, optimizer, data; `run()` trains to the end, resuming if possible."""

    space: SearchSpace
    supernet: nn.Module
    data: Any  # what the task's load_data returns (ImageData for classification)
    cfg: TrainConfig
    out_dir: Path
    device: torch.device = torch.device("cpu")
    on_step: Callable[[int, int, dict[str, float]], None] | None = None
    task: Task = CLASSIFICATION
    # Data-parallel training (nas.distributed.train): this rank's slice of every global batch, and a
    # hook between backward and the optimizer step that averages gradients across ranks.
    rank: int = 0
    world_size: int = 1
    after_backward: Callable[[], None] | None = None

    def __post_init__(self) -> None:
        self.supernet.to(self.device)
        if self.device.type == "cuda":
            self.supernet.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.supernet, self.cfg)
        self.loader = self.task.train_loader(self.data, self.cfg.batch_size, self.cfg.seed, augment=self.cfg.augment,
                                             rank=self.rank, world_size=self.world_size, device=self.device)
        self.total_steps = self.cfg.steps or self.cfg.epochs * self.loader.steps_per_epoch
        self.warmup_steps = min(self.total_steps, round(self.cfg.warmup_epochs * self.loader.steps_per_epoch))
        self.step = 0
        self.loss_fn = self.task.training_loss(self.cfg.label_smoothing)
        self.pool = read_path_pool(self.cfg.path_pool, self.space) if self.cfg.path_pool else None
        self.average: dict[str, torch.Tensor] | None = None  # running mean of the epoch-end weights
        self.averaged = 0

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.supernet.state_dict(), "optimizer": self.optimizer.state_dict(),
                "step": self.step, "total_steps": self.total_steps, "space": self.space.name,
                "space_config": self.space.config(), "train_config": asdict(self.cfg),
                **({"average": self.average, "averaged": self.averaged} if self.average is not None else {})}

    def resume(self) -> bool:
        """Continue from the run's checkpoint if there is one; True if resumed."""
        state = self.saved_state()
        if state is None:
            return False
        self.supernet.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        if state.get("average") is not None:
            self.average, self.averaged = state["average"], int(state["averaged"])
        return True

    def accumulate_average(self) -> None:
        """Fold the current weights into the average if this epoch end lies in the averaged tail;
        at the last step, the supernet takes the average."""
        if not self.cfg.average_last or self.step <= self.total_steps * (1 - self.cfg.average_last):
            return
        current = {k: v.detach() for k, v in self.supernet.state_dict().items() if v.is_floating_point()}
        if self.average is None:
            self.average, self.averaged = {k: v.clone() for k, v in current.items()}, 1
        else:
            self.averaged += 1
            for key, value in current.items():
                self.average[key].add_(value - self.average[key], alpha=1 / self.averaged)
        if self.step == self.total_steps:
            self.supernet.load_state_dict(self.average, strict=False)

    def train_step(self, step: int) -> dict[str, float]:
        arch = path_for_step(self.space, self.cfg.seed, step, self.pool)
        return sgd_step(self.supernet, lambda x: self.supernet(x, arch), self.optimizer, self.loss_fn,
                        self.loader.batch(step), cosine_lr(self.cfg.lr, step, self.total_steps, self.warmup_steps),
                        self.device, self.after_backward, self.cfg.grad_clip)

    # ---- what data-parallel training (nas.distributed.train) replaces --------------------------------
    def saved_state(self) -> dict[str, Any] | None:
        """The checkpoint to resume from, or None to start afresh."""
        return load_checkpoint(self.checkpoint_path) if self.checkpoint_path.exists() else None

    def combine(self, step: int, metrics: dict[str, float]) -> dict[str, float]:
        """The step's metrics as logged (one process: its own; ranks: averaged across ranks)."""
        return metrics

    def checkpoint(self, summary: dict[str, float], epoch_end: bool) -> None:
        save_checkpoint(self.state_dict(), self.checkpoint_path)

    # ---- the loop ---------------------------------------------------------------------------------
    def run(self) -> dict[str, float]:
        """Train until `total_steps`; checkpoint each epoch (and every `checkpoint_every` steps);
        append each epoch's mean metrics to training.jsonl (rank 0 only)."""
        self.resume()
        log_path = self.out_dir / "training.jsonl"
        spe = self.loader.steps_per_epoch
        window: list[dict[str, float]] = []
        started = time.perf_counter()
        scalars: ScalarLog | None = None  # TensorBoard view of training.jsonl, opened at the first epoch
        first: list[float] = []  # this run's first losses: what "exploded" is measured against
        while self.step < self.total_steps:
            metrics = self.combine(self.step, self.train_step(self.step))
            if len(first) < 10 and math.isfinite(metrics["loss"]):
                first.append(metrics["loss"])
            reference = max(float(np.mean(first)), 1e-3) if first else math.inf
            if not math.isfinite(metrics["loss"]) or metrics["loss"] > EXPLODED * reference:
                guards = [f"--lr {self.cfg.lr / 5:g} (now {self.cfg.lr:g})"]
                if not self.cfg.warmup_epochs:
                    guards.append("--warmup-epochs 1")
                if not self.cfg.grad_clip:
                    guards.append("--grad-clip 35")
                rose = ("" if not math.isfinite(metrics["loss"])
                        else f" ({metrics['loss'] / reference:.0f} times the mean of its first steps)")
                raise UserError(f"training diverged: the loss is {metrics['loss']:.6g} at step {self.step}{rose}; "
                                f"try {', '.join(guards)}")
            self.step += 1
            window.append(metrics)
            if self.on_step:
                self.on_step(self.step, self.total_steps, metrics)
            epoch_end = self.step % spe == 0 or self.step == self.total_steps
            if epoch_end or (self.cfg.checkpoint_every and self.step % self.cfg.checkpoint_every == 0):
                summary = {"step": self.step, "epoch": math.ceil(self.step / spe),
                           **{k: float(np.mean([m[k] for m in window])) for k in window[0]},
                           "seconds": time.perf_counter() - started}
                if epoch_end:
                    self.accumulate_average()
                self.checkpoint(summary, epoch_end)
                if epoch_end:
                    if self.rank == 0:
                        with open(log_path, "a") as f:
                            f.write(json.dumps(summary) + "\n")
                        scalars = scalars or ScalarLog(self.out_dir)
                        scalars.add_all("supernet", {k: v for k, v in summary.items() if k not in ("step", "epoch")},
                                        self.step)
                    window = []
        if scalars is not None:
            scalars.close()
        return read_training_log(log_path)[-1] if log_path.exists() else {}


def read_training_log(path: Path) -> list[dict[str, float]]:
    lines = Path(path).read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]
