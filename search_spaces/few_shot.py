"""Few-shot supernets (Zhao et al., ICML 2021, "Few-shot Neural Architecture Search").

One supernet shares weights between every architecture, including ones that compete badly for the
same weights. Few-shot NAS splits it on one decision: one sub-supernet per option of that decision,
each holding the architectures that take that option, so co-adaptation only happens inside a
split. Each sub-supernet starts as a copy of the trained one-shot supernet (`load_one_shot`) and is
trained on; an architecture is scored on the sub-supernet of its option.

The wrapper keeps the supernet contract: `forward(x, arch)` runs exactly `arch`'s path in its
sub-supernet, `path_state`/`extract` are that sub-supernet's (the stand-alone net's keys), so
extraction, export and BN recalibration work unchanged. Uniform path sampling trains every
sub-supernet in proportion to its share of the space.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from search_spaces.arch import Arch
from search_spaces.weight_sharing import choices_of


class FewShotSupernet(nn.Module):
    def __init__(self, make_supernet: Callable[[], nn.Module], decision: int, options: int) -> None:
        super().__init__()
        if options < 2:
            raise ValueError(f"a few-shot split needs a decision with 2 or more options, got {options}")
        self.decision = decision
        self.subnets = nn.ModuleList(make_supernet() for _ in range(options))

    def subnet(self, arch: Arch | Sequence[int]) -> nn.Module:
        """The sub-supernet that holds `arch`."""
        return self.subnets[choices_of(arch)[self.decision]]

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> torch.Tensor:
        return self.subnet(arch)(x, arch)

    def path_state(self, arch: Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        return self.subnet(arch).path_state(arch)

    def extract(self, arch: Arch | Sequence[int]) -> nn.Module:
        return self.subnet(arch).extract(arch)

    @torch.no_grad()
    def load_one_shot(self, state: Mapping[str, torch.Tensor]) -> None:
        """Every sub-supernet a copy of the one-shot supernet whose state dict is `state`."""
        for subnet in self.subnets:
            subnet.load_state_dict(state)
