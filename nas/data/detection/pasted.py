"""`cifar10-paste`: a SYNTHETIC detection set made from the bundled CIFAR-10 images, for benchmarks.

The bundled raccoon photos are real but few (32 validation images): their validation mAP is too
noisy to rank architectures (`bench/detnas_search.py` on raccoon: the search's best and the
median random architecture score the same test mAP). This set is large enough to rank: each
image is a `canvas` x `canvas` background (a CIFAR image blown up and darkened, so it is textured
but not an object) with 1-4 CIFAR objects pasted at random scales (20-56 px) and places, boxes
known exactly, labels the 10 CIFAR classes. Objects may overlap by at most 30% IoU. Training
images come from CIFAR's training split, validation and test images from the two halves of its
test split, so no object appears in two splits. Everything is a pure function of (seed, sizes).

It is synthetic: figures measured on it say so; the default detection data stays raccoon.
"""

from __future__ import annotations

import numpy as np
import torch

from nas.data.detection.data import DetectionData, DetectionSplit

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float()
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def max_iou(box: np.ndarray, others: list[np.ndarray]) -> float:
    """The largest IoU of `box` (x1, y1, x2, y2) with any of `others` (0 for none): placement checks."""
    if not others:
        return 0.0
    o = np.stack(others)
    w = np.clip(np.minimum(box[2], o[:, 2]) - np.maximum(box[0], o[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], o[:, 3]) - np.maximum(box[1], o[:, 1]), 0, None)
    inter = w * h
    area = (box[2] - box[0]) * (box[3] - box[1])
    return float((inter / (area + (o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]) - inter)).max())


def paste_split(x: np.ndarray, y: np.ndarray, count: int, canvas: int, rng: np.random.Generator) -> DetectionSplit:
    split = DetectionSplit([], [], [], [])
    for image_id in range(count):
        background = _resize(x[rng.integers(len(x))], canvas) // 3
        image = background.copy()
        boxes: list[np.ndarray] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, 5))):
            for _attempt in range(10):
                size = int(rng.integers(20, 57))
                left, top = (int(v) for v in rng.integers(0, canvas - size + 1, 2))
                box = np.array([left, top, left + size, top + size], dtype=np.float32)
                if max_iou(box, boxes) <= 0.3:
                    k = int(rng.integers(len(x)))
                    image[top:top + size, left:left + size] = _resize(x[k], size)
                    boxes.append(box)
                    labels.append(int(y[k]))
                    break
        split.images.append(image)
        split.boxes.append(np.stack(boxes).astype(np.float32))
        split.labels.append(np.array(labels, dtype=np.int64))
        split.ids.append(image_id + 1)
    return split


def load_pasted(train: int = 2000, val: int = 300, test: int = 300, canvas: int = 128, seed: int = 0) -> DetectionData:
    """The synthetic set: `train` / `val` / `test` canvases of `canvas` pixels."""
    from nas.data.datasets import load_data

    source = load_data("cifar10", val_size=0, seed=0)
    rng = np.random.default_rng([seed, 0x9A57E])
    half = len(source.x_test) // 2  # validation objects from one half of CIFAR's test split, test from the other
    return DetectionData("cifar10-paste (synthetic)",
                         paste_split(source.x_train, source.y_train, train, canvas, rng),
                         paste_split(source.x_test[:half], source.y_test[:half], val, canvas, rng),
                         paste_split(source.x_test[half:], source.y_test[half:], test, canvas, rng),
                         list(range(1, len(CLASSES) + 1)), list(CLASSES), image_size=canvas)
