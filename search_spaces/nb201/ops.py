"""NAS-Bench-201 (Dong & Yang, ICLR 2020) operations, following the NB201 reference code.

Every cell edge keeps resolution and width (C -> C, stride 1), so the five candidates are simple:
- `none`: zeros (the edge is absent; it still appears in the cell so the string stays fixed-length);
- `skip_connect`: identity;
- `nor_conv_1x1` / `nor_conv_3x3`: ReLU -> conv (no bias) -> BN (affine, tracked statistics);
- `avg_pool_3x3`: 3x3 average pool, stride 1, padding 1, `count_include_pad=False` (the
  reference's 1x1 pre-conv only exists when C_in != C_out, which never happens inside a cell).
`mixed_edge` holds all five on one edge: `forward(x, choice)` runs one (single path), and
`forward_mixed(x, weights)` sums all of them weighted (DARTS), on the same modules.
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.blocks.cell import CellGraph
from search_spaces.blocks.conv import conv_norm_act
from search_spaces.blocks.mixed import MixedOp
from search_spaces.nested_kernel import NestedKernel

# Order = choice index of every edge; also the op names of the NB201 string.
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

# (target node, source node) of the 6 edges, in the order of the NB201 string:
# |e(1<-0)|+|e(2<-0)|e(2<-1)|+|e(3<-0)|e(3<-1)|e(3<-2)|
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
NUM_NODES = 4
CELL = CellGraph(num_inputs=1, num_nodes=NUM_NODES, edges=EDGES, output="last")


class Zero(nn.Module):
    """The `none` op. Returns fresh zeros rather than `x * 0` (the reference): same values, no
    NaN from an infinite input, and no work for autograd."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class ReLUConvBN(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> None:
        # inplace=False: the same node feeds several edges, an in-place ReLU would corrupt it.
        super().__init__(*conv_norm_act(in_channels, out_channels, kernel, stride, act=nn.ReLU, act_first=True))


def make_op(name: str, channels: int) -> nn.Module:
    """One candidate of a cell edge (C -> C, stride 1)."""
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}; valid: {', '.join(OPS)}")


def mixed_edge(channels: int) -> MixedOp:
    """The supernet form of an edge: all candidates (`candidates[i]` is `OPS[i]`), one forward
    per path and DARTS's weighted forward (`search_spaces.blocks.MixedOp`)."""
    return MixedOp(make_op(name, channels) for name in OPS)


class NestedMixedEdge(nn.Module):
    """An edge whose two convolutions share weights: the 1x1 kernel is the centre of the 3x3 one
    (`NestedKernel`), with one BN after either. The parameter-free ops are as in `mixed_edge`.
    `unit_state(choice)` gives the state dict of the stand-alone op `make_op(OPS[choice])`."""

    _KERNEL = {OPS.index("nor_conv_1x1"): 1, OPS.index("nor_conv_3x3"): 3}

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = NestedKernel(channels, channels, (1, 3))
        self.bn = nn.BatchNorm2d(channels)
        self.others = nn.ModuleDict({str(i): make_op(name, channels) for i, name in enumerate(OPS)
                                     if i not in self._KERNEL})

    def finish_init(self) -> None:
        self.conv.scale_as_one_kernel()

    def forward(self, x: torch.Tensor, choice: int) -> torch.Tensor:
        if choice in self._KERNEL:
            return self.bn(self.conv(torch.relu(x), self._KERNEL[choice]))
        return self.others[str(choice)](x)

    def forward_mixed(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if weights.shape != (len(OPS),):
            raise ValueError(f"need {len(OPS)} edge weights, got shape {tuple(weights.shape)}")
        return sum(w * self(x, i) for i, w in enumerate(weights))

    def unit_state(self, choice: int) -> dict[str, torch.Tensor]:
        if choice not in self._KERNEL:
            return self.others[str(choice)].state_dict(keep_vars=True)  # parameter-free: empty
        # ReLUConvBN: 0 ReLU, 1 conv, 2 BN
        return {"1.weight": self.conv.kernel(self._KERNEL[choice]),
                **{f"2.{k}": v for k, v in self.bn.state_dict(keep_vars=True).items()}}


class ResNetBasicBlock(nn.Module):
    """The fixed reduction between stages: two ReLU-conv-BN 3x3 (the first strides 2), plus a
    shortcut of 2x2 average pool + 1x1 conv.

    The pool uses `ceil_mode=True` so that odd input sizes keep the shortcut's shape equal to
    the strided conv's ((n + 1) // 2); for even sizes (every NB201 setting) it is the reference.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(in_channels, out_channels, 3, stride=2)
        self.conv_b = ReLUConvBN(out_channels, out_channels, 3)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(2, stride=2, ceil_mode=True),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class Stem(nn.Sequential):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels))


class ClassifierHead(nn.Module):
    """BN -> ReLU -> global average pool -> linear (the reference's lastact/global_pooling/classifier)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()  # a module, not torch.relu: activation hooks (the naswot proxy) see it
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.relu(self.bn(x)).mean((2, 3)))
