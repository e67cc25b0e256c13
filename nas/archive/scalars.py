"""TensorBoard scalars in a run directory (`<run>/tensorboard/`), for `tensorboard --logdir runs/`.

Written with tensorboardX when it is installed (Ray brings it); without it, nothing is written and
nothing fails: the JSON logs of a run stay the record, the scalars are a view of them.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER = "tensorboard"


class ScalarLog:
    """Opened at the first scalar: a command that records nothing leaves no file behind."""

    def __init__(self, run_dir: str | os.PathLike, name: str = "") -> None:
        self.folder = Path(run_dir) / FOLDER / name
        self.writer = None
        self.available = True

    def add(self, tag: str, value: float, step: int) -> None:
        if self.writer is None and self.available:
            try:
                from tensorboardX import SummaryWriter
            except ImportError:  # optional at import time
                self.available = False
                return
            self.writer = SummaryWriter(str(self.folder), flush_secs=10)
        if self.writer is not None:
            self.writer.add_scalar(tag, float(value), int(step))

    def add_all(self, prefix: str, values: dict[str, float], step: int) -> None:
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.add(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
