"""nas.data: every input format from tiny files, the bundled subset, determinism, batches, errors."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nas.data.images as images_mod
from nas.data import (ImageData, TrainLoader, augment_batch, calibration_images, data_root,
                      eval_batches, load_data, to_float)
from nas_common.errors import UserError

CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
SUBSET = data_root() / "cifar10" / "cifar10_subset_5k_1k.npz"
needs_subset = pytest.mark.skipif(not SUBSET.is_file(), reason="shared cifar10 subset not available")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_CACHE_DIR", str(tmp_path / "cache"))  # never write to ~/.cache in tests


def _images(rng: np.random.Generator, n: int, size: int, channels: int | None = 3) -> np.ndarray:
    shape = (n, size, size) if channels is None else (n, size, size, channels)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _npz(path: Path, n_train=40, n_test=10, size=8, channels: int | None = 3, k=4, **extra) -> Path:
    rng = np.random.default_rng(0)
    arrays = dict(x_train=_images(rng, n_train, size, channels), y_train=np.arange(n_train) % k,
                  x_test=_images(rng, n_test, size, channels), y_test=np.arange(n_test) % k)
    arrays.update(extra)
    np.savez(path, **arrays)
    return path


def _save_png(path: Path, size: tuple[int, int], value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, 255 - value, 7)).save(path)


# ---- bundled subset --------------------------------------------------------------------------

@needs_subset
def test_cifar10_subset_loads_with_disjoint_val_split():
    d = load_data("cifar10-subset", val_size=500, seed=0)
    assert d.classes == CIFAR_CLASSES and d.num_classes == 10
    assert (d.image_size, d.channels) == (32, 3)
    assert d.x_train.shape == (4500, 32, 32, 3) and d.x_val.shape == (500, 32, 32, 3)
    assert d.x_test.shape == (1000, 32, 32, 3)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    with np.load(SUBSET) as raw:
        assert np.array_equal(d.x_test, raw["x_test"])  # test split untouched
        flat = raw["x_train"].reshape(5000, -1)
    # train and val are disjoint and together are the source training set
    both = np.concatenate([d.x_train, d.x_val]).reshape(5000, -1)
    assert sorted(map(bytes, both)) == sorted(map(bytes, flat))
    assert not set(map(bytes, d.x_train.reshape(4500, -1))) & set(map(bytes, d.x_val.reshape(500, -1)))
    assert all(0.4 < m < 0.55 for m in d.mean) and all(0.2 < s < 0.3 for s in d.std)
    frac = load_data("cifar10-subset", val_size=0.2, train_limit=1000, seed=1)
    assert len(frac.x_val) == 1000 and len(frac.x_train) == 1000


# ---- formats from tiny files -----------------------------------------------------------------

def test_npz_grayscale_28x28(tmp_path):
    d = load_data(str(_npz(tmp_path / "g.npz", size=28, channels=None)), val_size=4)
    assert d.x_train.shape == (36, 28, 28, 1) and d.channels == 1 and d.image_size == 28
    assert d.classes == ("0", "1", "2", "3") and len(d.mean) == 1
    x = to_float(d.x_train[:2], d.mean, d.std)
    assert x.shape == (2, 1, 28, 28) and x.dtype == torch.float32


def test_npz_colour_float_and_class_names(tmp_path):
    rng = np.random.default_rng(1)
    path = _npz(tmp_path / "c.npz", k=3, classes=np.array(["cat", "dog", "emu"]),
                x_train=rng.random((40, 8, 8, 3)), x_test=rng.random((10, 8, 8, 3)))
    d = load_data(str(path), val_size=0.25)
    assert d.classes == ("cat", "dog", "emu") and d.x_train.dtype == np.uint8
    assert len(d.x_val) == 10 and d.x_train.shape == (30, 8, 8, 3) and d.x_train.max() > 200


def test_cifar_python_batches(tmp_path):
    root = tmp_path / "cifar" / "cifar-10-batches-py"
    root.mkdir(parents=True)
    rng = np.random.default_rng(2)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (6, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 0, 1, 2]}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"a", b"b", b"c"]}, f)
    d = load_data(str(tmp_path / "cifar"), val_size=5)
    assert d.classes == ("a", "b", "c") and d.x_train.shape == (25, 32, 32, 3) and len(d.x_test) == 6
    with open(root / "test_batch", "rb") as f:
        first = pickle.load(f)[b"data"][0]
    assert np.array_equal(d.x_test[0], first.reshape(3, 32, 32).transpose(1, 2, 0))


def test_cifar_python_rejects_foreign_globals(tmp_path):
    root = tmp_path / "evil"
    root.mkdir()
    for name in ["data_batch_1", "test_batch"]:
        with open(root / name, "wb") as f:
            pickle.dump({"data": Path("x"), "labels": [0]}, f)  # a non-numpy global
    with pytest.raises(UserError, match="not allowed"):
        load_data(str(root))


@pytest.mark.parametrize("layout", ["split", "flat"])
def test_image_folder_layouts(tmp_path, layout):
    for cls_i, cls in enumerate(["bee", "ant"]):
        for j in range(5):
            sub = {"split": ["train"] * 4 + ["test"], "flat": [""] * 5}[layout][j]
            _save_png(tmp_path / sub / cls / f"{j}.png", (6, 6), 40 * cls_i + j)
    d = load_data(str(tmp_path), val_size=2)
    assert d.classes == ("ant", "bee") and d.x_train.shape[1:] == (6, 6, 3)
    assert len(d.x_train) + len(d.x_val) == 8 and len(d.x_test) == 2


def test_image_folder_resizes_and_rejects_non_square(tmp_path):
    for cls in ["a", "b"]:
        for j in range(3):
            _save_png(tmp_path / cls / f"{j}.png", (10, 6), 9)
    with pytest.raises(UserError, match="image_size"):
        load_data(str(tmp_path), val_size=1)
    d = load_data(str(tmp_path), val_size=1, image_size=4)
    assert d.image_size == 4


def _tiny_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for split, n in [("train", 4), ("test", 2)]:
            for cls_i, cls in enumerate(["cat", "airplane"]):
                for j in range(n):
                    img = Image.new("RGB", (8, 8), (30 * cls_i + j, 0, 0))
                    png = path.parent / "tmp.png"
                    img.save(png)
                    zf.write(png, f"{split}/{cls}/{j:04d}.png")
    return path


def test_zip_is_decoded_once_then_cached(tmp_path, monkeypatch):
    zpath = _tiny_zip(tmp_path / "tiny.zip")
    cache = tmp_path / "zipcache"
    first = load_data(str(zpath), val_size=2, cache_dir=cache)
    assert first.classes == ("airplane", "cat") and first.x_train.shape == (6, 8, 8, 3)
    assert len(list(cache.glob("tiny-*.npz"))) == 1 and not list(cache.glob("*.tmp"))

    def fail(*args, **kwargs):
        raise AssertionError("decoded again instead of reading the cache")
    monkeypatch.setattr(images_mod, "_decode_zip", fail)
    second = load_data(str(zpath), val_size=2, cache_dir=cache)
    for name in ["x_train", "y_train", "x_val", "x_test", "y_test"]:
        assert np.array_equal(getattr(first, name), getattr(second, name))
    assert first.mean == second.mean


# ---- determinism and batches -----------------------------------------------------------------

@pytest.fixture
def small(tmp_path) -> ImageData:
    return load_data(str(_npz(tmp_path / "s.npz", n_train=70, size=8, k=5)), val_size=6, seed=3)


def test_same_seed_same_arrays_and_batches(tmp_path, small):
    again = load_data(str(tmp_path / "s.npz"), val_size=6, seed=3)
    other = load_data(str(tmp_path / "s.npz"), val_size=6, seed=4)
    assert np.array_equal(small.x_train, again.x_train) and np.array_equal(small.y_val, again.y_val)
    assert not np.array_equal(small.y_val, other.y_val) or not np.array_equal(small.x_val, other.x_val)
    a, b = TrainLoader(small, 16, seed=7), TrainLoader(again, 16, seed=7)
    assert a.steps_per_epoch == 4
    for step in (0, 5, 3):  # out of order: batch(step) is stateless
        xa, ya = a.batch(step)
        xb, yb = b.batch(step)
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert xa.shape == (16, 3, 8, 8) and ya.dtype == torch.int64
    assert not torch.equal(a.batch(0)[0], a.batch(1)[0])
    # one epoch visits distinct images
    epoch0 = np.concatenate([a.global_indices(s) for s in range(4)])
    assert len(set(epoch0.tolist())) == 64


def test_rank_slices_make_the_global_batch(small):
    full = TrainLoader(small, 16, seed=1, augment=False)
    halves = [TrainLoader(small, 16, seed=1, rank=r, world_size=2, augment=False) for r in (0, 1)]
    for step in (0, 9):
        x, y = full.batch(step)
        parts = [h.batch(step) for h in halves]
        assert torch.equal(torch.cat([p[1] for p in parts]), y)
        assert torch.equal(torch.cat([p[0] for p in parts]), x)


def test_drop_last_false_tops_up_last_batch(small):
    loader = TrainLoader(small, 16, seed=0, drop_last=False)  # 64 images -> 4 full batches
    assert loader.steps_per_epoch == 4
    loader = TrainLoader(small, 20, seed=0, drop_last=False)  # 64 -> 4 batches, last topped up
    assert loader.steps_per_epoch == 4 and len(loader.batch(3)[1]) == 20
    assert len(set(np.concatenate([loader.global_indices(s) for s in range(4)]).tolist())) == 64


def test_augment_batch_crops_flips_deterministically():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8).repeat(32, 1, 1, 1) + 1
    out1 = augment_batch(x, torch.Generator().manual_seed(0))
    out2 = augment_batch(x, torch.Generator().manual_seed(0))
    assert out1.shape == x.shape and torch.equal(out1, out2)
    assert not torch.equal(out1, augment_batch(x, torch.Generator().manual_seed(1)))
    assert (out1 == 0).any()  # some crops reach into the zero padding
    no_pad = augment_batch(x, torch.Generator().manual_seed(0), padding=0)
    flipped = [torch.equal(no_pad[i], x[i].flip(-1)) for i in range(64)]
    kept = [torch.equal(no_pad[i], x[i]) for i in range(64)]
    assert any(flipped) and any(kept) and all(f or k for f, k in zip(flipped, kept))


def test_eval_batches_and_calibration(small):
    batches = list(eval_batches(small.x_test, small.y_test, 4, small.mean, small.std))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert torch.equal(torch.cat([y for _, y in batches]), torch.from_numpy(small.y_test))
    c1, c2 = calibration_images(small, 8, seed=2), calibration_images(small, 8, seed=2)
    assert c1.shape == (8, 3, 8, 8) and torch.equal(c1, c2)
    with pytest.raises(UserError, match="calibration count"):
        calibration_images(small, 1000, seed=0)


# ---- bad input -------------------------------------------------------------------------------

def test_bad_inputs_raise_user_errors(tmp_path, small):
    with pytest.raises(UserError, match="not found"):
        load_data(str(tmp_path / "nope.npz"))
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((4, 8, 8, 3), np.uint8))
    with pytest.raises(UserError, match="missing arrays"):
        load_data(str(tmp_path / "partial.npz"))
    rng = np.random.default_rng(0)
    with pytest.raises(UserError, match="not square"):
        load_data(str(_npz(tmp_path / "rect.npz", x_train=_images(rng, 40, 8)[:, :, :6])))
    with pytest.raises(UserError, match=r"labels must be in \[0, 2\)"):
        load_data(str(_npz(tmp_path / "lab.npz", k=4, classes=np.array(["a", "b"]))))
    with pytest.raises(UserError, match="val_size"):
        load_data(str(tmp_path / "s.npz"), val_size=70)
    with pytest.raises(UserError, match="val_size"):
        load_data(str(tmp_path / "s.npz"), val_size=1.5)
    (tmp_path / "data.csv").write_text("1,2\n")
    with pytest.raises(UserError, match="unknown data format"):
        load_data(str(tmp_path / "data.csv"))
    with pytest.raises(UserError, match="larger than"):
        TrainLoader(small, 65, seed=0)
    with pytest.raises(UserError, match="divisible"):
        TrainLoader(small, 15, seed=0, world_size=2)


def _reference_batch(data: ImageData, loader: TrainLoader, step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch of `step` built image by image from the numpy arrays: pad, crop, flip, normalise,
    with the loader's random draws (offsets then flips, from the step's own generator)."""
    from nas.data.batches import _generator_seed

    idx = loader.global_indices(step)
    gen = torch.Generator().manual_seed(_generator_seed(loader.seed, step, loader.rank))
    offsets = torch.randint(0, 9, (len(idx), 2), generator=gen)
    flips = torch.rand(len(idx), generator=gen) < 0.5
    images = []
    for i, j in enumerate(idx):
        img = data.x_train[j].astype(np.float64) / 255.0                    # (H, W, C)
        padded = np.pad(img, ((4, 4), (4, 4), (0, 0)))
        oy, ox = int(offsets[i, 0]), int(offsets[i, 1])
        crop = padded[oy:oy + img.shape[0], ox:ox + img.shape[1]]
        if flips[i]:
            crop = crop[:, ::-1]
        images.append((crop - np.array(data.mean)) / np.array(data.std))
    x = torch.from_numpy(np.stack(images).transpose(0, 3, 1, 2).astype(np.float32))
    return x, torch.from_numpy(data.y_train[idx].astype(np.int64))


