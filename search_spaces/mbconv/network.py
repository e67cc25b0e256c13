"""MBConv networks (MnasNet, Tan et al. 2019; EfficientNet, Tan & Le 2019) and their supernet.

The macro skeleton is EfficientNet-B0's: a 3x3 stem (32 channels), seven stages of MBConv blocks
(repeats, kernel, stride, expansion, channels) = (1,3,1,1,16) (2,3,2,6,24) (2,5,2,6,40) (3,3,2,6,80)
(3,5,1,6,112) (4,5,2,6,192) (1,3,1,6,320), a 1x1 head (1280), pooling, dropout and a classifier;
Swish (SiLU) everywhere, squeeze-and-excitation with a bottleneck of 0.25 x the block's input
channels, stochastic depth, channels rounded to multiples of 8. Width and depth multipliers scale
channels and repeats (`round_filters` / `round_repeats` of the EfficientNet code), the resolution
multiplier the input size (the network resizes its input, so one data set serves every member of
a compound-scaled family).

Searched per block: kernel {3,5,7}, expansion {3,4,6}, SE {off, 0.25}; per stage: depth (blocks
beyond it are skipped, i.e. identity). The first stage (expansion 1, one block) is fixed, as in
MnasNet's search space.

Weight sharing (Once-for-All style, Cai et al. 2020): a supernet block holds the largest kernel
and expansion; a smaller kernel is the centre of the larger ones (`NestedKernel`), a smaller
expansion the first channels of the expansion, depthwise, SE and projection weights, and of the
BN layers (`SlicedBatchNorm2d`: the statistics of the first channels; per-path recalibration
re-estimates exactly those). `extract` copies the path's slices into the stand-alone net.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from search_spaces.arch import Arch
from nas_common.limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIZE, MAX_WIDTH, check_limits
from search_spaces.blocks.conv import ConvNormAct
from search_spaces.blocks.se import SqueezeExcite
from search_spaces.nested_kernel import NestedKernel
from search_spaces.shufflenet.network import make_divisible
from search_spaces.weight_sharing import choices_of, init_weights, load_path_weights

# EfficientNet-B0: (repeats, kernel, stride, expansion, channels) per stage.
B0_STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320),
)
KERNELS = (3, 5, 7)
EXPANSIONS = (3, 4, 6)
SE_OPTIONS = ("off", "se0.25")
SE_RATIO = 0.25


@dataclass(frozen=True)
class MBConvConfig:
    """Options of the `mbconv` space. `input_size` is the data's image size; the network runs at
    round(input_size * resolution). Small inputs (<= 64 px) keep the stem and the first stride-2
    stage at stride 1 (total stride 8 instead of 32), as CIFAR adaptations do."""

    width: float = 1.0
    depth: float = 1.0
    resolution: float = 1.0
    input_size: int = 224
    num_classes: int = 1000
    in_channels: int = 3
    dropout: float = 0.2
    drop_connect: float = 0.2  # stochastic depth, largest for the last block (linear in depth)
    stem_channels: int = 32
    head_channels: int = 1280
    stages: tuple[tuple[int, int, int, int, int], ...] = field(default=B0_STAGES)
    small_input_strides: bool | None = None  # None: when input_size <= 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "stages", tuple(tuple(int(v) for v in s) for s in self.stages))
        for key in ("width", "depth", "resolution"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{key} multiplier must be a positive finite number, got {value}")
        check_limits(width=(self.width, MAX_WIDTH), depth=(self.depth, 16), resolution=(self.resolution, 16),
                     input_size=(self.input_size, MAX_INPUT_SIZE), image_size=(self.input_size * self.resolution, MAX_INPUT_SIZE),
                     num_classes=(self.num_classes, MAX_CLASSES), in_channels=(self.in_channels, MAX_CHANNELS),
                     stem_channels=(self.stem_channels, MAX_CHANNELS), head_channels=(self.head_channels, MAX_CHANNELS),
                     stage_repeats=(max((s[0] for s in self.stages), default=0), 64),
                     stage_channels=(max((s[4] for s in self.stages), default=0), MAX_CHANNELS),
                     expansion=(max((s[3] for s in self.stages), default=0), 16),
                     kernel=(max((s[1] for s in self.stages), default=0), 15))
        if self.input_size < 8 or self.num_classes < 1 or self.in_channels < 1:
            raise ValueError("input_size >= 8, num_classes >= 1 and in_channels >= 1 are required")
        if not 0 <= self.dropout < 1 or not 0 <= self.drop_connect < 1:
            raise ValueError("dropout and drop_connect must be in [0, 1)")
        if not self.stages or any(len(s) != 5 or min(s) < 1 for s in self.stages):
            raise ValueError("stages: (repeats, kernel, stride, expansion, channels) per stage, all >= 1")
        if self.stages[0][0] != 1 or self.stages[0][3] != 1:
            raise ValueError("the first stage is the fixed MBConv1 block: repeats 1, expansion 1")

    @property
    def image_size(self) -> int:
        """The size the network runs at."""
        return max(8, round(self.input_size * self.resolution))


@dataclass(frozen=True)
class BlockSpec:
    stage: int
    index: int  # position of the block in its stage
    in_channels: int
    out_channels: int
    stride: int
    drop_rate: float  # stochastic depth of this block


@dataclass(frozen=True)
class Layout:
    stem_channels: int
    stem_stride: int
    first: BlockSpec  # the fixed MBConv1 block of stage 0
    first_kernel: int
    blocks: tuple[BlockSpec, ...]  # every searchable block position (all stages after the first)
    stage_blocks: tuple[tuple[int, ...], ...]  # indices into `blocks`, per searchable stage
    head_channels: int


def round_repeats(repeats: int, depth: float) -> int:
    return int(math.ceil(depth * repeats))


def make_layout(cfg: MBConvConfig) -> Layout:
    small = cfg.small_input_strides if cfg.small_input_strides is not None else cfg.input_size <= 64
    stem = make_divisible(cfg.stem_channels * cfg.width)
    repeats = [round_repeats(s[0], cfg.depth) for s in cfg.stages[1:]]
    total = 1 + sum(repeats)
    first_channels = make_divisible(cfg.stages[0][4] * cfg.width)
    first = BlockSpec(0, 0, stem, first_channels, cfg.stages[0][2], 0.0)
    blocks, stage_blocks, channels, position = [], [], first_channels, 1
    first_stride2 = True
    for s, ((_, _, stride, _, out), count) in enumerate(zip(cfg.stages[1:], repeats), start=1):
        out = make_divisible(out * cfg.width)
        if small and stride == 2 and first_stride2:
            stride, first_stride2 = 1, False  # CIFAR: the first downsampling stage keeps the resolution
        indices = []
        for i in range(count):
            indices.append(len(blocks))
            blocks.append(BlockSpec(s, i, channels, out, stride if i == 0 else 1,
                                    cfg.drop_connect * position / total))
            channels, position = out, position + 1
        stage_blocks.append(tuple(indices))
    return Layout(stem, 1 if small else 2, first, cfg.stages[0][1], tuple(blocks), tuple(stage_blocks),
                  make_divisible(cfg.head_channels * max(cfg.width, 1.0)))


# ---- the stand-alone network ----------------------------------------------------------------------
# BN eps as EfficientNet; momentum PyTorch's 0.1 rather than the TF code's 0.01 (decay 0.99), which
# suits ImageNet's ~900k steps: after a short proxy training (a few hundred steps, `nas scale`) the
# running statistics would still be a third the initial 0/1 and validation accuracy near chance.
BN_MOMENTUM = 0.1


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=BN_MOMENTUM)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth (Huang et al. 2016): drop the residual branch per sample, rescale the rest.
    Only in training steps (train mode with gradients): per-path BN recalibration runs in train
    mode without gradients and must see the network as it will be scored, deterministically."""
    if not training or rate == 0.0 or not torch.is_grad_enabled():
        return x
    keep = torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype) >= rate
    return x * keep / (1.0 - rate)


