"""The ShuffleNet (SPOS) supernet: exact extraction, single-path execution, untouched off-path
weights under SGD momentum + weight decay, ImageNet-style strides, multi-scale features, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nas.evaluate.supernet_evaluator import SupernetEvaluator, split_batches
from nas.supernet.recalibrate import path_statistics
from nas.supernet.train import TrainConfig, make_optimizer
from search_spaces.arch import Arch
from search_spaces.shufflenet import ShuffleNetSpace
from search_spaces.shufflenet.blocks import ChoiceBlockUnit
from search_spaces.shufflenet.nested import NestedChoiceBlock
from search_spaces.weight_sharing import init_weights

try:
    from tests.conftest import snapshot, state_equal
except ImportError:
    from conftest import snapshot, state_equal


@pytest.fixture(scope="module", params=["nested", "independent"])
def space(request) -> ShuffleNetSpace:
    """Both weight-sharing schemes: nested candidates (the default) and SPOS's independent ones."""
    return ShuffleNetSpace(width=0.25, input_size=16, sharing=request.param)


def _randomise_bn_affine(model: nn.Module, seed: int) -> None:
    """Non-trivial BN weights/biases, so a wrongly mapped BN layer shows in the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


@pytest.fixture(scope="module")
def supernet(space):
    net = space.supernet(torch.Generator().manual_seed(0))
    _randomise_bn_affine(net, 1)
    return net.eval()


def _images(n: int, seed: int, size: int = 16) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _archs(space, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


# ---- extraction ------------------------------------------------------------------------------------
def test_extract_matches_supernet_after_recalibration(space, supernet):
    calibration, x = _images(24, 1), _images(6, 2)
    evaluator = SupernetEvaluator(supernet, calibration, split_batches(x, torch.zeros(6, dtype=torch.long), 8),
                                  batch_size=8)
    before = snapshot(supernet)
    outputs = []
    for arch in _archs(space, 3):
        standalone = evaluator.recalibrated_model(arch)
        with path_statistics(supernet, lambda b: supernet(b, arch), calibration.split(8)):
            with torch.no_grad():
                expected = supernet.eval()(x, arch)
        with torch.no_grad():
            got = standalone.eval()(x)
            rebuilt = space.build(arch)
            rebuilt.load_state_dict(standalone.state_dict())  # strict: same module names
            rebuilt_out = rebuilt.eval()(x)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(rebuilt_out, expected, atol=1e-5, rtol=1e-5)
        outputs.append(expected)
    assert not torch.allclose(outputs[0], outputs[1])  # the paths really differ
    assert state_equal(snapshot(supernet), before)  # recalibration left the supernet as it was


def test_extract_holds_the_path_weights(space, supernet):
    arch = _archs(space, 1, seed=5)[0]
    standalone = supernet.extract(arch)
    path = supernet.path_state(arch)
    assert path.keys() == standalone.state_dict().keys()
    for key, value in standalone.state_dict().items():
        assert torch.equal(value, path[key].detach())
    # a copy, not a view: training the extracted net must not change the supernet
    source = snapshot(supernet)
    with torch.no_grad():
        next(standalone.parameters()).add_(1.0)
    assert state_equal(source, supernet.state_dict())
    assert sum(p.numel() for p in standalone.parameters()) == space.params(arch)


# ---- single-path execution -------------------------------------------------------------------------
def _touched_by_forward(supernet, arch) -> set[str]:
    """Parameters that get a gradient from a loss on the path's output."""
    supernet.zero_grad(set_to_none=True)
    supernet.train()(_images(2, 3), arch).square().sum().backward()
    touched = {n for n, p in supernet.named_parameters() if p.grad is not None}
    supernet.zero_grad(set_to_none=True)
    return touched


def _path_parameters(supernet, arch) -> set[str]:
    """Parameters the path's stand-alone weights are made of (directly or composed)."""
    supernet.zero_grad(set_to_none=True)
    total = sum(t.sum() for t in supernet.path_state(arch).values() if t.requires_grad)
    total.backward()
    used = {n for n, p in supernet.named_parameters() if p.grad is not None}
    supernet.zero_grad(set_to_none=True)
    return used


