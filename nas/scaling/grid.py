"""Compound scaling (EfficientNet, Tan & Le 2019), the parts that need no training: the grid of
(alpha, beta, gamma) candidates, the multipliers of a family member, and a searched architecture
carried over to a scaled space.

depth = alpha^phi, width = beta^phi, resolution = gamma^phi, with alpha * beta^2 * gamma^2 ~ 2 so
that each step of phi about doubles the FLOPs (FLOPs grow linearly with depth, quadratically with
width and resolution). EfficientNet found alpha = 1.2, beta = 1.1, gamma = 1.15 on ImageNet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from search_spaces.arch import Arch

MULTIPLIERS = ("depth", "width", "resolution")


def compound_grid(step: float = 0.05, target: float = 2.0, tolerance: float = 0.05, largest: float = 2.0,
                  dims: tuple[str, ...] = MULTIPLIERS) -> list[tuple[float, float, float]]:
    """Every (alpha, beta, gamma) on a `step` grid, each in [1, largest], with
    alpha * beta^2 * gamma^2 within `tolerance` (relative) of `target`; sorted. A multiplier not
    in `dims` (the space does not have it) stays 1."""
    if not 0 < step <= 1 or not 0 < tolerance < 1 or target <= 1:
        raise ValueError("need 0 < step <= 1, 0 < tolerance < 1 and target > 1")
    values = [round(1 + i * step, 6) for i in range(int(round((largest - 1) / step)) + 1)]
    axes = [values if dim in dims else [1.0] for dim in MULTIPLIERS]
    return [(a, b, g) for a in axes[0] for b in axes[1] for g in axes[2]
            if abs(product(a, b, g) - target) <= tolerance * target]


def product(alpha: float, beta: float, gamma: float) -> float:
    """alpha * beta^2 * gamma^2: the FLOPs factor of one step of phi."""
    return alpha * beta * beta * gamma * gamma


def spread(grid: list[tuple[float, float, float]], count: int) -> list[tuple[float, float, float]]:
    """`count` candidates of `grid` that cover it: the one closest to an even split of the budget
    between the dimensions first, then the farthest from those already taken (max-min distance in
    log-multiplier space), so a small grid still contrasts depth-, width- and resolution-heavy
    scalings. Candidates that scale two or more dimensions come first (scaling one dimension alone
    is what the ablation measures)."""
    if count >= len(grid):
        return list(grid)
    mixed = [c for c in grid if sum(x > 1 for x in c) >= 2]
    if len(mixed) >= count:
        grid = mixed
    logs = {c: (math.log(c[0]), 2 * math.log(c[1]), 2 * math.log(c[2])) for c in grid}

    def distance(a, b):
        return math.dist(logs[a], logs[b])

    mean = tuple(sum(v[i] for v in logs.values()) / len(grid) for i in range(3))
    chosen = [min(grid, key=lambda c: (math.dist(logs[c], mean), c))]
    while len(chosen) < count:
        chosen.append(max((c for c in grid if c not in chosen),
                          key=lambda c: (min(distance(c, o) for o in chosen), c)))
    return sorted(chosen)


def family_options(base: dict[str, Any], coefficients: tuple[float, float, float], phi: float) -> dict[str, Any]:
    """The space options of family member `phi`: the base's multipliers times alpha^phi, beta^phi, gamma^phi."""
    alpha, beta, gamma = coefficients
    out = dict(base)
    for key, factor in zip(MULTIPLIERS, (alpha, beta, gamma)):
        out[key] = float(base.get(key, 1.0)) * factor ** phi
    return out


def space_multipliers(space: Any) -> tuple[str, ...]:
    """The multipliers among depth/width/resolution that `space` takes as options (declared by the
    space as `multipliers`; mbconv has all three, shufflenet only width)."""
    return tuple(m for m in MULTIPLIERS if m in space.multipliers)


def scaled_depths(depths: list[int], ratio: float, limits: list[int]) -> list[int]:
    """Stage depths times `ratio`, rounded as a whole: the total is round(sum * ratio), spread over the
    stages by largest remainder, each stage at least 1 and at most its limit.

    EfficientNet rounds each stage up (`round_repeats`), which at B0's one-block stages doubles them:
    its B1 has 1.79x B0's FLOPs where alpha alone asks 1.2x depth. Rounding the total keeps the
    realised depth ratio at alpha, so a family member's FLOPs track 2^phi."""
    exact = [d * ratio for d in depths]
    out = [max(1, min(limit, math.floor(e + 1e-9))) for e, limit in zip(exact, limits)]
    total = min(sum(limits), max(len(depths), round(sum(exact))))
    for i in sorted(range(len(depths)), key=lambda i: (-(exact[i] - math.floor(exact[i] + 1e-9)), i)) * 2:
        if sum(out) >= total:
            break
        if out[i] < limits[i]:
            out[i] += 1
    return out


