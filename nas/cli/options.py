"""Option groups shared by several commands (data, space, training, evaluation, device)."""

from __future__ import annotations

import argparse
from typing import Any
import sys
from dataclasses import fields

from nas.cli.types import (fraction_or_count, non_negative_float, non_negative_int,  # noqa: F401
                           positive_float, positive_int, seed_value, width_value)
from nas_common.errors import UserError
from nas.config.request import backbone_run, init_run, path_pool_file
from nas.supernet.train import TrainConfig


def add_data_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("data")
    g.add_argument("--data", default=None,
                   help="classification: cifar10 (bundled, default), cifar10-subset, an .npz, a "
                        "cifar-10-batches-py dir or an image folder; detection (--space detnas): raccoon "
                        "(bundled, default), a COCO json, or a PASCAL VOC folder or ZIP")
    g.add_argument("--val-size", type=fraction_or_count, default=None,
                   help="validation split held out of train: a fraction or a count (default 0.1; detection 0.2)")
    g.add_argument("--train-limit", type=positive_int, default=None,
                   help="train on a seeded subset of this many images (fast CPU runs)")
    g.add_argument("--split-seed", type=seed_value, default=None, help="seed of the validation split (default 0)")
    g.add_argument("--images", default=None,
                   help="detection: folder the COCO json's file_names are relative to (default: the json's)")
    g.add_argument("--test-data", default=None,
                   help="detection: a second COCO json / VOC set used only to report the chosen architecture")
    g.add_argument("--image-size", type=positive_int, default=None,
                   help="detection: square network input, images letterboxed to it (default 256); "
                        "classification image folders/ZIPs: resize every image to NxN (default: the first's size)")


# What each data flag sets in a data config; a config type takes the fields it has.
def space_option(text: str) -> tuple[str, object]:
    """`KEY=VALUE`; VALUE read as JSON when it parses (numbers, lists, true/false), else as a string."""
    import json

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not KEY=VALUE (e.g. stage_repeats=[2,2,2,2])")
    try:
        return key.strip(), json.loads(value)
    except ValueError:
        return key.strip(), value.strip()


def add_space_options(parser: argparse.ArgumentParser, required: bool | None = True) -> None:
    """`required=None`: no default and not required (a --config file may name the space)."""
    parser.add_argument("--space", required=bool(required), default="shufflenet" if required is False else None,
                        help="search space (see `nas spaces`)")
    parser.add_argument("--width", type=width_value, default=None, help="width multiplier of the space")
    add_space_option_flag(parser)


def add_space_option_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-S", "--space-option", type=space_option, action="append", default=[], metavar="KEY=VALUE",
                        help="space option, repeatable (e.g. -S stage_repeats=[4,4,8,4] -S channels=8)")


def space_options(args: argparse.Namespace) -> dict:
    opts = dict(getattr(args, "space_option", None) or [])
    if args.width is not None:
        opts["width"] = args.width
    return opts


def add_augment_option(group: Any) -> None:
    from nas.data.batches import AUGMENTATIONS

    group.add_argument("--augment", choices=AUGMENTATIONS, default=None,
                       help="what training does to an image: a random crop of the image padded by 4 pixels, a "
                            "random horizontal flip, both, or none (default by data: flip-crop for the bundled "
                            "CIFAR-10, crop for your own images, where a flip may be wrong: digits, text; flip for "
                            "detection)")
    group.add_argument("--no-augment", action="store_true", help="the same as --augment none")


def augment_given(args: argparse.Namespace) -> str | None:
    """The augmentation the flags ask for, None when they leave it to the data."""
    if getattr(args, "no_augment", False):
        if getattr(args, "augment", None) not in (None, "none"):
            raise UserError(f"--no-augment contradicts --augment {args.augment}; give one of them")
        return "none"
    return getattr(args, "augment", None)