def test_forward_uses_exactly_the_parameters_of_the_path(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    archs = _archs(space, 3, seed=2)
    for arch in archs:
        touched = _touched_by_forward(supernet, arch)
        assert touched == _path_parameters(supernet, arch)
        assert len(touched) < len(list(supernet.parameters()))  # a single path, not all of them
    if space.cfg.sharing == "independent":  # SPOS: one whole module per candidate
        calls: list[tuple[int, int]] = []
        hooks = [cand.register_forward_hook(lambda *_, i=i, c=c: calls.append((i, c)))
                 for i, block in enumerate(supernet.features) for c, cand in enumerate(block.candidates)]
        try:
            with torch.no_grad():
                supernet(_images(2, 3), archs[0])
            assert calls == list(enumerate(archs[0].choices))
        finally:
            for h in hooks:
                h.remove()


def test_nested_candidates_share_weights_and_the_kernel_centre():
    space = ShuffleNetSpace(width=0.25, input_size=16)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    arch = space.sample(np.random.default_rng(0))
    state3 = supernet.path_state(Arch("shufflenet", (0,) * len(arch.choices)))
    state7 = supernet.path_state(Arch("shufflenet", (2,) * len(arch.choices)))
    state_x = supernet.path_state(Arch("shufflenet", (3,) * len(arch.choices)))
    k3, k7 = state3["features.5.branch.3.weight"], state7["features.5.branch.3.weight"]
    assert k3.shape[-1] == 3 and k7.shape[-1] == 7
    assert torch.equal(k7[..., 2:5, 2:5], k3)                     # 3x3 = centre of the super-kernel
    assert torch.equal(state_x["features.5.branch.10.weight"], k3)  # Xception's last dw = that centre
    assert state3["features.5.branch.0.weight"] is state7["features.5.branch.0.weight"]  # shared 1x1 conv
    assert state_x["features.5.branch.2.weight"] is state3["features.5.branch.0.weight"]


@pytest.mark.parametrize("projection", [False, True])
def test_xception_starts_as_the_3x3_unit(projection):
    """Xception's own layers start as identity maps, so at stride 1 it begins as exactly the 3x3
    unit it shares weights with, and the nested 5x5/7x7 units as close relatives: every candidate
    of a block starts as nearly the same function (what lets a deep supernet learn; see nested.py)."""
    block = NestedChoiceBlock(16 if projection else 32, 32, 1, projection)
    init_weights(block, torch.Generator().manual_seed(0))
    block.finish_init()
    x = torch.relu(torch.randn(64, block.pw1[0].in_channels * (1 if projection else 2), 8, 8,
                               generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        outs = [block.train()(x, c) for c in range(4)]

    def corr(u, v):
        u, v = u - u.mean(0), v - v.mean(0)
        return float((u * v).sum() / (u.norm() * v.norm()))
    assert corr(outs[0], outs[3]) > 0.999
    assert corr(outs[0], outs[1]) > 0.5 and corr(outs[0], outs[2]) > 0.5


def _modules_run_by(supernet, arch) -> set[nn.Module]:
    ran: set[nn.Module] = set()
    hooks = [m.register_forward_hook(lambda mod, *_: ran.add(mod)) for m in supernet.modules()]
    try:
        with torch.no_grad():
            supernet.eval()(_images(2, 4), arch)
    finally:
        for h in hooks:
            h.remove()
    return ran


def _sgd_step(supernet, optimizer, arch, seed: int) -> None:
    supernet.train()
    x = _images(4, seed)
    y = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(seed))
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(supernet(x, arch), y).backward()
    optimizer.step()


def test_training_step_leaves_off_path_weights_bitwise_unchanged(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    optimizer = make_optimizer(supernet, TrainConfig(lr=0.1, momentum=0.9, weight_decay=5e-4))
    first = Arch("shufflenet", (2,) * len(space.decisions))     # every 7x7 ring gets momentum
    second = Arch("shufflenet", (0,) * len(space.decisions))    # 3x3 everywhere: no ring on the path

    _sgd_step(supernet, optimizer, first, seed=1)
    assert len(optimizer.state) > 0
    on_path = _path_parameters(supernet, second)
    ran = _modules_run_by(supernet, second)
    bn_on_path = {n for n, m in supernet.named_modules() if m in ran}
    before = snapshot(supernet)
    _sgd_step(supernet, optimizer, second, seed=2)
    after = snapshot(supernet)

    def on(key: str) -> bool:
        return key in on_path or key.rsplit(".", 1)[0] in bn_on_path and not key.endswith(("weight", "bias"))
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "the step changed nothing"
    assert not {k for k in changed if not on(k)}, "off-path entries changed"
    # every on-path parameter moved, and every on-path BN layer's statistics
    assert on_path <= changed
    assert any(k.endswith("running_mean") for k in changed)
    assert any(k.startswith("stem.") for k in changed) and any(k.startswith("head.") for k in changed)
    off_path = set(dict(supernet.named_parameters())) - on_path
    assert off_path, "a path that uses every parameter tests nothing"


# ---- configurations and features ---------------------------------------------------------------------
@pytest.mark.parametrize("options, batch, size, feature_sizes", [
    ({"input_size": 16}, 2, 16, (16, 8, 4, 2)),                         # CIFAR: full-res stem + stage 1
    ({"input_size": 64, "stem_stride": 2, "first_stage_stride": 2}, 2, 64, (16, 8, 4, 2)),
    ({"input_size": 224}, 1, 224, (56, 28, 14, 7)),                     # SPOS ImageNet: strides 4..32
])
def test_output_shape_and_multi_scale_features(options, batch, size, feature_sizes):
    space = ShuffleNetSpace(width=0.25, num_classes=7, **options)
    supernet = space.supernet(torch.Generator().manual_seed(0)).eval()
    arch = _archs(space, 1)[0]
    x = _images(batch, 0, size)
    with torch.no_grad():
        features = supernet.forward_features(x, arch)
        logits = supernet(x, arch)
        standalone_features = supernet.extract(arch).eval().forward_features(x)
    assert logits.shape == (batch, 7)
    assert len(features) == len(space.cfg.stage_repeats)
    assert tuple(f.shape[-1] for f in features) == feature_sizes
    assert tuple(f.shape[-2] for f in features) == feature_sizes
    widths = sorted({b.out_channels for b in space.layout.blocks})
    assert [f.shape[1] for f in features] == widths
    for a, b in zip(features, standalone_features):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_same_generator_seed_same_weights_whatever_the_global_rng(space):
    torch.rand(1000)  # advance the global generator between the two builds
    a = space.supernet(torch.Generator().manual_seed(3))
    torch.rand(777)
    b = space.supernet(torch.Generator().manual_seed(3))
    c = space.supernet(torch.Generator().manual_seed(4))
    assert state_equal(a.state_dict(), b.state_dict())
    assert not state_equal(a.state_dict(), c.state_dict())
    arch = _archs(space, 1)[0]
    torch.rand(5)
    built = [space.build(arch, torch.Generator().manual_seed(9)) for _ in range(2)]
    assert state_equal(built[0].state_dict(), built[1].state_dict())


def test_supernet_rejects_wrong_length_path(space, supernet):
    with pytest.raises(ValueError):
        supernet(_images(2, 0), (0,) * (len(space.decisions) - 1))


def test_independent_blocks_hold_one_module_per_option():
    space = ShuffleNetSpace(width=0.25, input_size=16, sharing="independent")
    supernet = space.supernet(torch.Generator().manual_seed(0))
    for block in supernet.features:
        assert len(block.candidates) == space.decisions[0].num_options
        assert all(isinstance(c, ChoiceBlockUnit) for c in block.candidates)


def test_unknown_sharing_is_refused():
    with pytest.raises(ValueError, match="sharing"):
        ShuffleNetSpace(width=0.25, sharing="partial")