def test_device_resident_batches_equal_an_image_by_image_reference(small):
    """The loader gathers, crops, flips and normalises whole batches as tensor ops on the device
    that holds the images (a GPU in training); here that device is the CPU, and every image must
    equal the plain per-image numpy recipe for the same (seed, step)."""
    loader = TrainLoader(small, 16, seed=5, device="cpu")
    assert loader._images.dtype == torch.uint8  # kept as bytes, converted per batch
    for step in (0, 3, 11):
        x, y = loader.batch(step)
        x_ref, y_ref = _reference_batch(small, loader, step)
        assert torch.equal(y, y_ref)
        torch.testing.assert_close(x, x_ref, rtol=0, atol=1e-5)


def test_a_cifar_python_folder_with_nan_pixels_is_refused_not_cast(tmp_path):
    """The .npz path refused NaN pixels while the CIFAR python reader cast them to uint8 silently."""
    import pickle

    from nas.data.formats import read_cifar_python

    labels = [i % 10 for i in range(20)]
    for name in ("data_batch_1", "test_batch"):
        data = np.zeros((20, 3072), np.float32)
        data[3, 5] = np.nan
        (tmp_path / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
    with pytest.raises(UserError, match="pixel values are NaN or infinite"):
        read_cifar_python(tmp_path)
