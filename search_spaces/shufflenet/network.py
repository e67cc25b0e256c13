"""ShuffleNetV2 choice-block networks: the layout, the stand-alone net and the weight-sharing supernet.

The supernet's blocks are `NestedChoiceBlock`s (candidates share weights; see `nested.py` for why)
or, with `sharing="independent"`, SPOS's one module per candidate. Either way `path_state(arch)`
gives the stand-alone net's state dict from the supernet's tensors, so `extract(arch)` returns a
plain `ShuffleNet` with the path's weights. The body returns multi-scale features (one per stage)
and the classifier head is a separate module, so the same body serves as a detection backbone
(DetNAS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from search_spaces.arch import Arch
from nas_common.limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIZE, MAX_WIDTH, check_limits
from search_spaces.weight_sharing import choices_of as _choices, init_weights, load_path_weights
from search_spaces.shufflenet.blocks import ChoiceBlock, ChoiceBlockUnit, ClassifierHead, Stem
from search_spaces.shufflenet.nested import NestedChoiceBlock

SHARING = ("nested", "independent")


def make_divisible(value: float, divisor: int = 8) -> int:
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


@dataclass(frozen=True)
class ShuffleNetConfig:
    """SPOS defaults (widths 64/160/320/640, last conv 1024, stages of 4/4/8/4 blocks).

    `width` multiplies every channel count. Strides default by input size: small images (CIFAR,
    <= 64 px) keep full resolution through the stem and first stage; larger ones use the SPOS
    ImageNet strides (stem 2, every stage 2).
    """

    width: float = 1.0
    input_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    stage_repeats: tuple[int, ...] = (4, 4, 8, 4)
    stage_widths: tuple[int, ...] = (64, 160, 320, 640)
    stem_channels: int = 16
    last_channels: int = 1024
    stem_stride: int | None = None
    first_stage_stride: int | None = None
    dropout: float = 0.0
    sharing: str = "nested"  # supernet only: candidates nested on shared weights, or SPOS-independent
    classifier: bool = True  # False: a backbone only (DetNAS): no last conv, pooling or classifier

    def __post_init__(self) -> None:
        for key in ("stage_repeats", "stage_widths"):
            object.__setattr__(self, key, tuple(int(v) for v in getattr(self, key)))
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        for key in ("input_size", "in_channels", "num_classes", "stem_channels", "last_channels"):
            if getattr(self, key) <= 0:
                raise ValueError(f"{key} must be positive, got {getattr(self, key)}")
        if len(self.stage_repeats) != len(self.stage_widths) or min(self.stage_repeats, default=0) <= 0:
            raise ValueError("stage_repeats and stage_widths need one positive entry per stage")
        # Checked before anything is built: 1e9 blocks or a 1e3 width would exhaust memory, not fail.
        check_limits(width=(self.width, MAX_WIDTH), stage_repeats=(max(self.stage_repeats, default=0), 64),
                     stage_widths=(max(self.stage_widths, default=0), MAX_CHANNELS),
                     stem_channels=(self.stem_channels, MAX_CHANNELS), last_channels=(self.last_channels, MAX_CHANNELS),
                     input_size=(self.input_size, MAX_INPUT_SIZE), num_classes=(self.num_classes, MAX_CLASSES),
                     in_channels=(self.in_channels, MAX_CHANNELS), stem_stride=(self.stem_stride or 1, 2),
                     first_stage_stride=(self.first_stage_stride or 1, 2))
        if (self.stem_stride or 1) < 1 or (self.first_stage_stride or 1) < 1:
            raise ValueError("stem_stride and first_stage_stride must be 1 or 2")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.sharing not in SHARING:
            raise ValueError(f"sharing must be one of {', '.join(SHARING)}, got {self.sharing!r}")

    @property
    def small_input(self) -> bool:
        return self.input_size <= 64


@dataclass(frozen=True)
class BlockSpec:
    in_channels: int
    out_channels: int
    stride: int
    projection: bool
    stage: int


@dataclass(frozen=True)
class Layout:
    stem_channels: int
    stem_stride: int
    blocks: tuple[BlockSpec, ...]
    last_channels: int

    @property
    def stage_ends(self) -> tuple[int, ...]:
        """Index of the last block of each stage: where multi-scale features are taken."""
        ends = [i for i, (a, b) in enumerate(zip(self.blocks, self.blocks[1:])) if a.stage != b.stage]
        return (*ends, len(self.blocks) - 1)


def minimum_width(cfg: ShuffleNetConfig) -> float:
    """The smallest width multiplier (in steps of 1/64) at which every stage widens the network."""
    def widens(width: float) -> bool:
        channels = [make_divisible(c * width) for c in (cfg.stem_channels, *cfg.stage_widths)]
        return all(b > a for a, b in zip(channels, channels[1:]))

    return next((k / 64 for k in range(1, 64 * 8) if widens(k / 64)), float("nan"))


def make_layout(cfg: ShuffleNetConfig) -> Layout:
    stem_stride = cfg.stem_stride or (1 if cfg.small_input else 2)
    first_stride = cfg.first_stage_stride or (1 if cfg.small_input else 2)
    channels = make_divisible(cfg.stem_channels * cfg.width)
    blocks = []
    for stage, (repeats, width) in enumerate(zip(cfg.stage_repeats, cfg.stage_widths)):
        out = make_divisible(width * cfg.width)
        if out <= channels:
            raise ValueError(f"width {cfg.width} is too narrow: stage {stage} must widen the network ({channels} -> "
                             f"{out} channels, rounded to multiples of 8); the smallest width of these stages is "
                             f"{minimum_width(cfg)}")
        for i in range(repeats):
            stride = (first_stride if stage == 0 else 2) if i == 0 else 1
            blocks.append(BlockSpec(channels, out, stride, projection=(i == 0), stage=stage))
            channels = out
    return Layout(make_divisible(cfg.stem_channels * cfg.width), stem_stride, tuple(blocks),
                  make_divisible(cfg.last_channels * cfg.width))


def _classifier(cfg: ShuffleNetConfig, layout: Layout) -> ClassifierHead | None:
    if not cfg.classifier:
        return None
    return ClassifierHead(layout.blocks[-1].out_channels, layout.last_channels, cfg.num_classes, cfg.dropout)


def _classify(head: ClassifierHead | None, features: list[torch.Tensor]) -> torch.Tensor:
    if head is None:
        raise RuntimeError("a backbone without classifier (classifier=False) has only forward_features")
    return head(features[-1])


class ShuffleNet(nn.Module):
    """The stand-alone network of one architecture."""

    def __init__(self, cfg: ShuffleNetConfig, arch: Arch | Sequence[int],
                 generator: torch.Generator | None = None) -> None:
        super().__init__()
        layout = make_layout(cfg)
        choices = _choices(arch)
        if len(choices) != len(layout.blocks):
            raise ValueError(f"need {len(layout.blocks)} choices, got {len(choices)}")
        self.stage_ends = layout.stage_ends
        self.stem = Stem(cfg.in_channels, layout.stem_channels, layout.stem_stride)
        self.features = nn.ModuleList(
            ChoiceBlockUnit(s.in_channels, s.out_channels, s.stride, s.projection, c)
            for s, c in zip(layout.blocks, choices)
        )
        self.head = _classifier(cfg, layout)
        init_weights(self, generator)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One feature map per stage (strides 4/8/16/32 at ImageNet settings)."""
        x = self.stem(x)
        features = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in self.stage_ends:
                features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _classify(self.head, self.forward_features(x))


