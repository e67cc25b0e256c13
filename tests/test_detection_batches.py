"""Detection batches: letterboxing and flipping move the boxes with the pixels; batches are a pure
function of (seed, step)."""

from __future__ import annotations

import numpy as np
import torch

from nas.data.detection.data import DetectionData, DetectionSplit
from nas.data.detection.batches import DetectionLoader, letterbox


def _split(n: int = 6) -> DetectionSplit:
    rng = np.random.default_rng(0)
    images, boxes, labels = [], [], []
    for i in range(n):
        h, w = 20 + 4 * i, 40 - 2 * i
        image = np.zeros((h, w, 3), np.uint8)
        x1, y1 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        image[y1:y1 + 6, x1:x1 + 8] = 255  # a white object exactly where its box is
        images.append(image)
        boxes.append(np.array([[x1, y1, x1 + 8, y1 + 6]], np.float32))
        labels.append(np.array([i % 2]))
    return DetectionSplit(images, boxes, labels, list(range(n)))


def test_letterbox_and_flip_keep_boxes_on_their_objects():
    split = _split()
    for image, boxes in zip(split.images, split.boxes):
        for flip in (False, True):
            canvas, moved, scale = letterbox(image, boxes, 32, flip)
            x1, y1, x2, y2 = moved[0]
            inside = canvas[0, int(np.ceil(y1)) + 1:int(y2) - 1, int(np.ceil(x1)) + 1:int(x2) - 1]
            assert inside.numel() and (inside > 200).all()  # the object is under its box
            assert canvas[0].sum() <= 255 * (x2 - x1 + 2) * (y2 - y1 + 2)  # and nowhere else


def test_batches_are_a_pure_function_of_seed_and_step():
    split = _split()
    data = DetectionData("toy", split, split, split, [1, 2], ["a", "b"])
    a, b = DetectionLoader(data, split, 2, seed=3, size=32), DetectionLoader(data, split, 2, seed=3, size=32)
    for step in (0, 4, 2):
        (xa, ta), (xb, tb) = a.batch(step), b.batch(step)
        assert torch.equal(xa, xb) and all(torch.equal(p["boxes"], q["boxes"]) for p, q in zip(ta, tb))
    assert not torch.equal(a.batch(0)[0], DetectionLoader(data, split, 2, seed=4, size=32).batch(0)[0])
    images, targets = a.batch(1)
    assert images.shape == (2, 3, 32, 32) and len(targets) == 2 and targets[0]["labels"].dtype == torch.int64
    evaluated = list(a.eval_batches())
    assert sum(len(t) for _, t in evaluated) == len(split)
