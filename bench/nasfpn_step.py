"""NAS-FPN neck supernet training step vs the stand-alone detector of the same neck.

The measurement of `detection_step.py` on the `nasfpn` space: the supernet runs the fixed
backbone, one path of merging cells (3x3 convs shared by every choice, one BN per output level)
and the RetinaNet head; the stand-alone detector is `supernet.extract(arch)` (equal weights), on
the same letterboxed raccoon batch, with the real training step.

Headline: nasfpn_step_ratio = median step (supernet) / median step (stand-alone). Target <= 1.05.
Run: python bench/nasfpn_step.py [--layout cpu] [--width 0.25] [--image-size 256] [--batch-size 16]
"""

from __future__ import annotations

import sys

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from detection_step import main  # noqa: E402

if __name__ == "__main__":
    main("nasfpn", "nasfpn_step_ratio")
