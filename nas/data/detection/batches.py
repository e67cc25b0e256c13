"""Detection training batches: letterboxed square images and per-image box targets, seeded as a
pure function of (seed, step) like the classification loader (a resumed run continues exactly,
data-parallel ranks agree without talking).

Each image is resized so its longer side is `size` (boxes scaled alike), flipped horizontally
with probability 1/2 when augmenting (boxes mirrored), and padded at the bottom/right to
`size` x `size` with the mean colour (zero after normalisation). Targets are a list, one dict per
image: {"boxes": float32 (n, 4) x1 y1 x2 y2 in input pixels, "labels": int64 (n,)}.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from nas.data.detection.data import DetectionData, DetectionSplit
from nas.data.batches import augmentation
from nas_common.errors import UserError


def letterbox(image: np.ndarray, boxes: np.ndarray, size: int, flip: bool) -> tuple[torch.Tensor, np.ndarray, float]:
    """(uint8 CHW tensor size x size, boxes in its pixels, scale applied)."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    x = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)[None]  # a copy: decoded images are read-only
    x = torch.nn.functional.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)[0]
    boxes = boxes * np.array([nw / w, nh / h, nw / w, nh / h], dtype=np.float32)
    if flip:
        x = x.flip(-1)
        boxes = np.stack([nw - boxes[:, 2], boxes[:, 1], nw - boxes[:, 0], boxes[:, 3]], axis=1).astype(np.float32)
    canvas = torch.zeros(3, size, size)
    canvas[:, :nh, :nw] = x
    return canvas, boxes.reshape(-1, 4), scale


class DetectionLoader:
    """`batch(step)`: (images float32 (B, 3, size, size) normalised, targets) for `step`."""

    def __init__(self, data: DetectionData, split: DetectionSplit, batch_size: int, seed: int, size: int,
                 augment: bool | str = True, rank: int = 0, world_size: int = 1) -> None:
        if not 1 <= batch_size <= len(split):
            raise UserError(f"batch size {batch_size} must be between 1 and the {len(split)} images of the split")
        if batch_size % world_size or not 0 <= rank < world_size:
            raise UserError(f"batch size {batch_size} must split evenly over {world_size} workers (rank {rank})")
        # detection mirrors images with their boxes; it does not crop (a crop could cut boxes in two)
        mode = augmentation(augment)
        if mode == "crop":
            raise UserError("--augment crop is not available for detection (boxes would be cut); use flip or none")
        self.data, self.split, self.batch_size, self.seed, self.size, self.augment = \
            data, split, batch_size, seed, size, mode != "none"
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = len(split) // batch_size
        mean = torch.tensor(data.mean).view(3, 1, 1) * 255
        std = torch.tensor(data.std).view(3, 1, 1) * 255
        self._mean, self._std = mean, std

    def indices(self, step: int) -> np.ndarray:
        epoch, i = divmod(step, self.steps_per_epoch)
        order = np.random.default_rng([self.seed, epoch, 0xB0C5]).permutation(len(self.split))
        return order[i * self.batch_size:(i + 1) * self.batch_size]

    def batch(self, step: int) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """This rank's slice of the global batch of `step` (the flips drawn for the whole batch)."""
        idx = self.indices(step)
        flips = np.random.default_rng([self.seed, step, 0xF11B]).random(len(idx)) < 0.5
        local = slice(self.rank * len(idx) // self.world_size, (self.rank + 1) * len(idx) // self.world_size)
        return self._collate(idx[local], (flips & self.augment)[local])

    def images(self, idx: np.ndarray) -> torch.Tensor:
        """Images `idx` of the split, unaugmented (for BN recalibration)."""
        return self._collate(np.asarray(idx), np.zeros(len(idx), dtype=bool))[0]

    def eval_batches(self) -> Iterator[tuple[torch.Tensor, list[dict[str, torch.Tensor]]]]:
        """The whole split in order, unaugmented; the last batch may be smaller."""
        for start in range(0, len(self.split), self.batch_size):
            idx = np.arange(start, min(start + self.batch_size, len(self.split)))
            yield self._collate(idx, np.zeros(len(idx), dtype=bool))

    def _collate(self, idx: np.ndarray, flips: np.ndarray):
        images, targets = [], []
        for i, flip in zip(idx, flips):
            canvas, boxes, _ = letterbox(self.split.images[i], self.split.boxes[i], self.size, bool(flip))
            h, w = self.split.images[i].shape[:2]
            scale = self.size / max(h, w)
            valid = np.zeros((self.size, self.size), dtype=bool)
            valid[:max(1, round(h * scale)), :max(1, round(w * scale))] = True
            # Padding is the mean colour: zero once normalised, as if the image ended there.
            canvas = torch.where(torch.from_numpy(valid), (canvas - self._mean) / self._std, torch.zeros(()))
            images.append(canvas)
            targets.append({"boxes": torch.from_numpy(boxes), "labels": torch.from_numpy(self.split.labels[i])})
        return torch.stack(images), targets
