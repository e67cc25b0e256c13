"""A search space derived from a user's `nn.Module` with choice points (`choices.py`).

`model_space(MyNet)` (or `--space my_package.my_module:MyNet`) gives a `SearchSpace` class whose
options are `MyNet`'s constructor arguments. Its decisions are the labelled choice points found by
building `MyNet` once on the meta device (no memory, no weights); sampling, mutation, crossover,
encoding and `contains` come from the generic operators; architectures whose differences lie only
in choices the network does not use (a kernel inside a candidate not taken, a block deeper than
the chosen depth) are one architecture (`canonical` zeroes those choices). The supernet is `MyNet`
built with every candidate; the stand-alone network of an architecture is `MyNet` built with the
choices fixed, and `extract` loads it with the supernet's tensors by name (`path_items`). FLOPs and
parameters are counted on the stand-alone network with `torch.utils.flop_counter`, once per
architecture.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import sys
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from nas_common.errors import UserError
from nas_common.limits import MAX_CHANNELS, MAX_INPUT_SIZE
from search_spaces.arch import Arch
from search_spaces.cost import MeasuredCost
from search_spaces.model_space import nested
from search_spaces.model_space.choices import SpaceDefinitionError, fixed, recording
from search_spaces.model_space.shape_check import check_shapes
from search_spaces.model_space.walks import labels_by_kind, mix, path_items, relevant_labels, select
from search_spaces.protocol import Decision, Differentiable, SearchSpace

# options every model space takes beside the model's own: the input the cost probe and the shape
# check feed it (the data set's, when a run adapts the space to its data)
PROBE_OPTIONS = ("input_size", "in_channels")


_SHAPES_CHECKED: set[tuple[type, str]] = set()
MAX_SUPERNET_PARAMETERS = 2_000_000_000  # 8 GB of float32 weights: beyond it, a typo in an option


def _whole(name: str, value: Any, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value != int(value) or not 1 <= value <= limit:
        raise ValueError(f"{name} must be a whole number from 1 to {limit:,}, got {value!r:.40}")
    return int(value)


class ModelSupernet(nn.Module):
    """The user's model built with every candidate, run along one architecture's path."""

    def __init__(self, space: "ModelSpace", model: nn.Module) -> None:
        super().__init__()
        self.space = [space]  # a list: not a submodule, not in the state dict
        self.model = model

    def forward(self, x: Any, arch: Arch) -> Any:
        select(self.model, self.space[0].chosen(arch))
        return self.model(x)

    def path_state(self, arch: Arch) -> dict[str, torch.Tensor]:
        return dict(path_items(self.model, self.space[0].chosen(arch)))

    def extract(self, arch: Arch) -> nn.Module:
        net = self.space[0].build(arch)
        state = {k: v.detach().clone() for k, v in self.path_state(arch).items()}
        net.load_state_dict(state)
        return net.to(next(iter(state.values())).device) if state else net


class MixedModelSupernet(ModelSupernet):
    """The supernet of a differentiable model space (every choice a layer or input choice): it also
    has DARTS's mixed forward."""

    def forward_mixed(self, x: Any, weights: torch.Tensor, aux_skip: float = 0.0) -> Any:
        """DARTS: every layer choice sums its candidates, every input choice its inputs, weighted by
        its row of `weights` (decisions x the most options; differentiable when every choice is one
        of these two)."""
        space = self.space[0]
        # a decision with fewer options than the widest uses the first columns, renormalised: the
        # softmax of its own logits (the padding columns get no weight and no gradient)
        rows = {}
        for i, (label, d) in enumerate(zip(space._labels, space.decisions)):
            row = weights[i, :d.num_options]
            rows[label] = row if d.num_options == weights.shape[1] else row / row.sum()
        mix(self.model, rows, aux_skip)
        try:
            return self.model(x)
        finally:
            mix(self.model, None)


