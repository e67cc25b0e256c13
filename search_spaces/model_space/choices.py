"""Choice points a user puts in an ordinary `nn.Module`; the search space is derived from them.

- `LayerChoice([op_a, op_b, ...], label=...)`: one of several candidate modules (a dict names them).
- `InputChoice(n, label=...)`: one of `n` input tensors (its forward takes the list).
- `ValueChoice([3, 5, 7], label=...)`: a value; `.map(fn)` turns it into the module `fn(value)`.
- `Repeat(block, depth)`: `block(i)` repeated `depth` times (an int or a `ValueChoice`).

A label names one decision: choice points that share a label share the decision (one kernel size
for several layers). Unlabelled choice points are numbered in construction order within their
scope (a `map` or `Repeat` opens a scope per value or block), so the numbering is the same
whether the whole supernet is built or one architecture.

The same model code is built in two ways. Built plainly (the supernet), every choice point holds
all of its candidates and runs the one the current architecture selects. Built under `fixed(...)`
(an architecture), a `LayerChoice` *is* its chosen candidate, a `ValueChoice` maps to one value,
a `Repeat` holds exactly `depth` blocks and an `InputChoice` is a parameter-free selector: the
stand-alone network is the user's module with the choices fixed, nothing wrapped around it. A
supernet path's tensors are named exactly as the stand-alone net names them (`path_items`), so
weights move between the two with no key errors.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch
from torch import nn

from nas_common.errors import UserError


class SpaceDefinitionError(UserError):
    """A model's choice points do not define a search space (one line, naming the choice)."""


# ---- construction context ------------------------------------------------------------------------
@dataclass
class _Context:
    """What the model's constructor is building: the supernet (`chosen` is None; decisions are
    recorded) or one architecture (`chosen`: label -> option index)."""

    chosen: Mapping[str, int] | None = None
    decisions: dict[str, tuple[str, ...]] = field(default_factory=dict)
    scope: tuple[str, ...] = ()
    counters: dict[tuple[str, ...], int] = field(default_factory=dict)

    def label(self, given: str | None, kind: str) -> str:
        if given is not None:
            if not isinstance(given, str) or not given:
                raise SpaceDefinitionError(f"a {kind} label must be a non-empty string, got {given!r}")
            return given
        number = self.counters.get(self.scope, 0) + 1
        self.counters[self.scope] = number
        return ".".join((*self.scope, f"{kind}_{number}"))

    def declare(self, label: str, options: tuple[str, ...], what: str) -> None:
        known = self.decisions.get(label)
        if known is None:
            self.decisions[label] = options
        elif len(known) != len(options):
            raise SpaceDefinitionError(f"{what} {label!r} has {len(options)} options, but the choice it shares "
                                       f"its label with has {len(known)}; shared choices need the same number")

    def index(self, label: str, count: int) -> int:
        assert self.chosen is not None
        try:
            index = self.chosen[label]
        except KeyError:
            raise SpaceDefinitionError(f"the architecture has no choice for {label!r}") from None
        if not 0 <= index < count:
            raise SpaceDefinitionError(f"choice {label!r} is {index}; valid: 0..{count - 1}")
        return index

    @contextlib.contextmanager
    def within(self, name: str) -> Iterator[None]:
        saved = self.scope
        self.scope = (*saved, name)
        try:
            yield
        finally:
            self.scope = saved


_CONTEXT: ContextVar[_Context | None] = ContextVar("nas_model_space_context", default=None)


def _current(what: str) -> _Context:
    context = _CONTEXT.get()
    if context is None:
        raise SpaceDefinitionError(f"{what} is built outside a model space: for one architecture use "
                                   "nas.api.space(MyNet).build(arch) (or `with fixed({label: option_index}): "
                                   "MyNet()`), not MyNet() alone")
    return context


@contextlib.contextmanager
def recording() -> Iterator[_Context]:
    """Build a model as a supernet; the context's `decisions` are its labelled options, in order."""
    context = _Context()
    token = _CONTEXT.set(context)
    try:
        yield context
    finally:
        _CONTEXT.reset(token)


@contextlib.contextmanager
def fixed(chosen: Mapping[str, int]) -> Iterator[_Context]:
    """Build a model as the stand-alone network of one architecture (label -> option index)."""
    context = _Context(chosen=dict(chosen))
    token = _CONTEXT.set(context)
    try:
        yield context
    finally:
        _CONTEXT.reset(token)


