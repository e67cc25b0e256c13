"""The "data" entry of a detection run's config.json (`DetectionDataConfig`), and what it loads:
a COCO json / VOC folder or ZIP (`nas.data.detection.data`), or the synthetic pasted-CIFAR set
(`nas.data.detection.pasted`). Its own module so that the loaders do not import each other."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

from nas.data.detection.data import DetectionData, load_detection
from nas_common.errors import UserError

NAMED = {"raccoon": "raccoon/raccoon_coco.json"}


@dataclass(frozen=True)
class DetectionDataConfig:
    """Where a detection run's images come from and how they are split and sized.

    `annotations`: "raccoon" (bundled), "cifar10-paste" (SYNTHETIC, for benchmarks: CIFAR-10
    objects pasted on canvases of `image_size`, `nas.data.detection.pasted`; an integer `val_size` sets the
    validation and test counts), or a path to a COCO json / VOC folder / VOC ZIP; `images`:
    the folder `file_name`s are relative to (default: the json's); `test_data`: a second data set
    used only as the test split; `image_size`: the square letterboxed network input; `max_size`:
    images are decoded no larger than this (at least `image_size`)."""

    annotations: str = "raccoon"
    images: str | None = None
    test_data: str | None = None
    image_size: int = 256
    max_size: int = 320
    val_size: int | float = 0.2
    split_seed: int = 0
    task: ClassVar[str] = "detection"

    def __post_init__(self) -> None:
        if self.image_size < 32 or self.max_size < self.image_size:
            raise UserError(f"detection image_size must be >= 32 and max_size >= image_size, got "
                            f"{self.image_size} / {self.max_size}")

    def path(self) -> Path:
        if self.annotations in NAMED:
            from nas.data.datasets import data_root

            path = data_root() / NAMED[self.annotations]
            if not path.is_file():
                raise UserError(f"detection data {self.annotations!r} not found at {path}; set NAS_DATA_DIR")
            return path
        return Path(self.annotations).expanduser()

    def load(self) -> "DetectionData":
        if self.annotations == "cifar10-paste":  # synthetic, for benchmarks (nas.data.detection.pasted)
            from nas.data.detection.pasted import load_pasted

            val = self.val_size if isinstance(self.val_size, int) else 300
            return load_pasted(val=val, test=val, canvas=self.image_size, seed=self.split_seed)
        data = load_detection(self.path(), images_dir=self.images, max_size=self.max_size,
                              val_size=self.val_size, seed=self.split_seed, test_path=self.test_data)
        return replace(data, image_size=self.image_size)
