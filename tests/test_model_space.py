"""Model spaces: choice points in a plain PyTorch model, and everything derived from them
(search_spaces.model_space). The examples in examples/ are the user models under test."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nas_common.errors import UserError
from nas_common.registry import SPACES
from search_spaces.model_space import (
    InputChoice, LayerChoice, Repeat, SpaceDefinitionError, ValueChoice, fixed, model_space, recording,
)
from search_spaces.protocol import Supernet

try:
    from tests import test_recalibration as recalibration_contract
    from tests import test_supernet_contract as contract
    from tests.conftest import needs_subset, run_main
except ImportError:
    import test_recalibration as recalibration_contract
    import test_supernet_contract as contract
    from conftest import needs_subset, run_main

SMALL_CNN = "examples.small_cnn:SmallCNN"
CELL_NET = "examples.cell_inputs:CellNet"
NB201_MODEL = "examples.nb201_model:NB201"
NESTED = "examples.nested_blocks:NestedNet"


def user_spaces():
    return [pytest.param(SPACES.get(SMALL_CNN)(channels=4), id="small_cnn"),
            pytest.param(SPACES.get(CELL_NET)(channels=4), id="cell_inputs"),
            pytest.param(SPACES.get(NB201_MODEL)(channels=4, cells_per_stage=1), id="nb201_model"),
            pytest.param(SPACES.get(NESTED)(channels=4), id="nested_blocks")]


# ---- decisions ------------------------------------------------------------------------------------
class Nested(nn.Module):
    """Unlabelled choices inside a Repeat inside a mapped value: every scope numbers its own."""

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 1)
        depth = ValueChoice([1, 2], label="depth")
        self.body = Repeat(lambda i: LayerChoice([nn.Conv2d(width, width, 3, padding=1), nn.Identity()]), depth)
        self.tail = ValueChoice([1, 3]).map(lambda k: nn.Sequential(
            nn.Conv2d(width, width, k, padding=k // 2), LayerChoice([nn.ReLU(), nn.Tanh()])))
        self.head = nn.Linear(width, 3)

    def forward(self, x):
        return self.head(self.tail(self.body(self.stem(x))).mean((2, 3)))


def test_decisions_come_from_nested_modules_in_construction_order():
    space = model_space(Nested)()
    labels = [d.label for d in space.decisions]
    assert labels == ["depth", "depth#0.layer_1", "depth#1.layer_1", "value_1", "value_1=0.layer_1",
                      "value_1=1.layer_1"]
    assert [d.num_options for d in space.decisions] == [2, 2, 2, 2, 2, 2]
    # the choice inside block 1 matters only at depth 2; the ReLU/Tanh choice only under its kernel
    arch = space.canonical(space.parse({"space": space.name, "choices": [0, 1, 1, 1, 1, 1]}))
    assert arch.choices == (0, 1, 0, 1, 0, 1)


def test_a_shared_label_is_one_decision_used_by_several_layers():
    space = SPACES.get(SMALL_CNN)(channels=4)
    assert [d.label for d in space.decisions] == [f"stage{s}.{k}" for s in (0, 1) for k in ("kernel", "width", "depth")]
    arch = space.parse({"space": space.name, "choices": [1, 0, 2, 0, 1, 0]})  # stage 0: 5x5, 3 blocks
    net = space.build(arch)
    kernels = [m.kernel_size for m in net.body[1].modules() if isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1)]
    assert kernels == [(5, 5)] * 3


def test_shared_labels_must_agree_on_their_number_of_options():
    class Mismatch(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = LayerChoice([nn.ReLU(), nn.Tanh()], label="act")
            self.b = LayerChoice([nn.ReLU(), nn.Tanh(), nn.Sigmoid()], label="act")

    with pytest.raises(SpaceDefinitionError, match="'act' has 3 options, but the choice it shares its label with has 2"):
        model_space(Mismatch)()


def test_fixed_build_is_the_plain_module_with_the_choices_taken():
    with fixed({"op": 1, "k": 1, "pick": 0}):
        op = LayerChoice({"relu": nn.ReLU(), "conv": nn.Conv2d(2, 2, 1)}, label="op")
        conv = ValueChoice([3, 5], label="k").map(lambda k: nn.Conv2d(2, 2, k))
        pick = InputChoice(2, label="pick")
    assert isinstance(op, nn.Conv2d) and conv.kernel_size == (5, 5)
    a, b = torch.ones(1), torch.zeros(1)
    assert pick([a, b]) is a
    with recording() as context:
        LayerChoice([nn.ReLU(), nn.Tanh()], label="x")
    assert context.decisions == {"x": ("0:ReLU", "1:Tanh")}


# ---- the supernet contract, exactly as for the built-in spaces ----------------------------------------
@pytest.mark.parametrize("space", user_spaces())
def test_user_spaces_keep_the_supernet_contract(space):
    assert isinstance(space.supernet(), Supernet)
    contract.test_path_state_names_the_stand_alone_parameters(space)
    contract.test_extract_equals_the_path_and_owns_its_tensors(space)
    contract.test_optional_forwards_agree_with_the_single_path(space)  # DARTS's mixed forward, one-hot


@pytest.mark.parametrize("space", user_spaces()[:3])
def test_bn_recalibration_is_exact_on_user_spaces(space):
    recalibration_contract.test_recalibrated_statistics_are_exact_and_match_the_extracted_net(space)


def test_bn_recalibration_is_exact_on_nested_slices():
    """A nested batch norm's statistics for c channels are the first c entries of its buffers:
    recalibrating the path gives exactly what recalibrating the stand-alone network gives, and
    restoring puts every buffer back."""
    from nas.supernet.recalibrate import recalibrate, restore

    space = SPACES.get(NESTED)(channels=4)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    arch = space.parse({"space": space.name, "choices": [0, 1, 1, 1, 0, 1]})
    batches = [torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(i)) for i in range(3)]
    standalone = supernet.extract(arch)
    before = {k: v.clone() for k, v in supernet.state_dict().items()}
    saved = recalibrate(supernet, lambda x: supernet(x, arch), batches)
    recalibrate(standalone, standalone, batches)
    path = supernet.path_state(arch)
    stats = {k: v for k, v in standalone.state_dict().items() if k.endswith(("running_mean", "running_var"))}
    assert stats and all(torch.allclose(path[k], v, rtol=1e-5, atol=1e-6) for k, v in stats.items())
    restore(saved)
    assert all(torch.equal(v, before[k]) for k, v in supernet.state_dict().items())


@pytest.mark.parametrize("space", user_spaces())
def test_mutation_and_crossover_stay_inside_the_space(space):
    rng = np.random.default_rng(0)
    parents = [space.sample(rng) for _ in range(6)]
    children = [space.mutate(p, rng, 0.5) for p in parents] + [space.crossover(a, b, rng) for a, b in
                                                                  zip(parents, parents[1:])]
    assert all(space.contains(c) and space.canonical(c) == c for c in children)
    assert len({c.hash for c in children}) > 1


@pytest.mark.parametrize("space", user_spaces())
def test_a_seed_fixes_every_weight_whatever_the_global_generator_did(space):
    """Weights come from the generator passed in (STYLE 5), never from torch's global generator."""
    arch = space.sample(np.random.default_rng(1))
    nets = []
    for global_seed in (0, 1):
        torch.manual_seed(global_seed)  # the test disturbs the global generator on purpose
        nets.append((space.supernet(torch.Generator().manual_seed(7)).state_dict(),
                     space.build(arch, torch.Generator().manual_seed(7)).state_dict()))
    for a, b in zip(nets[0], nets[1]):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    other = space.supernet(torch.Generator().manual_seed(8)).state_dict()
    assert any(not torch.equal(other[k], nets[0][0][k]) for k in other if other[k].is_floating_point())


