"""`synflow`: synaptic flow (Tanaka et al., NeurIPS 2020; as a NAS proxy, Abdelfattah et al., ICLR
2021). Every parameter is replaced by its absolute value, BatchNorm is removed, the network runs in
float64 on one all-ones input, and the score is sum |w * dR/dw| over the weights of every
convolution and linear layer, R being the sum of the outputs. Data-free.

Checked against SamsungLabs/zero-cost-nas `measures/synflow.py` (`bn=False`, `net.double()`, input
`ones([1] + input_dim)`, `torch.sum(output).backward()`). The reference flips the signs of the
network it scores and back; here the proxy works on a copy, so the scored network never changes.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from nas.proxies.base import ProxyInput, output_sum, register, weight_gradients, weighted_layers


def without_batchnorm(net: nn.Module) -> nn.Module:
    """`net` (changed in place) with every BatchNorm replaced by the identity."""
    for name, module in list(net.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                setattr(module, child_name, nn.Identity())
    return net


@register("synflow", "sum |w * dR/dw| with absolute weights, no BN, float64, all-ones input (data-free)",
          "Tanaka et al. 2020; Abdelfattah et al., ICLR 2021 (SamsungLabs/zero-cost-nas synflow)")
def synflow(inp: ProxyInput) -> float:
    net = without_batchnorm(copy.deepcopy(inp.net)).double()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    x = torch.ones((1,) + tuple(inp.inputs.shape[1:]), dtype=torch.float64, device=inp.inputs.device)
    layers = weighted_layers(net)
    grads = weight_gradients(output_sum(net(x)), layers)
    with torch.no_grad():
        return float(sum((m.weight * g).abs().sum() for m, g in zip(layers, grads) if g is not None))
