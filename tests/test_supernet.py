"""The ShuffleNet (SPOS) supernet: exact extraction, single-path execution, untouched off-path
weights under SGD momentum + weight decay, ImageNet-style strides, multi-scale features, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nas.evaluate.supernet_evaluator import SupernetEvaluator
from nas.supernet.recalibrate import path_statistics
from nas.supernet.train import TrainConfig, make_optimizer
from search_spaces.shufflenet import ShuffleNetSpace
from search_spaces.shufflenet.blocks import ChoiceBlockUnit

try:
    from tests.conftest import snapshot, state_equal
except ImportError:
    from conftest import snapshot, state_equal


@pytest.fixture(scope="module")
def space() -> ShuffleNetSpace:
    return ShuffleNetSpace(width=0.25, input_size=16)


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
    evaluator = SupernetEvaluator(supernet, calibration, x, torch.zeros(6, dtype=torch.long), batch_size=8)
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
    source = supernet.state_dict()
    for key, value in standalone.state_dict().items():
        assert torch.equal(value, source[supernet.path_key(key, arch)])
    # a copy, not a view: training the extracted net must not change the supernet
    with torch.no_grad():
        next(standalone.parameters()).add_(1.0)
    assert state_equal(source, supernet.state_dict())
    assert sum(p.numel() for p in standalone.parameters()) == space.params(arch)


# ---- single-path execution -------------------------------------------------------------------------
def test_forward_runs_exactly_one_candidate_per_block(space, supernet):
    calls: list[tuple[int, int]] = []
    hooks = [cand.register_forward_hook(lambda *_, i=i, c=c: calls.append((i, c)))
             for i, block in enumerate(supernet.features) for c, cand in enumerate(block.candidates)]
    try:
        for arch in _archs(space, 3, seed=2):
            calls.clear()
            with torch.no_grad():
                supernet(_images(2, 3), arch)
            assert calls == list(enumerate(arch.choices))
    finally:
        for h in hooks:
            h.remove()


def _on_path(key: str, arch) -> bool:
    """Whether a supernet state key belongs to `arch`'s path (stem and head are always on it)."""
    if ".candidates." not in key:
        return True
    block, choice = key.split(".")[1], key.split(".")[3]
    return arch.choices[int(block)] == int(choice)


def _sgd_step(supernet, optimizer, arch, seed: int) -> None:
    supernet.train()
    x = _images(4, seed)
    y = torch.randint(0, 10, (4,), generator=torch.Generator().manual_seed(seed))
    optimizer.zero_grad(set_to_none=True)
    nn.functional.cross_entropy(supernet(x, arch), y).backward()
    optimizer.step()


def test_training_step_leaves_off_path_candidates_bitwise_unchanged(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    optimizer = make_optimizer(supernet, TrainConfig(lr=0.1, momentum=0.9, weight_decay=5e-4))
    first = _archs(space, 1, seed=7)[0]
    second = space.mutate(first, np.random.default_rng(0), 1.0)  # a different candidate in every block
    assert all(a != b for a, b in zip(first.choices, second.choices))

    _sgd_step(supernet, optimizer, first, seed=1)  # `first`'s candidates now hold momentum buffers
    assert any(optimizer.state.get(p) for n, p in supernet.named_parameters() if ".candidates." in n)
    before = snapshot(supernet)
    _sgd_step(supernet, optimizer, second, seed=2)
    after = snapshot(supernet)

    changed = {k for k in before if not torch.equal(before[k], after[k])}
    off_path = {k for k in before if not _on_path(k, second)}
    assert not changed & off_path, f"off-path entries changed: {sorted(changed & off_path)[:5]}"
    # every on-path candidate's weights (and BN statistics) moved; stem and head too
    for i, choice in enumerate(second.choices):
        prefix = f"features.{i}.candidates.{choice}."
        assert any(k.startswith(prefix) and k.endswith("weight") for k in changed), prefix
        assert any(k.startswith(prefix) and k.endswith("running_mean") for k in changed), prefix
    assert any(k.startswith("stem.") for k in changed) and any(k.startswith("head.") for k in changed)


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


def test_every_block_holds_one_module_per_option(space, supernet):
    # the hook-based test above relies on each candidate being a module of its own
    for block in supernet.features:
        assert len(block.candidates) == space.decisions[0].num_options
        assert all(isinstance(c, ChoiceBlockUnit) for c in block.candidates)
