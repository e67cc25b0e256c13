"""Named settings for `nas search`: `cpu` (the default: finishes in minutes on 2 CPU cores) and
`full` (SPOS-scale settings for a GPU). An option given on the command line always wins.

The `cpu` preset searches a shallower ShuffleNet space (8 choice blocks, 2 per stage, 4^8
architectures) at width 0.25: with the nested supernet a 20-block space learns too (see
`bench/supernet_learning.py`), but at 0.37 s a step on 2 cores, 10 minutes hold about 1,000 steps,
too few for its random paths to reach the 58% (median) an 8-block supernet reaches in 1,872
steps (`make demo`: 8 min on 2 cores).
`full` warms the learning rate up over 2 epochs (SPOS re-implementations use 5 on ImageNet).

Every preset keeps `confirm_images` apart from the start (`nas.tasks.splits`): training images the
supernet never trains on (left out by `train_limit`) first, then the end of the validation split
(at most half of it). The search never scores on them; its verdict is judged on them.

A preset may hold per-space overrides (`spaces`): the `detnas` space trains a detector on the
bundled raccoon photos, with its own data, widths, schedule and evaluation sizes. Its `cpu`
preset is sized to finish in 15 minutes on 2 cores; its `full` preset is DetNAS's (300M layout,
800-pixel inputs, EA population 50 for 20 generations, as the paper's search). Both warm the learning
rate up and clip the gradient norm at 35 (mmdetection's RetinaNet recipe): without the clip, the
CPU recipe diverged on a user's 10-class set of small objects. Both put GroupNorm in the head's
towers (RetinaNet-GN): a narrow head (64 channels at width 0.25) initialised as RetinaNet's
(std 0.01, no norm) outputs a near-constant (std 5e-6) and its classifier barely trains from
scratch; on the synthetic 10-class small-object set (`nas.data.detection.shapes`, 600 steps at 128 px) the
random backbones' median validation mAP goes from 0.00 to 28.3 with it (docs/detection.md, "Detection that
learns"). The `nasfpn` space (a searched neck on a fixed backbone) takes the same settings.
"""

from __future__ import annotations

from typing import Any

from nas_common.errors import UserError

PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {
        "width": 0.25, "train_limit": 20000, "epochs": 6, "batch_size": 64, "lr": 0.1,
        "calibration_images": 512, "val_images": 1000, "confirm_images": 5000, "random_baseline": 10,
        "space_options": {"shufflenet": {"stage_repeats": [2, 2, 2, 2]}},
        "strategy_options": {"evolution": {"population": 16, "topk": 5, "mutations": 8,
                                           "crossovers": 8, "generations": 6}},
        "spaces": {
            "detnas": {
                "width": 0.25, "epochs": 100, "batch_size": 16, "lr": 0.02, "warmup_epochs": 2, "grad_clip": 35.0,
                "calibration_images": 64, "val_images": None, "confirm_images": 2000, "random_baseline": 10,
                "data": {"image_size": 256},
                "space_options": {"detnas": {"layout": "cpu", "head_norm": "gn"}},
                "strategy_options": {"evolution": {"population": 12, "topk": 4, "mutations": 6,
                                                   "crossovers": 6, "generations": 5}},
            },
        },
    },
    "full": {
        # SPOS: 20 blocks, 200 x 128 images recalibrate BN; population 50, top-k 10, 20 generations.
        "width": 1.0, "train_limit": None, "epochs": 100, "batch_size": 256, "lr": 0.2, "warmup_epochs": 2,
        "calibration_images": 25600, "val_images": None, "confirm_images": 10000, "random_baseline": 50,
        "space_options": {}, "strategy_options": {},
        "spaces": {
            "detnas": {
                # DetNAS: 300M space, COCO at 800x1333 (here square 800 letterboxes), EA 50 x 20.
                "width": 1.0, "epochs": 12, "batch_size": 16, "lr": 0.02, "warmup_epochs": 1, "grad_clip": 35.0,
                "calibration_images": 2000, "val_images": None, "confirm_images": 2000, "random_baseline": 50,
                "data": {"image_size": 800, "max_size": 1333},
                # Step 1: the backbone as a classification supernet first (ImageNet in the paper; the
                # bundled CIFAR-10 here), unless --backbone RUN or --pretrain-steps 0.
                "pretrain": {"steps": 20000, "batch_size": 256, "lr": 0.2, "data": "cifar10"},
                "space_options": {"detnas": {"layout": "300M", "head_norm": "gn"}},
                "strategy_options": {"evolution": {"population": 50, "topk": 10, "mutations": 25,
                                                   "crossovers": 25, "generations": 20}},
            },
        },
    },
}