def scale_arch(base_space: Any, arch: Arch, scaled_space: Any) -> Arch:
    """`arch` of `base_space` carried to `scaled_space` (same space, other multipliers). In a space
    with stages (mbconv) each stage keeps its blocks' choices, its depth grows by the depth ratio
    (`scaled_depths`), and added blocks repeat the stage's last block, as EfficientNet scales B0.
    A space without a depth multiplier keeps the architecture as it is."""
    if base_space.name != scaled_space.name:
        raise ValueError(f"scaling maps an architecture within one space; got {base_space.name} -> "
                         f"{scaled_space.name}")
    arch = base_space.validate(arch)
    if "depth" not in base_space.multipliers:  # no elastic depth: nothing to map
        return scaled_space.validate(arch)
    blocks, depths = base_space.split(arch.choices)
    limits = [len(stage) for stage in scaled_space.layout.stage_blocks]
    new_depths = scaled_depths(depths, scaled_space.cfg.depth / base_space.cfg.depth, limits)
    choices: list[int] = []
    for base_stage, depth, limit in zip(base_space.layout.stage_blocks, depths, limits):
        active = [blocks[i] for i in base_stage[:depth]]
        choices += [c for block in (active + [active[-1]] * limit)[:limit] for c in block]
    return scaled_space.canonical(Arch(scaled_space.name, (*choices, *(d - 1 for d in new_depths))))


# ---- family members with their realised cost ----------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One network of a scaling experiment: the base (phi 0), a grid candidate, a member of the
    compound family, or a single-dimension scaling of the ablation; with the space options it is
    trained in, its architecture there, and its realised cost against the FLOPs it aims at."""

    name: str
    kind: str  # base | grid | compound | depth | width | resolution
    phi: int
    coefficients: tuple[float, float, float]  # (alpha, beta, gamma) of the scaling, (1, 1, 1) for the base
    multipliers: dict[str, float]  # depth/width/resolution relative to the base, as trained
    nominal: dict[str, float]  # ... before the FLOPs match (equal unless a dimension was adjusted)
    options: dict[str, Any]
    arch: Arch
    flops: int
    params: int
    target_flops: int

    @property
    def flops_ratio(self) -> float:
        """Realised FLOPs over the FLOPs aimed at (2^phi x the base's)."""
        return self.flops / self.target_flops

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "phi": self.phi, "coefficients": list(self.coefficients),
                "multipliers": self.multipliers, "nominal": self.nominal, "options": self.options,
                "arch": self.arch.to_dict(), "flops": self.flops, "params": self.params,
                "target_flops": self.target_flops, "flops_ratio": round(self.flops_ratio, 4)}


def realised_cost(space: Any, arch: Arch) -> tuple[int, int]:
    """FLOPs and params of `arch` counted on its built network (`torch.utils.flop_counter` through
    the space's `cost_probe`): one count per member, without building the space's whole table."""
    from search_spaces.cost import count_params, measure_flops

    model, x = space.cost_probe(arch)
    return measure_flops(model.eval(), x), count_params(model)


