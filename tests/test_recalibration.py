"""Per-path BatchNorm recalibration (SPOS Sec. 3.3): exact statistics, only the path touched,
deterministic, order independent evaluation, and why it matters on a trained supernet."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from nas.data import calibration_images, to_float
from nas.evaluate.supernet_evaluator import SupernetEvaluator, split_batches
from nas.supernet.recalibrate import recalibrate, restore
from search_spaces.shufflenet import ShuffleNetSpace

try:
    from tests.conftest import snapshot, state_equal
except ImportError:
    from conftest import snapshot, state_equal


@pytest.fixture(scope="module")
def space() -> ShuffleNetSpace:
    return ShuffleNetSpace(width=0.25, input_size=16)


def _fresh_supernet(space, seed: int = 0) -> nn.Module:
    net = space.supernet(torch.Generator().manual_seed(seed))
    gen = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():  # inherited statistics that are clearly not the recalibrated ones
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(17)
    return net.eval()


def _batches(seed: int = 1) -> list[torch.Tensor]:
    # 20 images in batches of 8, 8, 4: the unequal last batch checks the per-batch averaging
    return list(torch.randn(20, 3, 16, 16, generator=torch.Generator().manual_seed(seed)).split(8))


def _arch(space, seed: int = 0):
    return space.sample(np.random.default_rng(seed))


def _exact_statistics(model: nn.Module, run, batches) -> dict[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """Mean over batches of each BN input's per-batch mean and unbiased variance, from hooks.

    In train mode BN normalises with batch statistics, so its inputs do not depend on the running
    statistics: running the model once per batch observes exactly what recalibration sees.
    """
    seen: dict[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]] = {}

    def capture(bn, inputs):
        x = inputs[0].double()
        seen.setdefault(bn, []).append((x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=True)))

    hooks = [m.register_forward_pre_hook(capture) for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    model.train()
    try:
        with torch.no_grad():
            for x in batches:
                run(x)
    finally:
        for h in hooks:
            h.remove()
        model.eval()
    return {bn: (torch.stack([m for m, _ in stats]).mean(0).float(), torch.stack([v for _, v in stats]).mean(0).float())
            for bn, stats in seen.items()}


def test_recalibrated_statistics_are_exact_and_match_the_extracted_net(space):
    supernet = _fresh_supernet(space)
    arch = _arch(space)
    batches = _batches()
    probe = copy.deepcopy(supernet)  # observing BN inputs in train mode updates running stats
    exact = _exact_statistics(probe, lambda x: probe(x, arch), batches)
    exact_by_name = {name: exact[m] for name, m in probe.named_modules() if m in exact}

    standalone = supernet.extract(arch)
    before = snapshot(supernet)
    saved = recalibrate(supernet, lambda x: supernet(x, arch), batches)
    recalibrate(standalone, standalone, batches)
    after = snapshot(supernet)

    standalone_bns = {n: m for n, m in standalone.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert len(saved) == len(standalone_bns) == len(exact_by_name)  # exactly the path's BN layers
    # the supernet BN layer behind each stand-alone one: the owner of the buffer path_state hands out
    path = supernet.path_state(arch)
    owner = {id(m.running_mean): (n, m) for n, m in supernet.named_modules() if isinstance(m, nn.BatchNorm2d)}
    for name, bn in standalone_bns.items():
        path_name, path_bn = owner[id(path[name + ".running_mean"])]
        assert path_bn in saved
        torch.testing.assert_close(path_bn.running_mean, bn.running_mean, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(path_bn.running_var, bn.running_var, rtol=1e-5, atol=1e-6)
        mean, var = exact_by_name[path_name]
        torch.testing.assert_close(path_bn.running_mean, mean, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(path_bn.running_var, var, rtol=1e-4, atol=1e-5)
        assert int(path_bn.num_batches_tracked) == len(batches)
        assert path_bn.momentum == 0.1  # the cumulative-average setting does not leak out

    on_path_keys = {n + "." + b for n, m in supernet.named_modules() if m in saved
                    for b in ("running_mean", "running_var", "num_batches_tracked")}
    untouched = {k for k in before if k not in on_path_keys}
    assert all(torch.equal(before[k], after[k]) for k in untouched)  # off-path BN and all weights
    assert all(not torch.equal(before[k], after[k]) for k in on_path_keys if k.endswith("running_mean"))

    restore(saved)
    assert state_equal(snapshot(supernet), before)


def test_recalibration_is_deterministic_and_ignores_inherited_statistics(space):
    arch = _arch(space, 3)
    results = []
    for seed_of_inherited in (0, 0, 5):  # the third supernet has other inherited statistics
        net = _fresh_supernet(space, 0)
        if seed_of_inherited:
            gen = torch.Generator().manual_seed(seed_of_inherited)
            with torch.no_grad():
                for m in net.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.running_mean.normal_(0, 100, generator=gen)
        recalibrate(net, lambda x: net(x, arch), _batches())
        results.append(net.extract(arch).state_dict())
    assert state_equal(results[0], results[1])
    assert state_equal(results[0], results[2])


def _evaluator(supernet, seed: int = 0) -> SupernetEvaluator:
    gen = torch.Generator().manual_seed(seed)
    return SupernetEvaluator(supernet, torch.randn(24, 3, 16, 16, generator=gen),
                             split_batches(torch.randn(30, 3, 16, 16, generator=gen),
                                           torch.randint(0, 10, (30,), generator=gen), 8),
                             batch_size=8)


def test_evaluation_is_order_independent_and_restores_the_supernet(space):
    a, b = _arch(space, 10), _arch(space, 11)
    net_1, net_2 = _fresh_supernet(space), _fresh_supernet(space)
    alone = _evaluator(net_1).evaluate(b)
    before = snapshot(net_2)
    evaluator = _evaluator(net_2)
    evaluator.evaluate(a)
    after_a = evaluator.evaluate(b)
    assert after_a == alone
    assert state_equal(snapshot(net_2), before)
    assert all(m.momentum == 0.1 for m in net_2.modules() if isinstance(m, nn.BatchNorm2d))
    # the recalibrated model is the same no matter what was evaluated first
    model_1 = _evaluator(net_1).recalibrated_model(a).state_dict()
    model_2 = evaluator.recalibrated_model(a).state_dict()
    assert state_equal(model_1, model_2)
    assert state_equal(snapshot(net_2), before)


# ---- why recalibration matters: a briefly trained supernet --------------------------------------------
def _wreck_statistics(model: nn.Module) -> None:
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.fill_(50.0)
                m.running_var.fill_(1e-4)


def test_recalibration_recovers_a_supernet_with_wrong_statistics(trained_copy, subset_data):
    """Wildly wrong running statistics (what averaging over paths produces, exaggerated) ruin the
    inherited-BN score, while the recalibrated score equals the one obtained from sane statistics."""
    space, supernet = trained_copy
    data = subset_data
    x_val = to_float(data.x_val[:200], data.mean, data.std)
    y_val = torch.as_tensor(data.y_val[:200], dtype=torch.long)
    evaluator = SupernetEvaluator(supernet, calibration_images(data, 128, 0), split_batches(x_val, y_val, 100),
                                  batch_size=100)
    arch = space.sample(np.random.default_rng(0))

    recalibrated = evaluator.evaluate(arch)
    assert np.isfinite(recalibrated["val_loss"]) and recalibrated["val_loss"] < 3.0  # about ln 10 or better

    _wreck_statistics(supernet)
    again = evaluator.evaluate(arch)
    assert again == recalibrated  # recalibration does not depend on the inherited statistics
    inherited = evaluator.evaluate_inherited(arch)
    assert inherited != recalibrated
    assert not inherited["val_loss"] < 10 * recalibrated["val_loss"]  # huge or NaN
    with torch.no_grad():
        predictions = supernet.eval()(x_val, arch).argmax(1)
    majority = 100.0 * np.bincount(data.y_val[:200]).max() / 200
    assert inherited["val_acc"] <= majority + 2.0  # about chance: the net predicts nearly one class
    assert torch.bincount(predictions).max() >= 0.9 * len(predictions)


def test_bf16_scoring_runs_in_bf16_and_agrees_with_fp32_within_noise(trained, subset_data):
    """`-E precision=bf16`: the scoring forwards run under bf16 autocast (the convolutions' outputs
    are bf16), recalibration included, and every architecture's accuracy stays within two of its
    standard errors of the fp32 score; the best is the same, and the scores do not change with the
    thread count. Unknown precisions are refused."""
    space, supernet, _ = trained
    data = subset_data
    x_val = to_float(data.x_val[:300], data.mean, data.std)
    y_val = torch.as_tensor(data.y_val[:300], dtype=torch.long)
    archs = [space.sample(np.random.default_rng(i)) for i in range(4)]

    def scores(precision: str) -> list[dict]:
        evaluator = SupernetEvaluator(copy.deepcopy(supernet), calibration_images(data, 128, 0),
                                      split_batches(x_val, y_val, 100), batch_size=100, precision=precision)
        seen = set()
        hooks = [m.register_forward_hook(lambda m, i, out: seen.add(out.dtype))
                 for m in evaluator.supernet.modules() if isinstance(m, nn.Conv2d)]
        out = [evaluator.evaluate(a) for a in archs]
        for hook in hooks:
            hook.remove()
        assert seen == {torch.bfloat16 if precision == "bf16" else torch.float32}
        return out

    full, half = scores("fp32"), scores("bf16")
    before = torch.get_num_threads()
    torch.set_num_threads(1 if before > 1 else 2)  # a Ray actor scores with one thread, this process with two
    try:
        assert scores("bf16") == half
    finally:
        torch.set_num_threads(before)
    for f, h in zip(full, half):
        assert abs(f["val_acc"] - h["val_acc"]) <= 2 * f["val_acc_se"], (f["val_acc"], h["val_acc"])
    assert int(np.argmax([f["val_acc"] for f in full])) == int(np.argmax([h["val_acc"] for h in half]))
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        SupernetEvaluator(supernet, calibration_images(data, 8, 0), split_batches(x_val, y_val, 100), precision="fp16")
