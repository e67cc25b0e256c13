"""The search-space protocol every space implements.

A space is the only thing that knows what its architectures mean. It describes them as a fixed
list of `Decision`s (label + named options); an `Arch` holds one choice index per decision. The
generic operators below (sample, mutate, crossover, encode) work on that description, so a space
only has to say what its decisions are and how to build networks; spaces with constraints between
decisions (graph cells, for instance) override `check` and `canonical`.
"""

from __future__ import annotations

import math
import typing
from functools import cached_property
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Mapping, NamedTuple, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from nas_common.errors import InvalidArchitecture
from search_spaces.arch import Arch


@dataclass(frozen=True)
class Decision:
    """One choice of the space: `label` names it (e.g. `block_3`), `options` name its choices."""

    label: str
    options: tuple[str, ...]

    @cached_property  # read in every membership check and encoding
    def num_options(self) -> int:
        return len(self.options)


class Membership(NamedTuple):
    """Answer of `space.contains(arch)`: truthy when inside; `reason` says why not otherwise."""

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class SearchSpace(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    task: ClassVar[str] = "classification"  # the task (nas.tasks) its networks solve: their outputs and data
    cost_note: ClassVar[str] = ""  # what flops/params count when not the whole stand-alone net (see cost_probe)
    options: ClassVar[tuple[str, ...]] = ()  # the names its constructor takes (`-S NAME=VALUE`), checked early
    # Optional capabilities, declared (generic code reads them, never probes with getattr):
    multipliers: ClassVar[tuple[str, ...]] = ()  # options compound scaling (`nas scale`) varies
    # detection: `--backbone RUN` fixes the backbone (nasfpn); such a space has `backbone_arch` (its
    # choices) and `backbone_supernet()` (the supernet that path is taken from)
    fixed_backbone: ClassVar[bool] = False
    # detection: (space, options) of the classification supernet its backbone pre-trains as (DetNAS
    # step 1), a method; None where there is no backbone to pre-train
    classification_backbone: ClassVar[Any] = None

    # ---- what a space must say -------------------------------------------------------------
    @property
    @abstractmethod
    def decisions(self) -> tuple[Decision, ...]:
        """The ordered decisions; an architecture has one choice index per decision."""

    @abstractmethod
    def build(self, arch: Arch, generator: torch.Generator | None = None) -> nn.Module:
        """The stand-alone network of `arch`, initialised from `generator`."""

    @abstractmethod
    def supernet(self, generator: torch.Generator | None = None) -> nn.Module:
        """The weight-sharing model of the space: a `Supernet` (below) whose `forward(x, arch)` runs
        exactly the path of `arch`, `path_state(arch)` names the stand-alone net's tensors and
        `extract(arch)` returns the stand-alone net holding copies of them."""

    @abstractmethod
    def flops(self, arch: Arch) -> int:
        """FLOPs of `cost_probe(arch)`'s forward pass (a multiply-add is 2): by default the
        stand-alone net on one input."""

    @abstractmethod
    def params(self, arch: Arch) -> int:
        """Number of parameters of `cost_probe(arch)`'s module: by default the stand-alone net."""

    def cost_probe(self, arch: Arch) -> tuple[nn.Module, torch.Tensor]:
        """The module and input whose cost `flops`/`params` report (checked by the contract tests).
        A space whose literature counts something else (DetNAS: the backbone as a 224x224 ImageNet
        classifier) overrides it."""
        cfg = self.config()
        size = int(cfg.get("input_size", 32))
        return self.build(arch), torch.zeros(1, int(cfg.get("in_channels", 3)), size, size)

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this space: saved with every run."""

    @classmethod
    def upgrade_config(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """A `config()` saved by an earlier version, as this version reads it (spaces whose options
        changed meaning override this, so runs written before still load)."""
        return dict(saved)

    # ---- generic operators over the decision list --------------------------------------------
    def size(self) -> int:
        return math.prod(d.num_options for d in self.decisions)

    def sample(self, rng: np.random.Generator) -> Arch:
        choices = [int(rng.integers(d.num_options)) for d in self.decisions]
        return self.canonical(Arch(self.name, tuple(choices)))

    def mutate(self, arch: Arch, rng: np.random.Generator, prob: float) -> Arch:
        """Re-draw each decision with probability `prob`, always to a different option (SPOS)."""
        self.validate(arch)
        choices = list(arch.choices)
        for i, d in enumerate(self.decisions):
            if d.num_options > 1 and rng.random() < prob:
                other = int(rng.integers(d.num_options - 1))
                choices[i] = other if other < choices[i] else other + 1
        return self.canonical(Arch(self.name, tuple(choices)))

    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """Uniform crossover: each decision taken from either parent with equal probability."""
        self.validate(a)
        self.validate(b)
        take_a = rng.random(len(self.decisions)) < 0.5
        choices = tuple(x if t else y for x, y, t in zip(a.choices, b.choices, take_a))
        return self.canonical(Arch(self.name, choices))

    def check(self, arch: Arch) -> None:
        """Raise `InvalidArchitecture` saying what is wrong; spaces with extra rules extend it."""
        if not isinstance(arch, Arch):
            raise InvalidArchitecture(f"expected an Arch, got {type(arch).__name__}")
        if arch.space != self.name:
            raise InvalidArchitecture(
                f"architecture belongs to space {arch.space!r}, not {self.name!r}"
            )
        decisions = self.decisions
        if len(arch.choices) != len(decisions):
            raise InvalidArchitecture(
                f"{self.name} architectures have {len(decisions)} choices, got {len(arch.choices)}"
            )
        for i, (choice, d) in enumerate(zip(arch.choices, decisions)):
            if not 0 <= choice < d.num_options:
                raise InvalidArchitecture(
                    f"choice {i} ({d.label}) is {choice}; valid: 0..{d.num_options - 1} "
                    f"({', '.join(d.options)})"
                )

    def contains(self, arch: Arch) -> Membership:
        try:
            self.check(arch)
        except InvalidArchitecture as err:
            return Membership(False, str(err))
        return Membership(True)

    def validate(self, arch: Arch) -> Arch:
        self.check(arch)
        return arch

    def parse(self, text_or_obj: str | dict) -> Arch:
        """An architecture from JSON text or a decoded object, checked against this space."""
        arch = Arch.from_json(text_or_obj) if isinstance(text_or_obj, str) else Arch.from_dict(text_or_obj)
        return self.validate(arch)

    def canonical(self, arch: Arch) -> Arch:
        """The one representative of architectures that compute the same function (identity here)."""
        return arch

    def encode(self, arch: Arch) -> np.ndarray:
        """Fixed-length one-hot encoding (concatenated per decision), float32, for predictors."""
        self.validate(arch)
        vec = np.zeros(self.encoding_size(), dtype=np.float32)
        offset = 0
        for choice, d in zip(arch.choices, self.decisions):
            vec[offset + choice] = 1.0
            offset += d.num_options
        return vec

    def encoding_size(self) -> int:
        return sum(d.num_options for d in self.decisions)

    def describe(self, arch: Arch) -> list[tuple[str, str]]:
        """(decision label, option name) pairs: what a person reads."""
        self.validate(arch)
        return [(d.label, d.options[c]) for d, c in zip(self.decisions, arch.choices)]

    def readable(self, arch: Arch) -> str:
        """The architecture as a person reads it, on one line (tables, summaries, the API's
        ranking): each decision's option by its label, or the space's own notation where it has
        one (NB201's cell string, ShuffleNet's block names). The digit form stays the key."""
        return " ".join(f"{label}={option}" for label, option in self.describe(arch))

    def without_mixed_forward(self) -> str:
        """Why DARTS cannot search this space (it is not `Differentiable`), for its refusal."""
        return f"{self.name!r} has none"

    def from_labels(self, choices: Mapping[str, Any]) -> Arch:
        """The architecture that takes, for every decision label, the named option (what `describe`
        gives, or the value itself: `{"stage1.kernel": 5}`); the inverse of `describe`."""
        unknown = sorted(set(choices) - {d.label for d in self.decisions})
        if unknown:
            raise InvalidArchitecture(f"{self.name} has no decision {unknown[0]!r}; its decisions: "
                                      f"{', '.join(d.label for d in self.decisions)}")
        picked = []
        for d in self.decisions:
            if d.label not in choices:
                raise InvalidArchitecture(f"choose an option for {d.label!r} too ({', '.join(d.options)})")
            value = str(choices[d.label])
            if value not in d.options:
                raise InvalidArchitecture(f"{d.label!r} has no option {value!r}; its options: {', '.join(d.options)}")
            picked.append(d.options.index(value))
        return self.validate(Arch(self.name, tuple(picked)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"


def typed_options(space: str, config_cls: type, options: dict[str, Any]) -> Any:
    """`config_cls(**options)`, where an unknown option is a ValueError naming it and listing the
    valid ones (Python's "unexpected keyword argument" names a class the user never wrote)."""
    valid = option_names(config_cls)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"space {space!r} has no option {unknown[0]!r}; valid options: {', '.join(sorted(valid))}")
    hints = typing.get_type_hints(config_cls)
    try:
        return config_cls(**{key: _typed_value(key, value, hints[key]) for key, value in options.items()})
    except TypeError as err:  # a list where a number belongs, compared in the config's own checks
        raise ValueError(f"space {space!r}: {err}") from None


def _typed_value(key: str, value: Any, kind: Any) -> Any:
    """`value` as the option's declared scalar type: a bool for a flag, a whole number for a count
    (32.0 is 32; 32.5, nan and "32" are refused), a finite number for a float; names and lists
    are checked by the config itself."""
    args = typing.get_args(kind)
    if type(None) in args:
        if value is None:
            return None
        kind = next((a for a in args if a is not type(None)), kind) if len(args) == 2 else kind
    if kind is bool and not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {value!r:.40}")
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value != int(value):
            raise ValueError(f"{key} must be a whole number, got {value!r:.40}")
        return int(value)
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{key} must be a finite number, got {value!r:.40}")
        return float(value)
    return value


def option_names(config_cls: type) -> tuple[str, ...]:
    """The options (`-S NAME=VALUE`) a space whose settings are the dataclass `config_cls` takes."""
    return tuple(f.name for f in fields(config_cls))


def config_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as JSON-able dict (tuples become lists)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()}