def test_costs_are_counted_on_the_stand_alone_network():
    from search_spaces.cost import count_params, measure_flops

    space = SPACES.get(SMALL_CNN)(channels=4, input_size=16)
    arch = space.sample(np.random.default_rng(3))
    net = space.build(arch)
    assert space.params(arch) == count_params(net)
    assert space.flops(arch) == measure_flops(net, torch.zeros(1, 3, 16, 16))


def test_nested_choices_share_one_set_of_weights_and_a_path_trains_only_its_slices():
    """Nested sharing: the supernet holds exactly the largest network's parameters; a training
    step on a narrow, small-kernel path changes only the slices that path uses."""
    space = SPACES.get(NESTED)(channels=4)
    largest = space.parse({"space": space.name, "choices": [1, 2, 1, 1, 2, 1]})
    supernet = space.supernet(torch.Generator().manual_seed(0))
    assert sum(p.numel() for p in supernet.parameters()) == space.params(largest)
    narrow = space.parse({"space": space.name, "choices": [0, 0, 0, 0, 0, 0]})  # width x2, 3x3, depth 1
    before = {k: v.detach().clone() for k, v in supernet.state_dict().items()}
    optimizer = torch.optim.SGD(supernet.parameters(), lr=0.1)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    torch.nn.functional.cross_entropy(supernet(x, narrow), y).backward()
    optimizer.step()
    depthwise = "model.body.3.blocks.0.body.3.weight"  # stage 0, block 0: 16 channels of 7x7 kernels
    changed = (supernet.state_dict()[depthwise] != before[depthwise])
    assert changed[:8, :, 2:5, 2:5].any()  # the path's 8 channels of 3x3 centre
    assert not changed[8:].any() and not changed[:, :, :2].any() and not changed[:, :, 5:].any()
    block1 = "model.body.3.blocks.1.body.0.weight"  # depth 1: the second block is off the path
    assert torch.equal(supernet.state_dict()[block1], before[block1])
    from search_spaces.protocol import Differentiable

    assert not isinstance(space, Differentiable)  # sizes are not module choices