class MBConv(nn.Module):
    """Inverted residual: [1x1 expand, BN, SiLU], kxk depthwise, BN, SiLU, [SE], 1x1 project, BN,
    residual with stochastic depth when the shape is kept."""

    def __init__(self, spec: BlockSpec, kernel: int, expansion: int, se: bool) -> None:
        super().__init__()
        mid = spec.in_channels * expansion
        self.expand = ConvNormAct(spec.in_channels, mid, 1, norm=_bn, act=nn.SiLU) if expansion != 1 else None
        self.dw = ConvNormAct(mid, mid, kernel, spec.stride, groups=mid, norm=_bn, act=nn.SiLU)
        self.se = SqueezeExcite(mid, se_channels(spec), act=nn.SiLU) if se else None
        self.project = ConvNormAct(mid, spec.out_channels, 1, norm=_bn, act=None)
        self.residual = spec.stride == 1 and spec.in_channels == spec.out_channels
        self.drop_rate = spec.drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.project(y)
        return x + drop_path(y, self.drop_rate, self.training) if self.residual else y


def se_channels(spec: BlockSpec) -> int:
    return max(1, int(spec.in_channels * SE_RATIO))


class Stem(ConvNormAct):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__(cin, cout, 3, stride, norm=_bn, act=nn.SiLU)


