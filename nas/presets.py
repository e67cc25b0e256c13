"""Named settings for `nas search`: `cpu` (the default: finishes in minutes on 2 CPU cores) and
`full` (SPOS-scale settings for a GPU). An option given on the command line always wins.

The `cpu` preset searches a shallower ShuffleNet space (8 choice blocks, 2 per stage, 4^8
architectures) at width 0.25: with the nested supernet a 20-block space learns too (see
`bench/supernet_learning.py`), but at 0.37 s a step on 2 cores, 10 minutes hold about 1,000 steps,
too few for its random paths to reach the 58% (median) an 8-block supernet reaches in 1,872
steps (`make demo`: 8 min on 2 cores).
`full` warms the learning rate up over 2 epochs (SPOS re-implementations use 5 on ImageNet).
"""

from __future__ import annotations

from typing import Any

from nas.errors import UserError

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "width": 0.25, "train_limit": 20000, "epochs": 6, "batch_size": 64, "lr": 0.1,
        "calibration_images": 512, "val_images": 1000, "random_baseline": 10,
        "space_options": {"shufflenet": {"stage_repeats": [2, 2, 2, 2]}},
        "strategy_options": {"evolution": {"population": 16, "topk": 5, "mutations": 8,
                                           "crossovers": 8, "generations": 6}},
    },
    "full": {
        # SPOS: 20 blocks, 200 x 128 images recalibrate BN; population 50, top-k 10, 20 generations.
        "width": 1.0, "train_limit": None, "epochs": 100, "batch_size": 256, "lr": 0.2, "warmup_epochs": 2,
        "calibration_images": 25600, "val_images": None, "random_baseline": 50,
        "space_options": {}, "strategy_options": {},
    },
}


def preset(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    return PRESETS[name]
