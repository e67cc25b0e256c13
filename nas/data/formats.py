"""Array-file readers (.npz, CIFAR-10 python batches) and the checks every reader's output passes.

Every reader returns a `RawSplits`: images as uint8 NHWC, labels int64, the train/test split of
the source. `check_raw` is the single place that validates shapes, dtypes and label ranges, so
the image readers in `images.py` get the same checks and messages.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.26
    from numpy.core import multiarray as _multiarray  # type: ignore[no-redef]

from nas_common.errors import UserError


class RawSplits(NamedTuple):
    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _as_uint8_images(x: np.ndarray, where: str) -> np.ndarray:
    """(N,H,W), (N,H,W,1) or (N,H,W,3) of any real dtype -> uint8 (N,H,W,C).

    Float arrays with max <= 1 are taken as [0, 1] and scaled by 255; other float or integer
    arrays must already lie in [0, 255]. Floats are rounded to the nearest integer.
    """
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise UserError(f"{where}: images must have shape (N,H,W), (N,H,W,1) or (N,H,W,3), got "
                        f"{x.shape}; store grayscale or RGB images with the channel axis last")
    if x.shape[0] == 0:
        raise UserError(f"{where}: no images; the split must hold at least one image")
    if x.shape[1] != x.shape[2]:
        raise UserError(f"{where}: images are {x.shape[1]}x{x.shape[2]}, not square; "
                        "crop or resize them to a square size")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind not in "uif":
        raise UserError(f"{where}: images have dtype {x.dtype}; store uint8 (or float in [0, 1])")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise UserError(f"{where}: {int(np.size(x) - np.isfinite(x).sum())} pixel values are NaN or infinite; "
                        "fix or drop those images")
    lo, hi = float(x.min()), float(x.max())
    if x.dtype.kind == "f" and hi <= 1.0 and lo >= 0.0:
        x = x * 255.0
    elif lo < 0 or hi > 255:
        raise UserError(f"{where}: pixel values span [{lo}, {hi}]; expected [0, 255] "
                        "(uint8) or [0, 1] (float)")
    return np.rint(x).astype(np.uint8) if x.dtype.kind == "f" else x.astype(np.uint8)


def _as_labels(y: np.ndarray, n: int, where: str) -> np.ndarray:
    if y.ndim != 1 or y.shape[0] != n:
        raise UserError(f"{where}: labels have shape {y.shape}, expected ({n},), one per image")
    if y.dtype.kind not in "iu":
        if y.dtype.kind == "f" and np.all(y == np.rint(y)):
            y = np.rint(y)
        else:
            raise UserError(f"{where}: labels have dtype {y.dtype}; store integer class indices")
    return y.astype(np.int64)


MIN_IMAGE_SIZE = 4  # pixels a side: below this no stem and stages have anything to work on


def check_raw(classes: tuple[str, ...] | None, x_train: np.ndarray, y_train: np.ndarray,
              x_test: np.ndarray, y_test: np.ndarray, source: str) -> RawSplits:
    """Validate and normalise one source's arrays. `classes=None` names classes "0".."K-1"."""
    x_train = _as_uint8_images(np.asarray(x_train), f"{source} x_train")
    x_test = _as_uint8_images(np.asarray(x_test), f"{source} x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise UserError(f"{source}: train images are {x_train.shape[1:]} but test images are "
                        f"{x_test.shape[1:]}; both splits need the same size and channels")
    if min(x_train.shape[1:3]) < MIN_IMAGE_SIZE:
        raise UserError(f"{source}: images of {x_train.shape[1]}x{x_train.shape[2]} pixels; the networks here need "
                        f"at least {MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE}")
    y_train = _as_labels(np.asarray(y_train), len(x_train), f"{source} y_train")
    y_test = _as_labels(np.asarray(y_test), len(x_test), f"{source} y_test")
    if len(y_train) and len(np.unique(y_train)) < 2:
        raise UserError(f"{source} y_train: every training image has label {y_train[0]}: one class leaves "
                        "nothing to classify")
    for name, y in (("y_train", y_train), ("y_test", y_test)):
        if len(y) and y.min() < 0:
            raise UserError(f"{source} {name}: label {y.min()} is negative; labels must be 0..K-1")
    if classes is None:  # derived from the labels: every class 0..K-1 must have training images
        count = int(max(y_train.max(), y_test.max())) + 1
        present = np.unique(y_train)
        if y_train.min() >= 0 and len(present) < count:  # checked before K names are built (K may be 2^63)
            gap = next((i for i, v in enumerate(present.tolist()) if v != i), len(present))
            raise UserError(f"{source} y_train: labels span [{y_train.min()}, {y_train.max()}], so there would be "
                            f"{count} classes, but {count - len(present)} of them (e.g. {gap}) have no training "
                            "image; number the classes 0..K-1, or store their names as `classes`")
        classes = tuple(str(i) for i in range(count))
    k = len(classes)
    for name, y in (("y_train", y_train), ("y_test", y_test)):
        if y.min() < 0 or y.max() >= k:
            raise UserError(f"{source} {name}: labels span [{y.min()}, {y.max()}] but there are {k} "
                            f"classes; labels must be in [0, {k})")
    return RawSplits(tuple(classes), x_train, y_train, x_test, y_test)