# ---- the built-in NB201 network, rewritten as a user model ----------------------------------------------
def test_nb201_as_a_user_model_has_the_same_architectures_and_outputs():
    from search_spaces.nb201.space import NB201Space

    builtin = NB201Space(channels=8, cells_per_stage=1)
    user = SPACES.get(NB201_MODEL)(channels=8, cells_per_stage=1)
    # one decision per edge with the same options, in the same order: the identity maps the choices
    assert [d.options for d in user.decisions] == [d.options for d in builtin.decisions]
    assert user.size() == builtin.size() == 15_625
    rng = np.random.default_rng(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    for _ in range(12):
        theirs = builtin.sample(rng)
        ours = user.parse({"space": user.name, "choices": list(theirs.choices)})
        assert user.canonical(ours) == ours  # every edge is used by every cell: nothing merges
        reference = builtin.build(theirs, torch.Generator().manual_seed(2)).eval()
        net = user.supernet(torch.Generator().manual_seed(3)).extract(ours)
        net.load_state_dict(reference.state_dict())  # strict: the same names, no key errors
        torch.testing.assert_close(net.eval()(x), reference(x), rtol=1e-5, atol=1e-6)


# ---- bad user spaces: found when the space is built, one line naming the layer -----------------------
class NoChoices(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x)


class OneCandidate(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = LayerChoice([nn.ReLU()], label="lonely")

    def forward(self, x):
        return self.op(x)


class ShapeMismatch(nn.Module):
    def __init__(self):
        super().__init__()
        self.op = LayerChoice({"same": nn.Conv2d(3, 4, 3, padding=1), "valid": nn.Conv2d(3, 4, 3)}, label="conv1")

    def forward(self, x):
        return self.op(x).mean((2, 3))


@pytest.mark.parametrize("model, message", [
    (NoChoices, "has no choice points"),
    (OneCandidate, "layer choice 'lonely' has 1 candidate"),
    (ShapeMismatch, r"layer choice 'conv1': candidate valid gives \(2, 4, 30, 30\), candidate same gives \(2, 4, 32, 32\)"),
])
def test_bad_user_spaces_are_refused_at_build_naming_the_layer(model, message):
    with pytest.raises(SpaceDefinitionError, match=message) as err:
        model_space(model)()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("reference, message", [
    ("no_such_package.models:Net", "cannot import 'no_such_package.models'"),
    ("examples.small_cnn:NoSuchNet", "examples.small_cnn has no 'NoSuchNet'"),
    ("tests.test_model_space:NoChoices", "has no choice points"),
])
def test_a_bad_space_reference_is_one_line_and_exit_2(reference, message, tmp_path):
    with pytest.raises(UserError, match=message):
        SPACES.get(reference)()
    code, _ = run_main(["search", "--space", reference, "--evaluator", "zc", "--strategy", "random",
                        "--budget", "2", "--out", str(tmp_path / "run")])
    assert code == 2 and not (tmp_path / "run").exists()


# ---- everything works on it: strategies, supernet search, export, resume, Ray -----------------------
@needs_subset
@pytest.mark.parametrize("strategy, options", [
    ("random", []), ("evolution", ["-o", "population=4", "-o", "sample_size=2", "-o", "topk=2"]),
    ("rl", []), ("nao", ["-o", "population=4"]), ("seminas", ["-o", "population=4"]),
])
def test_every_sampling_strategy_searches_a_user_space(strategy, options, tmp_path):
    run = tmp_path / strategy
    code, report = run_main(["search", "--space", SMALL_CNN, "-S", "channels=4", "--evaluator", "zc",
                             "-E", "proxy=params", "--strategy", strategy, *options, "--budget", "6",
                             "--data", "cifar10-subset", "--quiet", "--out", str(run)])
    assert code == 0, report
    records = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["arch"]["space"] == SMALL_CNN for r in records)
    space = SPACES.get(SMALL_CNN)(channels=4)
    assert all(space.contains(space.parse(r["arch"])) for r in records)


@needs_subset
@pytest.mark.slow
def test_a_supernet_search_on_a_user_space_exports_resumes_and_reloads(tmp_path):
    from nas.workflows.export import load_exported

    run = tmp_path / "search"
    flags = ["search", "--space", CELL_NET, "-S", "channels=4", "--strategy", "random", "--budget", "4",
             "--data", "cifar10-subset", "--steps", "20", "--train-limit", "600", "-E", "calibration_images=64",
             "-E", "val_images=100", "-E", "confirm_images=100", "--random-baseline", "5", "--force", "--quiet",
             "--out", str(run)]
    code, report = run_main(flags)
    assert code == 0, report
    records = (run / "evaluations.jsonl").read_text().splitlines()
    code, _ = run_main(["search", "--resume", str(run), "--budget", "6", "--quiet"])
    assert code == 0
    resumed = (run / "evaluations.jsonl").read_text().splitlines()
    assert resumed[:4] == records and len(resumed) == 6
    code, _ = run_main(["export", "--run", str(run), "--out", str(tmp_path / "best.pt")])
    assert code == 0
    model, arch, _ = load_exported(tmp_path / "best.pt")
    space = SPACES.get(CELL_NET)(channels=4)
    reference = space.build(arch)
    reference.load_state_dict(model.net.state_dict())
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.net(x), reference.eval()(x))


