"""Binary-operation cells: sign with the straight-through estimator, the binary convolution against
a direct float computation with signed weights and inputs, BOPs apart from FLOPs, and the space
searched by single-path evolution on its supernet (per-path BN recalibration) and by DARTS."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from search_spaces.binary import BinarySpace
from search_spaces.binary.ops import BinaryConv2d, BinaryConvOp, binary_sign
from search_spaces.darts import DartsSpace
from tests.conftest import needs_subset, read_jsonl, run_main


def test_sign_is_plus_minus_one_and_its_gradient_passes_only_inside_the_unit_interval():
    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.3, 0.99, 1.0, 3.0], requires_grad=True)
    y = binary_sign(x)
    assert y.tolist() == [-1, -1, -1, 1, 1, 1, 1, 1]
    y.backward(torch.arange(1.0, 9.0))
    assert x.grad.tolist() == [0, 0, 3, 4, 5, 6, 0, 0]


def test_binary_conv_equals_a_float_conv_of_signed_inputs_and_scaled_signed_weights():
    torch.manual_seed(0)
    conv = BinaryConv2d(4, 6, 3, stride=2, padding=2, dilation=2, bias=False)
    x = torch.randn(2, 4, 9, 9)
    w = conv.weight.detach()
    scale = w.abs().mean(dim=(1, 2, 3)).view(-1, 1, 1, 1)
    want = F.conv2d(torch.where(x >= 0, 1.0, -1.0), torch.sign(w) * scale, stride=2, padding=2, dilation=2)
    torch.testing.assert_close(conv(x), want)
    # each output is a scaled count of sign agreements: an integer multiple of the channel's scale
    ratio = (conv(x) / scale.view(1, -1, 1, 1)).detach()
    torch.testing.assert_close(ratio, ratio.round(), atol=1e-4, rtol=0)
    op = BinaryConvOp(4, 3, 1)
    op(x).sum().backward()
    assert op[1].weight.grad is not None and op[1].weight.grad.abs().sum() > 0  # straight through the sign


def test_bops_are_counted_apart_and_flops_charge_them_at_one_64th():
    space = BinarySpace(channels=4, layers=3, input_size=16)
    arch = space.sample(np.random.default_rng(0))
    conv_only = space.from_genotype(str(space.to_genotype(arch)).replace("max_pool_3x3", "bin_conv_3x3")
                                    .replace("avg_pool_3x3", "bin_conv_3x3"))
    pool_only = space.from_genotype(str(space.to_genotype(arch)).replace("bin_dil_conv_5x5", "max_pool_3x3")
                                    .replace("bin_dil_conv_3x3", "max_pool_3x3").replace("bin_conv_5x5", "max_pool_3x3")
                                    .replace("bin_conv_3x3", "max_pool_3x3"))
    assert space.bops(pool_only) == 0 and space.bops(conv_only) > 0
    assert space.float_flops(conv_only) == space.float_flops(pool_only)  # binary convs add no float FLOPs
    assert space.flops(conv_only) == space.float_flops(conv_only) + round(2 * space.bops(conv_only) / 64)
    assert "skip_connect" not in space.alpha_ops and space.alpha_ops[0] == "zeroise"
    # the same cell shape with float separable convs costs far more FLOPs than the binary one
    darts = DartsSpace(channels=4, layers=3, input_size=16)
    float_cells = darts.from_genotype(str(space.to_genotype(conv_only)).replace("bin_conv_3x3", "sep_conv_3x3")
                                      .replace("bin_conv_5x5", "sep_conv_5x5")
                                      .replace("bin_dil_conv", "dil_conv"))
    assert darts.flops(float_cells) > space.flops(conv_only)


@needs_subset
@pytest.mark.parametrize("strategy", ["evolution", "darts"])
def test_the_binary_space_is_searched_single_path_and_by_darts(tmp_path, strategy):
    out = tmp_path / strategy
    extra = ["-o", "population=2", "-o", "topk=2", "-o", "mutations=1", "-o", "crossovers=1", "--budget", "3"] \
        if strategy == "evolution" else []
    code, text = run_main(["search", "--space", "binary", "--strategy", strategy, *extra, "-S", "channels=4",
                           "-S", "layers=3", "--data", "cifar10-subset", "--val-size", "32", "--train-limit", "32",
                           "--epochs", "1", "--batch-size", "32", "--calibration-images", "32", "--val-images", "32", "--confirm-images", "32",
                           "--force", "--random-baseline", "0", "--quiet", "--out", out])
    assert code == 0, text
    records = read_jsonl(out / "evaluations.jsonl")
    space = BinarySpace(**json.loads((out / "config.json").read_text())["space_options"])
    assert records and all(space.contains(space.parse(r["arch"])) for r in records)
    assert all(r["flops"] == space.flops(space.parse(r["arch"])) for r in records)
