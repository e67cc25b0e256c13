"""Batches as torch tensors: stateless seeded training batches, evaluation batches, and
calibration images for re-estimating BatchNorm statistics per supernet path.

Images go uint8 NHWC -> float32 NCHW in [0, 1] -> (augmented) -> normalised with the data set's
mean/std. Augmentation runs before normalisation so crop padding is black, as in the usual
CIFAR recipe (He et al. 2016).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from nas.data.datasets import ImageData
from nas_common.errors import UserError

_CALIBRATION_STREAM = 0x5EED_0004


def _unit_nchw(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float32 (N, C, H, W) in [0, 1], on x's device."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(x.astype(np.float32))  # astype copies: safe for read-only arrays
    else:
        t = x.to(torch.float32)
    if t.ndim != 4:
        raise ValueError(f"expected NHWC images, got shape {tuple(t.shape)}")
    return t.permute(0, 3, 1, 2).div_(255.0).contiguous()


def _normalise(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def to_float(x_uint8: np.ndarray | torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 NHWC images -> normalised float32 NCHW tensor."""
    return _normalise(_unit_nchw(x_uint8), mean, std)


# What training may do to an image (`--augment`): a random crop from the image padded by 4 pixels
# (a shift), a random horizontal flip, both, or nothing. Flips are wrong for digits, text and many
# medical images; the default depends on the data (`default_augmentation`).
AUGMENTATIONS = ("flip-crop", "crop", "flip", "none")


def augmentation(value: bool | str) -> str:
    """A training config's `augment` as one of AUGMENTATIONS (configs saved before it was a
    choice hold true, flip-crop, or false, none)."""
    if isinstance(value, bool):
        return "flip-crop" if value else "none"
    if value not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {str(value)[:40]!r}")
    return value


def augment_batch(x: torch.Tensor, generator: torch.Generator, padding: int = 4, *, crop: bool = True,
                  flip: bool = True) -> torch.Tensor:
    """Random crop from a zero-padded image plus random horizontal flip (either alone with
    `crop`/`flip`), for an NCHW batch of any dtype.

    One gather does both: each image reads rows oy..oy+H-1 and columns ox..ox+W-1 of its padded
    copy, columns reversed when flipped. Random numbers are drawn on the CPU from `generator`
    (a CPU generator), so the result does not depend on x's device, and the same numbers are drawn
    whatever is switched off (a crop-only run shifts its images as the flip-crop run does).
    """
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator)
    flip = (torch.rand(n, generator=generator) < 0.5) & flip
    if not crop:
        offsets = torch.full_like(offsets, padding)
    rows = offsets[:, :1] + torch.arange(h)                       # (N, H)
    cols = offsets[:, 1:] + torch.arange(w)                       # (N, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    rows, cols = rows.to(x.device), cols.to(x.device)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chan = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chan, rows[:, None, :, None], cols[:, None, None, :]]


