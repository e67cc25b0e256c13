"""DARTS: the mixed forward with one-hot weights is the single path; first- and second-order alpha
updates find the op that carries the label on a toy problem; the second-order gradient matches a
direct computation; DARTS-'s auxiliary skip decays to 0; RobustDARTS's early stop; a killed run
resumes exactly. (A table-scored NB201 DARTS search end to end, with --seeds on Ray Tune, is in
tests/test_retrain.py.)
"""

from __future__ import annotations

import dataclasses
import json

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nas.darts.alphas import skip_count
from nas.darts.config import DartsConfig
from nas.darts.trainer import DartsTrainer
from nas.data.datasets import ImageData
from nas_common.errors import UserError
from nas.supernet.train import TrainConfig
from search_spaces.arch import Arch
from search_spaces.nb201.space import NB201Space
from tests.conftest import needs_subset, read_jsonl, run_main

TOY_OPS = ("none", "skip_connect", "informative")


class ToySupernet(nn.Module):
    """One decision of three ops on pooled channels: `none` gives 0, `skip_connect` channel 1 (noise),
    `informative` channel 0, whose mean decides the label. A linear head reads the mixed feature."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(1, 2)
        self.scale = nn.Parameter(torch.ones(3))

    def forward_mixed(self, x, weights, aux_skip: float = 0.0):
        pooled = x.mean(dim=(2, 3))
        options = [torch.zeros_like(pooled[:, :1]), pooled[:, 1:2] * self.scale[1], pooled[:, :1] * self.scale[2]]
        feature = sum(w * o for w, o in zip(weights[0], options)) + aux_skip * pooled[:, 1:2]
        return self.head(feature)

    def forward(self, x, arch):
        return self.forward_mixed(x, torch.eye(3)[list(arch.choices)])


class ToySpace:
    name = "toy"
    alpha_shape = (1, 3)
    alpha_ops = TOY_OPS

    def discretise(self, alphas):
        return Arch("toy", (int(np.argmax(alphas[0])),))

    def config(self):
        return {}


def toy_data(n: int = 512, seed: int = 0) -> ImageData:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(2 * n, 4, 4, 3), dtype=np.uint8)
    y = (x[..., 0].mean(axis=(1, 2)) > 127.5).astype(np.int64)
    return ImageData("toy", ("low", "high"), x[:n], y[:n], x[n:], y[n:], x[:8], y[:8], (0.5, 0.5, 0.5),
                     (0.29, 0.29, 0.29))


def toy_trainer(tmp_path, order: int, steps: int = 60, **darts) -> DartsTrainer:
    torch.manual_seed(0)
    cfg = TrainConfig(steps=steps, batch_size=64, lr=0.05, weight_decay=0.0, label_smoothing=0.0, augment=False)
    return DartsTrainer(ToySpace(), ToySupernet(), toy_data(), cfg, tmp_path,
                        darts=DartsConfig(order=order, arch_lr=0.05, arch_weight_decay=0.0, **darts))


@pytest.mark.parametrize("order", [1, 2])
def test_alpha_updates_find_the_op_that_carries_the_label(tmp_path, order):
    trainer = toy_trainer(tmp_path, order)
    trainer.run()
    weights = trainer.weights().detach()[0]
    assert int(weights.argmax()) == TOY_OPS.index("informative"), weights
    assert float(weights[2]) > 0.5
    saved = json.loads((tmp_path / "alphas.json").read_text())
    assert saved["ops"] == list(TOY_OPS) and len(saved["epochs"]) >= 1


def test_second_order_gradient_equals_the_unrolled_derivative(tmp_path):
    """d/dalpha L_val(w - xi grad_w L_train(w, alpha), alpha), by autograd through the virtual step,
    against the trainer's finite-difference formula."""
    trainer = toy_trainer(tmp_path, 2)
    val, train, xi = trainer.val_loader.batch(0), trainer.loader.batch(0), 0.1
    got = trainer.unrolled_gradient(val, train, xi, 0.0)

    wrapper = _MixedCall(trainer.supernet)
    names = [f"net.{n}" for n, _ in trainer.supernet.named_parameters()]
    params = list(trainer.supernet.parameters())
    alphas = trainer.alphas.detach().clone().requires_grad_(True)

    def loss(state, batch):
        x, y = batch
        out = torch.func.functional_call(wrapper, dict(zip(names, state)), (x, torch.softmax(alphas, -1)))
        return trainer.loss_fn(out, y)[0]

    grads = torch.autograd.grad(loss(params, train), params, create_graph=True)
    unrolled = [p - xi * g for p, g in zip(params, grads)]  # the toy recipe has no weight decay
    want, = torch.autograd.grad(loss(unrolled, val), [alphas])
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-2), (got, want)
    first, = torch.autograd.grad(loss(params, val), [alphas])
    assert not torch.allclose(want, first, atol=1e-6)  # the implicit term matters here


