"""Detection data: images with variable numbers of boxes and classes, from COCO json or PASCAL VOC.

`load_detection(path)` reads a COCO json (`images`, `annotations`, `categories`; `bbox` = [x, y, w, h])
and its images: each `file_name` is resolved against `images_dir` (default: the json's folder),
or, when not there, looked up inside a ZIP archive in that folder (the bundled raccoon set ships
its photos as `raccoon_dataset.zip`). Images are decoded to RGB (grayscale converted) and shrunk
so the longer side is at most `max_size` (boxes scaled with them): detection on 2 CPU cores works
on small images. Boxes are clipped to the image; boxes left empty or degenerate are dropped with
one warning that counts them; images without boxes are kept. Category ids (any, in any order) map
to contiguous labels 0..K-1. Images whose `split` field is "test" form the test split, reported
only; a seeded validation split is held out of the rest. Bad input is one `UserError` line.
A VOC folder or ZIP is first read into the same COCO dict (`nas.data.detection.voc`).

`DetectionDataConfig` is the data entry of a detection run's config.json (the task's data
settings, as `DataConfig` is classification's), including the network's input size.
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nas_common.errors import UserError


@dataclass
class DetectionSplit:
    images: list[np.ndarray]  # uint8 (H, W, 3), sizes vary
    boxes: list[np.ndarray]  # float32 (N, 4) x1, y1, x2, y2 in the (shrunk) image's pixels
    labels: list[np.ndarray]  # int64 (N,), contiguous 0..K-1
    ids: list[int]  # the json's image ids

    def __len__(self) -> int:
        return len(self.images)

    def extend(self, other: "DetectionSplit") -> None:
        for name in ("images", "boxes", "labels", "ids"):
            getattr(self, name).extend(getattr(other, name))


@dataclass
class DetectionData:
    name: str
    train: DetectionSplit
    val: DetectionSplit
    test: DetectionSplit
    category_ids: list[int]  # label k is the json's category id category_ids[k]
    category_names: list[str]
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    image_size: int = 256  # the square letterboxed network input (`nas.data.detection.batches`)

    @property
    def num_classes(self) -> int:
        return len(self.category_ids)


class _ImageSource:
    """Image bytes by file name: from `folder`, else from the ZIP archives found in it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._zips: list[zipfile.ZipFile] | None = None

    def read(self, name: str) -> bytes:
        path = self.folder / name
        if path.is_file():
            return path.read_bytes()
        if self._zips is None:
            self._zips = [zipfile.ZipFile(p) for p in sorted(self.folder.glob("*.zip"))]
        for archive in self._zips:
            try:
                return archive.read(name)
            except KeyError:
                continue
        raise UserError(f"image {name!r} not found in {self.folder} nor in a ZIP there; pass --images DIR")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"detection annotations {path} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path} is not a readable COCO json ({err})") from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "annotations", "categories")):
        raise UserError(f"{path} is not COCO format: it needs lists 'images', 'annotations' and 'categories'")
    return data


def _decode(raw: bytes, name: str, max_size: int) -> tuple[np.ndarray, float]:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(raw)).convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise UserError(f"image {name!r} cannot be decoded ({err})") from None
    scale = min(1.0, max_size / max(image.size))
    if scale < 1.0:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.BILINEAR)
    return np.asarray(image, dtype=np.uint8), scale


def load_detection(path: str | Path, *, images_dir: str | Path | None = None, max_size: int = 320,
              val_size: int | float = 0.2, seed: int = 0, test_path: str | Path | None = None) -> DetectionData:
    """A COCO json, or a PASCAL VOC folder or ZIP (`nas.data.detection.voc`). `test_path`: a second data set
    whose images all form the test split (its categories must be the first's); otherwise images
    whose `split` field is "test" (VOC: listed in ImageSets/Main/test.txt) do."""
    path = Path(path)
    coco, source = _open(path, images_dir)
    splits, categories = _read_splits(coco, source, max_size, path)
    if test_path is not None:
        test_path = Path(test_path)
        test_coco, test_source = _open(test_path, None)
        test_splits, test_categories = _read_splits(test_coco, test_source, max_size, test_path, force_split="test")
        if [c for c, _ in test_categories] != [c for c, _ in categories]:
            raise UserError(f"{test_path} lists other categories than {path}; the test data must share them")
        splits["train"].extend(splits.pop("test"))
        splits["test"] = test_splits["test"]
    train, val = _hold_out(splits["train"], val_size, seed, path)
    return DetectionData(path.stem, train, val, splits["test"], [c for c, _ in categories],
                         [n for _, n in categories])