class ModelSpace(MeasuredCost, SearchSpace):
    """The space of a model class with choice points; `model_space(cls)` makes one per class."""

    model: ClassVar[Callable[..., nn.Module]]
    model_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, input_size: int = 32, in_channels: int = 3, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.model_options) - {"num_classes"})
        if unknown:
            raise ValueError(f"space {self.name!r} has no option {unknown[0]!r}; valid options: "
                             f"{', '.join(sorted(self.options))}")
        # The data adapts a space with its shape (`input_size`, `in_channels`, `num_classes`): each
        # reaches the model's constructor when it declares a parameter of that name, and the probe
        # input has the same shape, so grayscale 28 x 28 data builds a 1-channel model.
        self.model_kwargs = {k: v for k, v in options.items() if k in self.model_options}
        self.input_size = _whole("input_size", input_size, MAX_INPUT_SIZE)
        self.in_channels = _whole("in_channels", in_channels, MAX_CHANNELS)
        for name, value in (("input_size", self.input_size), ("in_channels", self.in_channels)):
            if name in self.model_options:
                self.model_kwargs[name] = value
        self.num_classes = options.get("num_classes")
        with recording() as context, torch.device("meta"):
            skeleton = self._construct()
        held = sum(p.numel() for p in skeleton.parameters())
        if held > MAX_SUPERNET_PARAMETERS:
            raise SpaceDefinitionError(f"{self.name}: its supernet would hold {held:,} parameters, above "
                                       f"{MAX_SUPERNET_PARAMETERS:,}; make the model or its options smaller")
        if not context.decisions:
            raise SpaceDefinitionError(f"{self.name} has no choice points (LayerChoice, InputChoice, ValueChoice, "
                                       "Repeat with a ValueChoice depth): nothing to search")
        self._decisions = tuple(Decision(label, options) for label, options in context.decisions.items())
        self._labels = tuple(context.decisions)
        self._skeleton = skeleton  # meta tensors: which choices a path uses (`canonical`)
        kinds = labels_by_kind(skeleton)
        self._not_mixable = {**{label: "a depth (Repeat)" for label in kinds["depth"]},
                             **{label: "a nested size" for label in kinds["size"]},
                             **{label: "a value choice" for label in set(self._labels) - set().union(*kinds.values())}}
        if set(self._labels) == kinds["layer"] | kinds["input"] and not kinds["depth"] | kinds["size"]:
            # DARTS can search it (search_spaces.protocol.Differentiable): one row of alphas per choice,
            # as wide as the widest; the columns are named by the options when every choice has the same
            options = {d.options for d in self._decisions}
            width = max(d.num_options for d in self._decisions)
            self.alpha_ops = options.pop() if len(options) == 1 else tuple(f"option_{i}" for i in range(width))
            self.alpha_shape = (len(self._decisions), width)
        key = (type(self), json.dumps({**self.config(), "num_classes": self.num_classes}, sort_keys=True, default=repr))
        if key not in _SHAPES_CHECKED:  # once per model and options: a forward pass of the supernet
            self.check_shapes()
            _SHAPES_CHECKED.add(key)

    def _construct(self) -> nn.Module:
        try:
            return self.model(**self.model_kwargs)
        except UserError:
            raise
        except Exception as err:  # the user's constructor may fail in any way: one line, naming it
            said = str(err).splitlines()[0] if str(err) else ""
            raise SpaceDefinitionError(f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.model_kwargs.items())}) "
                                       f"failed: {type(err).__name__}: {said}{_constructor_hint(err, said)}") from None

    def without_mixed_forward(self) -> str:
        label = next((label for label in self._labels if label in self._not_mixable), None)
        if label is None:
            return f"{self.name!r} has none"
        return (f"choice {label!r} of {self.name} is {self._not_mixable[label]}, which DARTS cannot weigh; "
                "search it with evolution, random or rl")

    def __reduce__(self) -> tuple:
        # the class is made per model (`model_space`): rebuilt by name where it is unpickled
        return _rebuild, (self.name, self.config())

    # ---- the protocol ------------------------------------------------------------------------
    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._decisions

    def chosen(self, arch: Arch | tuple[int, ...]) -> dict[str, int]:
        """label -> option index of `arch`."""
        choices = arch.choices if isinstance(arch, Arch) else arch
        return dict(zip(self._labels, choices))

    def canonical(self, arch: Arch) -> Arch:
        """Choices the network of `arch` does not use set to 0: one architecture per network."""
        self.check(arch)
        used = relevant_labels(self._skeleton, self.chosen(arch))
        return Arch(self.name, tuple(c if label in used else 0 for label, c in zip(self._labels, arch.choices)))

    def discretise(self, alphas: Any) -> Arch:
        """The candidate of largest weight in every layer choice (DARTS's derivation)."""
        import numpy as np

        alphas = np.asarray(alphas, dtype=float)
        if alphas.shape != self.alpha_shape:
            raise ValueError(f"need alphas of shape {self.alpha_shape}, got {alphas.shape}")
        return self.canonical(Arch(self.name, tuple(int(row[:d.num_options].argmax())
                                                    for row, d in zip(alphas, self.decisions))))

    def one_hot(self, arch: Arch) -> Any:
        import numpy as np

        return np.eye(len(self.alpha_ops))[list(self.validate(arch).choices)]

    def build(self, arch: Arch, generator: torch.Generator | None = None) -> nn.Module:
        self.validate(arch)
        with fixed(self.chosen(arch)):
            return initialise(self._construct(), generator)

    def supernet(self, generator: torch.Generator | None = None) -> ModelSupernet:
        with recording():
            model = initialise(self._construct(), generator)
        kind = MixedModelSupernet if isinstance(self, Differentiable) else ModelSupernet
        return kind(self, model)

    def probe_input(self, batch: int = 1) -> torch.Tensor:
        return torch.zeros(batch, self.in_channels, self.input_size, self.input_size)

    def cost_probe(self, arch: Arch) -> tuple[nn.Module, torch.Tensor]:
        return self.build(arch), self.probe_input()

    def config(self) -> dict[str, Any]:
        return {**self.model_kwargs, "input_size": self.input_size, "in_channels": self.in_channels}

    # ---- checks at space build (search_spaces.model_space.shape_check) ----------------------------
    def check_shapes(self, archs: int = 4, seed: int = 0) -> None:
        """Refuse, naming the layer, candidates of one choice whose outputs differ in shape, a forward
        that fails on the data's input shape, and logits of another width than the data's classes."""
        check_shapes(self, archs, seed)

    def meta_supernet(self) -> ModelSupernet:
        """The supernet on the meta device: shapes without memory or arithmetic."""
        with recording(), torch.device("meta"):
            kind = MixedModelSupernet if isinstance(self, Differentiable) else ModelSupernet
            return kind(self, self._construct()).eval()


