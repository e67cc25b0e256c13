"""A convolution whose k x k kernels for several k are nested in one super-kernel (Single-Path NAS,
Stamoulis et al. 2019; Once-for-All, Cai et al. 2020): the kernel of size k is the central k x k
window of the largest one.

The super-kernel is kept as one parameter per size (`rings`), each contributing only its outer ring (the
inside comes from the smaller sizes), so a path that uses size k gives the parameters of larger
sizes no gradient at all: they are not updated, not even by momentum or weight decay. Shared by
the ShuffleNet choice blocks (depthwise 3/5/7) and the NB201 cell edges (1x1 inside 3x3).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class NestedKernel(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, sizes: Sequence[int], groups: int = 1) -> None:
        super().__init__()
        self.sizes = tuple(sorted(sizes))
        if any(k % 2 == 0 for k in self.sizes) or any(b - a != 2 for a, b in zip(self.sizes, self.sizes[1:])):
            raise ValueError(f"nested kernel sizes must be odd and 2 apart, got {sizes}")
        self.groups = groups
        # nn.Conv2d only as parameter holders: the generic initialisation treats each like a conv.
        self.rings = nn.ModuleList(nn.Conv2d(in_channels, out_channels, k, padding=k // 2, groups=groups, bias=False)
                                   for k in self.sizes)
        for k, ring in zip(self.sizes[1:], self.rings[1:]):
            mask = torch.ones(k, k)
            mask[1:-1, 1:-1] = 0
            ring.register_buffer("ring_mask", mask, persistent=False)

    @torch.no_grad()
    def scale_as_one_kernel(self) -> None:
        """Give every part the spread a fan-out initialisation gives the largest kernel (each part was
        drawn for its own size). Measured on the ShuffleNet supernet: learning-progress ratio 0.79
        instead of 0.54 with each part at its own scale (`bench/supernet_learning.py`)."""
        largest = self.sizes[-1]
        for k, ring in zip(self.sizes, self.rings):
            ring.weight.mul_(k / largest)

    def kernel(self, k: int) -> torch.Tensor:
        if k not in self.sizes:
            raise ValueError(f"kernel size must be one of {self.sizes}, got {k}")
        weight = self.rings[0].weight
        for size, ring in zip(self.sizes[1:], self.rings[1:]):
            if size > k:
                break
            weight = F.pad(weight, (1, 1, 1, 1)) + ring.weight * ring.ring_mask
        return weight

    def forward(self, x: torch.Tensor, k: int, stride: int = 1) -> torch.Tensor:
        return F.conv2d(x, self.kernel(k), None, stride, k // 2, 1, self.groups)
