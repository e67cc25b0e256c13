"""Compound scaling (EfficientNet, Tan & Le 2019), the parts that need no training: the grid of
(alpha, beta, gamma) candidates, the multipliers of a family member, and a searched architecture
carried over to a scaled space.

depth = alpha^phi, width = beta^phi, resolution = gamma^phi, with alpha * beta^2 * gamma^2 ~ 2 so
that each step of phi about doubles the FLOPs (FLOPs grow linearly with depth, quadratically with
width and resolution). EfficientNet found alpha = 1.2, beta = 1.1, gamma = 1.15 on ImageNet.
"""

from __future__ import annotations

import math
from typing import Any

from search_spaces.arch import Arch

MULTIPLIERS = ("depth", "width", "resolution")


def compound_grid(step: float = 0.05, target: float = 2.0, tolerance: float = 0.05,
                  largest: float = 2.0) -> list[tuple[float, float, float]]:
    """Every (alpha, beta, gamma) on a `step` grid, each in [1, largest], with
    alpha * beta^2 * gamma^2 within `tolerance` (relative) of `target`; sorted."""
    if not 0 < step <= 1 or not 0 < tolerance < 1 or target <= 1:
        raise ValueError("need 0 < step <= 1, 0 < tolerance < 1 and target > 1")
    values = [round(1 + i * step, 6) for i in range(int(round((largest - 1) / step)) + 1)]
    return [(a, b, g) for a in values for b in values for g in values
            if abs(a * b * b * g * g - target) <= tolerance * target]


def family_options(base: dict[str, Any], coefficients: tuple[float, float, float], phi: float) -> dict[str, Any]:
    """The space options of family member `phi`: the base's multipliers times alpha^phi, beta^phi, gamma^phi."""
    alpha, beta, gamma = coefficients
    out = dict(base)
    for key, factor in zip(MULTIPLIERS, (alpha, beta, gamma)):
        out[key] = float(base.get(key, 1.0)) * factor ** phi
    return out


def scale_arch(base_space: Any, arch: Arch, scaled_space: Any) -> Arch:
    """`arch` of `base_space` carried to `scaled_space` (same space kind, other multipliers), as
    EfficientNet scales B0: each stage keeps its blocks' choices, its depth grows by the depth
    ratio (ceil, at most the stage's blocks), and added blocks repeat the stage's last block."""
    if base_space.name != scaled_space.name or not hasattr(base_space, "split"):
        raise ValueError(f"scaling maps an architecture within one space with stages (mbconv); got "
                         f"{base_space.name} -> {scaled_space.name}")
    blocks, depths = base_space.split(base_space.validate(arch).choices)
    ratio = scaled_space.cfg.depth / base_space.cfg.depth
    choices: list[int] = []
    new_depths = []
    for base_stage, scaled_stage, depth in zip(base_space.layout.stage_blocks, scaled_space.layout.stage_blocks,
                                               depths):
        kept = [blocks[i] for i in base_stage[:depth]]
        new_depth = max(1, min(len(scaled_stage), math.ceil(depth * ratio - 1e-9)))
        stage = (kept + [kept[-1]] * len(scaled_stage))[:len(scaled_stage)]
        choices += [c for block in stage for c in block]
        new_depths.append(new_depth - 1)
    return scaled_space.canonical(Arch(scaled_space.name, (*choices, *new_depths)))
