"""The `darts` cell space beyond the contract tests: the published DARTS_V2 genotype parsed and
rebuilt, the canonical form merging renumbered cells, and DARTS's discretisation rule. (A DARTS
search through the same cell code runs end to end in tests/test_binary.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from nas_common.errors import InvalidArchitecture
from search_spaces.darts import DARTS_V2, DartsSpace, parse_genotype
from search_spaces.darts.network import EDGES, edge_index

SPACE = DartsSpace(channels=4, layers=3, input_size=16)


def test_the_published_darts_v2_genotype_parses_and_rebuilds():
    genotype = parse_genotype(DARTS_V2)
    assert str(genotype) == DARTS_V2  # the string, exactly
    assert genotype.normal[0] == ("sep_conv_3x3", 0) and genotype.reduce_concat == [2, 3, 4, 5]
    arch = SPACE.from_genotype(DARTS_V2)
    assert SPACE.contains(arch)
    assert SPACE.to_genotype(arch) == genotype.sorted_nodes()  # each node's inputs in source order
    assert SPACE.from_genotype(str(SPACE.to_genotype(arch))) == arch
    text = DARTS_V2.replace("normal_concat=[2, 3, 4, 5]", "normal_concat=range(2, 6)")
    assert SPACE.from_genotype(text) == arch  # the DARTS code's own spelling of the concat


@pytest.mark.parametrize("text, why", [
    ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2, 3, 4, 5], reduce=[], reduce_concat=[2, 3, 4, 5])",
     "8 \\(op, input\\) pairs"),
    (DARTS_V2.replace("'dil_conv_3x3', 2", "'conv_9x9', 2"), "unknown op 'conv_9x9'"),
    (DARTS_V2.replace("('skip_connect', 0), ('dil_conv_3x3', 2)", "('skip_connect', 5), ('dil_conv_3x3', 2)"),
     "may read nodes 0..4"),
    ("Genotype(normal=__import__('os'))", "not a literal"),
    ("nothing", "Genotype\\(normal"),
])
def test_bad_genotypes_say_what_is_wrong(text, why):
    with pytest.raises(InvalidArchitecture, match=why):
        SPACE.from_genotype(text)


def test_renumbered_nodes_are_one_canonical_cell():
    # Nodes 2 and 3 both read only the cell inputs, so swapping their numbers is the same cell.
    a = [[(0, 4), (1, 5)], [(0, 6), (1, 7)], [(2, 3), (3, 4)], [(0, 1), (4, 2)]]
    b = [[(0, 6), (1, 7)], [(0, 4), (1, 5)], [(2, 4), (3, 3)], [(0, 1), (4, 2)]]
    arch_a, arch_b = SPACE.encode_cells(a, a), SPACE.encode_cells(b, b)
    assert arch_a != arch_b and SPACE.canonical(arch_a) == SPACE.canonical(arch_b)
    assert SPACE.flops(arch_a) == SPACE.flops(arch_b) and SPACE.params(arch_a) == SPACE.params(arch_b)
    c = [[(0, 4), (1, 5)], [(0, 6), (2, 7)], [(2, 3), (3, 4)], [(0, 1), (4, 2)]]  # node 3 reads node 2
    assert SPACE.canonical(SPACE.encode_cells(c, c)) != SPACE.canonical(arch_a)


def test_discretise_keeps_the_two_strongest_edges_per_node_ignoring_none():
    rng = np.random.default_rng(0)
    alphas = rng.normal(size=SPACE.alpha_shape)
    # node 5 (index 3) of the normal cell: `none` is the largest on the edge from node 4 but ignored
    alphas[0, edge_index(5, 4), :] = -5
    alphas[0, edge_index(5, 4), 0] = 50
    alphas[0, edge_index(5, 2), 4] = 20
    alphas[0, edge_index(5, 0), 6] = 10
    arch = SPACE.discretise(alphas)
    normal, _ = SPACE.cells(arch.choices)
    assert sorted(normal[3]) == [(0, 6), (2, 4)]
    assert SPACE.one_hot(arch).sum() == 16 and SPACE.discretise(SPACE.one_hot(arch) * 10) == arch
    assert len(EDGES) == 14



def test_auxiliary_head_adds_its_weighted_loss_in_training_only_and_costs_nothing():
    """DARTS's retraining aid: after the second reduction cell, 0.4 x its cross-entropy; eval mode
    (inference, cost counting, export) sees the plain net, and the supernet's paths extract without it."""
    import torch

    from nas.tasks.classification import Classification
    from search_spaces.blocks.auxiliary import AuxiliaryLogits

    aux_space = DartsSpace(channels=4, layers=3, input_size=16, auxiliary_weight=0.4)
    arch = SPACE.from_genotype(DARTS_V2)
    net, plain = aux_space.build(arch, torch.Generator().manual_seed(0)), SPACE.build(arch)
    x, y = torch.randn(4, 3, 16, 16), torch.tensor([0, 1, 2, 3])
    out = net.train()(x)
    assert isinstance(out, AuxiliaryLogits) and out.aux_logits.shape == (4, 10) and out.weight == 0.4
    loss, metrics = Classification().training_loss()(out, y)
    ce = torch.nn.functional.cross_entropy
    assert torch.allclose(loss, ce(out.logits, y) + 0.4 * ce(out.aux_logits, y))
    assert float(metrics["aux_loss"]) == pytest.approx(float(ce(out.aux_logits, y).detach()))
    loss.backward()
    assert net.auxiliary[-1].weight.grad is not None and net.cells[0].preprocess0[1].weight.grad.abs().sum() > 0
    assert isinstance(net.eval()(x), torch.Tensor)
    assert aux_space.flops(arch) == SPACE.flops(arch) and aux_space.params(arch) == SPACE.params(arch)
    plain.load_state_dict({k: v for k, v in net.state_dict().items() if not k.startswith("auxiliary.")})
    with torch.no_grad():
        assert torch.equal(net(x), plain.eval()(x))  # the head changes nothing at inference
    supernet = aux_space.supernet(torch.Generator().manual_seed(0)).eval()
    assert not hasattr(supernet.extract(arch), "auxiliary")