def _fits_on(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= free // 4


def _generator_seed(*words: int) -> int:
    """Mix integers into one 64-bit seed (SeedSequence hashing, so nearby steps are unrelated)."""
    return int(np.random.SeedSequence(list(words)).generate_state(1, dtype=np.uint64)[0])


class TrainLoader:
    """Stateless, seeded training batches: batch(step) depends only on (seed, step), so a run resumes
    mid-epoch exactly and several data-parallel ranks can agree on the global batch.

    The images live on `device` as uint8 (a quarter of float32's memory: all of CIFAR-10 is 150 MB),
    and gather, crop, flip and normalisation run there as batched tensor operations, so on a GPU
    no image crosses the bus during training. Only the random draws (a few integers per image)
    come from a CPU generator, so a batch is the same on every device.

    Epoch e visits x_train in the order default_rng([seed, e]).permutation(N). `batch_size` is the
    global batch; rank r of world_size takes the r-th contiguous slice of size
    batch_size // world_size. drop_last=True skips the epoch's tail; drop_last=False tops the
    last batch up with images from the start of the epoch's order, so every batch is full-size
    and every image is seen at least once per epoch.
    """

    def __init__(self, data: ImageData, batch_size: int, seed: int, *, augment: bool | str = True,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True,
                 device: str | torch.device = "cpu") -> None:
        n = len(data.x_train)
        if batch_size < 1:
            raise UserError(f"batch size must be at least 1, got {batch_size}")
        if batch_size > n:
            raise UserError(f"batch size {batch_size} is larger than the {n} training images of "
                            f"{data.name}; lower the batch size or raise train_limit")
        if world_size < 1 or not 0 <= rank < world_size:
            raise UserError(f"rank {rank} is not in [0, world_size={world_size})")
        if batch_size % world_size:
            raise UserError(f"batch size {batch_size} is not divisible by world_size {world_size}; "
                            "pick a global batch size that is a multiple of the number of workers")
        if seed < 0:
            raise UserError(f"seed must be a non-negative integer, got {seed}")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.augment, self.rank, self.world_size, self.drop_last = augmentation(augment), rank, world_size, drop_last
        self.steps_per_epoch = n // batch_size if drop_last else -(-n // batch_size)
        self.device = torch.device(device)
        # from_numpy shares memory on the CPU; .to() copies once onto an accelerator, unless the
        # images would take more than a quarter of its free memory (then batches are copied).
        home = self.device if _fits_on(self.device, data.x_train.nbytes) else torch.device("cpu")
        self._images = torch.from_numpy(data.x_train).to(home)
        self._labels = torch.from_numpy(data.y_train.astype(np.int64)).to(home)
        self._perm_cache: tuple[int, np.ndarray] | None = None  # memo only: no effect on results
        # (x / 255 - mean) / std as x * scale + shift, per channel, on the training device.
        std = torch.as_tensor(data.std, dtype=torch.float32).view(1, -1, 1, 1)
        mean = torch.as_tensor(data.mean, dtype=torch.float32).view(1, -1, 1, 1)
        self._affine = ((1.0 / (255.0 * std)).to(self.device), (-mean / std).to(self.device))

    def _permutation(self, epoch: int) -> np.ndarray:
        if self._perm_cache is None or self._perm_cache[0] != epoch:
            perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.data.x_train))
            self._perm_cache = (epoch, perm)
        return self._perm_cache[1]

    def global_indices(self, step: int) -> np.ndarray:
        """Indices into x_train of the whole global batch at `step` (all ranks together)."""
        if step < 0:
            raise ValueError(f"step must be non-negative, got {step}")
        epoch, i = divmod(step, self.steps_per_epoch)
        perm = self._permutation(epoch)
        idx = perm[i * self.batch_size:(i + 1) * self.batch_size]
        if len(idx) < self.batch_size:  # only with drop_last=False
            idx = np.concatenate([idx, perm[:self.batch_size - len(idx)]])
        return idx

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(images float32 (B/world, C, H, W) normalised, labels int64 (B/world,)) on the loader's device."""
        local = self.batch_size // self.world_size
        idx = self.global_indices(step)[self.rank * local:(self.rank + 1) * local]
        idx = torch.from_numpy(idx).to(self._images.device)
        # Crop and flip only move pixels, so they run on the uint8 bytes (a quarter of the memory
        # traffic of float32); one fused multiply-add then converts and normalises.
        x = self._images[idx].to(self.device, non_blocking=True).permute(0, 3, 1, 2)
        if self.augment != "none":
            gen = torch.Generator().manual_seed(_generator_seed(self.seed, step, self.rank))
            x = augment_batch(x, gen, crop="crop" in self.augment, flip="flip" in self.augment)
        scale, shift = self._affine
        x = torch.addcmul(shift, x.to(torch.float32), scale).contiguous()  # NCHW, as the eval batches
        return x, self._labels[idx].to(self.device)

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of one epoch, in order."""
        for i in range(self.steps_per_epoch):
            yield self.batch(epoch * self.steps_per_epoch + i)


def eval_batches(x: np.ndarray, y: np.ndarray, batch_size: int, mean: Sequence[float],
                 std: Sequence[float]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Consecutive, unaugmented batches over all of (x, y); the last one may be smaller."""
    if batch_size < 1:
        raise UserError(f"batch size must be at least 1, got {batch_size}")
    for i in range(0, len(x), batch_size):
        yield to_float(x[i:i + batch_size], mean, std), torch.from_numpy(y[i:i + batch_size].astype(np.int64))


def calibration_images(data: ImageData, count: int, seed: int) -> torch.Tensor:
    """A fixed seeded subset of `count` training images, normalised NCHW, not augmented.

    Used to re-estimate BatchNorm statistics for each supernet path: the same images for every
    path, so paths are compared on equal terms.
    """
    n = len(data.x_train)
    if not 1 <= count <= n:
        raise UserError(f"calibration count {count} must be in [1, {n}] (the training images of "
                        f"{data.name}); lower it or raise train_limit")
    idx = np.sort(np.random.default_rng([seed, _CALIBRATION_STREAM]).choice(n, size=count, replace=False))
    return to_float(data.x_train[idx], data.mean, data.std)
