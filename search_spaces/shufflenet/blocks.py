"""ShuffleNetV2 choice blocks of Single Path One-Shot (Guo et al., 2019) and DetNAS (Chen et al., 2019).

Shapes follow the SPOS reference code. A block maps `in_channels` to `out_channels`:
- a *plain* block (stride 1, in == out) splits the input channels in two halves with a channel
  shuffle; one half passes through, the other goes through the branch (out/2 -> out/2);
- a *projection* block (the first of each stage; stride 1 or 2, channel count may change) feeds
  the whole input to both a projection branch (depthwise + pointwise, in -> in) and the main
  branch (in -> out - in).
The main branch is either the ShuffleNetV2 unit with a depthwise kxk kernel (k = 3, 5, 7) or the
Xception-like unit (three depthwise 3x3, each followed by a pointwise conv).
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.blocks.conv import conv_norm_act

CHOICES: tuple[str, ...] = ("shuffle3x3", "shuffle5x5", "shuffle7x7", "xception")


def channel_split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SPOS's channel shuffle + split: even channels pass through, odd channels enter the branch."""
    b, c, h, w = x.shape
    x = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2).reshape(2, b, c // 2, h, w)
    return x[0], x[1]


def shuffle_branch(cin: int, mid: int, cout: int, kernel: int, stride: int) -> nn.Sequential:
    """pw (cin->mid) -> dw kxk (stride) -> pw (mid->cout)."""
    return nn.Sequential(
        *conv_norm_act(cin, mid, 1),
        *conv_norm_act(mid, mid, kernel, stride, groups=mid, act=None),
        *conv_norm_act(mid, cout, 1),
    )


def xception_branch(cin: int, mid: int, cout: int, stride: int) -> nn.Sequential:
    """(dw 3x3 -> pw) three times; only the first depthwise conv strides."""
    return nn.Sequential(
        *conv_norm_act(cin, cin, 3, stride, groups=cin, act=None),
        *conv_norm_act(cin, mid, 1),
        *conv_norm_act(mid, mid, 3, 1, groups=mid, act=None),
        *conv_norm_act(mid, mid, 1),
        *conv_norm_act(mid, mid, 3, 1, groups=mid, act=None),
        *conv_norm_act(mid, cout, 1),
    )


class ChoiceBlockUnit(nn.Module):
    """One candidate of a choice block: `choice` indexes CHOICES."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, projection: bool, choice: int) -> None:
        super().__init__()
        if not projection and (stride != 1 or in_channels != out_channels):
            raise ValueError("a plain block keeps resolution and width; use projection=True")
        if out_channels % 2 or (projection and out_channels <= in_channels):
            raise ValueError(f"bad block widths {in_channels}->{out_channels}")
        self.projection = projection
        branch_in = in_channels if projection else in_channels // 2
        branch_out = out_channels - in_channels if projection else out_channels // 2
        mid = out_channels // 2
        name = CHOICES[choice]
        if name == "xception":
            self.branch = xception_branch(branch_in, mid, branch_out, stride)
        else:
            self.branch = shuffle_branch(branch_in, mid, branch_out, int(name[-1]), stride)
        if projection:
            self.proj = nn.Sequential(
                *conv_norm_act(in_channels, in_channels, 3, stride, groups=in_channels, act=None),
                *conv_norm_act(in_channels, in_channels, 1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.projection:
            return torch.cat((self.proj(x), self.branch(x)), 1)
        passthrough, x = channel_split(x)
        return torch.cat((passthrough, self.branch(x)), 1)


class ChoiceBlock(nn.Module):
    """The supernet form of a block: all candidates, exactly one runs per forward."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, projection: bool) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(
            ChoiceBlockUnit(in_channels, out_channels, stride, projection, c) for c in range(len(CHOICES))
        )

    def forward(self, x: torch.Tensor, choice: int) -> torch.Tensor:
        return self.candidates[choice](x)


class Stem(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__(*conv_norm_act(in_channels, out_channels, 3, stride))


class ClassifierHead(nn.Module):
    """Last 1x1 conv (1024 x width in SPOS) -> global average pool -> dropout -> linear.

    Kept apart from the choice-block body so a detection space can put an FPN and a detection
    head on the body's multi-scale features instead.
    """

    def __init__(self, in_channels: int, last_channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.last_conv = nn.Sequential(*conv_norm_act(in_channels, last_channels, 1))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(last_channels, num_classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.last_conv(x).mean((2, 3))
        return self.fc(self.dropout(x))
