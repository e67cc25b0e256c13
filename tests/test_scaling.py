"""Compound scaling without training: EfficientNet's coefficients are on the grid, family members
multiply the base's multipliers, and a searched architecture is carried to a scaled space the way
EfficientNet scales B0 (choices kept per stage, deeper stages repeat their last block)."""

from __future__ import annotations

import numpy as np
import pytest

from nas.scaling import compound_grid, family_options, scale_arch
from search_spaces.arch import Arch
from search_spaces.mbconv import MBConvSpace
from search_spaces.mbconv.network import EXPANSIONS, KERNELS

BASE = {"input_size": 32, "num_classes": 10, "width": 0.5}


def test_the_grid_holds_efficientnets_coefficients_and_only_about_doubling_ones():
    grid = compound_grid()
    assert (1.2, 1.1, 1.15) in grid
    assert all(min(c) >= 1 and abs(c[0] * c[1] ** 2 * c[2] ** 2 - 2) <= 0.1 for c in grid)
    assert (1.0, 1.0, 1.0) not in grid and len(grid) == len(set(grid))
    with pytest.raises(ValueError):
        compound_grid(step=0)


def test_family_members_multiply_the_base():
    member = family_options(BASE, (1.2, 1.1, 1.15), 2)
    assert member["depth"] == pytest.approx(1.44) and member["width"] == pytest.approx(0.5 * 1.21)
    assert member["resolution"] == pytest.approx(1.3225) and member["num_classes"] == 10


def test_a_searched_architecture_is_carried_to_the_scaled_space():
    base = MBConvSpace(**BASE)
    scaled = MBConvSpace(**family_options(BASE, (1.2, 1.1, 1.15), 1))
    rng = np.random.default_rng(3)
    arch = base.canonical(base.sample(rng))
    carried = scale_arch(base, arch, scaled)
    assert scaled.contains(carried)
    blocks, depths = base.split(arch.choices)
    new_blocks, new_depths = scaled.split(carried.choices)
    for s, (old_stage, new_stage) in enumerate(zip(base.layout.stage_blocks, scaled.layout.stage_blocks)):
        assert new_depths[s] >= depths[s]  # never shallower
        for k, i in enumerate(new_stage[:new_depths[s]]):
            expected = blocks[old_stage[min(k, depths[s] - 1)]]  # kept, or the stage's last block repeated
            assert new_blocks[i] == expected
    assert scaled.flops(carried) > base.flops(arch)
    # EfficientNet-B0 carried to phi = 1 is the B0 pattern at every block of the deeper stages.
    b0 = Arch("mbconv", tuple(c for spec in base.layout.blocks for c in
                              (KERNELS.index(base.cfg.stages[spec.stage][1]), EXPANSIONS.index(6), 1))
              + tuple(len(b) - 1 for b in base.layout.stage_blocks))
    scaled_b0 = scale_arch(base, b0, scaled)
    assert scaled.split(scaled_b0.choices)[1] == [len(b) for b in scaled.layout.stage_blocks]