class _MixedCall(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, weights):
        return self.net.forward_mixed(x, weights)


def test_darts_minus_auxiliary_skip_decays_to_zero_and_plain_darts_has_none():
    guarded, plain = DartsConfig(guard="darts-"), DartsConfig()
    assert guarded.aux_skip_at(0, 100) == 1.0 and guarded.aux_skip_at(50, 100) == 0.5
    assert guarded.aux_skip_at(100, 100) == 0.0 and plain.aux_skip_at(0, 100) == 0.0
    with pytest.raises(ValueError):
        DartsConfig(guard="magic")


def test_nb201_mixed_forward_with_one_hot_weights_is_the_single_path_and_aux_skip_adds_the_input():
    space = NB201Space(channels=4, cells_per_stage=1)
    net = space.supernet(torch.Generator().manual_seed(0)).eval()
    arch = space.sample(np.random.default_rng(1))
    x = torch.randn(2, 3, 16, 16)
    one_hot = torch.eye(5)[list(arch.choices)]
    with torch.no_grad():
        assert torch.allclose(net.forward_mixed(x, one_hot), net(x, arch), atol=1e-5)
        assert not torch.allclose(net.forward_mixed(x, one_hot, aux_skip=0.5), net(x, arch), atol=1e-3)
    assert space.discretise(one_hot.numpy() * 3) == arch
    assert skip_count(space.alpha_ops, torch.eye(5)[[1, 1, 0, 2, 1, 3]].numpy()) == 3


