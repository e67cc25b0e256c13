"""Data sets (uint8 arrays with a seeded validation split) and torch batches for search and training."""

from nas.data.batches import TrainLoader, augment_batch, calibration_images, eval_batches, to_float
from nas.data.datasets import ImageData, cache_root, data_root, load_data

__all__ = [
    "ImageData",
    "TrainLoader",
    "augment_batch",
    "cache_root",
    "calibration_images",
    "data_root",
    "eval_batches",
    "load_data",
    "to_float",
]
