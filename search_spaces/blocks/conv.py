"""Convolution + normalisation + activation, the layer every space is made of.

The norm and the activation are arguments (factories), so one helper serves ShuffleNet (BN +
ReLU), MBConv (BN + SiLU/Swish), NB201's ReLU-Conv-BN order and binary cells (a sign activation
and a binary convolution as `conv`). `conv_norm_act` returns the layers as a list so a block can
splice them into its own `nn.Sequential` (the layer indices are the state-dict keys that saved
supernets depend on); `ConvNormAct` is the same as one module.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

Factory = Callable[[int], nn.Module]  # channels -> module (a norm); activations take no argument


def relu() -> nn.Module:
    return nn.ReLU(inplace=True)


def conv_norm_act(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, *,
                  norm: Factory | None = nn.BatchNorm2d, act: Callable[[], nn.Module] | None = relu,
                  act_first: bool = False, conv: Callable[..., nn.Module] = nn.Conv2d) -> list[nn.Module]:
    """[conv, norm, act] (or [act, conv, norm] with `act_first`), "same" padding, no conv bias
    when a norm follows. `norm=None` / `act=None` leave that layer out."""
    layers: list[nn.Module] = [conv(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=norm is None)]
    if norm is not None:
        layers.append(norm(cout))
    if act is not None:
        layers.insert(0, act()) if act_first else layers.append(act())
    return layers


class ConvNormAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, **options) -> None:
        super().__init__(*conv_norm_act(cin, cout, kernel, stride, groups, **options))
