"""FLOPs and parameter counts, measured with `torch.utils.flop_counter`.

Spaces made of a chain of choice blocks count a whole architecture by adding per-candidate costs
measured once (a table), which makes `space.flops(arch)` a few additions: constraint checks in a
search call it thousands of times. The contract tests check the sum against a measurement of the
whole stand-alone network.
"""

from __future__ import annotations

import functools

from functools import cached_property
from typing import Sequence

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


class CostTable:
    """Additive FLOPs and params of a chain-of-decisions space: a fixed part (stem, head, fixed
    blocks) plus, per decision, one cost per option, each measured once on its own input shape.
    `flops(choices)` / `params(choices)` are then a few additions."""

    def __init__(self, num_decisions: int, num_options: int) -> None:
        self._fixed = {"flops": 0, "params": 0}
        self._options = {q: [[0] * num_options for _ in range(num_decisions)] for q in ("flops", "params")}

    def add_fixed(self, module: nn.Module, *inputs: torch.Tensor, times: int = 1) -> None:
        self._fixed["flops"] += times * measure_flops(module, *inputs)
        self._fixed["params"] += times * count_params(module)

    def add_option(self, decisions: int | Sequence[int], option: int, module: nn.Module, *inputs: torch.Tensor,
                   times: int = 1) -> None:
        """Count `module` (on `inputs`, measured once) `times` whenever a decision of `decisions`
        takes `option` (several decisions: e.g. every edge of a cell, which all see one shape)."""
        flops, params = measure_flops(module, *inputs), count_params(module)
        for decision in ([decisions] if isinstance(decisions, int) else decisions):
            self._options["flops"][decision][option] += times * flops
            self._options["params"][decision][option] += times * params

    def total(self, quantity: str, choices: Sequence[int]) -> int:
        rows = self._options[quantity]
        if len(choices) != len(rows):
            raise ValueError(f"{len(rows)} decisions, got {len(choices)} choices")
        return self._fixed[quantity] + sum(row[c] for row, c in zip(rows, choices))

    def flops(self, choices: Sequence[int]) -> int:
        return self.total("flops", choices)

    def params(self, choices: Sequence[int]) -> int:
        return self.total("params", choices)


class TabulatedCost:
    """Mixin for a space whose cost is additive over its decisions: it measures its `CostTable`
    once (`_measure_costs`), and `flops`/`params` become lookups. List it before `SearchSpace`."""

    def _measure_costs(self) -> CostTable:
        raise NotImplementedError

    @cached_property
    def cost_table(self) -> CostTable:
        return self._measure_costs()

    def flops(self, arch) -> int:
        return self.cost_table.flops(self.validate(arch).choices)

    def params(self, arch) -> int:
        return self.cost_table.params(self.validate(arch).choices)


class MeasuredCost:
    """Mixin for a space whose cost is not additive over its decisions (a searched neck, a user's
    model): `flops`/`params` measure `cost_probe(arch)` once per architecture and remember it.
    List it before `SearchSpace`."""

    @functools.lru_cache(maxsize=4096)  # pure: an architecture's cost never changes
    def _measured(self, arch) -> tuple[int, int]:
        net, x = self.cost_probe(arch)
        return measure_flops(net, x), count_params(net)

    def flops(self, arch) -> int:
        return self._measured(self.validate(arch))[0]

    def params(self, arch) -> int:
        return self._measured(self.validate(arch))[1]