# ---- the supernet contract ---------------------------------------------------------------------------
@runtime_checkable
class Supernet(Protocol):
    """What `SearchSpace.supernet()` returns: one weight-sharing model for every architecture.

    - `forward(x, arch)` runs exactly the path of `arch`; parameters off the path get no gradient.
    - `path_state(arch)` is the stand-alone net's state dict (`space.build(arch).state_dict()` keys,
      relative to this module) made of the supernet's own tensors: whole ones, or composed ones
      (a nested kernel's centre). It is how weights move: `extract`, export, and composition (a
      detector that holds this supernet as `backbone` prefixes the keys with "backbone.", so
      `extract` stays exact through any wrapping).
    - `extract(arch)` is the stand-alone net holding copies of those tensors (BN statistics
      included): its output equals `forward(x, arch)`.
    Checked for every registered space by tests/test_supernet_contract.py.
    """

    def forward(self, x: torch.Tensor, arch: Arch) -> torch.Tensor: ...

    def path_state(self, arch: Arch) -> dict[str, torch.Tensor]: ...

    def extract(self, arch: Arch) -> nn.Module: ...


@runtime_checkable
class MultiScaleSupernet(Supernet, Protocol):
    """A backbone supernet: one feature map per stage of the path (for FPN necks and detection);
    equal to the extracted net's `forward_features(x)`."""

    def forward_features(self, x: torch.Tensor, arch: Arch) -> list[torch.Tensor]: ...


