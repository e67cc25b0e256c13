"""Stand-alone retraining: an architecture built from scratch (`space.build`) and trained alone.

This is the ground truth a one-shot supernet's ranking is checked against (Yu et al. 2020,
"Evaluating the search phase of neural architecture search"; Guo et al. 2019 retrain the SPOS
winner the same way). The recipe is the supernet's: SGD + Nesterov, cosine learning rate, label
smoothing, crop/flip augmentation, and the same training step (`sgd_step`), so only the weight
sharing differs. Accuracy is measured on the validation split after every epoch; the test split is
scored once at the end, only when asked, and kept apart.

The trainer's state (model, optimizer, epoch) is a plain dict, so a Ray Tune trial can checkpoint
it each epoch and continue after a restore (`nas.distributed.tune`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nas.archive import RecordWriter, RunDir, make_record, read_records
from nas.data import ImageData, TrainLoader, eval_batches
from nas.errors import UserError
from nas.supernet.loading import DataConfig
from nas.supernet.train import TrainConfig, cosine_lr, make_optimizer, sgd_step
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace

RECORDS_NAME = "retrain.jsonl"


class StandaloneTrainer:
    """One architecture trained from scratch for `cfg.epochs` epochs (`cfg.steps` is not used)."""

    def __init__(self, space: SearchSpace, arch: Arch, data: ImageData, cfg: TrainConfig,
                 device: torch.device = torch.device("cpu"), eval_batch_size: int = 256) -> None:
        if cfg.steps is not None:
            raise ValueError("retraining counts whole epochs; leave TrainConfig.steps unset")
        self.arch, self.data, self.cfg, self.device = space.validate(arch), data, cfg, device
        self.eval_batch_size = eval_batch_size
        self.model = space.build(arch, torch.Generator().manual_seed(cfg.seed)).to(device)
        if device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)
        self.optimizer = make_optimizer(self.model, cfg)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self.loader = TrainLoader(data, cfg.batch_size, cfg.seed, augment=cfg.augment, device=device)
        self.total_steps = cfg.epochs * self.loader.steps_per_epoch
        self.epoch = 0  # epochs completed

    def train_epoch(self) -> dict[str, float]:
        """One more epoch; mean training loss and accuracy (percent) over its steps."""
        spe = self.loader.steps_per_epoch
        metrics = []
        for step in range(self.epoch * spe, (self.epoch + 1) * spe):
            metrics.append(sgd_step(self.model, self.model, self.optimizer, self.criterion, self.loader.batch(step),
                                    cosine_lr(self.cfg.lr, step, self.total_steps), self.device))
        self.epoch += 1
        return {"train_loss": float(np.mean([m["loss"] for m in metrics])),
                "train_acc": float(np.mean([m["acc"] for m in metrics]))}

    @torch.no_grad()
    def accuracy(self, split: str = "val") -> dict[str, float]:
        """{"<split>_acc" (percent), "<split>_loss"} on the whole "val" or "test" split (NaN if empty)."""
        x, y = (self.data.x_val, self.data.y_val) if split == "val" else (self.data.x_test, self.data.y_test)
        if len(x) == 0:
            return {f"{split}_acc": math.nan, f"{split}_loss": math.nan}
        self.model.eval()
        correct, loss = 0, 0.0
        for xb, yb in eval_batches(x, y, self.eval_batch_size, self.data.mean, self.data.std):
            xb, yb = xb.to(self.device), yb.to(self.device)
            logits = self.model(xb).float()
            loss += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(1) == yb).sum().item()
        return {f"{split}_acc": 100.0 * correct / len(x), f"{split}_loss": loss / len(x)}

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "epoch": self.epoch,
                "arch": self.arch.to_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if Arch.from_dict(state["arch"]) != self.arch:
            raise ValueError(f"checkpoint of {state['arch']} does not belong to {self.arch}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])


# ---- a retraining run: several architectures, one Ray Tune trial each --------------------------------
@dataclass(frozen=True)
class RetrainJob:
    """What a retraining run trains: architectures of one space, on one data split, with one recipe."""

    space: str
    space_options: dict[str, Any]
    data: DataConfig
    train: TrainConfig
    archs: tuple[Arch, ...]
    test: bool = False  # also score the test split at the end (reported apart from val_acc)
    extra: dict[str, Any] = field(default_factory=dict)  # saved with the config (e.g. rank-check settings)

    def __post_init__(self) -> None:
        if not self.archs:
            raise UserError("no architecture to retrain; give --arch (repeatable) or --run with --top")
        if self.train.steps is not None:
            raise UserError("retraining counts whole epochs; use --epochs")
        other = {a.space for a in self.archs} - {self.space}
        if other:
            raise UserError(f"architectures of space {sorted(other)} cannot be retrained in space {self.space!r}; "
                            "retrain one space per run")

    def config(self) -> dict[str, Any]:
        """config.json of the run (the grid is saved, so --resume needs no option but --out)."""
        return {"kind": "retrain", "space": self.space, "space_config": self.space_options,
                "data": asdict(self.data), "train": asdict(self.train), "test": self.test,
                "archs": [a.to_dict() for a in self.archs], **self.extra}

    def trial_settings(self) -> dict[str, Any]:
        """The JSON-able settings every trial shares."""
        return {"space": self.space, "space_options": self.space_options, "data": asdict(self.data),
                "train": asdict(self.train), "test": self.test}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "RetrainJob":
        if config.get("kind") != "retrain":
            raise UserError(f"not a retraining run (kind {config.get('kind')!r}); pass a directory written by "
                            "`nas retrain` or `nas rank-check`")
        known = {"kind", "space", "space_config", "data", "train", "test", "archs", "provenance"}
        return cls(config["space"], dict(config["space_config"]), DataConfig(**config["data"]),
                   TrainConfig(**config["train"]), tuple(Arch.from_dict(a) for a in config["archs"]),
                   bool(config.get("test", False)), {k: v for k, v in config.items() if k not in known})


def open_or_create(out: Path, job: RetrainJob | None, resume: bool) -> tuple[RunDir, RetrainJob]:
    """A new run in `out` for `job`, or (`resume`) the run already there with its saved job."""
    out = Path(out)
    if resume:
        if not (out / "config.json").is_file():
            raise UserError(f"--resume: {out} holds no retraining run; drop --resume to start one there")
        run = RunDir.open(out)
        saved = RetrainJob.from_config(run.read_config())
        if job is not None and job.config() != saved.config():
            raise UserError(f"{out} was started with other architectures or settings; repeat only --out with "
                            "--resume, or choose another --out")
        return run, saved
    if job is None:
        raise UserError("nothing to retrain: give --arch or --run, or --resume an existing run")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not empty; add --resume to continue the run there, "
                        "or choose another --out")
    return RunDir.create(out, job.config()), job


def records_path(run: RunDir) -> Path:
    return run.path / RECORDS_NAME


def retrain(out: Path, job: RetrainJob | None, *, resume: bool = False, workers: int | str = "auto",
            gpus_per_worker: float | None = None, address: str | None = None, max_failures: int = 1,
            trainable: Any = None) -> list[dict[str, Any]]:
    """Retrain every architecture of `job` as a Ray Tune trial; records (one per architecture) are
    appended to `<out>/retrain.jsonl`, which is returned in full. Failed trials raise a `UserError`
    after the others are recorded; `resume=True` retries them and skips the finished ones."""
    from nas.distributed.cluster import check_request, connect, resolve_workers
    from nas.distributed.tune import retrain_trial, run_trials

    check_request(workers, gpus_per_worker, address)
    run, job = open_or_create(out, job, resume)
    with connect(address):
        count, gpus = resolve_workers(workers, gpus_per_worker)
        outcomes = run_trials(run.path / "tune", job.trial_settings(), list(job.archs), workers=count,
                              gpus_per_worker=gpus, resume=resume, max_failures=max_failures,
                              trainable=trainable or retrain_trial)
    done = {r["arch_hash"] for r in read_records(records_path(run), missing_ok=True)}
    failed = []
    with RecordWriter(records_path(run)) as writer:
        for outcome in outcomes:
            if outcome.error is not None or "val_acc" not in outcome.metrics:
                failed.append(f"{outcome.arch} ({outcome.error or 'no result'})")
            elif outcome.arch.hash not in done:  # a resumed run records each architecture once
                writer.append(_record(outcome, len(done), job.train.epochs))
                done.add(outcome.arch.hash)
    if failed:
        raise UserError(f"{len(failed)} of {len(outcomes)} retraining trials failed: {'; '.join(failed)}; "
                        f"rerun with --out {run.path} --resume to retry them")
    return read_records(records_path(run))


def _record(outcome: Any, step: int, epochs: int) -> dict[str, Any]:
    m = outcome.metrics
    metrics = {k: m[k] for k in ("val_acc", "val_loss", "train_loss", "train_acc", "test_acc", "test_loss") if k in m}
    return make_record(outcome.arch, metrics, flops=m["flops"], params=m["params"], step=step,
                       wall_s=m.get("time_total_s", 0.0), epochs=epochs, kind="standalone",
                       val_acc_per_epoch=outcome.val_acc_per_epoch)
