"""Supernet checkpoints: written atomically, read with `weights_only=True`, errors a user can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nas.archive.atomic import save_torch_atomic, verify_checksum
from nas_common.errors import UserError

CHECKPOINT_NAME = "supernet.pt"


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Atomic: a crash while saving leaves the previous checkpoint intact."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_torch_atomic(state, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no supernet checkpoint at {path}; train one with `nas train-supernet --out DIR`")
    verify_checksum(path, "supernet checkpoint", "retrain it or restore it from a backup")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for a damaged file; all mean the same to a user
        raise UserError(f"supernet checkpoint {path} is corrupt or unreadable ({type(err).__name__}); "
                        "retrain it or restore it from a backup") from None
    missing = {"model", "step", "space", "space_config"} - set(state) if isinstance(state, dict) else {"model"}
    if missing:
        raise UserError(f"{path} is not a nas supernet checkpoint (missing {', '.join(sorted(missing))})")
    return state