def add_training_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("supernet training")
    length = g.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=positive_int, default=None, help="epochs (default 10)")
    length.add_argument("--steps", type=positive_int, default=None, help="steps instead of epochs")
    # Defaults are None so that a flag given on the command line is known to be given (it then
    # overrides --config); `train_config` fills in TrainConfig's defaults, which the help states.
    g.add_argument("--batch-size", type=positive_int, default=None, help=f"default {TrainConfig.batch_size}")
    g.add_argument("--lr", type=positive_float, default=None, help=f"peak learning rate (default {TrainConfig.lr})")
    g.add_argument("--weight-decay", type=non_negative_float, default=None,
                   help=f"default {TrainConfig.weight_decay}")
    g.add_argument("--warmup-epochs", type=non_negative_float, default=None,
                   help="linear learning-rate warm-up before the cosine decay (default 0)")
    g.add_argument("--checkpoint-every", type=non_negative_int, default=None,
                   help="also checkpoint every N steps (default 0: each epoch only)")
    g.add_argument("--grad-clip", type=non_negative_float, default=None, metavar="NORM",
                   help="clip each step's global gradient norm to NORM (default 0: off; detection presets 35)")
    g.add_argument("--average-last", type=non_negative_float, default=None, metavar="FRACTION",
                   help="end on the average of the weights saved at the epoch ends of this last fraction of "
                        "training (checkpoint averaging; default 0: off)")
    add_augment_option(g)
    g.add_argument("--path-pool", default=None, metavar="FILE",
                   help="train only these architectures (a JSON list, e.g. the top 10%% of a first supernet's "
                        "ranking), each step one of them uniformly; with --init-from: continued training")
    g.add_argument("--init-from", default=None, metavar="RUN",
                   help="start from the weights of this supernet run (same space; continued training, or a "
                        "few-shot split such as nb201 -S few_shot=0, whose every sub-supernet starts as a copy)")
    g.add_argument("--backbone", default=None, metavar="RUN",
                   help="detection: initialise the backbone from this run: a classification supernet "
                        "(`nas train-supernet --space shufflenet`, same layout; DetNAS step 1), a detection "
                        "supernet, or a search run's supernet. nasfpn takes a DetNAS run's layout, width and, "
                        "from a DetNAS search, its best backbone as the fixed backbone")


_TRAIN_FLAGS = ("epochs", "steps", "batch_size", "lr", "weight_decay", "warmup_epochs", "checkpoint_every",
                "average_last", "grad_clip")


def train_config(args: argparse.Namespace, seed: int, base: dict | None = None, data: Any = None) -> TrainConfig:
    """TrainConfig from `base` (a --config file's "train"), then TrainConfig's defaults (the
    augmentation: what suits `data`, `nas.data.default_augmentation`), with the flags given on the
    command line on top."""
    from nas.data import default_augmentation

    values = {f.name: f.default for f in fields(TrainConfig)}
    values["augment"] = default_augmentation(data)
    values.update({k: v for k, v in (base or {}).items() if k in values})
    given = {k: getattr(args, k) for k in _TRAIN_FLAGS if getattr(args, k, None) is not None}
    if given.get("epochs") is not None:
        values["steps"] = None
    if given.get("steps") is not None:
        values["epochs"] = TrainConfig.epochs
    values.update(given, seed=seed)
    augment = augment_given(args)
    if augment is not None:
        values["augment"] = augment
    if getattr(args, "backbone", None):
        values["backbone"] = backbone_run(args)
    if getattr(args, "init_from", None):
        values["init_from"] = init_run(args)
    if getattr(args, "path_pool", None):
        values["path_pool"] = path_pool_file(args)
    try:
        return TrainConfig(**values)
    except (TypeError, ValueError) as err:
        raise UserError(f"training settings: {err}") from None


def add_evaluation_options(parser: argparse.ArgumentParser, default: str = "the preset's", confirm: bool = False) -> None:
    """`confirm`: also --confirm-images, the images a search's verdict is judged on (nas search)."""
    g = parser.add_argument_group("candidate evaluation")
    g.add_argument("--calibration-images", type=positive_int, default=None,
                   help=f"training images used to recalibrate BN per path (default: {default}; SPOS: 25600)")
    g.add_argument("--val-images", type=positive_int, default=None,
                   help=f"score on the first N validation images (default: {default}; all when it sets none, "
                        "less the confirmation images)")
    if confirm:
        g.add_argument("--confirm-images", type=non_negative_int, default=None,
                       help="images kept apart from the start to judge the verdict: first training images the "
                            "supernet never trains on (left out by --train-limit), then the end of the validation "
                            "split (at most half of it); the search never scores on them; its top architectures and "
                            "the random ones are scored again on them after it (0: none, the verdict is then "
                            "unconfirmed)")
    g.add_argument("--eval-batch-size", type=positive_int, default=None,
                   help=f"images per forward pass while recalibrating and scoring (default: {default})")


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda[:N]")


def progress_line(line: str) -> None:
    """What the next seconds of work are, for a person at a terminal (not in logs or pipes)."""
    if sys.stderr.isatty():
        print(line, file=sys.stderr, flush=True)
