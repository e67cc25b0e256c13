"""How noisy is a score? Standard errors, per-image outcomes and paired differences.

Every architecture of a search is scored on the same validation images, so two architectures are
best compared image by image: the paired difference has its own standard error, much smaller than
either score's when the two nets get mostly the same images right.

Per-image outcomes travel with a record as `record["per_image"]`: `{"<split>_correct": text}`, the
correctness of each image (1 bit) packed with `numpy.packbits`, written as "<count>:<base64>": 173
characters for 1,000 images (Ning et al. 2021 and NAS-Bench-Suite score on ~10 batches; a
supernet evaluation holds ~1,000-10,000 images, 0.2-1.7 KB).

Detection's mAP is not a mean over images, so its standard error is a bootstrap over validation
images (`nas.tasks.detection.coco_bootstrap`): the metric recomputed on resampled image sets, seeded, so every
architecture is resampled alike; a record keeps its 200 resampled mAPs (`{"<split>_mAP_boot": text,
"images": n}`, float16, 536 characters) and two architectures' paired difference has the standard
deviation of the resample-by-resample differences as its standard error.
"""

from __future__ import annotations

import base64
import math
from typing import Callable, Sequence

import numpy as np

PER_IMAGE = "per_image"  # the key of per-image outcomes in an evaluation's result and in a record
Z95 = 1.959963984540054  # two-sided 95% normal quantile


def _pack(count: int, payload: bytes) -> str:
    return f"{count}:" + base64.b64encode(payload).decode("ascii")


def _unpack(text: str, dtype: type) -> tuple[int, np.ndarray]:
    """(count, the payload as `dtype`) of "<count>:<base64>"; ValueError for anything else."""
    count, sep, payload = str(text).partition(":")
    try:
        n = int(count)
        data = np.frombuffer(base64.b64decode(payload.encode("ascii"), validate=True), dtype=dtype)
    except ValueError:
        raise ValueError("packed text is not '<count>:<base64>'") from None
    if not sep or n < 0:
        raise ValueError("packed text is not '<count>:<base64>'")
    return n, data


def pack_outcomes(correct: np.ndarray | Sequence[bool]) -> str:
    """Per-image correctness (booleans) as text: "<count>:<base64 of the packed bits>"."""
    correct = np.asarray(correct, dtype=bool)
    return _pack(len(correct), np.packbits(correct).tobytes())


def unpack_outcomes(text: str) -> np.ndarray:
    """The booleans `pack_outcomes` packed; ValueError for text it did not write."""
    n, bits = _unpack(text, np.uint8)
    if len(bits) != (n + 7) // 8:
        raise ValueError(f"per-image outcomes hold {len(bits) * 8} bits, not {n} images")
    return np.unpackbits(bits)[:n].astype(bool)


def pack_values(values: np.ndarray | Sequence[float]) -> str:
    """Numbers (e.g. the bootstrap resamples' mAP) as text: "<count>:<base64 of float16>"; float16
    keeps 3 significant digits, plenty for a standard error."""
    values = np.asarray(values, dtype=np.float16)
    return _pack(len(values), values.tobytes())


def unpack_values(text: str) -> np.ndarray:
    """The numbers `pack_values` packed; ValueError for text it did not write."""
    n, values = _unpack(text, np.float16)
    if len(values) != n:
        raise ValueError(f"packed values hold {len(values)} numbers, not {n}")
    return values.astype(float)


def mean_se(values: np.ndarray | Sequence[float]) -> float:
    """Standard error of the mean of per-image values (sample standard deviation / sqrt n)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return math.nan
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def accuracy_se(correct: np.ndarray | Sequence[bool], scale: float = 100.0) -> float:
    """Standard error of an accuracy (in `scale` units, percent by default): sqrt(p (1 - p) / n),
    the binomial formula."""
    correct = np.asarray(correct, dtype=float)
    if len(correct) == 0:
        return math.nan
    p = correct.mean()
    return float(scale * math.sqrt(p * (1 - p) / len(correct)))


def paired_difference(a: np.ndarray, b: np.ndarray, scale: float = 100.0) -> tuple[float, float]:
    """(mean of a - b, its standard error), per-image outcomes of two architectures on the same
    images, in `scale` units. An architecture against itself: exactly (0, 0)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired outcomes need the same images: {a.shape} vs {b.shape}")
    d = a - b
    if len(d) < 2:
        return float(scale * d.mean()) if len(d) else math.nan, math.nan
    return float(scale * d.mean()), float(scale * d.std(ddof=1) / math.sqrt(len(d)))


def bootstrap_se(metric: Callable[[np.ndarray], float], count: int, draws: int = 200, seed: int = 0) -> float:
    """Standard error of `metric(image_indices)` by resampling `count` images with replacement
    `draws` times (seeded). `metric` must accept repeated indices."""
    if count < 2:
        return math.nan
    rng = np.random.default_rng([seed, 0xB007])
    values = [metric(rng.integers(0, count, count)) for _ in range(draws)]
    values = [v for v in values if math.isfinite(v)]
    return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def interval(diff: float, se: float, z: float = Z95) -> tuple[float, float]:
    return diff - z * se, diff + z * se


def distinguishable(diff: float, se: float, z: float = Z95) -> bool:
    """True when the confidence interval of a difference excludes 0."""
    if not math.isfinite(diff) or not math.isfinite(se) or diff == 0.0:
        return False
    return abs(diff) > z * se
