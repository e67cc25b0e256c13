"""Latency lookup tables (MnasNet, Tan et al. 2019; ProxylessNAS; FBNet): the latency of an
architecture predicted as the sum of its parts' latencies, each measured once on this machine.

A space that supports it cuts its network where costs add up (`space.parts()`: fixed modules and,
per position, one module per option, each with its input) and names the parts an architecture
runs (`space.part_keys(arch)`). Each part is timed alone: eval mode, no gradients, a fixed number
of threads, warm-up runs, then the median of repeats. The table is saved with the space options it
was measured for and the machine, so it is refused for another configuration; a `Constraint` with
`max_latency_us` and the table's path limits the predicted latency like FLOPs (`--max-latency`).
`check_table` measures whole networks against the table's sums (the error to report).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from nas_common.errors import UserError
from nas_common.json_files import read_json_object
from search_spaces.protocol import LatencyParts

FORMAT = "nas-latency-lut/1"


@dataclass
class LatencyTable:
    space: str
    space_config: dict[str, Any]
    batch_size: int
    threads: int
    warmup: int
    repeats: int
    machine: dict[str, Any]
    fixed_us: float
    options_us: list[list[float]]  # per position, per option: median microseconds
    # measured / summed latency of a few whole networks (the glue between parts: memory traffic,
    # dispatch), median; predictions are scaled by it
    correction: float = 1.0

    def parts_us(self, space: Any, arch: Any) -> float:
        """The plain sum of the parts' latencies."""
        try:
            return self.fixed_us + sum(self.options_us[i][j] for i, j in space.part_keys(arch))
        except IndexError:
            raise UserError(f"the {self.space} latency table has no entry for a part of {arch}: it was "
                            f"measured for another layout; build it again") from None

    def predict_us(self, space: Any, arch: Any) -> float:
        return self.correction * self.parts_us(space, arch)

    def save(self, path: str | os.PathLike) -> None:
        from nas.archive.atomic import write_json_atomic

        write_json_atomic(path, {"format": FORMAT, **asdict(self)})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LatencyTable":
        data = read_json_object(path, what="latency table", fix="build it again",
                                missing=f"latency table {path} not found; build one with `nas lut build --space "
                                        f"SPACE --out {path}`")
        if data.pop("format", None) != FORMAT:
            raise UserError(f"{path} is not a latency table ({FORMAT}); build one with `nas lut build`")
        try:
            table = cls(**data)
        except TypeError:
            raise UserError(f"latency table {path} is incomplete; build it again") from None
        problem = table._problem()
        if problem:
            raise UserError(f"latency table {path} is damaged ({problem}); build it again")
        table.path = str(path)
        return table

    def _problem(self) -> str | None:
        """What is wrong with the numbers of a loaded table, or None."""
        def number(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0

        rows = self.options_us
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) and r for r in rows):
            return "options_us must list, per position, the microseconds of each option"
        if not all(number(v) for r in rows for v in r):
            return "options_us holds a value that is not a finite number >= 0"
        if not number(self.fixed_us) or not number(self.correction) or self.correction == 0:
            return "fixed_us and correction must be finite numbers (correction > 0)"
        return None

    def check_fits(self, space: Any, path: Any) -> None:
        """Refuse a table measured for another space or other options (the latency would be wrong)."""
        mine, theirs = space.config(), self.space_config
        if self.space != space.name or mine != theirs:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise UserError(f"latency table {path} was measured for {self.space} with other options "
                            f"({', '.join(diff) or 'the space'} differ); build one for these options")


_loaded: dict[tuple[str, str, str], LatencyTable] = {}


def table_for(path: str, space: Any) -> LatencyTable:
    """The table at `path`, checked to fit `space` (loaded once per space configuration)."""
    key = (str(path), space.name, json.dumps(space.config(), sort_keys=True, default=str))
    if key not in _loaded:
        table = LatencyTable.load(path)
        table.check_fits(space, path)
        _loaded[key] = table
    return _loaded[key]


def time_us(module: torch.nn.Module, x: torch.Tensor, warmup: int, repeats: int) -> float:
    """Median wall time of `module(x)` in microseconds (eval, no gradients)."""
    module.eval()
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            start = time.perf_counter()
            module(x)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


class _Threads:
    def __init__(self, threads: int) -> None:
        self.threads, self.saved = threads, torch.get_num_threads()

    def __enter__(self) -> None:
        torch.set_num_threads(self.threads)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.saved)


CALIBRATION_SEED = 12_345  # whole networks timed for the correction (`check_table` uses other seeds)


def build_table(space: Any, *, batch_size: int = 1, threads: int = 1, warmup: int = 5, repeats: int = 20,
                calibration: int = 5, on_part: Any = None) -> LatencyTable:
    """Time every part of `space` (`space.parts`), then `calibration` whole random networks for the
    correction factor; `on_part()` after each part (progress)."""
    if not isinstance(space, LatencyParts):
        raise UserError(f"space {space.name!r} has no latency parts; latency tables exist for: mbconv")
    fixed, options = space.parts(batch_size)
    with _Threads(threads):
        fixed_us = 0.0
        for module, x in fixed:
            fixed_us += time_us(module, x, warmup, repeats)
            if on_part:
                on_part()
        table = []
        for row in options:
            measured = []
            for module, x in row:
                measured.append(time_us(module, x, warmup, repeats))
                if on_part:
                    on_part()
            table.append(measured)
    machine = {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
               "torch": torch.__version__, "python": platform.python_version()}
    result = LatencyTable(space.name, space.config(), batch_size,
                          threads, warmup, repeats, machine, fixed_us, table)
    if calibration:
        rng = np.random.default_rng(CALIBRATION_SEED)
        ratios = []
        for _ in range(calibration):
            arch = space.canonical(space.sample(rng))
            ratios.append(measure_us(space, arch, result) / result.parts_us(space, arch))
        result.correction = float(statistics.median(ratios))
    return result


def measure_us(space: Any, arch: Any, table: LatencyTable) -> float:
    """The whole stand-alone network's latency, measured the way the table's parts were."""
    net, cfg = space.build(arch), space.config()
    x = torch.zeros(table.batch_size, cfg.get("in_channels", 3), cfg["input_size"], cfg["input_size"])
    with _Threads(table.threads):
        return time_us(net, x, table.warmup, table.repeats)


def check_table(space: Any, table: LatencyTable, count: int, seed: int = 0,
                on_arch: Any = None) -> list[tuple[Any, float, float]]:
    """(architecture, predicted us, measured us) for `count` random architectures."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(count):
        arch = space.canonical(space.sample(rng))
        rows.append((arch, table.predict_us(space, arch), measure_us(space, arch, table)))
        if on_arch:
            on_arch(rows[-1])
    return rows


def parse_latency(text: str) -> int:
    """'12ms', '800us', '0.5s' (or a bare number of milliseconds) -> microseconds."""
    value = text.strip().lower()
    for unit, scale in (("ms", 1e3), ("us", 1.0), ("s", 1e6)):
        if value.endswith(unit):
            number, factor = value[: -len(unit)], scale
            break
    else:
        number, factor = value, 1e3
    try:
        micro = float(number) * factor
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a latency; e.g. 12ms, 800us") from None
    if not np.isfinite(micro) or micro < 1:
        raise ValueError(f"latency must be a positive finite time, got {text[:40]!r}")
    if micro > 1e12:  # 11 days: a typo, not a constraint
        raise ValueError(f"latency must be at most 1e12 us (11 days), got {text[:40]!r}")
    return int(round(micro))
