"""A retraining run: several architectures trained stand-alone (`nas.training.standalone`), one Ray Tune
trial each (`nas.distributed.tune`), resumable; results appended to `retrain.jsonl`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nas.archive import RecordWriter, RunDir, make_record, read_records
from nas_common.errors import UserError
from nas.data import DataConfig, data_config_from_dict
from nas.supernet.train import TrainConfig
from nas.tasks import get_task
from nas_common.objective import Objective
from search_spaces.arch import Arch

RECORDS_NAME = "retrain.jsonl"


# ---- a retraining run: several architectures, one Ray Tune trial each --------------------------------
@dataclass(frozen=True)
class RetrainJob:
    """What a retraining run trains: architectures of one space, on one data split, with one recipe."""

    space: str
    space_options: dict[str, Any]
    data: DataConfig
    train: TrainConfig
    archs: tuple[Arch, ...]
    test: bool = False  # also score the test split at the end (reported apart from the objective)
    extra: dict[str, Any] = field(default_factory=dict)  # saved with the config (e.g. rank-check settings)

    @property
    def objective(self) -> Objective:
        """The objective of the data's task (val_acc for classification, val_mAP for detection)."""
        return get_task(self.data.task).objective

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
        return cls(config["space"], dict(config["space_config"]), data_config_from_dict(config["data"]),
                   TrainConfig(**config["train"]), tuple(Arch.from_dict(a) for a in config["archs"]),
                   bool(config.get("test", False)), {k: v for k, v in config.items() if k not in known})


def open_or_create(out: Path, job: Any, resume: bool, from_config: Any = None, what: str = "retraining") -> tuple[RunDir, Any]:
    """A new run in `out` for `job`, or (`resume`) the run already there with its saved job
    (`from_config` reads it back: `RetrainJob.from_config` unless another kind of run is meant)."""
    out = Path(out)
    from_config = from_config or RetrainJob.from_config
    if resume:
        if not (out / "config.json").is_file():
            raise UserError(f"--resume: {out} holds no {what} run; drop --resume to start one there")
        run = RunDir.open(out).lock()
        saved = from_config(run.read_config())
        if job is not None and job.config() != saved.config():
            raise UserError(f"{out} was started with other architectures or settings; repeat only --out with "
                            "--resume, or choose another --out")
        return run, saved
    if job is None:
        raise UserError("nothing to run: give the architectures, or --resume an existing run")
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
            if outcome.error is not None or job.objective.metric not in outcome.metrics:
                failed.append(f"{outcome.arch} ({outcome.error or 'no result'})")
            elif outcome.arch.hash not in done:  # a resumed run records each architecture once
                writer.append(_record(outcome, len(done), job.train.epochs, job.objective.metric))
                done.add(outcome.arch.hash)
    if failed:
        raise UserError(f"{len(failed)} of {len(outcomes)} retraining trials failed: {'; '.join(failed)}; "
                        f"rerun with --out {run.path} --resume to retry them")
    return read_records(records_path(run))


def _record(outcome: Any, step: int, epochs: int, metric: str) -> dict[str, Any]:
    """The task's figures of the last epoch (val_*, train_*, test_*) and the objective per epoch
    (`val_acc_per_epoch` for classification, `val_mAP_per_epoch` for detection)."""
    m = outcome.metrics
    metrics = {k: float(v) for k, v in m.items() if k.split("_")[0] in ("val", "train", "test")
               and isinstance(v, (int, float)) and math.isfinite(v)}
    return make_record(outcome.arch, metrics, flops=m["flops"], params=m["params"], step=step,
                       wall_s=m.get("time_total_s", 0.0), epochs=epochs, kind="standalone",
                       **{f"{metric}_per_epoch": outcome.objective_per_epoch})
