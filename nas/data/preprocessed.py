"""A network that takes images as users have them: the normalisation travels with it.

Every network a search hands out (`nas.api.SearchResult.model()`, `nas export`'s `best.pt` through
`load_exported`, the ONNX file) was trained and scored on images normalised per channel with its
training data's mean and standard deviation. A user who feeds raw pixels to the bare network gets
nonsense (a digits model: 84.6% on normalised test images, 22.6% on raw ones) with no error, so the
normalisation is the network's first module: `Preprocessed(net, mean, std)` takes float images in
[0, 1] (pixels / 255), NCHW, and normalises them before `net`; `.net` is the bare network.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


class Preprocessed(nn.Module):
    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std) or not len(mean):
            raise ValueError(f"mean and std need one value per channel, got {list(mean)} and {list(std)}")
        self.net = net
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> Any:
        """`images`: float (N, C, H, W) in [0, 1], i.e. uint8 pixels / 255."""
        return self.net((images - self.mean) / self.std)

    def extra_repr(self) -> str:
        mean = ", ".join(f"{v:.4f}" for v in self.mean.flatten().tolist())
        std = ", ".join(f"{v:.4f}" for v in self.std.flatten().tolist())
        return f"takes images in [0, 1] (pixels / 255), NCHW; normalises with mean=({mean}), std=({std})"


def with_preprocessing(net: nn.Module, preprocessing: dict[str, Any]) -> nn.Module:
    """`net` behind its data's normalisation (`Task.preprocessing`'s mean and std); `net` itself when
    the preprocessing names none (an export written without it)."""
    if not preprocessing.get("mean") or not preprocessing.get("std"):
        return net
    return Preprocessed(net, preprocessing["mean"], preprocessing["std"]).train(net.training)