@runtime_checkable
class MixedForward(Protocol):
    """A supernet with DARTS's continuous relaxation: `weights[d, o]` weighs option o of decision d
    (a softmax of architecture parameters); one-hot weights give the single-path forward.
    `aux_skip` adds that weight times the input to every mixed op (DARTS-'s auxiliary skip)."""

    def forward_mixed(self, x: torch.Tensor, weights: torch.Tensor, aux_skip: float = 0.0) -> torch.Tensor: ...


@runtime_checkable
class Differentiable(Protocol):
    """A space DARTS can search (`nas search --strategy darts`): its supernet is `MixedForward`
    with weights of `alpha_shape` (softmax over the last axis, whose options `alpha_ops` names),
    and `discretise(alphas)` is the architecture the alphas choose."""

    alpha_shape: tuple[int, ...]
    alpha_ops: tuple[str, ...]

    def discretise(self, alphas: Any) -> Arch: ...

    def one_hot(self, arch: Arch) -> Any:
        """Weights of `alpha_shape` under which the mixed forward is `arch`'s single path."""


@runtime_checkable
class StringForm(Protocol):
    """A space with its own notation for architectures (NB201's `|nor_conv_3x3~0|+|...|`), read by
    every command that takes `--arch`."""

    def from_string(self, text: str) -> Arch: ...

    def to_string(self, arch: Arch) -> str: ...


@runtime_checkable
class GraphForm(Protocol):
    """A cell space that draws an architecture as an op-on-node DAG (NB201): what graph predictors
    (gcn, paths, the forest's path features) read."""

    def graph(self, arch: Arch) -> Any: ...  # a networkx.DiGraph; nodes carry their `op`


@runtime_checkable
class LatencyParts(Protocol):
    """A space cut where latencies add up (MnasNet's lookup table, `nas lut build`): `parts(batch)`
    gives the fixed modules and, per position, one module per option, each with its input;
    `part_keys(arch)` names the (position, option) parts `arch` runs."""

    def parts(self, batch: int = 1) -> tuple[list[tuple[nn.Module, torch.Tensor]],
                                             list[list[tuple[nn.Module, torch.Tensor]]]]: ...

    def part_keys(self, arch: Arch) -> list[tuple[int, int]]: ...


@runtime_checkable
class OneShotLoadable(Protocol):
    """A supernet built from a trained one-shot supernet's state in its own way (few-shot
    sub-supernets each copy the one-shot weights): `--init-from` calls `load_one_shot` instead of
    `load_state_dict`."""

    def load_one_shot(self, state: Any) -> None: ...


@runtime_checkable
class BackboneHolder(Protocol):
    """A supernet that holds a backbone supernet as its `backbone` module (DetNAS, NAS-FPN
    detectors): `--backbone RUN` copies a pre-trained backbone into it."""

    backbone: nn.Module