def _option_names(candidates: Sequence[Any] | Mapping[str, Any], what: str, label: str) -> tuple[tuple[str, ...], list]:
    if isinstance(candidates, Mapping):
        names, items = tuple(str(k) for k in candidates), list(candidates.values())
    elif isinstance(candidates, (list, tuple)):
        items = list(candidates)
        names = tuple(f"{i}:{type(c).__name__}" if isinstance(c, nn.Module) else str(c) for i, c in enumerate(items))
    else:
        raise SpaceDefinitionError(f"{what} {label!r} takes a list or dict of candidates, got {type(candidates).__name__}")
    if len(items) < 2:
        raise SpaceDefinitionError(f"{what} {label!r} has {len(items)} candidate(s); a choice needs at least two")
    if len(set(names)) != len(names):
        raise SpaceDefinitionError(f"{what} {label!r} has candidates with the same name: {', '.join(names)}")
    return names, items


class Sliced:
    """A layer holding the largest sizes its value choices allow and running slices of them for the
    selected sizes (nested sharing: `nested.py`). The walks below ask it, by these three methods,
    which labels it uses, to select an architecture, and what tensors a path takes from it."""

    labels: set[str]

    def select(self, chosen: Mapping[str, int]) -> None:
        raise NotImplementedError

    def sliced_state(self, chosen: Mapping[str, int]) -> dict[str, torch.Tensor]:
        raise NotImplementedError


# ---- the choice points ---------------------------------------------------------------------------
class LayerChoice(nn.Module):
    """One of several candidate modules. In the supernet every candidate is kept (independent
    weights) and `active` selects the one to run; under `fixed(...)` the constructor returns the
    chosen candidate itself."""

    def __new__(cls, candidates: Sequence[nn.Module] | Mapping[str, nn.Module] | None = None, *,
                label: str | None = None):
        if candidates is None:  # copy.deepcopy and pickle rebuild the object, then its __dict__
            return super().__new__(cls)
        context = _current("LayerChoice")
        label = context.label(label, "layer")
        names, items = _option_names(candidates, "layer choice", label)
        bad = [n for n, c in zip(names, items) if not isinstance(c, nn.Module)]
        if bad:
            raise SpaceDefinitionError(f"layer choice {label!r}: candidate {bad[0]} is not an nn.Module")
        if context.chosen is not None:
            return items[context.index(label, len(items))]
        context.declare(label, names, "layer choice")
        choice = super().__new__(cls)
        object.__setattr__(choice, "_label", label)
        object.__setattr__(choice, "_names", names)
        return choice

    def __init__(self, candidates: Sequence[nn.Module] | Mapping[str, nn.Module], *, label: str | None = None) -> None:
        label, names = self._label, self._names
        super().__init__()
        self.label, self.names = label, names
        self.candidates = nn.ModuleList(candidates.values() if isinstance(candidates, Mapping) else candidates)
        self.active = 0
        self.mixed: tuple[torch.Tensor, float] | None = None  # DARTS: (weight per candidate, auxiliary skip)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.mixed is None:
            return self.candidates[self.active](*args, **kwargs)
        weights, aux_skip = self.mixed
        out = sum(w * candidate(*args, **kwargs) for w, candidate in zip(weights, self.candidates))
        x = args[0] if args else None
        if aux_skip and isinstance(x, torch.Tensor) and x.shape == out.shape:  # DARTS-'s auxiliary skip
            out = out + aux_skip * x
        return out

    def extra_repr(self) -> str:
        return f"label={self.label!r}, options={list(self.names)}"


class ChosenInput(nn.Module):
    """The stand-alone form of an `InputChoice`: always input `index` of the list it is given."""

    def __init__(self, index: int, count: int) -> None:
        super().__init__()
        self.index, self.count = index, count

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        _check_inputs(inputs, self.count, "input choice")
        return inputs[self.index]


def _check_inputs(inputs: Any, count: int, label: str) -> None:
    """An input choice is given its candidates as one list; a tensor would be indexed along its batch."""
    if isinstance(inputs, torch.Tensor) or not isinstance(inputs, (list, tuple)):
        raise SpaceDefinitionError(f"{label} takes a list of its {count} candidate inputs "
                                   f"(choice([a, b, ...])), not a {type(inputs).__name__}")
    if len(inputs) != count:
        raise SpaceDefinitionError(f"{label} expects {count} inputs, got {len(inputs)}")


