"""Named settings for `nas search`: `cpu` (the default: finishes in minutes on 2 CPU cores) and
`full` (SPOS-scale settings for a GPU). An option given on the command line always wins."""

from __future__ import annotations

from typing import Any

from nas.errors import UserError

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "width": 0.25, "train_limit": 10000, "epochs": 4, "batch_size": 64, "lr": 0.1,
        "calibration_images": 512, "val_images": 1000, "random_baseline": 10,
        "strategy_options": {"evolution": {"population": 16, "topk": 5, "mutations": 8,
                                           "crossovers": 8, "generations": 6}},
    },
    "full": {
        # SPOS: 200 x 128 images recalibrate BN; population 50, top-k 10, 20 generations.
        "width": 1.0, "train_limit": None, "epochs": 100, "batch_size": 256, "lr": 0.2,
        "calibration_images": 25600, "val_images": None, "random_baseline": 50,
        "strategy_options": {},
    },
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]