class ShuffleNetSupernet(nn.Module):
    """Weight-sharing supernet: every block holds all candidates; `forward(x, arch)` runs one path.

    Parameters a path does not use are not touched by its forward, so after
    `zero_grad(set_to_none=True)` their gradients stay None and torch optimizers skip them
    entirely (no momentum, no weight decay drift), as SPOS requires.
    """

    def __init__(self, cfg: ShuffleNetConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        layout = make_layout(cfg)
        self.cfg = cfg
        self.stage_ends = layout.stage_ends
        block = NestedChoiceBlock if cfg.sharing == "nested" else ChoiceBlock
        self.stem = Stem(cfg.in_channels, layout.stem_channels, layout.stem_stride)
        self.features = nn.ModuleList(block(s.in_channels, s.out_channels, s.stride, s.projection)
                                      for s in layout.blocks)
        self.head = _classifier(cfg, layout)
        init_weights(self, generator)
        for b in self.features:
            if isinstance(b, NestedChoiceBlock):
                b.finish_init()

    def forward_features(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> list[torch.Tensor]:
        choices = self._checked(arch)
        x = self.stem(x)
        features = []
        for i, (block, choice) in enumerate(zip(self.features, choices)):
            x = block(x, choice)
            if i in self.stage_ends:
                features.append(x)
        return features

    def forward(self, x: torch.Tensor, arch: Arch | Sequence[int]) -> torch.Tensor:
        return _classify(self.head, self.forward_features(x, arch))

    def _checked(self, arch: Arch | Sequence[int]) -> Sequence[int]:
        choices = _choices(arch)
        if len(choices) != len(self.features):
            raise ValueError(f"need {len(self.features)} choices, got {len(choices)}")
        return choices

    def path_state(self, arch: Arch | Sequence[int]) -> dict[str, torch.Tensor]:
        """The state dict of `ShuffleNet(cfg, arch)`, as this supernet's tensors."""
        state = {f"stem.{k}": v for k, v in self.stem.state_dict(keep_vars=True).items()}
        for i, (block, choice) in enumerate(zip(self.features, self._checked(arch))):
            unit = (block.unit_state(choice) if isinstance(block, NestedChoiceBlock)
                    else block.candidates[choice].state_dict(keep_vars=True))
            state.update({f"features.{i}.{k}": v for k, v in unit.items()})
        if self.head is not None:
            state.update({f"head.{k}": v for k, v in self.head.state_dict(keep_vars=True).items()})
        return state

    def extract(self, arch: Arch | Sequence[int]) -> ShuffleNet:
        """The stand-alone net of `arch` holding this supernet's weights and BN statistics."""
        return load_path_weights(self, ShuffleNet(self.cfg, arch), arch)
