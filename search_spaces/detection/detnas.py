"""The `detnas` space: DetNAS (Chen et al., NeurIPS 2019), a detector whose backbone is searched.

The decisions are the backbone's ShuffleNetV2 choice blocks: the `shufflenet` space's blocks and
supernet (`search_spaces.shufflenet`, with `classifier=False`: a backbone ends at its last stage),
at the layouts of the DetNAS paper. The detector is that backbone, an FPN neck on its stages 2-4
(C3-C5; P6/P7 by strided convs, as RetinaNet) and a RetinaNet head, composed by
`search_spaces.composition`, so `extract(arch)` is exactly the stand-alone detector of the path.
Neck and head are shared by every path; the neck is its own module so a searched neck (NAS-FPN)
can replace it.

Costs follow DetNAS: FLOPs and params of the backbone as an ImageNet classifier (last 1x1 conv
1024 and a 1000-way classifier) on 224x224 images, which is what "300M" and "1.3G" name; our
FLOPs count a multiply-add as 2, so DetNAS's 300M (multiply-adds) is `--max-flops 600M` here. The
cost model is `cost_probe`, which the contract tests measure. `detector_flops(arch)` counts the
whole detector at its input size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Sequence

import torch
from torch import nn

from nas_common.registry import SPACES
from search_spaces.arch import Arch
from nas_common.limits import MAX_CHANNELS, MAX_CLASSES, MAX_INPUT_SIZE, MAX_WIDTH, check_limits
from search_spaces.detection.heads import FPN, HEAD_NORMS, AnchorConfig, AnchoredHead
from search_spaces.detection.merging import ATTENTION, Cell, MergingNeck, MergingSupernetNeck
from search_spaces.composition import ComposedNet, ComposedSupernet
from search_spaces.cost import measure_flops
from search_spaces.protocol import Decision, SearchSpace, config_dict, option_names, typed_options
from search_spaces.shufflenet.blocks import CHOICES
from search_spaces.shufflenet.network import (
    SHARING, ShuffleNet, ShuffleNetConfig, ShuffleNetSupernet, make_divisible, make_layout,
)
from search_spaces.shufflenet.space import ShuffleNetSpace, blocks_text
from search_spaces.detection.nasfpn_cells import NeckEncoding
from search_spaces.weight_sharing import init_weights

# DetNAS's search spaces (paper, Table 1) and a CPU-sized one (half the blocks of 300M).
LAYOUTS: dict[str, dict[str, Any]] = {
    "300M": {"stage_repeats": (4, 4, 8, 4), "stem_channels": 16, "stage_widths": (64, 160, 320, 640)},
    "1.3G": {"stage_repeats": (8, 8, 16, 8), "stem_channels": 48, "stage_widths": (96, 240, 480, 960)},
    "cpu": {"stage_repeats": (2, 2, 4, 2), "stem_channels": 16, "stage_widths": (64, 160, 320, 640)},
}
NECKS = ("fpn", "nasfpn")
COST_INPUT = 224  # DetNAS counts backbone FLOPs as an ImageNet classifier on 224x224 images
COST_CLASSES = 1000


@dataclass(frozen=True)
class DetNASConfig:
    """`layout` (300M, 1.3G or cpu) x `width` sets the backbone; `neck_channels` defaults to 256 x
    width (RetinaNet's 256 at full width); `input_size` is the square detector input."""

    layout: str = "300M"
    width: float = 1.0
    input_size: int = 256
    num_classes: int = 80
    neck_channels: int | None = None
    head_convs: int = 4
    head_norm: str = "none"  # "gn": GroupNorm in the head's towers (RetinaNet-GN)
    anchor_scale: float = 4.0  # anchor size in strides at each level (RetinaNet's 4: 32 px at stride 8)
    sharing: str = "nested"
    neck: str = "fpn"  # or "nasfpn": merging cells, searched with the backbone (NAS-FPN)
    neck_cells: int = 7  # nasfpn: merging cells per pyramid block
    neck_stacks: int = 1  # nasfpn: pyramid blocks stacked (weights not shared)
    attention: str = "max"  # nasfpn: global-pool attention as the paper ("max") or mmdetection ("avg")

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        if self.width <= 0:
            raise ValueError(f"width must be positive, got {self.width}")
        check_limits(width=(self.width, MAX_WIDTH), input_size=(self.input_size, MAX_INPUT_SIZE),
                     num_classes=(self.num_classes, MAX_CLASSES), neck_channels=(self.neck_channels or 0, MAX_CHANNELS),
                     head_convs=(self.head_convs, 16), neck_cells=(self.neck_cells, 64), neck_stacks=(self.neck_stacks, 16))
        if self.input_size < 64:
            raise ValueError(f"detection input_size must be at least 64 pixels, got {self.input_size}")
        if self.num_classes < 1 or self.head_convs < 0 or (self.neck_channels is not None and self.neck_channels < 8):
            raise ValueError("need num_classes >= 1, head_convs >= 0 and neck_channels >= 8")
        if self.sharing not in SHARING:
            raise ValueError(f"sharing must be one of {', '.join(SHARING)}, got {self.sharing!r}")
        if self.head_norm not in HEAD_NORMS or not 0.5 <= self.anchor_scale <= 16:
            raise ValueError(f"need head_norm in {', '.join(HEAD_NORMS)} and 0.5 <= anchor_scale <= 16")
        if self.neck not in NECKS or self.attention not in ATTENTION or self.neck_stacks < 1:
            raise ValueError(f"need neck in {', '.join(NECKS)}, attention in {', '.join(ATTENTION)}, neck_stacks >= 1")

    @property
    def fpn_channels(self) -> int:
        return self.neck_channels or make_divisible(256 * self.width)

    def backbone(self, **overrides: Any) -> ShuffleNetConfig:
        """The backbone as a `shufflenet` config: ImageNet strides (stem and every stage halve)."""
        options = {**LAYOUTS[self.layout], "width": self.width, "input_size": self.input_size, "stem_stride": 2,
                   "first_stage_stride": 2, "sharing": self.sharing, "classifier": False, **overrides}
        return ShuffleNetConfig(**options)


@SPACES.register("detnas")
class DetNASSpace(SearchSpace):
    name = "detnas"
    description = "DetNAS: RetinaNet detector (FPN, focal loss) with a searched ShuffleNetV2 choice-block backbone"
    task = "detection"
    cost_note = "backbone as a 224x224 ImageNet classifier, as DetNAS counts"
    fixed_backbone = False  # the backbone is searched (nasfpn: one fixed backbone_arch)
    options = option_names(DetNASConfig)

    def __init__(self, **options: Any) -> None:
        self.cfg = typed_options(self.name, DetNASConfig, options)
        self.backbone_config = self.cfg.backbone()
        self.layout = make_layout(self.backbone_config)
        self.neck_encoding = NeckEncoding(self.cfg.neck_cells) if self.cfg.neck == "nasfpn" else None

    @cached_property
    def backbone_decisions(self) -> tuple[Decision, ...]:
        return tuple(Decision(f"block_{i}", CHOICES) for i in range(len(self.layout.blocks)))

    @cached_property
    def decisions(self) -> tuple[Decision, ...]:
        """The backbone's choice blocks, then the neck's cells when it is searched too (neck=nasfpn)."""
        return self.backbone_decisions + (self.neck_encoding.decisions if self.neck_encoding else ())

    def config(self) -> dict[str, Any]:
        return config_dict(self.cfg)

    def readable(self, arch: Arch) -> str:
        """The backbone's blocks as ShuffleNet reads them (`3x3 7x7 | ...`), then any searched neck cell."""
        described = self.describe(arch)
        blocks = len(self.backbone_decisions)
        text = blocks_text(self.layout, [option for _, option in described[:blocks]])
        neck = " ".join(f"{label}={option}" for label, option in described[blocks:])
        return f"{text} || neck {neck}" if neck else text

    @classmethod
    def upgrade_config(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """Runs saved before the head's norm and the anchors became options were trained with
        RetinaNet's head (no norm) and anchors (4 strides): they keep them, whatever the data
        would choose now."""
        return {"head_norm": "none", "anchor_scale": 4.0, **saved}

    def split(self, arch: Arch | Sequence[int]) -> tuple[tuple[int, ...] | None, tuple[Cell, ...] | None]:
        """(backbone choices, neck cells) of an architecture; None for a part that is not searched."""
        choices = tuple(arch.choices if isinstance(arch, Arch) else arch)
        n = len(self.backbone_decisions)
        return choices[:n], (self.neck_encoding.cells(choices[n:]) if self.neck_encoding else None)

    def cells(self, arch: Arch) -> tuple[Cell, ...] | None:
        return self.split(self.validate(arch))[1]

    def _stage_channels(self) -> list[int]:
        return [self.layout.blocks[i].out_channels for i in self.layout.stage_ends]

    def _head(self, generator: torch.Generator | None) -> AnchoredHead:
        return AnchoredHead(self.cfg.fpn_channels, self.cfg.num_classes, AnchorConfig.scaled(self.cfg.anchor_scale),
                            convs=self.cfg.head_convs, generator=generator, norm=self.cfg.head_norm)

    def _neck(self, cells: Sequence[Cell] | None, generator: torch.Generator | None) -> nn.Module:
        cfg = self.cfg
        if cfg.neck == "fpn":
            return FPN(self._stage_channels(), cfg.fpn_channels, generator=generator)
        return _initialised(MergingNeck(self._stage_channels(), cfg.fpn_channels, cells, cfg.neck_stacks,
                                        cfg.attention), generator)

    def _backbone(self, choices: Sequence[int] | None, generator: torch.Generator | None) -> nn.Module:
        return ShuffleNet(self.backbone_config, choices, generator)

    def build(self, arch: Arch, generator: torch.Generator | None = None) -> ComposedNet:
        backbone_choices, cells = self.split(self.validate(arch))
        return ComposedNet(self._backbone(backbone_choices, generator), self._neck(cells, generator),
                           self._head(generator))

    def supernet(self, generator: torch.Generator | None = None) -> ComposedSupernet:
        cfg = self.cfg
        if cfg.neck == "fpn":
            neck: nn.Module = self._neck(None, generator)
        else:
            neck = _initialised(MergingSupernetNeck(self._stage_channels(), cfg.fpn_channels, cfg.neck_cells,
                                                    cfg.neck_stacks, cfg.attention), generator)
        return ComposedSupernet(self._backbone_supernet(generator), neck, self._head(generator), self.split)

    def _backbone_supernet(self, generator: torch.Generator | None) -> nn.Module:
        return self.backbone_supernet(generator)

    def backbone_supernet(self, generator: torch.Generator | None = None) -> ShuffleNetSupernet:
        """The backbone's weight-sharing supernet (for a fixed backbone: the one it is a path of)."""
        return ShuffleNetSupernet(self.backbone_config, generator)

    def classification_backbone(self) -> tuple[str, dict[str, Any]]:
        """The backbone as a classification space (DetNAS step 1: pre-train it, then load it with
        `--backbone`): the `shufflenet` space's options; the data set its input size and classes.
        The strides stay DetNAS's (stem and every stage halve), so a small-image data set trains
        the same convolutions on small feature maps."""
        options = config_dict(self.cfg.backbone(classifier=True))
        for key in ("input_size", "num_classes", "in_channels"):
            options.pop(key)
        return ShuffleNetSpace.name, options

    # ---- costs: the backbone as DetNAS counts it ---------------------------------------------------
    @cached_property
    def _backbone_costs(self) -> ShuffleNetSpace:
        """The backbone as an ImageNet classifier at 224x224 (its cost table is DetNAS's FLOPs)."""
        return ShuffleNetSpace(**config_dict(self.cfg.backbone(input_size=COST_INPUT, num_classes=COST_CLASSES,
                                                               classifier=True)))

    def _as_backbone(self, arch: Arch) -> Arch:
        return Arch(ShuffleNetSpace.name, self.split(self.validate(arch))[0])

    def flops(self, arch: Arch) -> int:
        return self._backbone_costs.flops(self._as_backbone(arch))

    def params(self, arch: Arch) -> int:
        return self._backbone_costs.params(self._as_backbone(arch))

    def cost_probe(self, arch: Arch) -> tuple[torch.nn.Module, torch.Tensor]:
        space = self._backbone_costs
        return space.build(self._as_backbone(arch)), torch.zeros(1, 3, COST_INPUT, COST_INPUT)

    def detector_flops(self, arch: Arch) -> int:
        """FLOPs of the whole detector (backbone, neck, head) on one `input_size` image."""
        return measure_flops(self.build(arch), torch.zeros(1, 3, self.cfg.input_size, self.cfg.input_size))


def _initialised(module: nn.Module, generator: torch.Generator | None) -> nn.Module:
    init_weights(module, generator)
    return module