_CONVS = (nn.modules.conv._ConvNd, nested.Conv2d)
_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)


def initialise(model: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """Every random weight of `model` drawn again from `generator`, so a seed fixes the network
    whatever the global generator did while the model's constructor ran (the built-in spaces'
    scheme, `weight_sharing.init_weights`): convolutions Kaiming-normal (fan out), linear layers
    N(0, 0.01), norms 1 and 0, biases 0; any other parameter of two or more dimensions (an
    embedding, a user's own weight) N(0, 0.02). One-dimensional parameters of other modules keep
    what the constructor gave them (scales and shifts, which constructors set without drawing).
    Without a generator the model keeps its own initialisation."""
    if generator is None:
        return model
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, _NORMS):
                module.reset_parameters()  # deterministic: ones, zeros, fresh statistics
                continue
            for name, param in module._parameters.items():
                if param is None:
                    continue
                if name == "bias" and isinstance(module, (*_CONVS, nn.Linear, nested.Linear)):
                    param.zero_()
                elif isinstance(module, _CONVS) and name == "weight":
                    nn.init.kaiming_normal_(param, mode="fan_out", nonlinearity="relu", generator=generator)
                elif isinstance(module, (nn.Linear, nested.Linear)) and name == "weight":
                    nn.init.normal_(param, 0.0, 0.01, generator=generator)
                elif param.dim() >= 2:
                    nn.init.normal_(param, 0.0, 0.02, generator=generator)
    return model


def _constructor_hint(err: Exception, said: str) -> str:
    """What a constructor's failure usually means, as the fix."""
    import re

    missing = re.search(r"missing \d+ required (?:positional |keyword-only )?arguments?: (.*)", said)
    if isinstance(err, TypeError) and missing:
        names = re.findall(r"'(\w+)'", missing.group(1))
        flags = " ".join(f"-S {n}=VALUE" for n in names)
        return f" (give {'them' if len(names) > 1 else 'it'} with {flags}, or space_options={{...}} in Python)"
    if "ValueChoice" in said:
        return (" (a ValueChoice is a choice, not a number: build the layer with .map(lambda v: nn.Conv2d(..., v)), "
                "or use nested.Conv2d / nested.BatchNorm2d / nested.Linear, which take ValueChoice sizes)")
    return ""


def _rebuild(name: str, config: dict[str, Any]) -> "ModelSpace":
    from nas_common.registry import SPACES

    return SPACES.get(name)(**config)


_MADE: dict[Any, type[ModelSpace]] = {}


def model_space(model: Callable[..., nn.Module], name: str | None = None, description: str | None = None) -> type[ModelSpace]:
    """The `SearchSpace` class of `model` (a model class, or any callable returning a module):
    one class per model, so registries and runs see one space. `name` defaults to the model's
    importable reference `module:qualname`, which is how runs and Ray workers find it again."""
    key = (model, name)
    if key not in _MADE:
        reference = name or f"{model.__module__}:{model.__qualname__}"
        signature = inspect.signature(model)
        kwargs = tuple(p.name for p in signature.parameters.values()
                       if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self")
        doc = (description or (inspect.getdoc(model) or "").split("\n")[0] or f"the choice points of {reference}")
        _MADE[key] = type(f"ModelSpace[{reference}]", (ModelSpace,), {
            "name": reference, "description": doc, "model": staticmethod(model), "model_options": kwargs,
            "options": tuple(dict.fromkeys((*kwargs, *PROBE_OPTIONS))), "__module__": __name__,
        })
    return _MADE[key]


def resolve_reference(reference: str) -> type[ModelSpace] | None:
    """The space of `package.module:Class` (None for a name that is not a reference); one line
    saying what failed when the import or the attribute does not work."""
    if ":" not in reference:
        return None
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise UserError(f"space reference {reference!r} must read package.module:Class")
    if os.getcwd() not in sys.path:  # the user's own module, next to where they run `nas` (as uvicorn does)
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as err:  # the user's module may fail in any way while importing
        hint = ""
        if isinstance(err, ModuleNotFoundError) and err.name and module_name.split(".")[0] == err.name.split(".")[0]:
            hint = (f"; run nas from the folder that holds {module_name.split('.')[0]}(.py), or add that folder "
                    "to PYTHONPATH")
        raise UserError(f"cannot import {module_name!r} for space {reference!r} "
                        f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}){hint}") from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UserError(f"space reference {reference!r}: {module_name} has no {attribute!r}") from None
    if isinstance(target, type) and issubclass(target, SearchSpace):
        return target
    if not callable(target):
        raise UserError(f"space reference {reference!r} names a {type(target).__name__}, not a model class")
    return model_space(target, name=reference)