@needs_subset
def test_darts_searches_a_user_space_whose_choices_are_all_module_choices(tmp_path):
    """NB201 written as a user model (every choice a layer choice over the same five ops) and a cell
    with input choices (choices of 2 to 4 options): DARTS trains the mixed supernet and derives a
    cell (scored by a short stand-alone training); depths are not module choices, so no DARTS."""
    from search_spaces.protocol import Differentiable

    assert isinstance(SPACES.get(NB201_MODEL)(channels=4, cells_per_stage=1), Differentiable)
    assert not isinstance(SPACES.get(SMALL_CNN)(channels=4), Differentiable)  # depths are not module choices
    run = tmp_path / "darts"
    code, report = run_main(["search", "--space", NB201_MODEL, "-S", "channels=4", "-S", "cells_per_stage=1",
                             "--strategy", "darts", "--data", "cifar10-subset", "--epochs", "1", "--train-limit", "400",
                             "-E", "epochs=1", "--force", "--quiet", "--out", str(run)])
    assert code == 0, report
    alphas = json.loads((run / "supernet" / "alphas.json").read_text())
    assert alphas["ops"] == ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    assert len(alphas["logits"]) == 6
    cells = tmp_path / "cells"  # layer choices of 4 ops and input choices of 2 or 3: rows padded to 4
    code, report = run_main(["search", "--space", CELL_NET, "-S", "channels=4", "--strategy", "darts", "--data",
                             "cifar10-subset", "--epochs", "1", "--train-limit", "400", "-E", "epochs=1", "--force",
                             "--quiet", "--out", str(cells)])
    assert code == 0, report
    space = SPACES.get(CELL_NET)(channels=4)
    best = json.loads((cells / "evaluations.jsonl").read_text().splitlines()[0])["arch"]
    assert space.contains(space.parse(best))
    padded = np.zeros(space.alpha_shape)
    padded[:, 0], padded[:, -1] = 1.0, 9.0  # the last column exists only for the 4-op choices
    assert list(space.discretise(padded).choices) == [3 if d.num_options == 4 else 0 for d in space.decisions]
    code, _ = run_main(["search", "--space", SMALL_CNN, "--strategy", "darts", "--data", "cifar10-subset",
                        "--out", str(tmp_path / "refused")])
    assert code == 2 and not (tmp_path / "refused").exists()  # "needs a space with a mixed forward"