class Head(nn.Module):
    def __init__(self, cin: int, channels: int, num_classes: int, dropout: float) -> None:
        super().__init__()
        self.conv = ConvNormAct(cin, channels, 1, norm=_bn, act=nn.SiLU)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.conv(x).mean((2, 3))))


class Resize(nn.Module):
    """The resolution multiplier: the input resized (bilinear) to the network's size, if different."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == self.size and x.shape[-2] == self.size:
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)


@dataclass(frozen=True)
class BlockChoice:
    kernel: int
    expansion: int
    se: bool


def active_blocks(layout: Layout, depths: Sequence[int]) -> list[int]:
    """Indices (into `layout.blocks`) of the blocks an architecture runs: the first `depth` of each stage."""
    return [i for blocks, d in zip(layout.stage_blocks, depths) for i in blocks[:d]]


class MBConvNet(nn.Module):
    """The stand-alone network of one architecture: `blocks` holds only the blocks it runs, keyed by
    their position in the layout (so a path's tensors have the same names in the supernet)."""

    def __init__(self, cfg: MBConvConfig, blocks: dict[int, BlockChoice], generator: torch.Generator | None = None):
        super().__init__()
        layout = make_layout(cfg)
        self.resize = Resize(cfg.image_size)
        self.stem = Stem(cfg.in_channels, layout.stem_channels, layout.stem_stride)
        self.first = MBConv(layout.first, layout.first_kernel, 1, True)
        self.blocks = nn.ModuleDict({str(i): MBConv(layout.blocks[i], c.kernel, c.expansion, c.se)
                                     for i, c in sorted(blocks.items())})
        self.head = Head(layout.blocks[-1].out_channels, layout.head_channels, cfg.num_classes, cfg.dropout)
        init_weights(self, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(self.resize(x)))
        for block in self.blocks.values():
            x = block(x)
        return self.head(x)


# ---- the supernet -----------------------------------------------------------------------------------
class SlicedBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm over the first C channels of its parameters and statistics, C = the input's
    channels: the statistics of one expansion are those of its channels only, and (momentum=None)
    recalibration averages them exactly, as `nn.BatchNorm2d` does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        else:
            factor = 0.0
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                            use_batch, factor, self.eps)

    def sliced_state(self, c: int) -> dict[str, torch.Tensor]:
        return {"weight": self.weight[:c], "bias": self.bias[:c], "running_mean": self.running_mean[:c],
                "running_var": self.running_var[:c], "num_batches_tracked": self.num_batches_tracked}


def _sbn(channels: int) -> SlicedBatchNorm2d:
    return SlicedBatchNorm2d(channels, eps=1e-3, momentum=BN_MOMENTUM)