class Family:
    """Scaled members of one base architecture. `make_space(options)` builds the space (the base's
    options with other multipliers); FLOPs are counted on built networks and cached per options."""

    def __init__(self, make_space: Callable[[dict[str, Any]], Any], base_options: dict[str, Any],
                 base_arch: Arch, known: dict[str, Any] | None = None) -> None:
        self.make_space, self.base_options = make_space, dict(base_options)
        self.base_space = make_space(self.base_options)
        self.base_arch = self.base_space.validate(base_arch)
        self.dims = space_multipliers(self.base_space)
        if not self.dims:
            raise ValueError(f"space {self.base_space.name!r} has no width/depth/resolution multiplier to scale")
        self.base_flops, self.base_params = realised_cost(self.base_space, self.base_arch)
        # options -> (space config, arch, flops, params); `known` is a saved `realised()` (a resumed run)
        try:
            self._costs: dict[str, tuple[dict[str, Any], Arch, int, int]] = {
                key: (dict(v["options"]), Arch.from_dict(v["arch"]), int(v["flops"]), int(v["params"]))
                for key, v in (known or {}).items()}
        except (KeyError, TypeError, ValueError, AttributeError):
            self._costs = {}  # a damaged cache is only a lost shortcut: count again

    def realised(self) -> dict[str, Any]:
        """Every scaled network counted so far, as JSON (to skip counting them again on resume)."""
        return {key: {"options": o, "arch": a.to_dict(), "flops": f, "params": p}
                for key, (o, a, f, p) in self._costs.items()}

    def _realise(self, relative: dict[str, float]) -> tuple[dict[str, Any], Arch, int, int]:
        options = dict(self.base_options)
        for dim, factor in relative.items():
            options[dim] = float(self.base_options.get(dim, 1.0)) * factor
        key = repr(sorted(options.items()))
        if key not in self._costs:
            space = self.make_space(options)
            arch = scale_arch(self.base_space, self.base_arch, space)
            self._costs[key] = (space.config(), arch, *realised_cost(space, arch))
        return self._costs[key]

    def base(self) -> Member:
        ones = {d: 1.0 for d in self.dims}
        return Member("base", "base", 0, (1.0, 1.0, 1.0), ones, ones, self.base_space.config(), self.base_arch,
                      self.base_flops, self.base_params, self.base_flops)

    def member(self, name: str, kind: str, phi: int, coefficients: tuple[float, float, float],
               target_flops: int | None = None, adjust: str | None = None, tolerance: float = 0.0) -> Member:
        """depth alpha^phi, width beta^phi, resolution gamma^phi (multipliers the space lacks stay 1).
        With `adjust`, that dimension is then moved so the FLOPs land on `target_flops` (default
        2^phi x base) when they are off by more than `tolerance`: rounding channels to multiples of 8,
        depths to whole blocks and inputs to whole pixels makes the realised FLOPs drift from the
        formula, most at small widths."""
        nominal = {d: round(c ** phi, 6) for d, c in zip(MULTIPLIERS, coefficients) if d in self.dims}
        target = int(target_flops if target_flops is not None else self.base_flops * 2 ** phi)
        relative = dict(nominal)
        options, arch, flops, params = self._realise(relative)
        if adjust is not None and abs(flops / target - 1) > tolerance:
            relative[adjust] = self._match(relative, adjust, target)
            options, arch, flops, params = self._realise(relative)
        return Member(name, kind, phi, tuple(coefficients), relative, nominal, options, arch, flops, params, target)

    def _match(self, relative: dict[str, float], dim: str, target: float, steps: int = 16) -> float:
        """The value of `dim` (others fixed) whose realised FLOPs are closest to `target`: bracket by
        factors of 1.25, then bisect (FLOPs never fall as one multiplier grows)."""
        def flops(value: float) -> int:
            return self._realise({**relative, dim: value})[2]

        lo = hi = relative[dim]
        if flops(lo) < target:
            while flops(hi) < target and hi < 64:
                lo, hi = hi, hi * 1.25
        else:
            while flops(lo) >= target and lo > 1 / 64:
                lo, hi = lo / 1.25, lo
        for _ in range(steps):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if flops(mid) < target else (lo, mid)
            if abs(flops(hi) / target - 1) < 0.005:
                break
        # The shortest value with the best FLOPs: 1.28125 rather than 1.2812500001 (a rounded value
        # can cross a step: 40.5 px rounds to 40, so each is counted again).
        options = [round(v, digits) for v in (lo, hi) for digits in (2, 3, 4, 6)] + [lo, hi]
        return min(options, key=lambda v: (round(abs(flops(v) / target - 1), 9), len(repr(v))))


def candidate_name(coefficients: tuple[float, float, float]) -> str:
    return "grid_a{:g}_b{:g}_g{:g}".format(*coefficients)


def grid_members(family: Family, candidates: list[tuple[float, float, float]], tolerance: float = 0.05) -> list[Member]:
    """Step 1: each candidate scaled to phi = 1 (resolution, the finest knob, adjusted when the
    realised FLOPs are off 2x base by more than `tolerance`)."""
    adjust = "resolution" if "resolution" in family.dims else None
    return [family.member(candidate_name(c), "grid", 1, c, adjust=adjust, tolerance=tolerance) for c in candidates]


def compound_members(family: Family, coefficients: tuple[float, float, float], phis: range,
                     tolerance: float = 0.05) -> list[Member]:
    """Step 2: the family phi in `phis` with the winning coefficients."""
    adjust = "resolution" if "resolution" in family.dims else None
    return [family.member(f"compound_phi{phi}", "compound", phi, coefficients, adjust=adjust, tolerance=tolerance)
            for phi in phis]


# One dimension alone doubling the FLOPs per phi: depth x2, width x sqrt 2, resolution x sqrt 2.
SINGLE = {"depth": (2.0, 1.0, 1.0), "width": (1.0, math.sqrt(2), 1.0), "resolution": (1.0, 1.0, math.sqrt(2))}


def ablation_members(family: Family, compound: list[Member]) -> list[Member]:
    """EfficientNet's Figure 8 at our scale: each compound member's FLOPs reached by one dimension
    alone (matched exactly: the single multiplier is solved for the compound member's FLOPs)."""
    if len(family.dims) < 2:
        return []  # a space with one multiplier has no ablation: its family is the single-dimension one
    return [family.member(f"{dim}_phi{m.phi}", dim, m.phi, SINGLE[dim], target_flops=m.flops, adjust=dim)
            for m in compound for dim in family.dims]
