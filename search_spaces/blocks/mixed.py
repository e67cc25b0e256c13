"""A mixed op: one supernet position holding every candidate module, with two forwards.

`forward(x, choice)` runs exactly one candidate (single-path training and evaluation: the others
get no gradient); `forward_mixed(x, weights)` is DARTS's continuous relaxation, sum_i w_i op_i(x).
`unit_state(choice)` is the state dict of the stand-alone op, for `path_state` / `extract`.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import nn


class MixedOp(nn.Module):
    def __init__(self, candidates: Iterable[nn.Module]) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(candidates)
        if not len(self.candidates):
            raise ValueError("a mixed op needs at least one candidate")

    def forward(self, x: torch.Tensor, choice: int) -> torch.Tensor:
        return self.candidates[choice](x)

    def forward_mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape != (len(self.candidates),):
            raise ValueError(f"need {len(self.candidates)} op weights, got shape {tuple(weights.shape)}")
        return sum(w * op(x) for w, op in zip(weights, self.candidates))

    def unit_state(self, choice: int) -> dict[str, torch.Tensor]:
        return self.candidates[choice].state_dict(keep_vars=True)