class SuperMBConv(nn.Module):
    """Every (kernel, expansion, SE) of one block position in shared, sliced tensors."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        self.spec = spec
        mid = spec.in_channels * max(EXPANSIONS)
        self.expand_conv = nn.Conv2d(spec.in_channels, mid, 1, bias=False)
        self.expand_bn = _sbn(mid)
        self.dw = NestedKernel(mid, mid, KERNELS, groups=mid)
        self.dw_bn = _sbn(mid)
        self.se = SqueezeExcite(mid, se_channels(spec), act=nn.SiLU)  # its tensors; the forward slices them
        self.project_conv = nn.Conv2d(mid, spec.out_channels, 1, bias=False)
        self.project_bn = _bn(spec.out_channels)
        self.residual = spec.stride == 1 and spec.in_channels == spec.out_channels

    def forward(self, x: torch.Tensor, choice: BlockChoice) -> torch.Tensor:
        mid = self.spec.in_channels * choice.expansion
        y = F.silu(self.expand_bn(F.conv2d(x, self.expand_conv.weight[:mid])))
        k = choice.kernel
        y = F.silu(self.dw_bn(F.conv2d(y, self.dw.kernel(k)[:mid], None, self.spec.stride, k // 2, 1, mid)))
        if choice.se:
            s = F.silu(F.conv2d(y.mean((2, 3), keepdim=True), self.se.reduce.weight[:, :mid], self.se.reduce.bias))
            y = y * torch.sigmoid(F.conv2d(s, self.se.expand.weight[:mid], self.se.expand.bias[:mid]))
        y = self.project_bn(F.conv2d(y, self.project_conv.weight[:, :mid]))
        return x + drop_path(y, self.spec.drop_rate, self.training) if self.residual else y

    def path_state(self, choice: BlockChoice) -> dict[str, torch.Tensor]:
        """The state dict of `MBConv(spec, kernel, expansion, se)` as slices of these tensors."""
        mid = self.spec.in_channels * choice.expansion
        state = {"expand.0.weight": self.expand_conv.weight[:mid],
                 **{f"expand.1.{k}": v for k, v in self.expand_bn.sliced_state(mid).items()},
                 "dw.0.weight": self.dw.kernel(choice.kernel)[:mid],
                 **{f"dw.1.{k}": v for k, v in self.dw_bn.sliced_state(mid).items()},
                 "project.0.weight": self.project_conv.weight[:, :mid],
                 **{f"project.1.{k}": v for k, v in self.project_bn.state_dict(keep_vars=True).items()}}
        if choice.se:
            state.update({"se.reduce.weight": self.se.reduce.weight[:, :mid], "se.reduce.bias": self.se.reduce.bias,
                          "se.expand.weight": self.se.expand.weight[:mid], "se.expand.bias": self.se.expand.bias[:mid]})
        return state


class MBConvSupernet(nn.Module):
    """The weight-sharing model of the space; `forward(x, arch)` runs exactly the path of `arch`."""

    def __init__(self, space, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.space = space
        cfg, layout = space.cfg, space.layout
        self.resize = Resize(cfg.image_size)
        self.stem = Stem(cfg.in_channels, layout.stem_channels, layout.stem_stride)
        self.first = MBConv(layout.first, layout.first_kernel, 1, True)
        self.blocks = nn.ModuleDict({str(i): SuperMBConv(spec) for i, spec in enumerate(layout.blocks)})
        # One head per possible last-stage width would differ only when the last stage is skipped,
        # which depth >= 1 rules out: the head always reads the last stage's output.
        self.head = Head(layout.blocks[-1].out_channels, layout.head_channels, cfg.num_classes, cfg.dropout)
        init_weights(self, generator)
        for block in self.blocks.values():
            block.dw.scale_as_one_kernel()

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> torch.Tensor:
        chosen = self.space.block_choices(choices_of(arch))
        x = self.first(self.stem(self.resize(x)))
        for i, choice in chosen.items():
            x = self.blocks[str(i)](x, choice)
        return self.head(x)

    def path_state(self, arch: Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        chosen = self.space.block_choices(choices_of(arch))
        state = {}
        for name in ("stem", "first", "head"):
            state.update({f"{name}.{k}": v for k, v in getattr(self, name).state_dict(keep_vars=True).items()})
        for i, choice in chosen.items():
            state.update({f"blocks.{i}.{k}": v for k, v in self.blocks[str(i)].path_state(choice).items()})
        return state

    def extract(self, arch: Arch | Sequence[int]) -> MBConvNet:
        return load_path_weights(self, MBConvNet(self.space.cfg, self.space.block_choices(choices_of(arch))), arch)
