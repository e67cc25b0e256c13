"""The resource constraint every strategy and the random baseline obey: limits on FLOPs, parameters
and predicted latency (`nas.constraints.latency`), checked against what the space counts.

One object says what "feasible" means for a run; the strategies' samplers, the random baseline
(nas.judging.trust) and the run config (`--max-flops`, `--max-params`, `--max-latency`) all read it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from numbers import Integral
from typing import TYPE_CHECKING

from nas_common.errors import UserError
from search_spaces.arch import Arch

if TYPE_CHECKING:
    from search_spaces.protocol import SearchSpace


class InfeasibleConstraint(UserError):
    """No architecture satisfying the constraint was found in a bounded number of random draws."""


def format_si(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(n)


@dataclass(frozen=True)
class Constraint:
    """Resource limits an architecture must meet; one API for every strategy. Each limit
    `max_<q>` is checked against `space.<q>(arch)` (flops, params, latency_us)."""

    max_flops: int | None = None
    max_params: int | None = None
    max_latency_us: int | None = None
    latency_table: str | None = None  # a `nas lut build` file: predicts latency_us for max_latency_us

    def __post_init__(self) -> None:
        for key, value in asdict(self).items():
            if key.startswith("max_") and value is not None and (
                    isinstance(value, bool) or not isinstance(value, Integral) or value <= 0):
                raise UserError(f"{key} must be a positive integer or unset; got {value!r}")
        if self.max_latency_us is not None and not self.latency_table:
            raise UserError("a latency limit needs a latency table of this machine (`nas lut build`, then --lut FILE)")

    def limits(self) -> dict[str, int]:
        """The active limits by measured quantity, e.g. {"flops": 300_000_000}."""
        return {f.name[len("max_"):]: int(getattr(self, f.name)) for f in fields(self)
                if f.name.startswith("max_") and getattr(self, f.name) is not None}

    def costs(self, space: SearchSpace, arch: Arch) -> dict[str, int]:
        """The constrained quantities of `arch`: `space.flops`, `space.params`, and the latency the
        table predicts (`nas.constraints.latency`)."""
        out = {}
        for key in self.limits():
            if key == "latency_us":
                from nas.constraints.latency import table_for

                out[key] = int(round(table_for(self.latency_table, space).predict_us(space, arch)))
            else:
                out[key] = int({"flops": space.flops, "params": space.params}[key](arch))
        return out

    def check(self, costs: dict[str, int]) -> str | None:
        """Why `costs` (e.g. {"flops": ...}) break the limits, or None when they satisfy them."""
        def show(key: str, value: float) -> str:
            return f"{value / 1000:.2f} ms" if key == "latency_us" else format_si(value)

        problems = [
            f"{key.removesuffix('_us')} {show(key, costs[key])} > max {show(key, limit)}"
            for key, limit in self.limits().items()
            if costs[key] > limit
        ]
        return "; ".join(problems) or None

    def violation(self, space: SearchSpace, arch: Arch) -> str | None:
        """E.g. "flops 12.3M > max 10.0M"; None when `arch` satisfies the constraint."""
        return self.check(self.costs(space, arch))
