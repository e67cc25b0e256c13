"""What a zero-cost proxy is: a function of an untrained network and one batch, registered by name.

Zero-cost proxies (Abdelfattah et al., ICLR 2021, "Zero-Cost Proxies for Lightweight NAS"; Mellor
et al., ICML 2021; Li et al., ICLR 2023) score an architecture from its stand-alone network at
initialisation, without training it. Each proxy lives in its own small module (the shape of
SamsungLabs/zero-cost-nas's `foresight/pruners/measures/`): a function of a `ProxyInput`
returning one float, higher meaning "predicted better". Unlike the reference code, a proxy never
changes the network it scores (synflow works on a copy): the scorer builds one network per
architecture and every proxy reads the same one.

A proxy whose computation carries no signal (the output does not depend on the input, so the
NASWOT kernel is singular or the Jacobian is constant) returns -inf; the scorer records such
values as `DEGENERATE`, a finite floor below every real score, so records stay finite numbers and
such networks rank last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from nas_common.registry import PROXIES

DEGENERATE = -1e30  # recorded for -inf/NaN: "no signal", below every real score of every proxy
HUGE = 1e300  # recorded for +inf (a float64 overflow)


@dataclass
class ProxyInput:
    """What a proxy reads. `net` is the stand-alone network at initialisation, in train mode (BN on
    batch statistics, as the reference code scores); `loss(outputs, targets)` is the task's
    training loss; `space` and `arch` are there for the proxies that count (params, flops)."""

    net: nn.Module
    inputs: torch.Tensor
    targets: Any
    loss: Callable[[Any, Any], torch.Tensor]
    space: Any
    arch: Any


@dataclass(frozen=True)
class Proxy:
    name: str
    compute: Callable[[ProxyInput], float]
    summary: str  # one line for `nas evaluators` and the docs
    reference: str  # the paper and the public code the formula was checked against
    needs_data: bool = True  # False: counted from the architecture alone (params, flops)

    def __call__(self, inp: ProxyInput) -> float:
        return self.compute(inp)


def register(name: str, summary: str, reference: str, needs_data: bool = True) -> Callable:
    """Register `fn(ProxyInput) -> float` as proxy `name` (a duplicate name is an error)."""

    def add(fn: Callable[[ProxyInput], float]) -> Callable[[ProxyInput], float]:
        PROXIES.register(name)(Proxy(name, fn, summary, reference, needs_data))
        return fn

    return add


def finite(value: float) -> float:
    """A proxy's value as recorded: NaN and -inf become `DEGENERATE`, +inf `HUGE`."""
    value = float(value)
    if math.isnan(value) or value == -math.inf:
        return DEGENERATE
    return HUGE if value == math.inf else value


def weighted_layers(net: nn.Module) -> list[nn.Module]:
    """The convolutions and linear layers: the layers whose weights the reference proxies sum over."""
    return [m for m in net.modules() if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))]


def output_tensors(out: Any) -> list[torch.Tensor]:
    """The floating-point tensors of a network's output that depend on its weights: the logits, or
    every part of a structured output (a detector's class logits and box deltas; its anchors, a
    function of the input size only, drop out)."""
    if isinstance(out, torch.Tensor):
        return [out] if out.is_floating_point() and out.requires_grad else []
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, (tuple, list)):
        return [t for part in out for t in output_tensors(part)]
    return []


def output_sum(out: Any) -> torch.Tensor:
    """The sum of every output element: the scalar whose gradient is `y.backward(ones_like(y))`."""
    tensors = output_tensors(out)
    if not tensors:
        raise ValueError("the network's output holds no tensor that depends on its weights")
    return sum(t.sum() for t in tensors)


def weight_gradients(loss: torch.Tensor, layers: list[nn.Module]) -> list[torch.Tensor | None]:
    """d loss / d weight of each layer (None where the weight does not reach the loss), without
    touching the layers' `.grad`."""
    weights = [m.weight for m in layers]
    return list(torch.autograd.grad(loss, weights, allow_unused=True))
