"""Step 1 of DetNAS: a supernet's backbone initialised from a classification supernet.

DetNAS pre-trains the backbone supernet on ImageNet classification, then fine-tunes the whole
detector supernet. A composed supernet (`search_spaces.composition.ComposedSupernet`) names its
backbone `backbone`, and the backbone is the classification space's supernet without its
classifier, so the classification run's tensors load by name: every backbone tensor must be
found with the same shape (the same layout, width and weight sharing); the classifier's are left
out. Anything else is one clear error, before training starts.

`BackbonePretraining` is step 1 run by `nas search` itself when no `--backbone` is given: the
space says which classification space its backbone is (`classification_backbone()`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.errors import UserError
from nas.supernet.checkpoint import load_checkpoint
from search_spaces.protocol import SearchSpace


def load_backbone(supernet: nn.Module, run_dir: str | Path) -> int:
    """Copy a trained classification supernet's tensors into `supernet.backbone`; returns how many."""
    from nas.supernet.loading import read_supernet_config, supernet_location

    backbone = getattr(supernet, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise UserError("--backbone applies to detection spaces, whose supernet has a backbone (e.g. detnas)")
    run_dir = Path(run_dir)
    config = read_supernet_config(run_dir)
    state = load_checkpoint(supernet_location(run_dir, config))["model"]
    target = backbone.state_dict()
    missing = [k for k in target if k not in state]
    wrong = [k for k in target if k in state and state[k].shape != target[k].shape]
    if missing or wrong:
        what = (f"lacks {missing[0]}" if missing else
                f"has {wrong[0]} of shape {tuple(state[wrong[0]].shape)}, not {tuple(target[wrong[0]].shape)}")
        raise UserError(f"--backbone {run_dir} ({config.get('space')} {config.get('space_config')}) does not fit this "
                        f"backbone: it {what}; train it with the same stage_repeats, stage_widths, "
                        f"stem_channels, width and sharing")
    with torch.no_grad():
        for key, value in target.items():
            value.copy_(state[key])
    return len(target)


@dataclass(frozen=True)
class BackbonePretraining:
    """DetNAS step 1 inside a search: train the backbone as a classification supernet on `data`
    (a `DataConfig` dict) with `train` (a `TrainConfig` dict), in `<run>/backbone`, then start the
    detection supernet from it. Saved in the search's config.json, so a resumed run continues it."""

    data: dict[str, Any]
    train: dict[str, Any]

    def run(self, out: Path, space: SearchSpace, device: torch.device, quiet: bool) -> Path:
        """Train (or resume) the classification backbone supernet of `space` in `out`."""
        from nas.data import DataConfig
        from nas.supernet.pipeline import train_into
        from nas.supernet.train import TrainConfig

        backbone = getattr(space, "classification_backbone", None)
        if backbone is None:
            raise UserError(f"space {space.name!r} has no backbone to pre-train; drop the backbone pre-training")
        name, options = backbone()
        train_into(out, name, options, DataConfig(**self.data), TrainConfig(**self.train), device, quiet)
        return out
