"""Train a supernet into a run directory, or resume the training found there."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from nas_common.progress import progress
from nas.archive.run_dir import RunDir
from nas.data import data_config_from_dict
from nas_common.errors import UserError
from nas_common.registry import SPACES
from nas.data import DataConfig, DetectionDataConfig
from nas.supernet.backbone import load_backbone
from nas.supernet.loading import make_space
from nas.tasks import get_task
from nas.supernet.train import SupernetTrainer, TrainConfig
from search_spaces.protocol import OneShotLoadable, SearchSpace


def supernet_run_config(space_name: str, space_config: dict, data: DataConfig | DetectionDataConfig,
                        train: TrainConfig, extra: dict | None = None) -> dict:
    return {"kind": "supernet", "space": space_name, "space_config": space_config,
            "data": asdict(data), "train": asdict(train), "task": data.task, **(extra or {})}


def train_into(out: Path, space_name: str, space_opts: dict, data_cfg: DataConfig | DetectionDataConfig,
               train_cfg: TrainConfig, device: torch.device, quiet: bool = False,
               trainer: Callable[..., SupernetTrainer] = SupernetTrainer, extra: dict | None = None,
               label: str = "supernet") -> dict:
    """Train (or resume training) a supernet in `out`; returns the last epoch's log entry.
    `trainer` replaces the single-path trainer (DARTS's bilevel loop: `nas.darts.trainer`), and
    `extra` settings join the run's config so a resume checks them too."""
    task = get_task(data_cfg.task)
    data = data_cfg.load()
    space = make_space(space_name, data, space_opts, task)
    open_supernet_run(out, supernet_run_config(space_name, space.config(), data_cfg, train_cfg, extra))
    supernet = space.supernet(torch.Generator().manual_seed(train_cfg.seed))
    if train_cfg.backbone:  # a resumed run then loads its checkpoint over it
        load_backbone(supernet, train_cfg.backbone, space)
    if train_cfg.init_from:
        load_initial_weights(supernet, train_cfg.init_from, space_name)
    trainer = trainer(space, supernet, data, train_cfg, out, device, task=task)
    resumed = trainer.resume()
    if resumed and not quiet:
        print(f"resuming {out} from step {trainer.step}/{trainer.total_steps}", file=sys.stderr, flush=True)
    # opened after the resume, at the step it resumes from: the bar neither jumps nor counts the
    # restored steps as done in no time
    bar = progress(total=trainer.total_steps, initial=trainer.step, desc=label, unit="step", disable=quiet,
                   dynamic_ncols=True)

    def on_step(step: int, total: int, metrics: dict[str, float]) -> None:
        bar.update(1)
        bar.set_postfix({k: f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}" for k, v in metrics.items()})

    trainer.on_step = on_step
    try:
        return trainer.run()
    finally:
        bar.close()


def open_supernet_run(out: Path, config: dict, hint: str = "") -> RunDir:
    """Create the run directory, or reopen it to resume when its saved settings equal `config`."""
    if not (out / "config.json").exists():
        return RunDir.create(out, config)
    run = RunDir.open(out).lock()
    previous = run.read_config()
    previous.setdefault("task", "classification")  # runs written before tasks existed
    if isinstance(previous.get("train"), dict):  # settings added since have their defaults
        previous["train"] = {**asdict(TrainConfig()), **previous["train"]}
    if isinstance(previous.get("data"), dict):
        try:
            previous["data"] = asdict(data_config_from_dict(previous["data"]))
        except UserError:
            pass  # malformed: the comparison below refuses it
    if isinstance(previous.get("space_config"), dict) and previous.get("space") in SPACES:
        previous["space_config"] = SPACES.get(previous["space"]).upgrade_config(previous["space_config"])
    if {k: previous.get(k) for k in config} != config:
        raise UserError(f"{out} holds a run with other settings; choose another --out "
                        f"(or repeat the original options{hint} to resume it)")
    return run


def load_initial_weights(supernet: torch.nn.Module, run_dir: str, space_name: str) -> None:
    """Start `supernet` from the weights of the supernet run in `run_dir` (same space and options
    apart from the split): loaded as they are, or copied into every sub-supernet of a few-shot
    supernet (`load_one_shot`)."""
    from nas.supernet.checkpoint import CHECKPOINT_NAME, load_checkpoint
    from nas.supernet.loading import read_supernet_config

    source = read_supernet_config(run_dir)
    if source.get("space") != space_name:
        raise UserError(f"--init-from {run_dir} holds a {source.get('space')} supernet, not {space_name}")
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.exists():
        raise UserError(f"--init-from {run_dir} has no {CHECKPOINT_NAME}; train that supernet first")
    state = load_checkpoint(path)["model"]
    try:
        if isinstance(supernet, OneShotLoadable):
            supernet.load_one_shot(state)
        else:
            supernet.load_state_dict(state)
    except RuntimeError:
        raise UserError(f"--init-from {run_dir}: its supernet does not fit this one (other width, cells or "
                        "sharing); train from a run of the same space options") from None


@dataclass(frozen=True)
class BackbonePretraining:
    """DetNAS step 1 inside a search: train the backbone as a classification supernet on `data`
    (a `DataConfig` dict) with `train` (a `TrainConfig` dict), in `<run>/backbone`, then start the
    detection supernet from it. Saved in the search's config.json, so a resumed run continues it."""

    data: dict[str, Any]
    train: dict[str, Any]

    def run(self, out: Path, space: SearchSpace, device: torch.device, quiet: bool) -> Path:
        """Train (or resume) the classification backbone supernet of `space` in `out`."""
        backbone = space.classification_backbone
        if backbone is None:
            raise UserError(f"space {space.name!r} has no backbone to pre-train; drop the backbone pre-training")
        name, options = backbone()
        train_into(out, name, options, DataConfig(**self.data), TrainConfig(**self.train), device, quiet)
        return out
