"""Compound scaling without training: EfficientNet's coefficients are on the grid, family members
multiply the base's multipliers, and a searched architecture is carried to a scaled space the way
EfficientNet scales B0 (choices kept per stage, deeper stages repeat their last block)."""

from __future__ import annotations

import numpy as np
import pytest

from nas.scaling.grid import (Family, ablation_members, compound_grid, compound_members, family_options, product,
                         scale_arch, scaled_depths, spread)
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
    b0_depths, new_depths = base.split(b0.choices)[1], scaled.split(scaled_b0.choices)[1]
    # The total depth is B0's times alpha (15 searchable blocks -> 18), not each stage rounded up
    # (EfficientNet's round_repeats gives 21, 1.4x, which would break the FLOPs doubling).
    assert sum(new_depths) == round(1.2 * sum(b0_depths)) == 18
    assert all(d >= b for d, b in zip(new_depths, b0_depths))
    blocks = scaled.split(scaled_b0.choices)[0]
    assert {blocks[i] for stage, d in zip(scaled.layout.stage_blocks, new_depths) for i in stage[:d]} == \
        {b for b in base.split(b0.choices)[0]}


@pytest.mark.parametrize("depths, ratio, limits", [([1, 1, 1, 1, 1], 1.2, [2] * 5), ([2, 3, 1], 1.44, [4, 5, 2]),
                                                   ([4, 4], 2.0, [6, 6]), ([3, 2, 2], 0.5, [3, 2, 2])])
def test_depths_scale_as_a_whole_within_each_stage_limit(depths, ratio, limits):
    out = scaled_depths(depths, ratio, limits)
    assert sum(out) == min(sum(limits), max(len(depths), round(sum(depths) * ratio)))
    assert all(1 <= d <= limit for d, limit in zip(out, limits))
    if ratio >= 1:
        assert all(d >= b for d, b in zip(out, depths))


def test_a_space_with_only_a_width_multiplier_has_a_width_only_grid():
    from search_spaces.shufflenet.space import ShuffleNetSpace

    grid = compound_grid(dims=("width",))
    assert grid and all(a == 1 and g == 1 and abs(product(a, b, g) - 2) <= 0.1 for a, b, g in grid)
    family = Family(lambda o: ShuffleNetSpace(**o), {"width": 0.25, "input_size": 32, "num_classes": 10},
                    Arch("shufflenet", (0,) * 20))
    member = family.member("w", "compound", 1, grid[0])
    assert member.options["width"] == pytest.approx(0.25 * grid[0][1]) and member.arch.choices == (0,) * 20


def test_spread_covers_the_grid_with_mixed_candidates_first():
    grid = compound_grid()
    chosen = spread(grid, 4)
    assert len(set(chosen)) == 4 and set(chosen) <= set(grid)
    assert all(sum(x > 1 for x in c) >= 2 for c in chosen)
    assert spread(grid, len(grid) + 5) == grid


@pytest.fixture(scope="module")
def tiny_family() -> Family:
    options = MBConvSpace(**{**BASE, "width": 0.25, "depth": 0.5}).config()
    base = MBConvSpace(**options)
    return Family(lambda o: MBConvSpace(**o), options, base.canonical(base.sample(np.random.default_rng(0))))


def test_each_phi_doubles_the_flops_within_ten_percent_and_the_ablation_matches_them(tiny_family):
    from search_spaces.cost import measure_flops

    compound = compound_members(tiny_family, (1.2, 1.1, 1.15), range(1, 3))
    for member in compound:
        assert member.flops / tiny_family.base_flops == pytest.approx(2 ** member.phi, rel=0.10)
        space = MBConvSpace(**member.options)
        assert space.contains(member.arch)
        assert measure_flops(*space.cost_probe(member.arch)) == member.flops
        assert member.multipliers["depth"] == pytest.approx(1.2 ** member.phi)  # only resolution moves
        assert member.multipliers["width"] == pytest.approx(1.1 ** member.phi)
    ablation = ablation_members(tiny_family, compound[:1])
    assert sorted(m.kind for m in ablation) == ["depth", "resolution", "width"]
    for member in ablation:
        assert member.flops == pytest.approx(compound[0].flops, rel=0.10)
        moved = [d for d, v in member.multipliers.items() if v != 1.0]
        assert moved == [member.kind]  # one dimension alone


def test_compound_against_one_dimension_is_judged_against_the_noise():
    """A difference inside 1.96 combined standard errors is reported as inside noise, not a win."""
    from types import SimpleNamespace

    from nas.scaling.run import compare_within_noise
    from nas_common.objective import Objective

    compound = [SimpleNamespace(name="c1", phi=1, kind="compound"), SimpleNamespace(name="c2", phi=2, kind="compound")]
    ablation = [SimpleNamespace(name="d2", phi=2, kind="depth"), SimpleNamespace(name="w2", phi=2, kind="width"),
                SimpleNamespace(name="r2", phi=2, kind="resolution")]
    results = {"c2": {"val_acc": 60.0, "val_acc_se": 1.5}, "d2": {"val_acc": 58.0, "val_acc_se": 1.5},
               "w2": {"val_acc": 50.0, "val_acc_se": 1.5}, "r2": {"val_acc": 59.0}}
    out = {c["kind"]: c for c in compare_within_noise(compound, ablation, results, Objective("val_acc"))}
    assert out["depth"]["verdict"] == "inside noise" and out["depth"]["difference"] == pytest.approx(2.0)
    assert out["depth"]["se"] == pytest.approx(1.5 * 2 ** 0.5)
    assert out["width"]["verdict"] == "compound better"
    assert out["resolution"]["verdict"] == "noise unknown"  # a result without a standard error
