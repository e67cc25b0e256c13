"""Upper bounds on the sizes a space builds, checked when its options are read.

A width of 1e3 or a billion blocks does not fail when the network is built: it exhausts memory
after minutes. Each space states the most it builds, and an option beyond it is a ValueError
naming the option and the limit before anything is allocated.
"""

from __future__ import annotations

# Shared by every space: far beyond any published network, far below what exhausts memory.
MAX_WIDTH = 16.0  # width multiplier
MAX_INPUT_SIZE = 4096  # pixels
MAX_CLASSES = 100_000
MAX_CHANNELS = 16_384


def check_limits(**sizes: tuple[float, float]) -> None:
    """`name=(value, limit)` for each size; the first above its limit raises."""
    for name, (value, limit) in sizes.items():
        if value > limit:
            shown = f"{value:,}" if isinstance(value, int) else f"{value:g}"
            raise ValueError(f"{name} {shown} is above {limit:,g} (the most this space builds)")
