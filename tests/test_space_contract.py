"""The search-space protocol, checked on every registered space (new spaces are covered by registering).

Each space is built small (width 0.25, 16 px where it accepts those options) so the whole file
stays fast; networks run on batches of two tiny images.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from nas_common.registry import SPACES
from search_spaces.arch import Arch
from search_spaces.cost import count_params, measure_flops
from search_spaces.protocol import SearchSpace

try:
    from tests.conftest import flat_outputs, small_space, tiny_input
except ImportError:
    from conftest import flat_outputs, small_space, tiny_input

SPACE_NAMES = SPACES.names()


@pytest.fixture(scope="module", params=SPACE_NAMES)
def space(request) -> SearchSpace:
    return small_space(request.param)


def samples(space: SearchSpace, n: int, seed: int = 0) -> list[Arch]:
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def has_canonical_form(space: SearchSpace) -> bool:
    return type(space).canonical is not SearchSpace.canonical


def test_registry_is_not_empty():
    assert "shufflenet" in SPACE_NAMES


# ---- the architecture value ----------------------------------------------------------------------
def test_json_round_trip_and_hash(space):
    for arch in samples(space, 10):
        text = arch.to_json()
        obj = json.loads(text)  # valid JSON, the documented shape
        assert obj == {"space": space.name, "choices": list(arch.choices)}
        back = Arch.from_json(text)
        assert back == arch and back.hash == arch.hash and hash(back) == hash(arch)
        # lists and numpy integers normalise to the same value and hash
        same = Arch(space.name, [np.int64(c) for c in arch.choices])
        assert same == arch and same.hash == arch.hash and {same, arch} == {arch}
        assert space.contains(back)


def test_hash_is_a_fixed_content_hash():
    # Archives across runs and machines are keyed by this hash: it must never change silently.
    assert Arch("shufflenet", (0, 1, 2, 3)).hash == "565d5c208d987dce"
    assert Arch("shufflenet", (0, 1, 2, 3)).hash != Arch("shufflenet", (0, 1, 3, 2)).hash
    assert Arch("shufflenet", (0, 1)).hash != Arch("other", (0, 1)).hash


def test_distinct_archs_have_distinct_hashes(space):
    archs = set(samples(space, 30))
    assert len({a.hash for a in archs}) == len(archs)


# ---- sampling and variation ------------------------------------------------------------------------
def test_sampling_is_deterministic_per_seed(space):
    assert samples(space, 8, seed=3) == samples(space, 8, seed=3)
    if space.size() > 100:
        assert samples(space, 8, seed=3) != samples(space, 8, seed=4)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    a, b = samples(space, 2, seed=9)
    assert space.mutate(a, rng_a, 0.3) == space.mutate(a, rng_b, 0.3)
    assert space.crossover(a, b, rng_a) == space.crossover(a, b, rng_b)


def test_samples_are_members_and_cover_options(space):
    archs = samples(space, 200)
    assert all(space.contains(a) for a in archs)
    if not has_canonical_form(space):
        # uniform sampling reaches every option of every decision in 200 draws (4 options here)
        for i, d in enumerate(space.decisions):
            if d.num_options <= 8:
                assert {a.choices[i] for a in archs} == set(range(d.num_options)), d.label


def test_mutate_and_crossover_stay_inside(space):
    rng = np.random.default_rng(1)
    archs = samples(space, 10)
    for a, b in zip(archs, archs[1:]):
        assert space.contains(space.mutate(a, rng, 0.2))
        state = rng.bit_generator.state
        child = space.crossover(a, b, rng)
        assert space.contains(child)
        if type(space).crossover is SearchSpace.crossover:
            # each decision comes from one of the parents, before the canonical form (which may
            # renumber equivalent parts: DARTS cells' nodes) is taken
            replay = np.random.default_rng()
            replay.bit_generator.state = state
            take_a = replay.random(len(space.decisions)) < 0.5
            mixed = Arch(space.name, tuple(x if t else y for x, y, t in zip(a.choices, b.choices, take_a)))
            assert child == space.canonical(mixed)
        else:
            assert all(c in (x, y) for c, x, y in zip(child.choices, a.choices, b.choices))


def test_mutate_probability_extremes(space):
    rng = np.random.default_rng(2)
    for arch in samples(space, 5):
        assert space.mutate(arch, rng, 0.0) == arch
        changed = space.mutate(arch, rng, 1.0)
        if has_canonical_form(space):
            assert changed != arch
            continue
        for i, (old, new, d) in enumerate(zip(arch.choices, changed.choices, space.decisions)):
            if d.num_options > 1:
                assert old != new, f"decision {i} ({d.label}) not changed with prob=1"


# ---- membership ------------------------------------------------------------------------------------
def test_contains_rejects_with_a_reason(space):
    arch = samples(space, 1)[0]
    n = len(space.decisions)
    bad_choice = list(arch.choices)
    bad_choice[0] = space.decisions[0].num_options  # one past the last option
    negative = list(arch.choices)
    negative[-1] = -1
    cases = {
        "too short": Arch(space.name, arch.choices[:-1]),
        "too long": Arch(space.name, arch.choices + (0,)),
        "out of range": Arch(space.name, bad_choice),
        "negative": Arch(space.name, negative),
        "other space": Arch(space.name + "-other", arch.choices),
    }
    for what, wrong in cases.items():
        answer = space.contains(wrong)
        assert not answer and answer.ok is False, what
        assert isinstance(answer.reason, str) and answer.reason, what
    assert str(n) in space.contains(cases["too short"]).reason
    assert space.name in space.contains(cases["other space"]).reason
    assert space.decisions[0].label in space.contains(cases["out of range"]).reason
    assert space.contains(arch) and space.contains(arch).reason == ""


def test_operators_refuse_foreign_archs(space):
    arch = samples(space, 1)[0]
    wrong = replace(arch, space=space.name + "-other")
    rng = np.random.default_rng(0)
    for call in (lambda: space.encode(wrong), lambda: space.mutate(wrong, rng, 0.5),
                 lambda: space.crossover(arch, wrong, rng), lambda: space.flops(wrong),
                 lambda: space.build(wrong), lambda: space.describe(wrong)):
        with pytest.raises(ValueError):
            call()


# ---- encoding, size, description ---------------------------------------------------------------------
def test_encode_fixed_length_and_injective(space):
    archs = list(dict.fromkeys(samples(space, 30)))
    codes = [space.encode(a) for a in archs]
    assert all(c.shape == (space.encoding_size(),) and c.dtype == np.float32 for c in codes)
    assert len({c.tobytes() for c in codes}) == len(archs)
    a = archs[0]
    assert not np.array_equal(space.encode(a), space.encode(space.mutate(a, np.random.default_rng(0), 1.0)))


def test_size_is_product_of_option_counts(space):
    assert space.size() == math.prod(d.num_options for d in space.decisions)
    if space.name == "shufflenet":  # SPOS: 20 blocks x 4 candidates
        assert space.size() == 4 ** 20


def test_describe_one_pair_per_decision(space):
    arch = samples(space, 1)[0]
    pairs = space.describe(arch)
    assert len(pairs) == len(space.decisions)
    for (label, option), d, c in zip(pairs, space.decisions, arch.choices):
        assert label == d.label and option == d.options[c]


def test_config_is_json_and_rebuilds_the_space(space):
    cfg = space.config()
    assert json.loads(json.dumps(cfg)) == cfg
    again = SPACES.get(space.name)(**cfg)
    assert again.decisions == space.decisions and again.config() == cfg


# ---- networks and costs ---------------------------------------------------------------------------
def test_build_runs_forward_and_backward(space):
    x = tiny_input(space)
    for arch in samples(space, 2):
        net = space.build(arch, torch.Generator().manual_seed(0)).train()
        out = net(x)
        logits = out[0] if isinstance(out, tuple) else out  # a detector: (class logits, box deltas, anchors)
        assert logits.shape[0] == 2 and all(torch.isfinite(t).all() for t in flat_outputs(out))
        if "num_classes" in space.config():
            assert logits.shape[-1] == space.config()["num_classes"]
        sum(t.square().mean() for t in flat_outputs(out)).backward()
        grads = {n: p.grad for n, p in net.named_parameters()}
        assert any(g is not None and g.abs().sum() > 0 for g in grads.values())
        assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)
        if not has_canonical_form(space):  # chain spaces have no dead ops: every weight is trained
            missing = [n for n, g in grads.items() if g is None]
            assert not missing, f"parameters without gradient: {missing[:5]}"


def test_flops_and_params_match_measurement(space):
    for arch in samples(space, 2, seed=11):
        net, x = space.cost_probe(arch)
        if hasattr(space, "bops"):  # binary ops: their multiply-adds are BOPs, counted at 1/64
            assert space.float_flops(arch) + 2 * space.bops(arch) == measure_flops(net, x)
            assert space.flops(arch) == space.float_flops(arch) + round(2 * space.bops(arch) / 64)
        else:
            assert space.flops(arch) == measure_flops(net, x)
        assert space.params(arch) == count_params(net)
