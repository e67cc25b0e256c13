"""Data sets (uint8 arrays with a seeded validation split) and torch batches for search and training."""

from nas_common.errors import UserError
from nas.data.batches import TrainLoader, augment_batch, calibration_images, eval_batches, to_float
from nas.data.datasets import NAMED, DataConfig, ImageData, cache_root, data_root, load_data
from nas.data.detection.config import DetectionDataConfig


def default_augmentation(data: DataConfig | DetectionDataConfig | None) -> str:
    """What training does to images when the user says nothing (`--augment`): detection mirrors
    images with their boxes ("flip"); the bundled CIFAR-10 photos get the CIFAR recipe, a 4-pixel
    random crop and a horizontal flip ("flip-crop"); a user's own images get the crop only ("crop"),
    because a mirrored digit, letter or scan is often another class or no image at all."""
    if isinstance(data, DetectionDataConfig):
        return "flip"
    if data is None or data.spec in NAMED:
        return "flip-crop"
    return "crop"


def data_config_from_dict(settings: dict) -> DataConfig | DetectionDataConfig:
    """A run config's "data" entry as its typed config: detection data name their annotations."""
    try:
        return DetectionDataConfig(**settings) if "annotations" in settings else DataConfig(**settings)
    except TypeError as err:
        raise UserError(f"malformed data settings {settings}: {err}") from None


__all__ = [
    "DataConfig",
    "DetectionDataConfig",
    "data_config_from_dict",
    "ImageData",
    "TrainLoader",
    "augment_batch",
    "cache_root",
    "calibration_images",
    "data_root",
    "default_augmentation",
    "eval_batches",
    "load_data",
    "to_float",
]