# NAS-Bench-201 supernets are set up to rank (bench/supernet_ranking_nb201.py, bench/README.md "Supernet
# ranking"): nested convolutions and affine-free BN in the search cells (the one change that
# helped in every measurement), scored on 2,560 validation images. On the CPU, C = 8 with one cell per stage
# for 10,000 steps (about 16 minutes on 2 cores); `full` is NB201's own network (C = 16, 5 cells).
_NB201_SUPERNET = {"sharing": "nested", "affine": False}
PRESETS["cpu"]["spaces"]["nb201"] = {
    "width": 0.5, "train_limit": 20000, "epochs": 32, "batch_size": 64, "lr": 0.05,
    "calibration_images": 256, "val_images": 2560, "confirm_images": 5000, "random_baseline": 10,
    "space_options": {"nb201": {**_NB201_SUPERNET, "cells_per_stage": 1}},
    "strategy_options": PRESETS["cpu"]["strategy_options"],
}
PRESETS["full"]["spaces"]["nb201"] = {
    "width": 1.0, "train_limit": None, "epochs": 100, "batch_size": 256, "lr": 0.1, "warmup_epochs": 2,
    "calibration_images": 2048, "val_images": None, "confirm_images": 5000, "random_baseline": 50,
    "space_options": {"nb201": dict(_NB201_SUPERNET)}, "strategy_options": {},
}

# NAS-FPN searches the neck of the same detectors (fixed backbone): DetNAS's settings.
for _settings in PRESETS.values():
    _detnas = _settings["spaces"]["detnas"]
    _settings["spaces"]["nasfpn"] = {**{k: v for k, v in _detnas.items() if k != "pretrain"},
                                     "space_options": {"nasfpn": _detnas["space_options"]["detnas"]}}


def preset(name: str, space: str | None = None) -> dict[str, Any]:
    """The settings of preset `name`, with `space`'s overrides when the preset has some."""
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    base = {k: v for k, v in PRESETS[name].items() if k != "spaces"}
    return {"data": {}, **base, **PRESETS[name].get("spaces", {}).get(space, {})}


def preset_overrides(key: str, strategy: str | None = None, fallback: Any = None) -> str:
    """Where the presets set `key` (a training or evaluation setting; with `strategy`, one of that
    strategy's options), as help text: "cpu: 6 (nb201 32, detnas 100); full: 100 (detnas 12)".
    '' when no preset sets it; `fallback` stands for a value a preset leaves unset (None: "all"
    or "off"). Help and listings show it, so the values a search runs with are the ones a user reads."""
    def value_of(settings: dict[str, Any]) -> Any:
        found = settings if strategy is None else settings.get("strategy_options", {}).get(strategy, {})
        if key not in found:
            return fallback
        return "none" if found[key] is None else found[key]

    parts = []
    for name, settings in PRESETS.items():
        base = value_of(settings)
        by_space = {space: value_of(s) for space, s in settings.get("spaces", {}).items()}
        others = ", ".join(f"{space} {value}" for space, value in by_space.items()
                           if value is not None and value != base)
        if base is None and not others:
            continue
        shown = f"{base}" if base is not None else "-"
        parts.append(f"{name}: {shown}" + (f" ({others})" if others else ""))
    return "; ".join(parts)
