"""Exported networks: the stand-alone net of one architecture with its supernet weights and
recalibrated BN statistics, in a file plain PyTorch loads (`torch.load(..., weights_only=True)`).

File layout (a dict): `format` ("nas-export/1"), `space`, `space_config`, `arch` (its JSON dict),
`state_dict`, `metrics` (what the search measured) and `preprocessing` (input size, mean/std,
resizing, class names: the task's `preprocessing`). `load_exported` rebuilds the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.archive import save_torch_atomic, write_json_atomic
from nas.errors import UserError
from nas.registry import SPACES
from search_spaces.arch import Arch

FORMAT = "nas-export/1"


def export_model(path: str | Path, *, space, arch: Arch, model: nn.Module, metrics: dict[str, Any],
                 preprocessing: dict[str, Any] | None = None) -> Path:
    """Write the model file and `<path>.arch.json` beside it; returns the JSON's path.
    `preprocessing` (the task's: input size, mean/std, resizing, class names) is stored with the
    weights, so the file alone says how to run the network on new images."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "space": space.name, "space_config": space.config(), "arch": arch.to_dict(),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "metrics": {k: float(v) for k, v in metrics.items()}, "preprocessing": preprocessing or {}}
    save_torch_atomic(state, path)
    arch_path = path.with_suffix(".arch.json")
    write_json_atomic(arch_path, {**arch.to_dict(), "hash": arch.hash,
                                  "describe": [f"{label}={option}" for label, option in space.describe(arch)]})
    return arch_path


def load_exported(path: str | Path) -> tuple[nn.Module, Arch, dict[str, Any]]:
    """(model in eval mode, architecture, the export's metadata)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"no exported model at {path}") from None
    except Exception as err:  # damaged files raise many types
        raise UserError(f"{path} is not a readable exported model ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not a nas export (format {FORMAT})")
    factory = SPACES.get(state["space"])
    space = factory(**factory.upgrade_config(state["space_config"]))
    arch = space.parse(state["arch"])
    model = space.build(arch)
    model.load_state_dict(state["state_dict"])
    return model.eval(), arch, {k: v for k, v in state.items() if k != "state_dict"}


def describe_file(path: str | Path) -> str:
    _, arch, meta = load_exported(path)
    return json.dumps({"arch": arch.to_dict(), "space": meta["space"], "metrics": meta["metrics"]})