def _open(path: Path, images_dir: str | Path | None):
    """(COCO dict, image source) of a COCO json, or of a VOC folder or ZIP (`nas.data.detection.voc`)."""
    if path.suffix.lower() == ".json":
        return _read_json(path), _ImageSource(Path(images_dir) if images_dir else path.parent)
    if not path.exists():
        raise UserError(f"detection data {path} not found")
    from nas.data.detection.voc import read_voc

    coco, files = read_voc(path)
    return coco, (_ImageSource(Path(images_dir)) if images_dir else files)


def _integer(value: Any, what: str) -> int:
    """A JSON integer (1.0 is accepted as 1; 1.5, true and "1" are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer():
        raise ValueError(f"{what} must be an integer, got {str(value)[:40]!r}")
    return int(value)


def _bbox(value: Any, image_id: int) -> list[float]:
    """COCO's [x, y, width, height]: four finite numbers."""
    if (not isinstance(value, list) or len(value) != 4
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)):
        raise ValueError(f"a bbox of image {image_id} is not [x, y, width, height] of four finite numbers: "
                         f"{str(value)[:60]}")
    return [float(v) for v in value]


def _read_splits(coco: dict[str, Any], source: "_ImageSource", max_size: int, path: Path,
                 force_split: str | None = None) -> tuple[dict[str, DetectionSplit], list[tuple[int, str]]]:
    try:
        categories = sorted((_integer(c["id"], "a category id"), str(c.get("name", c["id"])))
                            for c in coco["categories"])
        label_of = {cid: k for k, (cid, _) in enumerate(categories)}
        per_image: dict[int, list[tuple[list[float], int]]] = {}
        for im in coco["images"]:
            image_id = _integer(im["id"], "an image id")
            if image_id in per_image:
                raise ValueError(f"image id {image_id} is listed twice")
            if not isinstance(im.get("file_name"), str) or not im["file_name"]:
                raise ValueError(f"image {image_id} has no file_name")
            per_image[image_id] = []
        for ann in coco["annotations"]:
            image_id = _integer(ann["image_id"], "an annotation's image_id")
            if image_id not in per_image:
                raise ValueError(f"an annotation refers to image {image_id}, which is not listed")
            category = _integer(ann["category_id"], "an annotation's category_id")
            if category not in label_of:
                raise ValueError(f"an annotation of image {image_id} has category {category}, which is not listed")
            per_image[image_id].append((_bbox(ann["bbox"], image_id), label_of[category]))
    except KeyError as err:
        raise UserError(f"{path}: malformed COCO data: an entry lacks the key {err}") from None
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: malformed COCO data: {err}") from None
    if not categories:
        raise UserError(f"{path} lists no categories")
    if not any(per_image.values()):
        raise UserError(f"{path} has no annotations: a detector would learn that there is nothing to detect")
    splits: dict[str, DetectionSplit] = {s: DetectionSplit([], [], [], []) for s in ("train", "test")}
    dropped = 0
    for im in coco["images"]:
        image, scale = _decode(source.read(str(im["file_name"])), str(im["file_name"]), max_size)
        h, w = image.shape[:2]
        boxes, labels = [], []
        for (x, y, bw, bh), label in per_image[int(im["id"])]:
            box = np.clip(np.array([x, y, x + bw, y + bh], dtype=np.float32) * scale, 0, [w, h, w, h])
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                dropped += 1
                continue
            boxes.append(box)
            labels.append(label)
        split = splits[force_split or ("test" if im.get("split") == "test" else "train")]
        split.images.append(image)
        split.boxes.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
        split.labels.append(np.array(labels, dtype=np.int64))
        split.ids.append(int(im["id"]))
    if dropped:
        warnings.warn(f"{path}: dropped {dropped} box(es) empty or under one pixel after clipping to the image")
    return splits, categories


def _hold_out(split: DetectionSplit, val_size: int | float, seed: int, path: Path) -> tuple[DetectionSplit, DetectionSplit]:
    n = len(split)
    n_val = int(round(val_size * n)) if isinstance(val_size, float) else int(val_size)
    if not 0 < n_val < n:
        raise UserError(f"{path}: a validation split of {val_size} leaves no training or no validation "
                        f"image out of {n}; choose another --val-size")
    order = np.random.default_rng([seed, 0xDE7]).permutation(n)

    def take(idx: np.ndarray) -> DetectionSplit:
        idx = np.sort(idx)
        return DetectionSplit(*([getattr(split, f)[i] for i in idx] for f in ("images", "boxes", "labels", "ids")))

    return take(order[n_val:]), take(order[:n_val])
