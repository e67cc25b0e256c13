"""argparse value types shared by every command (light: no torch, so `nas --help` stays fast)."""

from __future__ import annotations

import argparse


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def seed_value(text: str) -> int:
    """A seed: an integer in [0, 2^63) (numpy's and torch's generators take no more)."""
    value = non_negative_int(text)
    if value >= 2**63:
        raise argparse.ArgumentTypeError(f"must be below 2^63, got {text[:30]}")
    return value


def _finite_float(text: str, *, zero_ok: bool) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (0 <= value if zero_ok else 0 < value) or not value < float("inf"):  # also refuses nan and inf
        raise argparse.ArgumentTypeError(f"must be a {'finite number >= 0' if zero_ok else 'positive finite number'}, "
                                         f"got {text}")
    return value


def positive_float(text: str) -> float:
    return _finite_float(text, zero_ok=False)


MAX_WIDTH = 16.0  # width multipliers above this are typos (16x ShuffleNet is 50 GFLOPs an image)


def width_value(text: str) -> float:
    """A width multiplier: positive, finite, at most MAX_WIDTH (checked before any network is built)."""
    value = positive_float(text)
    if value > MAX_WIDTH:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_WIDTH:g}, got {text[:30]}")
    return value


def non_negative_float(text: str) -> float:
    return _finite_float(text, zero_ok=True)


def fraction_or_count(text: str) -> int | float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    return int(value) if value >= 1 and value.is_integer() else value
