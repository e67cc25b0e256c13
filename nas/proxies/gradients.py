"""The loss-gradient proxies of Abdelfattah et al., ICLR 2021 ("Zero-Cost Proxies for Lightweight
NAS"), checked against SamsungLabs/zero-cost-nas `measures/snip.py` and `measures/grad_norm.py`:

- `snip` (Lee et al., ICLR 2019): sum |w * dL/dw| over the weights of every convolution and linear
  layer. The reference multiplies each weight by a mask of ones and reads |dL/dmask|, which is
  |w * dL/dw|.
- `grad_norm`: the sum over those layers of the L2 norm of dL/dw.

Both on one batch of training data, network in train mode, the task's training loss.
"""

from __future__ import annotations

import torch

from nas.proxies.base import ProxyInput, register, weight_gradients, weighted_layers


def _loss_gradients(inp: ProxyInput):
    layers = weighted_layers(inp.net)
    loss = inp.loss(inp.net(inp.inputs), inp.targets)
    return layers, weight_gradients(loss, layers)


@register("snip", "sum |w * dL/dw| over conv and linear weights, one batch",
          "Lee et al., ICLR 2019; Abdelfattah et al., ICLR 2021 (SamsungLabs/zero-cost-nas snip)")
def snip(inp: ProxyInput) -> float:
    layers, grads = _loss_gradients(inp)
    with torch.no_grad():
        return float(sum((m.weight * g).abs().sum() for m, g in zip(layers, grads) if g is not None))


@register("grad_norm", "sum over conv and linear layers of ||dL/dw||_2, one batch",
          "Abdelfattah et al., ICLR 2021 (SamsungLabs/zero-cost-nas grad_norm)")
def grad_norm(inp: ProxyInput) -> float:
    _, grads = _loss_gradients(inp)
    return float(sum(g.norm() for g in grads if g is not None))
