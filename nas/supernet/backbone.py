"""Backbone weights for a detection supernet from an earlier run (DetNAS step 1, NAS-FPN's fixed backbone).

DetNAS pre-trains the backbone supernet on ImageNet classification, then fine-tunes the whole
detector supernet. A composed supernet (`search_spaces.composition.ComposedSupernet`) names its
backbone `backbone`, and the backbone is the classification space's supernet without its
classifier, so a run's tensors load by name: every backbone tensor must be found with the same
shape (the same layout, width and weight sharing); the classifier's are left out.

The source run is any of: a classification supernet run (step 1), a detection supernet run (its
`backbone.` tensors), or a search run (its supernet; a DetNAS search also names the backbone it
found, `searched_backbone`). A space whose backbone is one fixed architecture (`nasfpn`) holds a
stand-alone net, not a supernet: the source's tensors then fill a backbone supernet of the same
configuration and the fixed architecture's path is copied out of it (`path_state`), so a NAS-FPN
search starts from the weights DetNAS trained for exactly that backbone. Anything that does not
fit is one clear error, before training starts.

`nas.supernet.pipeline.BackbonePretraining` is step 1 run by `nas search` itself when no `--backbone` is given: the
space says which classification space its backbone is (`classification_backbone()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.archive.run_dir import RunDir
from nas.archive.summary import ranked
from nas_common.errors import UserError
from nas.supernet.checkpoint import load_checkpoint
from nas.tasks import task_of
from search_spaces.protocol import BackboneHolder, SearchSpace


@dataclass(frozen=True)
class BackboneSource:
    """The backbone tensors of a run (names as in the backbone supernet) and what they came from."""

    run: Path
    space: str
    space_config: dict[str, Any]
    state: dict[str, torch.Tensor]


def backbone_source(run_dir: str | Path) -> BackboneSource:
    """The backbone tensors of a supernet run or of a search run's supernet."""
    from nas.supernet.loading import supernet_dir_of, supernet_location

    run = RunDir.open(run_dir)
    config = run.read_config()
    supernet_dir = supernet_dir_of(run, config)
    if supernet_dir is None:
        raise UserError(f"--backbone {run_dir}: that search used no supernet (a table search); pass a supernet run")
    if supernet_dir != run.path:
        return backbone_source(supernet_dir)
    state = load_checkpoint(supernet_location(run.path, config))["model"]
    prefix = task_of(config).backbone_prefix  # a detector: its backbone part
    state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    return BackboneSource(run.path, config.get("space", "?"), config.get("space_config", {}), state)


def searched_backbone(run_dir: str | Path) -> tuple[int, ...] | None:
    """The backbone choices of the best architecture of a search run whose space searches a
    backbone (`detnas`, alone or with `neck=nasfpn`); None for any other run."""
    from nas_common.registry import SPACES

    run = RunDir.open(run_dir)
    config = run.read_config()
    if config.get("kind") != "search" or not _searches_backbone(config.get("space")):
        return None
    source = backbone_source(run.path)
    records = run.read_records(strict=False)
    if not records:
        raise UserError(f"--backbone {run_dir}: the search has not evaluated an architecture yet")
    factory = SPACES.get(config["space"])
    space = factory(**factory.upgrade_config(source.space_config))
    choices, _ = space.split(space.parse(ranked(records, run.objective())[0]["arch"]))
    return tuple(choices)


def _searches_backbone(space: Any) -> bool:
    """Whether a run's space searches a backbone it pre-trains as a classifier (DetNAS; declared by
    `classification_backbone`)."""
    from nas_common.registry import SPACES

    return isinstance(space, str) and space in SPACES and SPACES.get(space).classification_backbone is not None


def load_backbone(supernet: nn.Module, run_dir: str | Path, space: SearchSpace) -> int:
    """Copy a run's backbone tensors into `supernet.backbone`; returns how many tensors were set.
    A fixed backbone (`space.backbone_arch`) gets its path out of the run's backbone supernet."""
    if not isinstance(supernet, BackboneHolder):
        raise UserError("--backbone applies to detection spaces, whose supernet has a backbone (e.g. detnas)")
    source = backbone_source(run_dir)
    target = space.backbone_supernet() if space.fixed_backbone else supernet.backbone
    wanted = target.state_dict()
    missing = [k for k in wanted if k not in source.state]
    wrong = [k for k in wanted if k in source.state and source.state[k].shape != wanted[k].shape]
    if missing or wrong:
        what = (f"lacks {missing[0]}" if missing else f"has {wrong[0]} of shape "
                f"{tuple(source.state[wrong[0]].shape)}, not {tuple(wanted[wrong[0]].shape)}")
        raise UserError(f"--backbone {run_dir} ({source.space} {source.space_config}) does not fit this "
                        f"backbone: it {what}; train it with the same layout (stage_repeats, stage_widths, "
                        f"stem_channels), width and sharing")
    with torch.no_grad():
        for key, value in wanted.items():
            value.copy_(source.state[key])
        if space.fixed_backbone:
            path = target.path_state(space.backbone_arch)
            for key, value in supernet.backbone.state_dict().items():
                value.copy_(path[key])
    return len(supernet.backbone.state_dict())


def adopted_backbone(run: str | Path, space: str, keep_width: bool = True) -> dict[str, Any]:
    """The space options a space with a fixed backbone (`nasfpn`) takes from the backbone run `run`:
    a DetNAS run's backbone configuration (layout, sharing and, with `keep_width`, width) and, from
    a DetNAS search, the backbone of its best architecture. {} for a space whose backbone is searched.
    `--width` and `-S` still override what is adopted."""
    from nas_common.registry import SPACES

    if not SPACES.get(space).fixed_backbone:
        return {}
    source = backbone_source(run)
    adopted: dict[str, Any] = {}
    if _searches_backbone(source.space):
        adopted = {k: source.space_config[k] for k in ("layout", "width", "sharing") if k in source.space_config}
        if not keep_width:
            adopted.pop("width", None)
    searched = searched_backbone(run)
    if searched is not None:
        adopted["backbone_arch"] = list(searched)
    return adopted
