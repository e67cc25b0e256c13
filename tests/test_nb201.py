"""The nb201 space (NAS-Bench-201 cell) and the NB201 table evaluator, on tiny nets and the bundled table."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from nas_common.errors import InvalidArchitecture, UserError
from nas.evaluate.table import COLUMNS, TableEvaluator, default_table
from nas_common.registry import SPACES
from nas.supernet.recalibrate import recalibrate
from search_spaces.arch import Arch
from search_spaces.cost import count_params, measure_flops
from search_spaces.nb201 import NB201Space

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
TINY = {"width": 0.25, "cells_per_stage": 1, "input_size": 8}  # 4/8/16 channels, 3 cells
# all five ops, plus cells where `none` cuts paths (all-none, a cell reaching node 3 only via 3<-0)
ARCHS = [(3, 3, 4, 1, 3, 1), (0, 0, 0, 0, 0, 0), (4, 2, 1, 3, 0, 0), (2, 1, 0, 4, 3, 2)]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny nets: a second intra-op thread only adds contention on a shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return NB201Space(**TINY)


@pytest.fixture(scope="module")
def table() -> TableEvaluator:
    if not default_table().exists():
        pytest.skip(f"bundled NB201 table not found at {default_table()}")
    return TableEvaluator()


def arch(choices) -> Arch:
    return Arch("nb201", tuple(choices))


# ---- space and strings ----------------------------------------------------------------------------
def test_registered_with_nb201_decisions():
    space = SPACES.get("nb201")()
    assert isinstance(space, NB201Space) and space.size() == 15_625
    assert [d.label for d in space.decisions] == [
        "edge_1<-0", "edge_2<-0", "edge_2<-1", "edge_3<-0", "edge_3<-1", "edge_3<-2"]
    assert space.decisions[0].options == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert space.config() == {"channels": 16, "cells_per_stage": 5, "input_size": 32, "in_channels": 3,
                              "num_classes": 10, "width": 1.0, "sharing": "independent"}


def test_string_format():
    space = NB201Space()
    a = space.from_string(EXAMPLE)
    assert a == arch((3, 3, 4, 1, 3, 1))
    assert space.to_string(a) == EXAMPLE
    assert space.canonical(arch((0,) * 6)) == arch((0,) * 6)  # identity: tables index raw strings


def test_string_round_trip_every_table_row(table):
    space = NB201Space()
    with default_table().open(newline="") as f:
        texts = [row["arch_str"] for row in csv.DictReader(f)]
    archs = [space.from_string(t) for t in texts]
    assert len(texts) == 15_625 and len(set(archs)) == 15_625
    assert all(space.to_string(a) == t for a, t in zip(archs, texts))


@pytest.mark.parametrize("text", [
    "",
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|",  # two nodes
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|",  # node 3 short
    EXAMPLE.replace("avg_pool_3x3", "max_pool_3x3"),  # unknown op
    EXAMPLE.replace("avg_pool_3x3~1", "avg_pool_3x3~0"),  # wrong source node
    EXAMPLE.replace("skip_connect~2", "skip_connect"),  # no source
    EXAMPLE[1:],  # missing leading '|'
    EXAMPLE + "+|none~0|",
])
def test_bad_strings_raise(text):
    with pytest.raises(InvalidArchitecture, match="NB201"):
        NB201Space().from_string(text)


# ---- networks -----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [8, 7])  # odd sizes work too (ceil-mode reduction shortcut)
def test_build_forward_backward(space, size):
    net = space.build(arch(ARCHS[0]), torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    out = net(x)
    assert out.shape == (2, 10)
    out.square().mean().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_build_is_seeded(space):
    a, b = (space.build(arch(ARCHS[0]), torch.Generator().manual_seed(3)) for _ in range(2))
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("sharing", ["independent", "nested"])
@pytest.mark.parametrize("choices", ARCHS)
def test_supernet_path_equals_extracted_net(choices, sharing):
    """After recalibrating both on the same batches, the path and its extracted net agree bitwise;
    nested (conv 1x1 = centre of conv 3x3) as much as independent ops, with shared weights."""
    space = NB201Space(**TINY, sharing=sharing)
    a = arch(choices)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randn(4, 3, 8, 8, generator=gen) for _ in range(3)]
    recalibrate(supernet, lambda x: supernet(x, a), batches)
    net = supernet.extract(a)
    recalibrate(net, net, batches)
    x = torch.randn(3, 3, 8, 8, generator=gen)
    with torch.no_grad():
        assert torch.equal(supernet.eval()(x, a), net.eval()(x))
        weights = torch.nn.functional.one_hot(torch.tensor(choices), 5).float()
        assert torch.equal(supernet.forward_mixed(x, weights), supernet(x, a))
    if sharing == "nested":
        edge = supernet.cells[0].edges[0]
        assert torch.equal(edge.unit_state(3)["1.weight"][..., 1:2, 1:2], edge.unit_state(2)["1.weight"])


def test_single_path_touches_only_its_ops(space):
    a = arch(ARCHS[0])  # no `none` edge, so every chosen op is on a live path
    supernet = space.supernet(torch.Generator().manual_seed(0))
    supernet(torch.randn(2, 3, 8, 8), a).sum().backward()
    for name, p in supernet.named_parameters():
        if ".candidates." in name:
            edge, choice = int(name.split(".")[3]), int(name.split(".")[5])
            assert (p.grad is not None) == (choice == a.choices[edge]), name


@pytest.mark.parametrize("choices", ARCHS)
def test_mixed_forward_with_one_hot_weights_is_single_path(space, choices):
    supernet = space.supernet(torch.Generator().manual_seed(0)).eval()
    weights = torch.nn.functional.one_hot(torch.tensor(choices), 5).float()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(supernet.forward_mixed(x, weights), supernet(x, arch(choices)))


def test_mixed_forward_gives_every_weight_a_gradient(space):
    supernet = space.supernet(torch.Generator().manual_seed(0))
    alpha = torch.zeros(6, 5, requires_grad=True)
    supernet.forward_mixed(torch.randn(2, 3, 8, 8), alpha.softmax(-1)).square().sum().backward()
    assert alpha.grad is not None and alpha.grad.abs().sum() > 0


@pytest.mark.parametrize("options", [TINY, {}], ids=["tiny", "default"])
def test_cost_tables_equal_measurement(options):
    space = NB201Space(**options)
    size = space.cfg.input_size
    for choices in ARCHS:
        net = space.build(arch(choices))
        assert space.flops(arch(choices)) == measure_flops(net, torch.zeros(1, 3, size, size))
        assert space.params(arch(choices)) == count_params(net)


def test_default_cost_matches_nb201():
    # NB201 lists the best CIFAR-10 cell at 1.073 M params and 153.27 M multiply-adds.
    space = NB201Space()
    best = space.from_string(
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    assert space.params(best) == 1_073_466
    assert round(space.flops(best) / 2e6, 2) == 153.27


def test_generic_operators_stay_in_space():
    space = NB201Space()
    rng = np.random.default_rng(0)
    a, b = space.sample(rng), space.sample(rng)
    for child in (space.mutate(a, rng, 0.5), space.crossover(a, b, rng)):
        assert space.contains(child)
    assert not space.contains(arch((5, 0, 0, 0, 0, 0)))


# ---- table evaluator ----------------------------------------------------------------------------
def test_table_evaluate_is_valid_acc_only(table):
    space = NB201Space()
    a = space.from_string(EXAMPLE)  # arch_idx 1 of the bundled table
    assert len(table) == 15_625 and table.arch_index(a) == 1
    assert table.evaluate(a) == {"val_acc": 82.834}
    assert table.reported(a) == {"test_acc": 93.66, "test_acc_12ep": 88.22}
    assert not set(table.evaluate(a)) & table.hidden_metrics


def test_table_best_arch(table):
    best, acc = table.best("test_acc")
    assert acc == 94.3733 and table.arch_index(best) == 6111
    assert table.reported(best)["test_acc"] == 94.3733


def write_csv(path, header, rows):
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_table_accepts_other_csv_with_the_columns(tmp_path):
    path = write_csv(tmp_path / "t.csv", ("extra", *COLUMNS), [("x", 7, EXAMPLE, 50.0, 51.0, 52.0)])
    table = TableEvaluator(path)
    a = NB201Space().from_string(EXAMPLE)
    assert table.evaluate(a) == {"val_acc": 50.0} and table.reported(a)["test_acc"] == 52.0
    with pytest.raises(UserError, match="not in the NB201 table"):
        table.evaluate(arch((0,) * 6))
    with pytest.raises(InvalidArchitecture):
        table.evaluate(Arch("shufflenet", (0,) * 6))


@pytest.mark.parametrize("header, row, message", [
    (COLUMNS[:-1], (1, EXAMPLE, 50.0, 51.0), "lacks column"),
    (COLUMNS, (1, EXAMPLE.replace("avg", "max"), 50.0, 51.0, 52.0), "line 2: bad NB201 architecture string"),
    (COLUMNS, (1, EXAMPLE, "n/a", 51.0, 52.0), "line 2: not a number"),
    (COLUMNS, (1, EXAMPLE, 50.0), "line 2: expected 5 fields"),
    (COLUMNS, None, "has no rows"),
])
def test_bad_tables_raise_user_error(tmp_path, header, row, message):
    path = write_csv(tmp_path / "t.csv", header, [row] if row else [])
    with pytest.raises(UserError, match=message):
        TableEvaluator(path)


def test_missing_or_duplicate_table_raises_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        TableEvaluator(tmp_path / "nope.csv")
    row = (1, EXAMPLE, 50.0, 51.0, 52.0)
    with pytest.raises(UserError, match="appears twice"):
        TableEvaluator(write_csv(tmp_path / "t.csv", COLUMNS, [row, row]))


# ---- isomorphism: NB201's unique cells --------------------------------------------------------------
def _tied(space, arch, seed=0):
    """The stand-alone net of `arch` with every conv 1x1 of a cell sharing one weight and every
    conv 3x3 another (what "the same function" means between two cells); stem, reductions and
    head are those of one reference net, whatever the cell."""
    from search_spaces.nb201.ops import ReLUConvBN

    net = space.build(arch).eval()
    reference = space.build(Arch("nb201", (0,) * 6), generator=torch.Generator().manual_seed(seed)).state_dict()
    net.load_state_dict({k: v for k, v in reference.items() if ".edges." not in k}, strict=False)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for cell in net.cells:
            c = next(iter(cell.parameters()), torch.zeros(1)).shape[0]  # the stage's channels (any conv's)
            shared = {k: torch.randn(c, c, k, k, generator=g) * 0.3 for k in (1, 3)}  # drawn whatever the cell
            for op in getattr(cell, "edges", []):  # reduction blocks keep the reference's weights
                if isinstance(op, ReLUConvBN):
                    op[1].weight.copy_(shared[op[1].kernel_size[0]])
    return net


def test_isomorphic_cells_compute_the_same_function_and_share_one_representative():
    space = NB201Space(channels=4, cells_per_stage=1)
    assert len(space.unique_archs()) == 6466  # NB201's count of unique cells among 15,625
    rng = np.random.default_rng(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    by_key = {}
    for _ in range(400):
        arch = space.sample(rng)
        by_key.setdefault(space.unique_key(arch), []).append(arch)
    pairs = [(group[0], other) for group in by_key.values() for other in group[1:] if other != group[0]]
    assert len(pairs) >= 20
    for a, b in pairs[:20]:
        assert space.representative(a) == space.representative(b)
        assert torch.allclose(_tied(space, a)(x), _tied(space, b)(x), atol=1e-5)
    # different classes differ: a conv 3x3 cell is not a skip cell
    conv, skip = Arch("nb201", (0, 0, 0, 3, 0, 0)), Arch("nb201", (0, 0, 0, 1, 0, 0))
    assert space.unique_key(conv) != space.unique_key(skip)
    assert not torch.allclose(_tied(space, conv)(x), _tied(space, skip)(x), atol=1e-5)
    # node 3 = conv3x3(node 2) where node 2 = x by either skip route: one class, represented by
    # its lowest index (node 1 = 0 + ..., which no other edge reads)
    same = [Arch("nb201", c) for c in ((1, 0, 1, 0, 0, 3), (1, 1, 0, 0, 0, 3), (0, 1, 0, 0, 0, 3))]
    assert {space.representative(a) for a in same} == {Arch("nb201", (0, 1, 0, 0, 0, 3))}


def test_unique_sampling_draws_class_representatives_uniformly():
    space = NB201Space(channels=4, cells_per_stage=1, sampling="unique")
    reps = set(space.unique_archs())
    rng = np.random.default_rng(1)
    drawn = [space.sample(rng) for _ in range(3000)]
    assert all(a in reps for a in drawn)
    # uniform over classes: cells with a 'none' edge make up far more of the raw space than of the classes
    raw = NB201Space(channels=4, cells_per_stage=1)
    none_share = lambda archs: np.mean([0 in a.choices for a in archs])  # noqa: E731
    assert none_share(drawn) == pytest.approx(none_share(list(reps)), abs=0.03)
    assert none_share([raw.sample(rng) for _ in range(3000)]) > none_share(drawn) + 0.05
    assert space.config()["sampling"] == "unique" and "sampling" not in raw.config()
    with pytest.raises(ValueError, match="sampling"):
        NB201Space(sampling="bogus")


def test_affine_free_supernet_freezes_cell_norms_and_still_extracts_exactly():
    space = NB201Space(channels=4, cells_per_stage=1, affine=False)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    cell_norms = [m for layer in supernet.cells if hasattr(layer, "forward_mixed")
                  for m in layer.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert cell_norms and all(not m.weight.requires_grad and torch.all(m.weight == 1) and torch.all(m.bias == 0)
                              for m in cell_norms)
    assert supernet.stem[1].weight.requires_grad  # outside the cells BN still learns
    arch = Arch("nb201", (3, 2, 3, 1, 3, 2))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    supernet(x, arch).sum().backward()
    assert all(m.weight.grad is None for m in cell_norms)
    supernet.eval()
    assert torch.allclose(supernet.extract(arch).eval()(x), supernet(x, arch), atol=1e-6)
    assert space.config()["affine"] is False and "affine" not in NB201Space().config()
    with pytest.raises(ValueError, match="affine"):
        NB201Space(affine="false")


def test_few_shot_split_covers_every_architecture_once_and_extracts_exactly():
    space = NB201Space(channels=4, cells_per_stage=1, few_shot=2)
    supernet = space.supernet(torch.Generator().manual_seed(0)).eval()
    assert len(supernet.subnets) == 5
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    rng = np.random.default_rng(0)
    for _ in range(10):
        arch = space.sample(rng)
        owner = supernet.subnet(arch)
        assert owner is supernet.subnets[arch.choices[2]]  # the one sub-supernet of its op on edge 2
        out = supernet(x, arch)
        assert torch.equal(out, owner(x, arch))
        assert torch.allclose(supernet.extract(arch).eval()(x), out, atol=1e-6)
        state = supernet.path_state(arch)
        assert set(state) == set(space.build(arch).state_dict())
        ids = {id(t) for t in state.values()}
        others = [s for s in supernet.subnets if s is not owner]
        assert not ids & {id(p) for s in others for p in s.state_dict(keep_vars=True).values()}
    # every architecture is in exactly one split: the splits partition the edge's options
    assert sorted({a.choices[2] for a in (space.sample(rng) for _ in range(200))}) == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="few_shot"):
        NB201Space(few_shot=6)


def test_few_shot_supernet_starts_as_copies_of_the_one_shot_supernet(tmp_path):
    from nas.supernet.checkpoint import CHECKPOINT_NAME, save_checkpoint
    from nas.supernet.pipeline import load_initial_weights

    one_shot = NB201Space(channels=4, cells_per_stage=1).supernet(torch.Generator().manual_seed(3))
    run = tmp_path / "one-shot"
    run.mkdir()
    (run / "config.json").write_text('{"kind": "supernet", "space": "nb201"}')
    save_checkpoint({"model": one_shot.state_dict(), "step": 1, "space": "nb201", "space_config": {}},
                    run / CHECKPOINT_NAME)
    few = NB201Space(channels=4, cells_per_stage=1, few_shot=0).supernet(torch.Generator().manual_seed(9))
    load_initial_weights(few, str(run), "nb201")
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    one_shot.eval(), few.eval()
    for op in range(5):
        arch = Arch("nb201", (op, 3, 2, 1, 3, 4))
        assert torch.allclose(few(x, arch), one_shot(x, arch), atol=1e-6)
    wider = NB201Space(channels=8, cells_per_stage=1).supernet()
    with pytest.raises(UserError, match="does not fit"):
        load_initial_weights(wider, str(run), "nb201")


def test_nb201_supernet_searches_default_to_the_ranking_setup_and_darts_keeps_its_own():
    from nas.cli.main import build_parser
    from nas.config.resolve import resolve_config

    def resolved(*argv):
        return resolve_config(build_parser(["search"]).parse_args(["search", "--space", "nb201", *argv]))

    spos = resolved("--strategy", "evolution")
    assert spos.space_options == {"sharing": "nested", "affine": False, "cells_per_stage": 1, "width": 0.5}
    assert spos.train.epochs == 32 and spos.evaluator.settings["val_images"] == 2560
    darts = resolved("--strategy", "darts")
    assert darts.space_options == {"width": 0.25} and darts.train.lr == 0.025
    mine = resolved("--strategy", "evolution", "-S", "affine=true", "--width", "1.0")
    assert mine.space_options["affine"] is True and mine.space_options["width"] == 1.0  # flags win


def test_search_takes_the_continued_training_flags(tmp_path):
    """`nas search --path-pool FILE --average-last F` reach the supernet's training config (they
    were once accepted and ignored)."""
    from nas.cli.main import build_parser
    from nas.config.resolve import resolve_config

    pool = tmp_path / "pool.json"
    pool.write_text("[[3, 3, 3, 3, 3, 3]]")
    argv = ["search", "--space", "nb201", "--strategy", "random", "--path-pool", str(pool), "--average-last", "0.25"]
    config = resolve_config(build_parser(["search"]).parse_args(argv))
    assert config.train.path_pool == str(pool.resolve()) and config.train.average_last == 0.25
