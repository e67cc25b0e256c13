"""What a search is asked to be, before presets and checks make it a `SearchConfig`.

A `SearchRequest` holds the settings `nas search` takes, by the names of its flags (`option` is
`-o`, `space_option` is `-S`, `evaluator_option` is `-E`; unset is None). The command line fills one
from its flags, the Python API (`nas.api.search`) from keyword arguments; both hand it to the same
resolution (`nas.config.resolve`), so a search started either way is the same run. The helpers
below read the data and run-path settings of a request (or of any command's parsed flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nas.data import DataConfig, DetectionDataConfig
from nas_common.errors import UserError


@dataclass
class SearchRequest:
    """The settings of a new search (or of a resume), named as `nas search`'s flags."""

    space: str | None = None
    width: float | None = None
    space_option: list[tuple[str, Any]] = field(default_factory=list)
    strategy: str | None = None
    option: list[tuple[str, Any]] = field(default_factory=list)
    supernet: Path | None = None
    evaluator: str | None = None
    evaluator_option: list[tuple[str, Any]] = field(default_factory=list)
    table: Path | None = None
    budget: int | None = None
    max_flops: int | None = None
    max_params: int | None = None
    max_latency: int | None = None
    lut: Path | None = None
    seed: int | None = None
    preset: str | None = None
    random_baseline: int | None = None
    config: Path | None = None
    resume: Path | None = None
    force: bool = False
    data: str | None = None
    val_size: int | float | None = None
    train_limit: int | None = None
    split_seed: int | None = None
    images: str | None = None
    test_data: str | None = None
    image_size: int | None = None
    epochs: int | None = None
    steps: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    warmup_epochs: float | None = None
    checkpoint_every: int | None = None
    grad_clip: float | None = None
    average_last: float | None = None
    augment: str | None = None
    no_augment: bool = False
    path_pool: str | None = None
    init_from: str | None = None
    backbone: str | None = None
    pretrain_steps: int | None = None
    pretrain_data: str | None = None
    calibration_images: int | None = None
    val_images: int | None = None
    confirm_images: int | None = None
    eval_batch_size: int | None = None
    device: str | None = None
    workers: int | str | None = None
    gpus_per_worker: float | None = None
    address: str | None = None

    @classmethod
    def of(cls, namespace: Any) -> "SearchRequest":
        """The request in parsed flags (an argparse namespace holding at least these names)."""
        return cls(**{f.name: getattr(namespace, f.name) for f in fields(cls)})

    @classmethod
    def settings(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


_DATA_FLAGS = {"data": ("spec", "annotations"), "val_size": ("val_size",), "split_seed": ("split_seed",),
               "train_limit": ("train_limit",), "images": ("images",), "test_data": ("test_data",),
               "image_size": ("image_size",)}
DATA_CONFIGS = {cls.task: cls for cls in (DataConfig, DetectionDataConfig)}


def data_config(args: Any, task: str = "classification",
                defaults: dict | None = None) -> DataConfig | DetectionDataConfig:
    """The task's data config from the data flags (unset flags: `defaults`, then the config's
    own defaults); a flag the task's data has no use for is an error that names it."""
    cls = DATA_CONFIGS[task]
    accepted = {f.name for f in fields(cls)}
    values = dict(defaults or {})
    for flag, keys in _DATA_FLAGS.items():
        given = getattr(args, flag, None)
        if given is None:
            continue
        usable = [k for k in keys if k in accepted]
        if not usable:
            raise UserError(f"--{flag.replace('_', '-')} does not apply to {task} data; drop it")
        values[usable[0]] = given
    try:
        return cls(**{k: v for k, v in values.items() if k in accepted})
    except (TypeError, ValueError) as err:
        raise UserError(f"data options: {err}") from None


def path_pool_file(args: Any) -> str | None:
    """--path-pool as an absolute path (the run's config must find it from anywhere)."""
    return str(Path(args.path_pool).resolve()) if getattr(args, "path_pool", None) else None


def init_run(args: Any) -> str | None:
    """--init-from as an absolute path."""
    return str(Path(args.init_from).resolve()) if getattr(args, "init_from", None) else None


def backbone_run(args: Any) -> str | None:
    """--backbone as an absolute path (the run config must stay valid from any directory)."""
    return str(Path(args.backbone).resolve()) if getattr(args, "backbone", None) else None


