"""Zero-cost proxies against direct hand computations on a two-layer network, and the scorer's
contract (seeded, order-independent, never changes the network, every registered space)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from nas.proxies import DEGENERATE, ProxyInput, ProxyScorer, proxy_names
from nas.proxies.naswot import naswot
from nas.proxies.jacov import jacov
from nas.proxies.synflow import synflow
from nas.proxies.gradients import grad_norm, snip
from nas.proxies.zico import zico
from nas_common.registry import PROXIES, SPACES
from nas.tasks.classification import CLASSIFICATION
from nas_common.errors import UserError
from tests.conftest import small_space, tiny_input

N, D, H, K = 6, 12, 16, 3  # images, input features (3 x 2 x 2), hidden units, classes


def two_layer(seed: int = 0) -> nn.Sequential:
    net = nn.Sequential(nn.Flatten(), nn.Linear(D, H), nn.ReLU(), nn.Linear(H, K)).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # weights drawn from our generator: the hand computations read them back
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    return net


def batch(seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, 3, 2, 2, generator=g, dtype=torch.float64), torch.randint(0, K, (N,), generator=g)


def weights(net):
    w1, b1, w2, b2 = (t.detach().numpy() for t in (net[1].weight, net[1].bias, net[3].weight, net[3].bias))
    return w1, b1, w2, b2


def proxy_input(net, x, y) -> ProxyInput:
    return ProxyInput(net, x, y, nn.functional.cross_entropy, None, None)


def ce_gradients(net, x, y):
    """dL/dW1, dL/dW2 of the mean cross-entropy, by hand: the backward pass written out."""
    w1, b1, w2, b2 = weights(net)
    xf = x.reshape(len(x), -1).numpy()
    pre = xf @ w1.T + b1
    h = np.maximum(pre, 0)
    logits = h @ w2.T + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - np.eye(K)[y.numpy()]) / len(x)
    dh = dlogits @ w2 * (pre > 0)
    return dh.T @ xf, dlogits.T @ h


def test_naswot_is_the_logdet_of_the_hamming_kernel():
    net, (x, y) = two_layer(), batch()
    w1, b1, _, _ = weights(net)
    codes = (x.reshape(N, -1).numpy() @ w1.T + b1) > 0
    kernel = np.array([[np.sum(ci == cj) for cj in codes] for ci in codes], dtype=float)
    sign, logdet = np.linalg.slogdet(kernel)
    assert sign > 0
    assert naswot(proxy_input(net, x, y)) == pytest.approx(logdet, rel=1e-9)


def test_naswot_of_a_net_that_cannot_tell_images_apart_is_degenerate():
    net, (x, y) = two_layer(), batch()
    with torch.no_grad():
        net[1].weight.zero_()  # every image gets the same code: K is rank one
    assert naswot(proxy_input(net, x, y)) == -math.inf
    scorer = ProxyScorer(None, CLASSIFICATION, x, y, ["naswot"])
    scorer.network = lambda arch: net  # the scorer records -inf as the finite floor
    assert scorer.score(None)["naswot"] == DEGENERATE


def test_jacov_from_the_analytic_jacobian():
    net, (x, y) = two_layer(), batch()
    w1, b1, w2, _ = weights(net)
    xf = x.reshape(N, -1).numpy()
    active = (xf @ w1.T + b1) > 0
    jac = (active * w2.sum(0)) @ w1  # d(sum_k y_k)/dx per image
    v = np.linalg.eigvals(np.corrcoef(jac)).real
    expected = -np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5))
    assert jacov(proxy_input(net, x, y)) == pytest.approx(expected, rel=1e-6)


def test_synflow_with_absolute_weights_and_an_all_ones_input():
    net, (x, y) = two_layer(), batch()
    w1, b1, w2, b2 = (np.abs(a) for a in weights(net))
    h = np.maximum(w1 @ np.ones(D) + b1, 0)  # all positive: every unit active
    expected = np.sum(w2 * h[None, :]) + np.sum(w1 * w2.sum(0)[:, None])
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert synflow(proxy_input(net, x, y)) == pytest.approx(expected, rel=1e-9)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # signs untouched


def test_synflow_removes_batchnorm():
    net = nn.Sequential(nn.Flatten(), nn.Linear(D, H), nn.BatchNorm1d(H), nn.ReLU(), nn.Linear(H, K)).double()
    plain = nn.Sequential(nn.Flatten(), nn.Linear(D, H), nn.ReLU(), nn.Linear(H, K)).double()
    plain.load_state_dict({k.replace("4.", "3."): v for k, v in net.state_dict().items() if not k.startswith("2.")})
    x, y = batch()
    assert synflow(proxy_input(net, x, y)) == pytest.approx(synflow(proxy_input(plain, x, y)), rel=1e-12)


def test_snip_and_grad_norm_from_hand_gradients():
    net, (x, y) = two_layer(), batch()
    w1, _, w2, _ = weights(net)
    g1, g2 = ce_gradients(net, x, y)
    assert snip(proxy_input(net, x, y)) == pytest.approx(np.abs(w1 * g1).sum() + np.abs(w2 * g2).sum(), rel=1e-9)
    assert grad_norm(proxy_input(net, x, y)) == pytest.approx(np.linalg.norm(g1) + np.linalg.norm(g2), rel=1e-9)
    assert all(p.grad is None for p in net.parameters())  # nothing accumulated on the network


def test_zico_from_hand_gradients_of_two_mini_batches():
    net, (x, y) = two_layer(), batch()
    halves = [ce_gradients(net, x[s], y[s]) for s in (slice(0, N // 2), slice(N // 2, N))]
    expected = 0.0
    for layer in range(2):
        g = np.stack([h[layer].ravel() for h in halves])
        std, mean_abs = g.std(0), np.abs(g).mean(0)
        keep = std != 0
        expected += np.log(np.sum(mean_abs[keep] / std[keep]))
    assert zico(proxy_input(net, x, y)) == pytest.approx(expected, rel=1e-9)


def test_counts_are_the_space_costs():
    space = SPACES.get("nb201")(channels=4, cells_per_stage=1)
    arch = space.sample(np.random.default_rng(0))
    x = torch.zeros(2, 3, 32, 32)
    scorer = ProxyScorer(space, CLASSIFICATION, x, torch.zeros(2, dtype=torch.long), ["params", "flops"])
    scores = scorer.score(arch)
    assert scores["params"] == sum(p.numel() for p in space.build(arch).parameters()) == space.params(arch)
    assert scores["flops"] == space.flops(arch)


def test_unknown_proxy_lists_the_valid_ones():
    with pytest.raises(UserError, match="naswot"):
        proxy_names("naswot,bogus")
    assert set(PROXIES.names()) >= {"params", "flops", "naswot", "jacov", "synflow", "snip", "grad_norm", "zico"}


def _scorer(space, names, seed=0):
    x = tiny_input(space, batch=4, seed=3)
    return ProxyScorer(space, CLASSIFICATION, x, torch.tensor([0, 1, 0, 1]), names, seed=seed)


def test_scores_are_seeded_and_do_not_depend_on_which_proxies_run_together():
    space = SPACES.get("nb201")(channels=4, cells_per_stage=1, input_size=8, num_classes=2)
    arch = space.sample(np.random.default_rng(1))
    names = [n for n in PROXIES.names()]
    together = _scorer(space, names).score(arch)
    again = _scorer(space, names).score(arch)
    for name in names:
        assert together[name] == again[name]
        assert _scorer(space, [name]).score(arch)[name] == pytest.approx(together[name], rel=1e-6)
        assert together[f"{name}_cpu_s"] >= 0
    other_seed = _scorer(space, ["naswot"], seed=1).score(arch)["naswot"]
    assert other_seed != together["naswot"]  # the seed picks the initialisation


@pytest.mark.parametrize("name", [n for n in SPACES.names() if SPACES.get(n).task == "classification"])
def test_every_proxy_runs_on_every_classification_space(name):
    space = small_space(name)
    if space.config().get("num_classes", 2) < 2:
        pytest.skip("needs two classes")
    arch = space.sample(np.random.default_rng(0))
    scores = _scorer(space, PROXIES.names()).score(arch)
    assert all(math.isfinite(scores[n]) for n in PROXIES.names())


@pytest.mark.parametrize("name", [n for n in SPACES.names() if SPACES.get(n).task == "detection"])
def test_every_proxy_scores_a_whole_detector(name):
    from nas_common.registry import TASKS

    space = small_space(name)
    size = space.config()["input_size"]
    targets = [{"boxes": torch.tensor([[4.0, 4.0, size / 2, size / 2]]), "labels": torch.tensor([0])},
               {"boxes": torch.tensor([[size / 4, 2.0, size - 2.0, size / 3]]), "labels": torch.tensor([0])}] * 2
    x = tiny_input(space, batch=4)
    arch = space.sample(np.random.default_rng(0))
    scores = ProxyScorer(space, TASKS.get("detection")(), x, targets, PROXIES.names()).score(arch)
    assert all(math.isfinite(scores[n]) and scores[n] != DEGENERATE for n in PROXIES.names())