def read_npz(path: Path) -> RawSplits:
    """An .npz with x_train, y_train, x_test, y_test and optionally `classes` (strings)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise UserError(f"{path}: missing arrays {missing}; an .npz data set needs "
                                f"{', '.join(NPZ_KEYS)} (and optionally classes)")
            arrays = {k: f[k] for k in NPZ_KEYS}
            classes = tuple(str(c) for c in f["classes"]) if "classes" in f.files else None
    except UserError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:  # empty, not a zip, truncated, object arrays
        raise UserError(f"{path}: cannot read as .npz ({e}); save it with numpy.savez "
                        "using plain numeric arrays") from e
    return check_raw(classes, **arrays, source=str(path))


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches: plain containers plus numpy arrays, nothing else.

    Arbitrary pickles can run code on load; only the globals numpy needs to rebuild an
    ndarray are resolved. `numpy.core` (numpy 1.x pickles) maps onto `numpy._core`.
    """

    _ALLOWED = {
        "_reconstruct": _multiarray._reconstruct,
        "scalar": _multiarray.scalar,
        "ndarray": np.ndarray,
        "dtype": np.dtype,
    }
    _MODULES = {"numpy", "numpy.core.multiarray", "numpy._core.multiarray"}

    def find_class(self, module: str, name: str) -> object:
        if module in self._MODULES and name in self._ALLOWED:
            return self._ALLOWED[name]
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({e}); use the files from "
                        "cifar-10-python.tar.gz unchanged") from e
    if not isinstance(obj, dict):
        raise UserError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    # Python 2 pickles (the official files) have bytes keys; Python 3 ones have str keys.
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def is_cifar_python_dir(path: Path) -> bool:
    return (path / "data_batch_1").is_file() or (path / "cifar-10-batches-py").is_dir()


def _read_batches(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for p in paths:
        d = _unpickle(p)
        if "data" not in d or "labels" not in d:
            raise UserError(f"{p}: batch lacks 'data' or 'labels'; is this CIFAR-10 python format?")
        data = np.asarray(d["data"])  # no cast here: check_raw refuses NaN and out-of-range pixels by name
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise UserError(f"{p}: data has shape {data.shape}, expected (N, 3072)")
        xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))  # CHW rows -> NHWC
        ys.append(np.asarray(d["labels"]))
    return np.concatenate(xs), np.concatenate(ys)


def read_cifar_python(path: Path) -> RawSplits:
    """The CIFAR-10 python layout: data_batch_1..5, test_batch, optional batches.meta."""
    if (path / "cifar-10-batches-py").is_dir():
        path = path / "cifar-10-batches-py"
    train = sorted(path.glob("data_batch_*"), key=lambda p: p.name)
    if not train or not (path / "test_batch").is_file():
        raise UserError(f"{path}: CIFAR-10 python format needs data_batch_1..5 and test_batch")
    x_train, y_train = _read_batches(train)
    x_test, y_test = _read_batches([path / "test_batch"])
    classes = None
    if (path / "batches.meta").is_file():
        names = _unpickle(path / "batches.meta").get("label_names")
        if names is not None:
            classes = tuple(n.decode() if isinstance(n, bytes) else str(n) for n in names)
    return check_raw(classes, x_train, y_train, x_test, y_test, source=str(path))