# ---- registries: references and third-party entry points ---------------------------------------------
def test_a_space_from_an_entry_point_is_listed_and_built(tmp_path, monkeypatch):
    """A package that declares `[project.entry-points."nas.spaces"] mine = "pkg.mod:Model"` adds the
    space `mine`, listed with the built-in ones."""
    from nas_common.registry import Registry
    from search_spaces.model_space import ModelSpace

    dist = tmp_path / "nas_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: nas-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[nas.spaces]\ncells = examples.cell_inputs:CellNet\n"
                                           "broken = no_such_module:Thing\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("space", "spaces", providers=("search_spaces",), group="nas.spaces")
    registry.set_adapter(lambda name, obj: model_space(obj, name=name))
    assert registry.names() == ["broken", "cells"]  # listed before either is imported
    space = registry.get("cells")(channels=4)
    assert isinstance(space, ModelSpace) and space.name == "cells"
    with pytest.raises(UserError, match="the space 'broken' of entry point 'no_such_module:Thing'"):
        registry.get("broken")


@pytest.mark.parametrize("options, message", [
    ({"input_size": 10**9}, "input_size must be a whole number from 1 to 4,096"),
    ({"in_channels": float("nan")}, "in_channels must be a whole number"),
    ({"channels": 10**6}, "its supernet would hold .* parameters, above 2,000,000,000"),
    ({"channels": -3}, r"SmallCNN\(channels=-3, in_channels=3\) failed: RuntimeError: Trying to create tensor with negative"),
])
def test_sizes_beyond_what_a_machine_builds_are_refused_before_allocating(options, message):
    with pytest.raises((ValueError, SpaceDefinitionError), match=message):
        SPACES.get(SMALL_CNN)(**options)
