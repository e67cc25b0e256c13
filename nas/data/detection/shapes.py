"""`small-shapes`: a SYNTHETIC multi-class, small-object detection set, written as an ordinary
COCO-format data set (PNG files + one json with a `split` field), for benchmarks and tests.

Users' detection data is rarely raccoon (one class, large objects): it has many classes and small
objects. This set stands in for it: `canvas` x `canvas` images (default 100 px) of a smooth,
textured background with 1-4 objects of 10-30 px, each one of ten shapes (disk, square, triangle,
ring, frame, plus, cross, diamond, double bar, half disk) in a random bright colour, so the class is
the shape and never the colour. Objects overlap by at most 30% IoU. Everything is a pure function
of (seed, sizes); it is written through the same loader a user's json goes through.

It is synthetic: figures measured on it say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nas.data.detection.pasted import max_iou

CLASSES = ("disk", "square", "triangle", "ring", "frame", "plus", "cross", "diamond", "double_bar", "half_disk")


def _mask(shape: int, size: int) -> np.ndarray:
    """(size, size) bool mask of shape `shape` on a grid of [-1, 1] x [-1, 1] (y grows downwards)."""
    y, x = np.mgrid[-1:1:size * 1j, -1:1:size * 1j]
    r, box = np.hypot(x, y), np.maximum(abs(x), abs(y))
    masks = (
        r <= 1.0,
        box <= 0.9,
        (y >= -0.9) & (y <= 0.9) & (abs(x) <= (y + 0.9) / 1.8),
        (r <= 1.0) & (r >= 0.55),
        (box <= 0.95) & (box >= 0.55),
        ((abs(x) <= 0.3) | (abs(y) <= 0.3)) & (box <= 0.95),
        ((abs(x - y) <= 0.4) | (abs(x + y) <= 0.4)) & (box <= 0.95),
        abs(x) + abs(y) <= 1.0,
        ((abs(y - 0.5) <= 0.25) | (abs(y + 0.5) <= 0.25)) & (abs(x) <= 0.95),
        (r <= 1.0) & (y >= 0),
    )
    return masks[shape]


def _background(canvas: int, rng: np.random.Generator) -> np.ndarray:
    """Low-frequency coloured noise: textured, dim, never an object."""
    coarse = rng.uniform(0, 110, size=(6, 6, 3))
    idx = np.linspace(0, 5, canvas)
    lo, frac = np.floor(idx).astype(int), idx - np.floor(idx)
    hi = np.minimum(lo + 1, 5)
    rows = coarse[lo] * (1 - frac)[:, None, None] + coarse[hi] * frac[:, None, None]
    smooth = rows[:, lo] * (1 - frac)[None, :, None] + rows[:, hi] * frac[None, :, None]
    return np.clip(smooth + rng.normal(0, 8, size=smooth.shape), 0, 255)


def draw_image(canvas: int, sizes: tuple[int, int], rng: np.random.Generator
               ) -> tuple[np.ndarray, list[list[float]], list[int]]:
    """One image (uint8 HWC), its boxes (x, y, w, h: COCO) and labels 0..9."""
    image = _background(canvas, rng)
    boxes: list[np.ndarray] = []
    labels: list[int] = []
    for _ in range(int(rng.integers(1, 5))):
        for _attempt in range(10):
            size = int(rng.integers(sizes[0], sizes[1] + 1))
            left, top = (int(v) for v in rng.integers(0, canvas - size + 1, 2))
            box = np.array([left, top, left + size, top + size], dtype=np.float64)
            if max_iou(box, boxes) <= 0.3:
                shape = int(rng.integers(len(CLASSES)))
                colour = rng.uniform(150, 255, size=3)
                region = image[top:top + size, left:left + size]
                region[_mask(shape, size)] = colour
                boxes.append(box)
                labels.append(shape)
                break
    coco_boxes = [[float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])] for b in boxes]
    return image.round().astype(np.uint8), coco_boxes, labels


def write_shapes_coco(folder: Path, count: int = 800, *, test: int = 200, canvas: int = 100,
                      sizes: tuple[int, int] = (10, 30), seed: int = 0) -> Path:
    """Write `count` images (the last `test` of them with `"split": "test"`) and
    `folder/annotations.json`; return the json's path. `file_name`s are relative to the json."""
    from PIL import Image

    if not 0 <= test < count or sizes[0] < 4 or sizes[1] > canvas or sizes[0] > sizes[1]:
        raise ValueError(f"need 0 <= test < count and 4 <= sizes[0] <= sizes[1] <= canvas; got "
                         f"count={count}, test={test}, sizes={sizes}, canvas={canvas}")
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 0x5A4E5])
    images, annotations = [], []
    for image_id in range(1, count + 1):
        pixels, boxes, labels = draw_image(canvas, sizes, rng)
        name = f"images/{image_id:05d}.png"
        Image.fromarray(pixels).save(folder / name)
        entry = {"id": image_id, "file_name": name, "width": canvas, "height": canvas}
        if image_id > count - test:
            entry["split"] = "test"
        images.append(entry)
        for box, label in zip(boxes, labels):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": label + 1,
                                "bbox": box, "area": box[2] * box[3], "iscrowd": 0})
    coco = {"images": images, "annotations": annotations,
            "categories": [{"id": k + 1, "name": name} for k, name in enumerate(CLASSES)]}
    path = folder / "annotations.json"
    path.write_text(json.dumps(coco))
    return path
