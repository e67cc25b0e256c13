"""`zico`: zero-shot proxy from the inverse coefficient of variation of gradients (Li et al., ICLR
2023, "ZiCo"). The batch is split into `CHUNKS` mini-batches; each gives dL/dw of every convolution
and linear layer. Per layer, over the weights whose gradient varies between mini-batches,
S = sum(mean|g| / std(g)); the score is sum over layers of log S (layers with S = 0 add nothing).
Checked against SLDGroup/ZiCo `ZeroShotProxy/compute_zico.py` (`np.std` over mini-batches with
ddof 0, `np.nonzero(std)`, `np.log(tmpsum)` skipped when 0); there a train loader supplies the
mini-batches, here the halves of the run's fixed batch (two batches, as the paper's NAS-Bench runs).
"""

from __future__ import annotations

import math

import torch

from nas.proxies.base import ProxyInput, register, weight_gradients, weighted_layers

CHUNKS = 2


@register("zico", "sum over layers of log sum(mean|g| / std g), g the weights' gradients over 2 mini-batches",
          "Li et al., ICLR 2023 (SLDGroup/ZiCo)")
def zico(inp: ProxyInput) -> float:
    n = inp.inputs.shape[0]
    if n < 2 * CHUNKS:  # two images per mini-batch at least: BatchNorm needs two values per channel
        raise ValueError(f"zico needs a batch of at least {2 * CHUNKS} images, got {n}")
    layers = weighted_layers(inp.net)
    bounds = [round(i * n / CHUNKS) for i in range(CHUNKS + 1)]
    per_chunk = []
    for start, stop in zip(bounds, bounds[1:]):
        loss = inp.loss(inp.net(inp.inputs[start:stop]), inp.targets[start:stop])
        per_chunk.append([g if g is None else g.detach().flatten().double() for g in weight_gradients(loss, layers)])
    score = 0.0
    for i in range(len(layers)):
        grads = [chunk[i] for chunk in per_chunk]
        if any(g is None for g in grads):
            continue  # the layer does not reach the loss
        stacked = torch.stack(grads)
        std = stacked.std(dim=0, unbiased=False)
        keep = std != 0
        total = float((stacked.abs().mean(dim=0)[keep] / std[keep]).sum())
        if total > 0:
            score += math.log(total)
    return score
