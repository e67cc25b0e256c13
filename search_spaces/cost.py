"""FLOPs and parameter counts, measured with `torch.utils.flop_counter`.

Spaces made of a chain of choice blocks count a whole architecture by adding per-candidate costs
measured once (a table), which makes `space.flops(arch)` a few additions: constraint checks in a
search call it thousands of times. The contract tests check the sum against a measurement of the
whole stand-alone network.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def measure_flops(module: nn.Module, *inputs: torch.Tensor) -> int:
    """FLOPs of one forward pass (a multiply-add counts 2), as torch's flop counter sees them."""
    was_training = module.training
    module.eval()
    try:
        with FlopCounterMode(display=False) as counter:
            module(*inputs)
    finally:
        module.train(was_training)
    return int(counter.get_total_flops())
