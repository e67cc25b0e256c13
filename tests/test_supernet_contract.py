"""The supernet protocol (`search_spaces.protocol.Supernet`), checked on every registered space and
on both weight-sharing schemes where a space offers them: a new space is covered by registering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas_common.registry import SPACES
from search_spaces.protocol import MixedForward, MultiScaleSupernet, Supernet

try:
    from tests.conftest import small_space, tiny_input
except ImportError:
    from conftest import small_space, tiny_input


def _variants():
    for name in SPACES.names():
        space = small_space(name)
        yield pytest.param(space, id=name)
        if "sharing" in space.config():  # the other weight-sharing scheme too
            other = {"nested": "independent", "independent": "nested"}[space.config()["sharing"]]
            yield pytest.param(type(space)(**{**space.config(), "sharing": other}), id=f"{name}-{other}")
        if "few_shot" in type(space)(**space.config()).cfg.__dataclass_fields__:  # a few-shot split too
            yield pytest.param(type(space)(**{**space.config(), "few_shot": 1}), id=f"{name}-few-shot")


VARIANTS = list(_variants())


def _randomise_bn(model: torch.nn.Module, seed: int) -> None:
    """Running statistics other than the defaults, so copying them is actually tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize("space", VARIANTS)
def test_supernet_implements_the_protocol(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    assert isinstance(supernet, Supernet)


@pytest.mark.parametrize("space", VARIANTS)
def test_path_state_names_the_stand_alone_parameters(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    for arch in (space.sample(np.random.default_rng(s)) for s in range(3)):
        state, reference = supernet.path_state(arch), space.build(arch).state_dict()
        assert state.keys() == reference.keys()
        assert all(state[k].shape == reference[k].shape for k in state)


@pytest.mark.parametrize("space", VARIANTS)
def test_extract_equals_the_path_and_owns_its_tensors(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    _randomise_bn(supernet, 1)
    supernet.eval()
    x = tiny_input(space)
    for arch in (space.sample(np.random.default_rng(s)) for s in range(3)):
        net = supernet.extract(arch).eval()
        with torch.no_grad():
            torch.testing.assert_close(net(x), supernet(x, arch), rtol=1e-5, atol=1e-5)
        shared = {p.data_ptr() for p in supernet.parameters()}
        assert not any(p.data_ptr() in shared for p in net.parameters())  # copies, not views


@pytest.mark.parametrize("space", VARIANTS)
def test_optional_forwards_agree_with_the_single_path(space):
    supernet = space.supernet(torch.Generator().manual_seed(0)).eval()
    x = tiny_input(space)
    arch = space.sample(np.random.default_rng(5))
    with torch.no_grad():
        if isinstance(supernet, MultiScaleSupernet):
            features = supernet.forward_features(x, arch)
            reference = supernet.extract(arch).eval().forward_features(x)
            assert len(features) == len(reference)
            for a, b in zip(features, reference):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
        if isinstance(supernet, MixedForward):
            weights = torch.as_tensor(space.one_hot(arch), dtype=torch.float32)
            torch.testing.assert_close(supernet.forward_mixed(x, weights), supernet(x, arch), rtol=1e-5, atol=1e-5)


class _Neck(torch.nn.Module):
    """A stand-in neck: a 1x1 convolution on every feature map."""

    def __init__(self, channels: list[int]) -> None:
        super().__init__()
        self.convs = torch.nn.ModuleList(torch.nn.Conv2d(c, 8, 1) for c in channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [conv(f) for conv, f in zip(self.convs, features)]


class _Head(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bn, self.fc = torch.nn.BatchNorm2d(8), torch.nn.Linear(8, 3)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.fc(self.bn(features[-1]).mean((2, 3)))


MULTI_SCALE = [v for v in VARIANTS if isinstance(v.values[0].supernet(), MultiScaleSupernet)]


@pytest.mark.parametrize("space", MULTI_SCALE)
def test_a_backbone_inside_a_composed_model_extracts_exactly(space):
    """A detector-like wrapper (backbone -> neck -> head) keeps the protocol: `extract` of the whole
    model equals its path, with the backbone's weights found under `backbone.`."""
    from search_spaces.composition import ComposedSupernet

    backbone = space.supernet(torch.Generator().manual_seed(0))
    x = tiny_input(space)
    arch = space.sample(np.random.default_rng(2))
    with torch.no_grad():
        channels = [f.shape[1] for f in backbone.eval().forward_features(x, arch)]
    model = ComposedSupernet(backbone, _Neck(channels), _Head())
    _randomise_bn(model, 3)
    model.eval()
    assert isinstance(model, Supernet)
    for arch in (space.sample(np.random.default_rng(s)) for s in range(3)):
        net = model.extract(arch).eval()
        assert model.path_state(arch).keys() == net.state_dict().keys()
        with torch.no_grad():
            torch.testing.assert_close(net(x), model(x, arch), rtol=1e-5, atol=1e-5)
