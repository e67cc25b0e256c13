"""`mlp`: a multi-layer perceptron on the space's flat one-hot encoding (`space.encode`).

The baseline predictor of the NAS-predictor literature (e.g. White et al. 2021, "How powerful are
performance predictors in NAS?"): works on every space, since every space encodes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from nas_common.registry import PREDICTORS
from predictors.base import Predictor, init_weights
from search_spaces.arch import Arch


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given sizes with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _Squeeze(nn.Module):
    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


@PREDICTORS.register("mlp")
class MLPPredictor(Predictor):
    name = "mlp"

    def _features(self, archs: Sequence[Arch]) -> tuple[torch.Tensor, ...]:
        return (torch.from_numpy(np.stack([self.space.encode(a) for a in archs])),)

    def _network(self, generator: torch.Generator) -> nn.Module:
        cfg = self.config
        sizes = [self.space.encoding_size()] + [cfg.hidden] * cfg.layers + [1]
        with torch.device("meta"):
            net = _Squeeze(mlp(sizes))
        return init_weights(net, generator)
