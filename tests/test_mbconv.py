"""The `mbconv` space: EfficientNet-B0 is an architecture of it (its parameter count exactly), every
(kernel, expansion, SE) combination and depth extracts exactly from the supernet, per-path BN
recalibration of the sliced statistics is exact, skipped blocks are canonicalised away, and the
width/depth/resolution multipliers scale as EfficientNet's code does. (Contract tests cover the
protocol as for every space.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.supernet.recalibrate import recalibrate
from search_spaces.arch import Arch
from search_spaces.mbconv import MBConvSpace
from search_spaces.mbconv.network import EXPANSIONS, KERNELS

SMALL = {"width": 0.25, "input_size": 16, "num_classes": 5}


def b0(space: MBConvSpace) -> Arch:
    """EfficientNet-B0: each stage's kernel, expansion 6, SE on, every block."""
    choices = []
    for spec in space.layout.blocks:
        kernel = space.cfg.stages[spec.stage][1]
        choices += [KERNELS.index(kernel), EXPANSIONS.index(6), 1]
    choices += [len(blocks) - 1 for blocks in space.layout.stage_blocks]
    return Arch("mbconv", tuple(choices))


def test_efficientnet_b0_is_an_architecture_with_its_published_size():
    space = MBConvSpace()  # 224 px, 1000 classes
    arch = b0(space)
    assert len(space.layout.blocks) == 15 and [len(b) for b in space.layout.stage_blocks] == [2, 2, 3, 3, 4, 1]
    assert space.params(arch) == 5_288_548  # EfficientNet-B0 (Tan & Le 2019): 5.3M parameters
    assert 0.37e9 < space.flops(arch) / 2 < 0.41e9  # 0.39B multiply-adds


def _randomise(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)


@pytest.mark.parametrize("kernel", range(3))
def test_every_kernel_expansion_se_and_depth_extracts_exactly(kernel):
    space = MBConvSpace(**SMALL)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    _randomise(supernet, 1)
    supernet.eval()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    rng = np.random.default_rng(kernel)
    n = len(space.layout.blocks)
    for expand in range(3):
        for se in range(2):
            depths = [int(rng.integers(len(b))) for b in space.layout.stage_blocks]
            arch = Arch("mbconv", (kernel, expand, se) * n + tuple(depths))
            with torch.no_grad():
                expected = supernet(x, arch)
                got = space.build(arch).eval()  # a fresh net, then the path's tensors
                got.load_state_dict({k: v.detach() for k, v in supernet.path_state(arch).items()})
                assert torch.allclose(got(x), expected, atol=1e-5, rtol=1e-4)
                assert torch.allclose(supernet.extract(arch).eval()(x), expected, atol=1e-5, rtol=1e-4)


def test_recalibration_of_sliced_statistics_is_exact():
    """The path's BN statistics, re-estimated inside the supernet, equal those re-estimated in the
    stand-alone net: sliced BN touches exactly the channels of the chosen expansion."""
    space = MBConvSpace(**SMALL)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    _randomise(supernet, 3)
    arch = space.sample(np.random.default_rng(5))
    batches = [torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(s)) for s in range(3)]
    standalone = supernet.extract(arch)
    recalibrate(supernet, lambda x: supernet(x, arch), batches)
    recalibrate(standalone, standalone, batches)
    path = supernet.path_state(arch)
    for key, value in standalone.state_dict().items():
        if key.endswith(("running_mean", "running_var")):
            assert torch.allclose(path[key], value, atol=1e-5, rtol=1e-4), key


def test_skipped_blocks_are_canonicalised_away():
    space = MBConvSpace(**SMALL)
    n = len(space.layout.blocks)
    shallow = [0] * len(space.layout.stage_blocks)  # depth 1 everywhere
    a = Arch("mbconv", (0, 0, 0) * n + tuple(shallow))
    b = Arch("mbconv", (2, 2, 1) * n + tuple(shallow))
    assert space.canonical(a) != space.canonical(b)  # the first block of each stage differs
    runs = {i for blocks in space.layout.stage_blocks for i in blocks[:1]}
    c = Arch("mbconv", tuple(v for i in range(n) for v in ((0, 0, 0) if i in runs else (2, 1, 1))) + tuple(shallow))
    assert space.canonical(c) == a and space.flops(c) == space.flops(a) and space.params(c) == space.params(a)
    torch.manual_seed(0)
    x = torch.randn(1, 3, 16, 16)
    g = torch.Generator
    assert torch.equal(space.build(c, g().manual_seed(1)).eval()(x), space.build(a, g().manual_seed(1)).eval()(x))


def test_multipliers_scale_like_efficientnet():
    base = MBConvSpace(input_size=32, num_classes=10)
    scaled = MBConvSpace(input_size=32, num_classes=10, width=1.1, depth=1.2, resolution=1.15)
    assert [len(b) for b in scaled.layout.stage_blocks] == [3, 3, 4, 4, 5, 2]  # ceil(1.2 x repeats)
    assert scaled.layout.blocks[-1].out_channels == 352 and scaled.cfg.image_size == 37  # 320 x 1.1; 32 x 1.15
    assert scaled.layout.head_channels == 1408
    x = torch.zeros(2, 3, 32, 32)
    for space in (base, scaled):
        arch = b0(space)
        net = space.build(arch)
        assert net(x).shape == (2, 10)
    # Compound scaling's premise: FLOPs factor into the three dimensions. The compound member's FLOPs
    # ratio is the product of the single-dimension ones (each measured with its own rounding: ceil
    # on 1-4 blocks per stage, multiples of 8, strided sizes), and each dimension adds FLOPs.
    from nas.scaling.grid import realised_cost  # the built net counted: no per-space cost table to measure

    base_flops = realised_cost(base, b0(base))[0]
    single = {}
    for key, value in (("depth", 1.2), ("width", 1.1), ("resolution", 1.15)):
        space = MBConvSpace(input_size=32, num_classes=10, **{key: value})
        single[key] = realised_cost(space, b0(space))[0] / base_flops
        assert single[key] > 1.05, key
    compound = realised_cost(scaled, b0(scaled))[0] / base_flops
    assert compound == pytest.approx(single["depth"] * single["width"] * single["resolution"], rel=0.03)

@pytest.mark.parametrize("strategy, options", [
    ("random", {}), ("evolution", {"population": 6, "topk": 3, "mutations": 3, "crossovers": 3}),
    ("rl", {"batch_size": 4}), ("rl", {"batch_size": 4, "algorithm": "ppo"}),
    ("nao", {"population": 6, "candidates": 4, "epochs": 2}),
])
def test_every_strategy_searches_it_under_a_flops_limit(strategy, options):
    from nas.strategies import make_strategy
    from nas.constraints.limits import Constraint

    space = MBConvSpace(**SMALL)
    rng = np.random.default_rng(0)
    limit = int(np.median([space.flops(space.sample(rng)) for _ in range(20)]))
    chosen = make_strategy(strategy, space, budget=14, seed=0, options=options, constraint=Constraint(max_flops=limit))
    seen = 0
    while not chosen.done():
        trials = chosen.ask(2)
        if not trials:
            break
        for trial in trials:
            assert space.contains(trial.arch) and space.flops(trial.arch) <= limit
            assert space.canonical(trial.arch) == trial.arch  # no two proposals build the same network
            chosen.tell(trial.trial_id, {"val_acc": float(space.params(trial.arch) % 97)})
            seen += 1
    assert seen == 14
