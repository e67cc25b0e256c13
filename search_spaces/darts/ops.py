"""The DARTS cell operations (Liu et al., ICLR 2019, following the reference `operations.py`).

Every op maps C -> C channels at `stride` (2 on the edges leaving a reduction cell's inputs):
- `none`: zeros (at the output resolution); only the mixed (search) cell holds it;
- `max_pool_3x3`, `avg_pool_3x3` (padding 1, `count_include_pad=False`);
- `skip_connect`: identity, or `FactorizedReduce` (two offset stride-2 1x1 convs, concatenated)
  when the edge reduces;
- `sep_conv_KxK`: (ReLU, depthwise KxK, pointwise 1x1, BN) twice, the first at `stride`;
- `dil_conv_KxK`: ReLU, depthwise KxK with dilation 2, pointwise 1x1, BN.
The search cell's pools get no BN here (the reference adds an affine-free BN after pools in its
search cell only): the single-path, mixed and stand-alone cells then run identical modules, so
a path's weights move between them exactly.
"""

from __future__ import annotations

import torch
from torch import nn

OPS: tuple[str, ...] = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
                        "dil_conv_3x3", "dil_conv_5x5")


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x[:, :, ::self.stride, ::self.stride])


class ReLUConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, padding: int = 0) -> None:
        super().__init__(nn.ReLU(), nn.Conv2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout))


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing every other pixel: two stride-2 1x1 convs, the second
    shifted by one pixel, concatenated (each gives half the output channels)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        if cout % 2:
            raise ValueError(f"FactorizedReduce needs an even channel count, got {cout}")
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))  # odd sizes: both halves agree in shape
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class DilConv(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int, dilation: int) -> None:
        padding = dilation * (kernel - 1) // 2
        super().__init__(nn.ReLU(), nn.Conv2d(c, c, kernel, stride, padding, dilation=dilation, groups=c, bias=False),
                         nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))


class SepConv(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int) -> None:
        super().__init__(DilConv(c, kernel, stride, 1), DilConv(c, kernel, 1, 1))


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    if name == "none":
        return Zero(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    if name.startswith("sep_conv_"):
        return SepConv(channels, int(name[-1]), stride)
    if name.startswith("dil_conv_"):
        return DilConv(channels, int(name[-1]), stride, 2)
    raise ValueError(f"unknown DARTS op {name!r}; valid: {', '.join(OPS)}")
