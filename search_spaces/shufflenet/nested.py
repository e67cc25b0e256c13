"""A ShuffleNetV2 choice block whose four candidates share one set of weights (the default supernet).

Why not one independent module per candidate, as SPOS does: at SPOS depth (20 blocks) a supernet of
independent candidates does not learn in any budget this project can afford. Measured on CIFAR-10
(width 0.25, batch 64, lr 0.05, 300 steps; chance 2.303, a stand-alone child 1.93): independent
candidates stay at 2.32 whatever the initialisation (SPOS's N(0, 1/C_in), BN without affine),
learning rate (0.01-0.2), warm-up, strict-fairness sampling (FairNAS) or per-layer update clipping.
Two effects add up. Independently initialised candidates compute unrelated functions, so the
features after a few blocks are a different random function of the image on every path. And even
candidates that start identical drift apart: batch-normalised nets have their largest relative
gradients in the first blocks (||grad|| / ||w|| is ~40x larger in block 0 than in block 19 here),
so the copies of an early block are pushed in different noisy directions on different steps. A
single independent candidate per block is enough to stall training; three nested ones learn like
a child. `bench/supernet_learning.py` measures it.

So the candidates are nested, as in Single-Path NAS (Stamoulis et al., 2019) and Once-for-All
(Cai et al., 2020):
- the ShuffleNet units k = 3, 5, 7 share the 1x1 convolutions and one depthwise super-kernel whose
  central k x k window is the k x k kernel (`NestedKernel`: a path using k = 3 gives the 5x5 and
  7x7 rings no gradient at all, so they are not updated, not even by momentum or weight decay);
- the Xception-like unit shares the same 1x1 convolutions and the 3x3 centre as its last depthwise
  conv, and owns its two extra depthwise convs and its middle 1x1 conv. Those start as identity
  maps (BN bias set so the ReLU passes the normalised ReLU output unchanged), so at initialisation
  every candidate of a block computes (nearly) the same function and they differentiate while
  training.
- BN layers are shared where the convolutions are; per-path recalibration gives every path its own
  statistics before it is scored, as for any supernet here.
The stand-alone networks are unchanged: `unit_state(choice)` slices out the weights of one
`ChoiceBlockUnit`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from search_spaces.nested_kernel import NestedKernel
from search_spaces.blocks.conv import conv_norm_act
from search_spaces.shufflenet.blocks import CHOICES, channel_split

KERNELS = (3, 5, 7)
XCEPTION = CHOICES.index("xception")
# E[relu(n)] / std[relu(n)] for n ~ N(0, 1): the BN bias after which relu(normalised relu(z)) = relu(z) / std.
_RELU_MEAN_OVER_STD = (1 / math.sqrt(2 * math.pi)) / math.sqrt(0.5 - 1 / (2 * math.pi))


class NestedChoiceBlock(nn.Module):
    """The supernet form of one choice block: `forward(x, choice)` runs candidate `choice`."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, projection: bool) -> None:
        super().__init__()
        branch_in = in_channels if projection else in_channels // 2
        branch_out = out_channels - in_channels if projection else out_channels // 2
        mid = out_channels // 2
        self.projection, self.stride = projection, stride
        if projection:
            self.proj = nn.Sequential(*conv_norm_act(in_channels, in_channels, 3, stride, groups=in_channels, act=None),
                                      *conv_norm_act(in_channels, in_channels, 1))
        self.pw1 = nn.Sequential(*conv_norm_act(branch_in, mid, 1))
        self.dw = NestedKernel(mid, mid, KERNELS, groups=mid)
        self.dw_bn = nn.BatchNorm2d(mid)
        self.pw2 = nn.Sequential(*conv_norm_act(mid, branch_out, 1))
        # Xception's own layers: dw 3x3 on the input (strided), then dw 3x3 + pw after pw1.
        self.x_dw_in = nn.Sequential(*conv_norm_act(branch_in, branch_in, 3, stride, groups=branch_in, act=None))
        self.x_dw_mid = nn.Sequential(*conv_norm_act(mid, mid, 3, groups=mid, act=None))
        self.x_pw_mid = nn.Sequential(*conv_norm_act(mid, mid, 1))

    @torch.no_grad()
    def finish_init(self) -> None:
        """After the generic initialisation: the super-kernel drawn as one 7x7 depthwise kernel, and
        Xception's own layers as identity maps (see the module docstring)."""
        self.dw.scale_as_one_kernel()
        for conv in (self.x_dw_in[0], self.x_dw_mid[0]):
            conv.weight.zero_()
            conv.weight[:, :, 1, 1] = 1.0
        pw = self.x_pw_mid[0].weight
        pw.copy_(torch.eye(pw.shape[0], dtype=pw.dtype)[:, :, None, None])
        self.x_pw_mid[1].bias.fill_(_RELU_MEAN_OVER_STD)

    def _branch(self, x: torch.Tensor, choice: int) -> torch.Tensor:
        if choice == XCEPTION:
            x = self.pw1(self.x_dw_in(x))
            x = self.x_pw_mid(self.x_dw_mid(x))
            x = self.dw_bn(self.dw(x, 3, 1))
        else:
            x = self.dw_bn(self.dw(self.pw1(x), KERNELS[choice], self.stride))
        return self.pw2(x)

    def forward(self, x: torch.Tensor, choice: int) -> torch.Tensor:
        if self.projection:
            return torch.cat((self.proj(x), self._branch(x, choice)), 1)
        passthrough, x = channel_split(x)
        return torch.cat((passthrough, self._branch(x, choice)), 1)

    def unit_state(self, choice: int) -> dict[str, torch.Tensor]:
        """The state dict of `ChoiceBlockUnit(..., choice)` from this block's weights (views where
        the weights are not composed; the composed kernels are new tensors)."""
        if choice == XCEPTION:
            # xception_branch: dw_in(0,1) pw1(2,3) dw_mid(5,6) pw_mid(7,8) dw(10) dw_bn(11) pw2(12,13)
            parts = {"0": self.x_dw_in[0], "1": self.x_dw_in[1], "2": self.pw1[0], "3": self.pw1[1],
                     "5": self.x_dw_mid[0], "6": self.x_dw_mid[1], "7": self.x_pw_mid[0],
                     "8": self.x_pw_mid[1], "11": self.dw_bn, "12": self.pw2[0], "13": self.pw2[1]}
            kernel_index, k = "10", 3
        else:
            # shuffle_branch: pw1(0,1) dw(3) dw_bn(4) pw2(5,6)
            parts = {"0": self.pw1[0], "1": self.pw1[1], "4": self.dw_bn, "5": self.pw2[0], "6": self.pw2[1]}
            kernel_index, k = "3", KERNELS[choice]
        state = {f"branch.{i}.{name}": t for i, module in parts.items()
                 for name, t in module.state_dict(keep_vars=True).items()}
        state[f"branch.{kernel_index}.weight"] = self.dw.kernel(k)
        if self.projection:
            state.update({f"proj.{name}": t for name, t in self.proj.state_dict(keep_vars=True).items()})
        return state