class InputChoice(nn.Module):
    """One of `n_candidates` input tensors: `forward(inputs)` returns `inputs[chosen]`."""

    def __new__(cls, n_candidates: int | None = None, *, label: str | None = None):
        if n_candidates is None:  # copy.deepcopy and pickle
            return super().__new__(cls)
        context = _current("InputChoice")
        label = context.label(label, "input")
        if isinstance(n_candidates, bool) or not isinstance(n_candidates, int) or n_candidates < 2:
            raise SpaceDefinitionError(f"input choice {label!r} needs at least two candidates, got {n_candidates!r}")
        if context.chosen is not None:
            return ChosenInput(context.index(label, n_candidates), n_candidates)
        context.declare(label, tuple(f"input_{i}" for i in range(n_candidates)), "input choice")
        choice = super().__new__(cls)
        object.__setattr__(choice, "_label", label)
        return choice

    def __init__(self, n_candidates: int, *, label: str | None = None) -> None:
        label = self._label
        super().__init__()
        self.label, self.count, self.active = label, n_candidates, 0
        self.mixed: tuple[torch.Tensor, float] | None = None  # DARTS: (weight per input, unused)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        _check_inputs(inputs, self.count, f"input choice {self.label!r}")
        if self.mixed is not None:
            return sum(w * x for w, x in zip(self.mixed[0], inputs))
        return inputs[self.active]


class ValueChoice:
    """A value among `values` (kernel sizes, expansion ratios, widths, depths). It becomes part of
    a network through `map(fn)` (the module `fn(value)`) or as the depth of a `Repeat`; under
    `fixed(...)` its `value` is the chosen one."""

    def __init__(self, values: Sequence[Any], *, label: str | None = None) -> None:
        context = _current("ValueChoice")
        self.label = context.label(label, "value")
        names, items = _option_names(list(values) if not isinstance(values, (list, tuple)) else values,
                                     "value choice", self.label)
        self.values = tuple(items)
        self._context = context
        if context.chosen is not None:
            self._index: int | None = context.index(self.label, len(items))
        else:
            context.declare(self.label, names, "value choice")
            self._index = None

    @property
    def value(self) -> Any:
        if self._index is None:
            raise SpaceDefinitionError(f"value choice {self.label!r} has no single value in the supernet; "
                                       "build modules from it with .map(fn) or Repeat(block, depth)")
        return self.values[self._index]

    def map(self, fn: Callable[[Any], nn.Module]) -> nn.Module:
        """The module `fn(value)`: in the supernet a `LayerChoice` over every value (sharing this
        choice's label), under `fixed(...)` the module of the chosen value."""
        if self._index is not None:
            with self._context.within(f"{self.label}={self._index}"):
                return fn(self.values[self._index])
        candidates = []
        for i, v in enumerate(self.values):
            with self._context.within(f"{self.label}={i}"):
                candidates.append(fn(v))
        return LayerChoice({str(v): c for v, c in zip(self.values, candidates)}, label=self.label)

    def __repr__(self) -> str:
        return f"ValueChoice({list(self.values)}, label={self.label!r})"


class Repeat(nn.Module):
    """`block(i)` for i = 0, 1, ... `depth` times; `depth` an int or a `ValueChoice` of ints. The
    supernet holds the deepest stack and runs the first `depth` blocks (blocks share no weights
    with one another; block i of every depth is the same block)."""

    def __init__(self, block: Callable[[int], nn.Module], depth: int | ValueChoice) -> None:
        super().__init__()
        context = _current("Repeat")
        if isinstance(depth, ValueChoice):
            depths = depth.values
            bad = [d for d in depths if isinstance(d, bool) or not isinstance(d, int) or d < 0]
            if bad:
                raise SpaceDefinitionError(f"Repeat depth {depth.label!r} must choose whole numbers >= 0, got {bad[0]!r}")
            self.depth_label: str | None = depth.label
            built = depth.value if context.chosen is not None else max(depths)
            scope = depth.label
        else:
            if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
                raise SpaceDefinitionError(f"Repeat depth must be a whole number >= 0 or a ValueChoice, got {depth!r}")
            self.depth_label, built, scope = None, depth, context.label(None, "repeat")
        self.depths = tuple(depth.values) if isinstance(depth, ValueChoice) else (depth,)
        blocks = []
        for i in range(built):
            with context.within(f"{scope}#{i}"):
                blocks.append(block(i))
        self.blocks = nn.ModuleList(blocks)
        self.active = len(blocks)

    def forward(self, x: Any) -> Any:
        for block in self.blocks[:self.active]:
            x = block(x)
        return x
