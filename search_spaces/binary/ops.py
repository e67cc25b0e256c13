"""Binary operations for cells (after Kim et al., ECCV 2020, "Learning Architectures for Binary
Networks"): activations and weights of 1 bit inside the cell, real-valued everywhere else.

A binary convolution is BN -> sign (straight-through estimator: the gradient passes where
|x| < 1 and is zeroed elsewhere, as Courbariaux et al. / Bi-Real) -> convolution with weights
sign(W) scaled per output channel by mean |W| (XNOR-Net; the weights' gradient passes straight
through the sign) -> PReLU. On hardware the convolution is XNOR + popcount: its multiply-adds are
counted as binary operations (BOPs), not FLOPs (`BINARY` names the ops that hold them).

Ops: zeroise, max_pool_3x3, avg_pool_3x3, bin_conv_3x3, bin_conv_5x5, bin_dil_conv_3x3,
bin_dil_conv_5x5 (dilation 2); all C -> C at the edge's stride.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.darts import ops as darts_ops

OPS: tuple[str, ...] = ("zeroise", "max_pool_3x3", "avg_pool_3x3", "bin_conv_3x3", "bin_conv_5x5",
                        "bin_dil_conv_3x3", "bin_dil_conv_5x5")
BINARY = frozenset(op for op in OPS if op.startswith("bin_"))


class SignSTE(torch.autograd.Function):
    """sign(x) in {-1, +1} (0 maps to +1); backward: the incoming gradient where |x| < 1, else 0."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        x, = ctx.saved_tensors
        return grad * (x.abs() < 1).to(grad.dtype)


def binary_sign(x: torch.Tensor) -> torch.Tensor:
    return SignSTE.apply(x)


def binarised_weight(weight: torch.Tensor) -> torch.Tensor:
    """sign(W) * mean |W| per output channel, with W's gradient passed straight through."""
    scale = weight.abs().mean(dim=tuple(range(1, weight.ndim)), keepdim=True)
    binary = torch.where(weight >= 0, scale, -scale)
    return weight + (binary - weight).detach()


class BinaryConv2d(nn.Conv2d):
    """A convolution whose inputs and weights are binarised (inputs by `binary_sign`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(binary_sign(x), binarised_weight(self.weight), self.bias, self.stride, self.padding,
                        self.dilation, self.groups)


class BinaryConvOp(nn.Sequential):
    def __init__(self, c: int, kernel: int, stride: int, dilation: int = 1) -> None:
        padding = dilation * (kernel - 1) // 2
        super().__init__(nn.BatchNorm2d(c), BinaryConv2d(c, c, kernel, stride, padding, dilation=dilation, bias=False),
                         nn.PReLU(c))


def make_op(name: str, channels: int, stride: int) -> nn.Module:
    """Zeroise and the pools are DARTS's own ops; the convolutions are binary."""
    if name == "zeroise":
        return darts_ops.make_op("none", channels, stride)
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return darts_ops.make_op(name, channels, stride)
    if name.startswith("bin_conv_"):
        return BinaryConvOp(channels, int(name[-1]), stride)
    if name.startswith("bin_dil_conv_"):
        return BinaryConvOp(channels, int(name[-1]), stride, dilation=2)
    raise ValueError(f"unknown binary op {name!r}; valid: {', '.join(OPS)}")
