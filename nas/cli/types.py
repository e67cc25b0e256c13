"""argparse value types shared by every command (light: no torch, so `nas --help` stays fast)."""

from __future__ import annotations

import argparse

from nas_common.limits import MAX_WIDTH  # widths above it are typos (16x ShuffleNet is 50 GFLOPs an image)


# No count a command takes (images, steps, architectures, repeats) comes near 10^12; a larger one
# is a typo that would overflow a tensor size or run until killed. Flags with a tighter meaning
# (seeds, widths, budgets above a space's size) check their own bound after this.
MAX_COUNT = 10**12


def _integer(text: str) -> int:
    if len(text) > 100 and text.strip().lstrip("+-").isdigit():  # int() refuses over 4,300 digits
        raise argparse.ArgumentTypeError(f"must be at most 10^12, got {text.strip()[:30]}... ({len(text):,} digits)")
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
    return value


def positive_int(text: str) -> int:
    value = _integer(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return _at_most_max_count(value, text)


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return _at_most_max_count(value, text)


def _at_most_max_count(value: int, text: str) -> int:
    if value > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"must be at most 10^12, got {text.strip()[:30]}")
    return value


def gpu_share(text: str) -> float:
    """GPUs per worker: a finite number >= 0 (a fraction shares one GPU), at most 64."""
    value = _finite_float(text, zero_ok=True)
    if value > 64:
        raise argparse.ArgumentTypeError(f"must be at most 64 (GPUs of one worker), got {text[:30]}")
    return value


def seed_value(text: str) -> int:
    """A seed: an integer in [0, 2^63) (numpy's and torch's generators take no more)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"must be below 2^63, got {text[:30]}")
    return value


def _finite_float(text: str, *, zero_ok: bool, limit: float = MAX_COUNT) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not (0 <= value if zero_ok else 0 < value) or not value < float("inf"):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be a {'finite number >= 0' if zero_ok else 'positive finite number'}, "
                                         f"got {text[:40]}")
    if value > limit:  # no rate, decay, clip or step of any command comes near 10^12
        raise argparse.ArgumentTypeError(f"must be at most {limit:g}, got {text.strip()[:30]}")
    return value


def positive_float(text: str) -> float:
    return _finite_float(text, zero_ok=False)




def width_value(text: str) -> float:
    """A width multiplier: positive, finite, at most MAX_WIDTH (checked before any network is built)."""
    return _finite_float(text, zero_ok=False, limit=MAX_WIDTH)


def non_negative_float(text: str) -> float:
    return _finite_float(text, zero_ok=True)


def fraction_or_count(text: str) -> int | float:
    """A share of the images (0 < x < 1) or a number of them (a whole number >= 1); 0 means none."""
    value = _finite_float(text, zero_ok=True)
    if value >= 1 and not value.is_integer():
        raise argparse.ArgumentTypeError(f"must be a fraction below 1 or a whole number of images, got {text[:30]}")
    return int(value) if value >= 1 else value
