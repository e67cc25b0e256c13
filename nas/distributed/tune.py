"""Stand-alone retraining of several architectures as parallel Ray Tune trials, one per architecture.

The experiment is a grid over trials (`tune.grid_search`): an architecture, and space options on top
of the job's (a compound-scaled family trains each member in its own scaled space), each with its own
resources (`tune.with_resources`: one CPU, plus GPUs when asked). A trial reports its validation
accuracy after every epoch together with a checkpoint of its trainer, so a stopped experiment is
continued with `Tuner.restore`: finished trials are kept as they are, unfinished or failed ones go
on from their last epoch. The experiment lives in `<run>/tune/<experiment>/` (`retrain` by default).

Needs a connected Ray (`cluster.connect`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from ray import tune
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from nas.archive.scalars import ScalarLog
from nas.training.standalone import StandaloneTrainer
from nas.data import data_config_from_dict
from nas.supernet.loading import make_space
from nas.tasks import get_task
from nas.supernet.train import TrainConfig
from search_spaces.arch import Arch

EXPERIMENT = "retrain"
_STATE = "trainer.pt"


@dataclass(frozen=True)
class TrialSpec:
    """One trial of an experiment: a name (its folder), an architecture, and space options that
    replace the job's (empty: the job's space)."""

    name: str
    arch: Arch
    space_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_arch(cls, arch: Arch) -> "TrialSpec":
        return cls(f"arch_{arch.hash}", arch)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "arch": self.arch.to_json(), "space_options": dict(self.space_options)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TrialSpec":
        if "trial" not in config:  # experiments saved before trials had names: a grid over "arch" alone
            return cls.of_arch(Arch.from_json(config["arch"]))
        trial = config["trial"]
        return cls(trial["name"], Arch.from_json(trial["arch"]), dict(trial.get("space_options") or {}))


@dataclass
class TrialOutcome:
    """What one trial left: its last reported metrics, the objective (val_acc, val_mAP, ...) per epoch,
    or the error that stopped it."""

    arch: Arch
    metrics: dict[str, Any]
    objective_per_epoch: list[float]
    error: str | None = None
    name: str = ""


def retrain_trial(config: dict[str, Any]) -> None:
    """The Tune trainable: train the trial's architecture from scratch, one report (+ checkpoint) per epoch."""
    torch.set_num_threads(config["threads"])  # one per CPU Ray gave the trial: no oversubscription
    device = torch.device("cuda" if config["gpu"] and torch.cuda.is_available() else "cpu")
    job = config["job"]
    data_config = data_config_from_dict(job["data"])
    task = get_task(data_config.task)
    data = data_config.load()
    spec = TrialSpec.from_config(config)
    space = make_space(job["space"], data, {**job["space_options"], **spec.space_options}, task)
    arch = spec.arch
    trainer = StandaloneTrainer(space, arch, data, TrainConfig(**job["train"]), device, task=task)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:  # a restored or retried trial goes on from its last epoch
        with checkpoint.as_directory() as folder:
            trainer.load_state_dict(torch.load(Path(folder) / _STATE, map_location=device, weights_only=True))
    cost = {"flops": space.flops(arch), "params": space.params(arch)}
    while trainer.epoch < trainer.cfg.epochs:
        metrics = {**trainer.train_epoch(), **trainer.accuracy("val")}
        metrics.update(epoch=trainer.epoch, **cost)
        if job["test"] and trainer.epoch == trainer.cfg.epochs:
            metrics.update(trainer.accuracy("test"))  # once, at the end: never a training signal
        with tempfile.TemporaryDirectory() as folder:
            torch.save(trainer.state_dict(), Path(folder) / _STATE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def trial_dirname(trial: Any) -> str:
    """Trial folders named by the trial's name (Tune's default name would spell out the config)."""
    return TrialSpec.from_config(trial.config).name


class EpochProgress(tune.Callback):
    """One line per trial per epoch on stderr (instead of Ray Tune's status tables), and the
    trial's figures as TensorBoard scalars in `<run>/tensorboard/<arch hash>/`."""

    def __init__(self, run_dir: Path, epochs: int, metric: str, label: str = "retrain") -> None:
        self.run_dir, self.epochs, self.metric, self.label = run_dir, epochs, metric, label
        self.logs: dict[str, ScalarLog] = {}

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        name = trial_dirname(trial)
        epoch = int(result.get("epoch", result.get("training_iteration", 0)))
        value = result.get(self.metric)
        shown = f"{value:.2f}" if isinstance(value, (int, float)) else "-"
        print(f"{self.label} {name}: epoch {epoch}/{self.epochs}  {self.metric} {shown}  "
              f"train_loss {result.get('train_loss', float('nan')):.3f}", file=sys.stderr, flush=True)
        log = self.logs.setdefault(name, ScalarLog(self.run_dir, name))
        log.add_all(self.label, {k: v for k, v in result.items() if k.split("_")[0] in ("train", "val", "test")},
                    epoch)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for log in self.logs.values():
            log.close()


def run_trials(storage: Path, job: dict[str, Any], trials: list[TrialSpec | Arch], *, workers: int,
               gpus_per_worker: float, resume: bool = False, max_failures: int = 1, experiment: str = EXPERIMENT,
               trainable: Callable[[dict[str, Any]], None] = retrain_trial) -> list[TrialOutcome]:
    """Run (or, with `resume`, restore and finish) the experiment in `storage`/`experiment`: one
    trial per `trials` entry (a bare architecture is a trial named by its hash, in the job's space).

    `job` holds the JSON-able settings every trial shares: space, space_options, data, train
    (dataclass dicts) and test. `workers` trials run at a time. A trial that fails is retried
    `max_failures` times from its last checkpoint before it is reported as failed.
    `trainable` is replaceable for tests (fault injection); it must behave like `retrain_trial`.
    """
    # Ray Tune's own reporting (status tables, a TensorBoard hint into /tmp/ray) is replaced by
    # EpochProgress (which writes the TensorBoard scalars into the run); its JSON/CSV per-trial
    # logs stay (result.json, progress.csv). The variables are read when the experiment starts.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")  # one per epoch is meant
    storage = Path(storage).resolve()
    path = storage / experiment
    metric = get_task(data_config_from_dict(job["data"]).task).objective.metric
    progress = EpochProgress(storage.parent, int(job["train"].get("epochs") or 0), metric, experiment)
    specs = [t if isinstance(t, TrialSpec) else TrialSpec.of_arch(t) for t in trials]
    resources = tune.with_resources(trainable, {"cpu": 1, "gpu": gpus_per_worker})
    if resume and tune.Tuner.can_restore(str(path)):
        # The grid, resources per trial and concurrency are those saved with the experiment.
        tuner = tune.Tuner.restore(str(path), resources, resume_unfinished=True, resume_errored=True)
    else:
        tuner = tune.Tuner(
            resources,
            param_space={"trial": tune.grid_search([t.to_config() for t in specs]), "job": job,
                         "threads": 1, "gpu": gpus_per_worker > 0},
            tune_config=tune.TuneConfig(max_concurrent_trials=workers, trial_dirname_creator=trial_dirname, reuse_actors=True,
                                        trial_name_creator=trial_dirname),
            run_config=tune.RunConfig(name=experiment, storage_path=str(storage), verbose=0,
                                      callbacks=[progress, JsonLoggerCallback(), CSVLoggerCallback()],
                                      failure_config=tune.FailureConfig(max_failures=max_failures),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    return [_outcome(result, metric) for result in tuner.fit()]


def _outcome(result: Any, metric: str) -> TrialOutcome:
    spec = TrialSpec.from_config(result.config)
    frame = result.metrics_dataframe
    history = [] if frame is None or metric not in frame else [float(v) for v in frame[metric]]
    error = None if result.error is None else (str(result.error).strip().splitlines() or ["failed"])[-1]
    return TrialOutcome(spec.arch, dict(result.metrics or {}), history, error, spec.name)
