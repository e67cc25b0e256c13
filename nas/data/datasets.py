"""Image classification data sets as plain uint8 arrays, with a seeded validation split.

Search scores architectures on `x_val`, a split held out of the source's training set; the
source's test split is kept apart in `x_test` and never used by search. Everything here is a
pure function of (spec, seed, options): the same call returns identical arrays.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from nas.data.formats import RawSplits, is_cifar_python_dir, read_cifar_python, read_npz
from nas.data.images import read_image_folder, read_zip
from nas_common.errors import UserError

# Stream tags keep the seeded draws of this module independent of each other (and of the
# training loader, which uses default_rng([seed, epoch]) with small epoch numbers).
_VAL_STREAM = 0x5EED_0001
_LIMIT_STREAM = 0x5EED_0002
_SPARE_STREAM = 0x5EED_0003

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
NAMED = {
    "cifar10": "cifar10/cifar10_jpg.zip",
    "cifar10-subset": "cifar10/cifar10_subset_5k_1k.npz",
}


@dataclass(frozen=True, eq=False)
class ImageData:
    """Arrays are uint8 (N, H, W, C) images and int64 (N,) labels; treat them as read-only.

    They are left writable on purpose: torch.from_numpy / torch.as_tensor warn on read-only arrays.

    `mean`/`std` are per-channel statistics of `x_train` in [0, 1] units, for normalisation.
    `x_spare`/`y_spare`: images of the source's training set that are neither trained on (left out
    by `train_limit`) nor in the validation split: the first images a search's verdict is confirmed
    on (`nas.tasks.splits`). Empty without a `train_limit`.
    """

    name: str
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: tuple[float, ...]
    std: tuple[float, ...]
    x_spare: np.ndarray | None = None
    y_spare: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.x_spare is None or self.y_spare is None:
            object.__setattr__(self, "x_spare", self.x_train[:0])
            object.__setattr__(self, "y_spare", self.y_train[:0])
        for x, y in ((self.x_train, self.y_train), (self.x_val, self.y_val), (self.x_test, self.y_test),
                     (self.x_spare, self.y_spare)):
            if x.ndim != 4 or len(x) != len(y):
                raise ValueError(f"images {x.shape} and labels {y.shape} do not match")

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def channels(self) -> int:
        return int(self.x_train.shape[3])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return (f"ImageData({self.name!r}, {self.num_classes} classes, {self.image_size}x"
                f"{self.image_size}x{self.channels}, train={len(self.x_train)}, "
                f"val={len(self.x_val)}, test={len(self.x_test)}, spare={len(self.x_spare)})")


def data_root() -> Path:
    """$NAS_DATA_DIR if set, else the shared data folder next to the repo (<repo>/../shared/data)."""
    env = os.environ.get("NAS_DATA_DIR")
    return Path(env).expanduser() if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"


def cache_root() -> Path:
    """$NAS_CACHE_DIR if set, else ~/.cache/nas. Never inside the repo."""
    env = os.environ.get("NAS_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nas"


def _read_source(spec: str, cache_dir: Path, image_size: int | None) -> tuple[str, RawSplits]:
    if spec in NAMED:
        path = data_root() / NAMED[spec]
        if not path.is_file():
            raise UserError(f"data set {spec!r} not found at {path}; set NAS_DATA_DIR to the "
                            "folder holding cifar10/ (the shared data directory)")
        name = spec
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise UserError(f"data set {spec!r} not found: give {' or '.join(map(repr, NAMED))}, or a "
                            "path to an .npz, a .zip, a CIFAR-10 python directory or an image folder")
        name = path.stem if path.is_file() else path.name
    if path.is_file() and path.suffix.lower() not in (".npz", ".zip"):
        raise UserError(f"{path}: unknown data format {path.suffix!r}; use an .npz (x_train, y_train, "
                        "x_test, y_test), a .zip of train/<class>/ and test/<class>/ images, or a folder")
    if image_size is not None and not (path.is_dir() or path.suffix.lower() == ".zip"):
        raise UserError(f"image_size only applies to image folders and ZIPs, not {path.name}; drop it")
    if path.is_file() and path.suffix.lower() == ".npz":
        raw = read_npz(path)
        if spec == "cifar10-subset":  # the bundled .npz stores no class names
            raw = raw._replace(classes=CIFAR10_CLASSES)
        return name, raw
    if path.is_file():
        return name, read_zip(path, cache_dir, image_size)
    if is_cifar_python_dir(path):
        return name, read_cifar_python(path)
    return name, read_image_folder(path, image_size)


def _val_count(val_size: int | float, n: int) -> int:
    if isinstance(val_size, bool) or not isinstance(val_size, (int, float, np.integer, np.floating)):
        raise UserError(f"val_size must be a count or a fraction, got {val_size!r}")
    if isinstance(val_size, (int, np.integer)):
        if not 0 <= val_size < n:
            raise UserError(f"val_size={val_size} must be in [0, {n - 1}]: the training set has {n} "
                            "images and at least one must stay for training")
        return int(val_size)
    if not 0.0 < val_size < 1.0:
        raise UserError(f"val_size={val_size} as a fraction must be in (0, 1); "
                        "pass an integer for a count of images")
    k = round(val_size * n)
    if not 1 <= k < n:
        raise UserError(f"val_size={val_size} of {n} training images leaves "
                        f"{'no validation' if k < 1 else 'no training'} images; choose another value")
    return k


def _channel_stats(x: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std in [0, 1] units, exact, from a 256-bin histogram per channel
    (much faster and lighter than a float copy of 50k images)."""
    values = np.arange(256, dtype=np.float64)
    means, stds = [], []
    for ch in range(x.shape[-1]):
        counts = np.bincount(x[..., ch].ravel(), minlength=256).astype(np.float64)
        p = counts / counts.sum()
        mean = float(p @ values)
        std = float(np.sqrt(max(p @ values**2 - mean**2, 0.0)))
        means.append(mean / 255)
        stds.append(std / 255 if std > 0 else 1.0)  # constant channel: avoid dividing by zero
    return tuple(means), tuple(stds)