@pytest.mark.parametrize("affine", [False, True])
def test_search_cells_norms_are_affine_free_unless_asked_and_the_rest_still_trains(tmp_path, affine):
    """DARTS's search cells (reference code: affine=False): the cells' BN scale/shift stay at 1/0
    through training, the stem's BN and the convolutions learn; `affine=true` trains them all."""
    space = NB201Space(channels=4, cells_per_stage=1)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    data = toy_data(64)
    data = ImageData("toy", tuple("abcdefghij"), data.x_train, data.y_train % 10, data.x_val, data.y_val % 10,
                     data.x_test, data.y_test % 10, data.mean, data.std)
    cfg = TrainConfig(steps=2, batch_size=16, lr=0.1, augment=False)
    trainer = DartsTrainer(space, supernet, data, cfg, tmp_path, darts=DartsConfig(affine=affine))
    trainer.run()
    cell_norms = [m for cell in supernet.cells if hasattr(cell, "forward_mixed")
                  for m in cell.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(cell_norms) == 3 * 6 * 2  # 3 cells (one per stage), two conv ops on each of 6 edges
    moved = [not (torch.equal(m.weight, torch.ones_like(m.weight)) and torch.equal(m.bias, torch.zeros_like(m.bias)))
             for m in cell_norms]
    assert all(moved) if affine else not any(moved)
    assert not torch.equal(supernet.stem[1].bias, torch.zeros_like(supernet.stem[1].bias))  # the stem's BN learns
    arch = space.sample(np.random.default_rng(0))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():  # a path of an affine-free supernet still extracts to an equal stand-alone net
        assert torch.allclose(supernet.eval()(x, arch), supernet.extract(arch).eval()(x), atol=1e-5)
    if not affine:  # a checkpoint written before the option (no "affine" in it) finishes as it began: affine
        state = torch.load(trainer.checkpoint_path, weights_only=True)
        del state["darts"]["affine"]
        torch.save(state, trainer.checkpoint_path)
        Path(str(trainer.checkpoint_path) + ".sha256").unlink()  # such checkpoints had no checksum either
        resumed = DartsTrainer(space, space.supernet(), data, dataclasses.replace(cfg, steps=4), tmp_path,
                               darts=DartsConfig())
        resumed.run()
        norm = [m for m in resumed.supernet.cells[0].modules() if isinstance(m, nn.BatchNorm2d)][0]
        assert not torch.equal(norm.bias, torch.zeros_like(norm.bias))


DARTS_NB201 = ["search", "--space", "nb201", "--strategy", "darts", "--evaluator", "table", "-S", "channels=4",
               "-S", "cells_per_stage=1", "--data", "cifar10-subset", "--val-size", "96", "--train-limit", "96",
               "--epochs", "2", "--batch-size", "32", "--quiet"]


@needs_subset
def test_a_killed_darts_run_resumes_to_the_same_alphas(tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    assert run_main([*DARTS_NB201, "-o", "order=2", "--out", whole])[0] == 0
    original = DartsTrainer.train_step

    def dies_in_epoch_two(self, step):
        if step == self.loader.steps_per_epoch + 1:  # the epoch-1 checkpoint exists, epoch 2 has begun
            raise KeyboardInterrupt
        return original(self, step)

    killed = tmp_path / "killed"
    monkeypatch.setattr(DartsTrainer, "train_step", dies_in_epoch_two)
    assert run_main([*DARTS_NB201, "-o", "order=2", "--out", killed])[0] == 130  # as after Ctrl-C
    assert not (killed / "evaluations.jsonl").exists()
    monkeypatch.setattr(DartsTrainer, "train_step", original)
    assert run_main(["search", "--resume", killed, "--quiet"])[0] == 0
    a = json.loads((whole / "supernet" / "alphas.json").read_text())
    b = json.loads((killed / "supernet" / "alphas.json").read_text())
    assert a["logits"] == b["logits"] and a["epochs"] == b["epochs"]
    assert read_jsonl(whole / "evaluations.jsonl")[0]["arch"] == read_jsonl(killed / "evaluations.jsonl")[0]["arch"]


def test_darts_refuses_a_space_without_a_mixed_forward_and_a_supernet_flag():
    code = None
    with pytest.raises(UserError, match="mixed forward"):
        from nas.strategies import make_strategy
        from search_spaces.mbconv import MBConvSpace

        make_strategy("darts", MBConvSpace(input_size=32, num_classes=10), budget=1, seed=0)
    assert code is None


def test_dominant_eigenvalue_matches_the_exact_hessian(tmp_path):
    trainer = toy_trainer(tmp_path, 1, guard="robust")
    trainer.run()  # away from the uniform start, where the curvature is small
    got = trainer.dominant_eigenvalue(iterations=60)
    batch = trainer.val_loader.batch(0)
    hessian = torch.autograd.functional.hessian(lambda a: trainer._loss(batch, torch.softmax(a, -1), 0.0),
                                                trainer.alphas.detach().clone()).reshape(3, 3)
    eigenvalues = torch.linalg.eigvalsh(hessian)
    assert got == pytest.approx(float(eigenvalues[eigenvalues.abs().argmax()]), rel=1e-3, abs=1e-6)


def test_early_stop_rule_compares_window_means():
    from nas.darts.config import early_stop

    assert not early_stop([1.0, 1.0, 1.0, 1.0], 2, 1.3)
    assert early_stop([1.0, 1.0, 1.5, 1.5], 2, 1.3)
    assert not early_stop([1.0, 1.0, 1.2, 1.2], 2, 1.3) and not early_stop([1.0, 9.0], 2, 1.3)


def test_robust_guard_stops_and_keeps_the_alphas_of_a_window_before(tmp_path, monkeypatch):
    """A constructed case: the curvature doubles at epoch 3; with a 2-epoch window training stops
    at the end of epoch 4 and keeps epoch 2's alphas; a resumed run trains no further."""
    series = {1: 1.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: 2.0, 6: 2.0, 7: 2.0, 8: 2.0}
    monkeypatch.setattr(DartsTrainer, "dominant_eigenvalue", lambda self, iterations=20: series[len(self.history) + 1])
    trainer = toy_trainer(tmp_path, 1, steps=64, guard="robust", es_window=2)  # 8 steps an epoch
    trainer.run()
    assert trainer.stopped_early and trainer.step == 32 and len(trainer.history) == 4
    assert trainer.alphas.detach().tolist() == trainer.history[1]["logits"]
    assert trainer.history[-1]["early_stop"] == {"kept_epoch": 2}
    saved = json.loads((tmp_path / "alphas.json").read_text())
    assert saved["logits"] == trainer.history[1]["logits"]
    again = toy_trainer(tmp_path, 1, steps=64, guard="robust", es_window=2)
    again.run()
    assert again.step == 32 and again.alphas.detach().tolist() == trainer.history[1]["logits"]


def test_darts_strategy_proposes_the_discretised_alphas_once_and_keeps_them_in_its_state():
    from nas.constraints.limits import Constraint
    from nas.strategies import make_strategy

    space = NB201Space()
    strategy = make_strategy("darts", space, budget=None, seed=0)
    with pytest.raises(RuntimeError, match="after its supernet is trained"):
        strategy.ask(1)
    logits = np.random.default_rng(0).normal(size=space.alpha_shape)
    strategy.use_alphas(logits)
    trial, = strategy.ask(3)
    assert trial.arch == space.discretise(DartsConfig().capped(logits, space.alpha_ops)) and strategy.ask(1) == []
    strategy.tell(trial.trial_id, {"val_acc": 50.0})
    assert strategy.done()
    resumed = make_strategy("darts", space, budget=None, seed=0)
    resumed.load_state_dict(json.loads(json.dumps(strategy.state_dict())))
    assert resumed.discretised() == trial.arch and resumed.ask(1) == []
    with pytest.raises(UserError, match="do not fit"):
        strategy.use_alphas(np.zeros((2, 2)))
    tight = make_strategy("darts", space, budget=None, seed=0, constraint=Constraint(max_flops=1000))
    tight.use_alphas(logits)
    with pytest.raises(UserError, match="breaks the constraint"):
        tight.ask(1)


# ---- the default DARTS run is judged by what DARTS derives (issue 25) -----------------------------------
@pytest.mark.parametrize("space, evaluator", [("nb201", "table"), ("darts", "standalone"), (None, "table")])
def test_a_darts_search_without_an_evaluator_scores_the_derived_architecture(space, evaluator):
    """Single paths of a supernet trained in mixed mode score near chance, so the trust check refused
    every default DARTS run: the default evaluator is now the table where the space has one, a short
    stand-alone training otherwise."""
    from nas.cli.main import build_parser
    from nas.config.resolve import resolve_config

    argv = ["search", "--strategy", "darts", *(["--space", space] if space else []), "--data", "cifar10-subset"]
    config = resolve_config(build_parser(argv).parse_args(argv))
    assert config.evaluator.kind == evaluator and not config.uses_supernet
    assert config.train is not None and config.random_baseline == 0  # DARTS still trains its supernet here
    from nas.workflows.search import describe_steps

    assert "derive the architecture from the alphas and score it by" in describe_steps(config, 1)


def test_a_darts_supernet_is_judged_by_its_mixed_forward(tmp_path):
    from nas.judging.trust import check_mixed_learned

    log = [{"epoch": 1, "val_acc": 31.0}, {"epoch": 2, "val_acc": 44.5}]
    assert check_mixed_learned(log, 10.0, tmp_path, force=False) == {"val_acc": 44.5, "chance": 10.0, "epoch": 2}
    with pytest.raises(UserError, match="mixed forward scores 11.00% on held-out images"):
        check_mixed_learned([{"epoch": 1, "val_acc": 11.0}], 10.0, tmp_path, force=False)
    assert check_mixed_learned([{"epoch": 1, "val_acc": 11.0}], 10.0, tmp_path, force=True)["val_acc"] == 11.0
    assert check_mixed_learned([{"epoch": 1, "loss": 2.0}], 10.0, tmp_path, force=False) is None  # second order


def test_the_darts_trainer_logs_its_mixed_forward_on_held_out_batches(tmp_path):
    trainer = toy_trainer(tmp_path, order=1, steps=20)
    trainer.run()
    last = read_jsonl(tmp_path / "training.jsonl")[-1]
    assert {"val_loss", "val_acc"} <= set(last) and last["val_acc"] > 60  # the toy's label is learnable


@needs_subset
def test_the_standalone_evaluator_trains_each_architecture_alone(tmp_path):
    from nas.data import DataConfig
    from nas.evaluate.spec import EvaluatorSpec
    from nas.evaluate.standalone import StandaloneEvaluator
    from dataclasses import asdict

    spec = EvaluatorSpec("standalone", space="nb201", space_options={"width": 0.25, "cells_per_stage": 1},
                         data=asdict(DataConfig("cifar10-subset", val_size=64, train_limit=128)),
                         evaluator={"epochs": 1, "batch_size": 32}, seed=0, device="cpu")
    evaluator = StandaloneEvaluator.from_spec(spec)
    arch = evaluator.space.parse({"space": "nb201", "choices": [3, 3, 3, 3, 3, 3]})
    scores = evaluator.evaluate(arch)
    assert 0 <= scores["val_acc"] <= 100 and "train_s" not in scores
    assert set(evaluator.reported(arch)) == {"train_loss", "train_s"}
    again = StandaloneEvaluator.from_spec(spec).evaluate(arch)  # seeded: the same figure again
    assert again["val_acc"] == scores["val_acc"]


def test_the_skip_cap_keeps_the_strongest_skips_and_gives_the_others_their_next_best_op():
    """P-DARTS's regularisation, the default guard (`-o max_skips=2`): of five edges whose alphas
    chose skip_connect, the two with the largest skip weight keep it, the other three take their
    second-best op; -1 changes nothing; an edge that did not choose skip is never touched."""
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    logits = np.array([[0, 5.0, 1, 2, 0], [0, 4.0, 3, 1, 0], [0, 3.0, 0, 2.5, 0], [0, 6.0, 0, 0, 1],
                       [0, 2.0, 1.5, 0, 0], [0, 0, 0, 4.0, 0]])
    space = NB201Space()
    capped = DartsConfig(max_skips=2).capped(logits, ops)
    assert space.discretise(capped).choices == (1, 2, 3, 1, 2, 3)  # rows 3 and 0 keep the skip
    assert skip_count(ops, capped) == 2
    assert np.array_equal(DartsConfig(max_skips=-1).capped(logits, ops), logits)
    assert np.array_equal(DartsConfig(max_skips=0).capped(logits, ops)[5], logits[5])
    with pytest.raises(ValueError, match="max_skips"):
        DartsConfig(max_skips=-2)
    from nas.strategies import make_strategy

    strategy = make_strategy("darts", space, budget=1, seed=0, options={"max_skips": 2})
    strategy.use_alphas(logits)
    assert strategy.discretised().choices == (1, 2, 3, 1, 2, 3)


def test_darts_is_reached_through_the_training_method_hook():
    """The search, the evaluators and the CLI ask `nas.supernet.methods`: DARTS is the registered
    method a strategy names in `trains_supernet`; a single-path strategy has none."""
    from nas.darts.method import DartsMethod
    from nas.supernet.methods import method_of, method_settings

    assert method_of("darts") is DartsMethod and method_of("evolution") is None
    method, settings = method_settings("darts", {"max_skips": "1", "guard": "darts-"})
    assert method is DartsMethod and (settings.max_skips, settings.guard) == (1, "darts-")
    with pytest.raises(UserError, match="strategy 'darts'"):
        method_settings("darts", {"guard": "sideways"})
    assert method_settings("random", {}) is None
