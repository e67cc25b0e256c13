"""Image-file readers: a folder of class subfolders, and a ZIP in the bundled CIFAR-10 layout.

Both decode with Pillow to RGB and resize (bilinear) every image to one square size: `image_size`
if given, else the size of the first image, which must then be square. Decoded ZIPs are cached
as an .npz outside the repo, keyed by the ZIP's path, size and mtime, so only the first load
pays for decoding.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable, IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from nas.data.formats import RawSplits, check_raw, read_npz
from nas_common.errors import UserError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"})
FOLDER_TEST_FRACTION = 0.2
# Fixed, not the run seed: the test hold-out of a flat folder stays the same across runs.
_FOLDER_TEST_SEED = (0x5EED, 3)
_CACHE_VERSION = 1


def _is_image_name(name: str) -> bool:
    base = PurePosixPath(name).name
    return not base.startswith(".") and PurePosixPath(base).suffix.lower() in IMAGE_SUFFIXES


def _square_size(first: Image.Image, image_size: int | None, where: str) -> int:
    if image_size is not None:
        if image_size < 1:
            raise UserError(f"image_size must be a positive integer, got {image_size}")
        return image_size
    w, h = first.size
    if w != h:
        raise UserError(f"{where}: first image is {w}x{h}, not square; pass image_size=N "
                        "(--image-size N) to resize every image to NxN")
    return w


def _decode(f: IO[bytes] | Path, size: int, where: str) -> np.ndarray:
    try:
        with Image.open(f) as im:
            im = im.convert("RGB")
            if im.size != (size, size):
                im = im.resize((size, size), Image.Resampling.BILINEAR)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as e:
        raise UserError(f"{where}: cannot decode image ({e}); remove or fix the file") from e


def _decode_all(n: int, size: int, decode_one: Callable[[int], np.ndarray]) -> np.ndarray:
    """Fill an (n, size, size, 3) array with decode_one(0..n-1).

    Sequential on purpose: for 32x32 JPEGs the per-image Python overhead dominates, and a thread
    pool measured slower (GIL contention); CIFAR-10 decodes in ~8 s once, then comes from cache.
    """
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for i in range(n):
        out[i] = decode_one(i)
    return out


# ---- image folders -------------------------------------------------------------------------

def _class_dirs(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _list_images(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    files, labels = [], []
    for label, name in enumerate(classes):
        if not (root / name).is_dir():
            continue
        for p in sorted((root / name).iterdir()):
            if p.is_file() and _is_image_name(p.name):
                files.append(p)
                labels.append(label)
    return files, np.asarray(labels, dtype=np.int64)


def _decode_files(files: list[Path], size: int) -> np.ndarray:
    return _decode_all(len(files), size, lambda i: _decode(files[i], size, str(files[i])))


def read_image_folder(root: Path, image_size: int | None = None) -> RawSplits:
    """`root/train/<class>/*` + `root/test/<class>/*`, or `root/<class>/*` (20% held out as test)."""
    split_layout = (root / "train").is_dir() and (root / "test").is_dir()
    classes = _class_dirs(root / "train" if split_layout else root)
    if not classes:
        raise UserError(f"{root}: no class subfolders; lay images out as <root>/<class>/<image> "
                        "or <root>/train/<class>/<image> plus <root>/test/<class>/<image>")
    if split_layout:
        extra = sorted(set(_class_dirs(root / "test")) - set(classes))
        if extra:
            raise UserError(f"{root}/test has classes {extra} missing from {root}/train; "
                            "every test class needs training images")
        train_files, y_train = _list_images(root / "train", classes)
        test_files, y_test = _list_images(root / "test", classes)
    else:
        files, labels = _list_images(root, classes)
        if len(files) < 2:
            raise UserError(f"{root}: found {len(files)} image(s); need at least 2 to hold out a test split")
        perm = np.random.default_rng(_FOLDER_TEST_SEED).permutation(len(files))
        n_test = max(1, round(FOLDER_TEST_FRACTION * len(files)))
        test_idx, train_idx = np.sort(perm[:n_test]), np.sort(perm[n_test:])
        train_files, y_train = [files[i] for i in train_idx], labels[train_idx]
        test_files, y_test = [files[i] for i in test_idx], labels[test_idx]
    if not train_files or not test_files:
        raise UserError(f"{root}: no images (suffixes {sorted(IMAGE_SUFFIXES)}) in the "
                        f"{'train' if not train_files else 'test'} split")
    try:
        with Image.open(train_files[0]) as first:
            size = _square_size(first, image_size, str(train_files[0]))
    except (UnidentifiedImageError, OSError) as e:  # the file, not the disk
        raise UserError(f"{train_files[0]}: cannot decode image ({e}); remove or fix the file") from None
    return check_raw(tuple(classes), _decode_files(train_files, size), y_train,
                     _decode_files(test_files, size), y_test, source=str(root))


# ---- ZIP in the bundled layout, with a decode cache -------------------------------------------

def _zip_members(zf: zipfile.ZipFile) -> dict[str, list[tuple[str, str]]]:
    """{'train'|'test': [(member, class)]}, from names ending in <split>/<class>/<file>."""
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "test": []}
    for name in sorted(zf.namelist()):
        parts = PurePosixPath(name).parts
        if len(parts) >= 3 and parts[-3] in splits and _is_image_name(name) and "__MACOSX" not in parts:
            splits[parts[-3]].append((name, parts[-2]))
    return splits


def _decode_zip(zip_path: Path, image_size: int | None = None) -> RawSplits:
    """Decode every image of a ZIP laid out as train/<class>/*.jpg and test/<class>/*.jpg."""
    first_name = ""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            splits = _zip_members(zf)
            if not splits["train"] or not splits["test"]:
                raise UserError(f"{zip_path}: expected images under train/<class>/ and test/<class>/ "
                                "inside the ZIP; found none for one of the splits")
            first_name = splits["train"][0][0]
            with zf.open(first_name) as f, Image.open(f) as first:
                size = _square_size(first, image_size, f"{zip_path}:{splits['train'][0][0]}")
    except zipfile.BadZipFile as e:
        raise UserError(f"{zip_path}: not a valid ZIP file ({e}); re-copy it") from e
    except (UnidentifiedImageError, OSError) as e:  # an OSError here is the file, not the disk
        raise UserError(f"{zip_path}:{first_name}: cannot decode image ({e}); remove or fix the file") from None
    classes = sorted({c for _, c in splits["train"]})
    index = {c: i for i, c in enumerate(classes)}
    extra = sorted({c for _, c in splits["test"]} - set(classes))
    if extra:
        raise UserError(f"{zip_path}: test classes {extra} have no training images")

    def decode_member(zf: zipfile.ZipFile, name: str) -> np.ndarray:
        with zf.open(name) as f:
            return _decode(f, size, f"{zip_path}:{name}")

    labels = {s: np.asarray([index[c] for _, c in m], dtype=np.int64) for s, m in splits.items()}
    with zipfile.ZipFile(zip_path) as zf:
        x = {s: _decode_all(len(m), size, lambda i, m=m: decode_member(zf, m[i][0]))
             for s, m in splits.items()}
    return check_raw(tuple(classes), x["train"], labels["train"], x["test"], labels["test"],
                     source=str(zip_path))


def zip_cache_path(zip_path: Path, cache_dir: Path, image_size: int | None = None) -> Path:
    st = zip_path.stat()
    key = f"{zip_path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{image_size}|v{_CACHE_VERSION}"
    return cache_dir / f"{zip_path.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def _write_cache(path: Path, raw: RawSplits) -> None:
    """Atomic (`nas.archive.atomic`): a reader never sees half a cache file."""
    from nas.archive.atomic import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda f: np.savez(f, x_train=raw.x_train, y_train=raw.y_train, x_test=raw.x_test,
                                          y_test=raw.y_test, classes=np.asarray(raw.classes, dtype=str)))


def read_zip(zip_path: Path, cache_dir: Path, image_size: int | None = None) -> RawSplits:
    cached = zip_cache_path(zip_path, cache_dir, image_size)
    if cached.is_file():
        try:
            return read_npz(cached)
        except UserError:  # unreadable cache (e.g. disk trouble): decode again and overwrite it
            pass
    raw = _decode_zip(zip_path, image_size)
    try:
        _write_cache(cached, raw)
    except OSError as e:  # a read-only cache dir must not stop the run; it only costs time
        warnings.warn(f"could not cache decoded {zip_path.name} in {cache_dir} ({e}); "
                      "set NAS_CACHE_DIR to a writable directory", stacklevel=2)
    return raw