def load_data(spec: str = "cifar10", *, val_size: int | float = 0.1, seed: int = 0,
              train_limit: int | None = None, cache_dir: str | Path | None = None,
              image_size: int | None = None) -> ImageData:
    """Load a data set and hold a seeded validation split out of its training set.

    spec: "cifar10" (bundled JPEG ZIP, decoded once then cached), "cifar10-subset" (5k/1k .npz),
    or a path to an .npz, a .zip in the bundled layout, a CIFAR-10 python directory (or one that
    contains cifar-10-batches-py/), or an image folder.
    val_size: an int is a count of images, a float in (0, 1) a fraction of the training set;
    0 means no validation split.
    train_limit: keep a seeded subset of at most this many training images (after the split).
    image_size: resize images of folders/ZIPs to this square size (default: the first image's).
    cache_dir: where decoded ZIPs are cached (default cache_root()).
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise UserError(f"seed must be a non-negative integer, got {seed!r}")
    cache = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    name, raw = _read_source(str(spec), cache, image_size)

    n = len(raw.x_train)
    k = _val_count(val_size, n)
    perm = np.random.default_rng([seed, _VAL_STREAM]).permutation(n)
    # Validation stays in shuffled order: sources are often sorted by class, and evaluators may
    # score on the first N validation images.
    val_idx, train_idx = perm[:k], np.sort(perm[k:])
    spare_idx = train_idx[:0]
    if train_limit is not None:
        if isinstance(train_limit, bool) or not isinstance(train_limit, (int, np.integer)) or train_limit < 1:
            raise UserError(f"train_limit must be a positive integer or None, got {train_limit!r}")
        if train_limit < len(train_idx):
            rng = np.random.default_rng([seed, _LIMIT_STREAM])
            kept = np.sort(rng.choice(train_idx, size=int(train_limit), replace=False))
            # in a seeded order of their own: a confirmation takes the first N of them
            spare_idx = np.random.default_rng([seed, _SPARE_STREAM]).permutation(np.setdiff1d(train_idx, kept))
            train_idx = kept

    x_train = raw.x_train[train_idx]
    mean, std = _channel_stats(x_train)
    return ImageData(name=name, classes=raw.classes,
                     x_train=x_train, y_train=raw.y_train[train_idx],
                     x_val=raw.x_train[val_idx], y_val=raw.y_train[val_idx],
                     x_test=raw.x_test, y_test=raw.y_test, mean=mean, std=std,
                     x_spare=raw.x_train[spare_idx], y_spare=raw.y_train[spare_idx])


@dataclass(frozen=True)
class DataConfig:
    """The data entry of a classification run's config.json: `load_data`'s arguments."""

    spec: str = "cifar10"
    val_size: int | float = 0.1
    split_seed: int = 0
    train_limit: int | None = None
    image_size: int | None = None  # image folders and ZIPs: resize every image to this square size
    task: ClassVar[str] = "classification"

    def load(self) -> ImageData:
        return load_data(self.spec, val_size=self.val_size, seed=self.split_seed, train_limit=self.train_limit,
                         image_size=self.image_size)
