"""From a run directory (or CLI options) to the objects a command needs: data, space, supernet, evaluator.

A supernet run's `config.json` records the data spec, its split seed and the space options, so a
later command (evaluate, search, export) rebuilds exactly the same validation split and network.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from nas.archive.run_dir import RunDir
from nas.data import DataConfig, DetectionDataConfig, data_config_from_dict
from nas_common.errors import UserError
from nas_common.registry import SPACES
from nas.supernet.checkpoint import CHECKPOINT_NAME, load_checkpoint
from nas.tasks import get_task
from nas.tasks.base import Task
from nas.tasks.classification import CLASSIFICATION
from search_spaces.protocol import SearchSpace


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: no CUDA GPU is visible; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"--device {name!r} is not a device; use auto, cpu or cuda[:N]") from None


def make_space(name: str, data: Any, options: dict[str, Any], task: Task = CLASSIFICATION) -> SearchSpace:
    """The space `name` adapted to the data as the task says (classification: input size,
    channels, classes) plus user options."""
    factory = SPACES.get(name)
    if factory.task != task.name:
        raise UserError(f"space {name!r} solves {factory.task}, but the data are {task.name} data")
    try:
        return factory(**{**task.space_options(data), **options})
    except (TypeError, ValueError) as err:
        said = str(err)
        raise UserError(said if said.startswith(f"space {name!r}") else f"space {name!r}: {said}") from None


def space_on_data(name: str, data_config: DataConfig | DetectionDataConfig, options: dict[str, Any]) -> SearchSpace:
    """`make_space` on the data a run config names: loaded, and read by the data's own task."""
    return make_space(name, data_config.load(), options, get_task(data_config.task))


@dataclass
class SupernetRun:
    """A trained supernet with the space and data it was trained on."""

    path: Path
    config: dict[str, Any]
    data_config: DataConfig | DetectionDataConfig
    data: Any  # the task's data (ImageData for classification)
    space: SearchSpace
    supernet: torch.nn.Module
    task: Task  # the data's task, resolved once when the run is loaded


def supernet_location(run_dir: Path, config: dict[str, Any]) -> Path:
    """A search run may reference a supernet trained elsewhere instead of holding a copy."""
    ref = config.get("supernet", {}).get("checkpoint") if isinstance(config.get("supernet"), dict) else None
    return Path(ref) if ref else Path(run_dir) / CHECKPOINT_NAME


def supernet_dir_of(run: RunDir, config: dict[str, Any]) -> Path | None:
    """The supernet run a supernet run or a search run uses (trained into it, or referenced);
    None for a search without a supernet (a lookup-table search)."""
    if config.get("kind") == "supernet":
        return run.path
    if config.get("kind") != "search":
        raise UserError(f"{run.path} is a {config.get('kind', 'unknown')} run; pass a supernet or search run")
    supernet = config.get("supernet")
    if not isinstance(supernet, dict):
        return None
    return Path(supernet["run"]) if supernet.get("run") else run.path / "supernet"


def space_of_run(run_dir: str | Path) -> SearchSpace:
    """A supernet run's space from its config alone (no data, no weights): to check input early."""
    config = read_supernet_config(run_dir)
    try:
        factory = SPACES.get(config["space"])
        return factory(**factory.upgrade_config(config["space_config"]))
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{run_dir}/config.json lacks a valid space entry of a supernet run") from None


def supernet_of(path: str | Path) -> Path:
    """The supernet run that `path` names: itself, or the one a search run trained (`RUN/supernet`)
    or used; a directory that is neither is left for `read_supernet_config` to refuse by name."""
    path = Path(path)
    try:
        config = RunDir.open(path).read_config()
    except UserError:
        return path
    if config.get("kind") == "search":
        found = supernet_dir_of(RunDir.open(path), config)
        if found is None:
            raise UserError(f"{path} is a search run without a supernet (a table or zero-cost search); "
                            "pass a supernet run or a supernet search run")
        return found
    return path


def space_of_search(run: RunDir, config: dict[str, Any]) -> SearchSpace:
    """The space a search run searched, rebuilt with the options it ran with, without loading data:
    its supernet's (trained into it or referenced), else its config's (a table or zero-cost search)."""
    supernet = supernet_dir_of(run, config)
    if supernet is not None and (supernet / "config.json").is_file():
        return space_of_run(supernet)
    factory = SPACES.get(config["space"])
    try:
        return factory(**(config.get("space_options") or {}))
    except (TypeError, ValueError) as err:
        raise UserError(f"{run.path}: space {config['space']!r}: {err}") from None


def read_supernet_config(run_dir: str | Path) -> dict[str, Any]:
    config = RunDir.open(run_dir).read_config()
    if config.get("kind") != "supernet":
        raise UserError(f"{run_dir} is not a supernet run (kind {config.get('kind')!r}); pass a directory "
                        "written by `nas train-supernet`, or a search run's supernet/ subdirectory")
    return config


def load_supernet_run(run_dir: str | Path) -> SupernetRun:
    run_dir = Path(run_dir)
    config = read_supernet_config(run_dir)
    try:
        data_config = data_config_from_dict(config["data"])
        space_name = config["space"]
        space_options = SPACES.get(space_name).upgrade_config(config["space_config"])
    except (KeyError, TypeError):
        raise UserError(f"{run_dir}/config.json lacks the data/space entries of a supernet run") from None
    state = load_checkpoint(supernet_location(run_dir, config))
    if state["space"] != space_name:
        raise UserError(f"checkpoint of space {state['space']!r} does not match the run's space {space_name!r}")
    data, task = data_config.load(), get_task(data_config.task)
    space = make_space(space_name, data, space_options, task)
    supernet = space.supernet()
    try:
        supernet.load_state_dict(state["model"])
    except RuntimeError:
        raise UserError(f"supernet checkpoint in {run_dir} does not fit space {space_name} "
                        f"with options {space_options}") from None
    return SupernetRun(run_dir, config, data_config, data, space, supernet.eval(), task)


def data_config_dict(cfg: DataConfig) -> dict[str, Any]:
    return asdict(cfg)
