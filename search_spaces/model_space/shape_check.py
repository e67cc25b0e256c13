"""Checks of a user's model when its space is built: one forward pass of the supernet along a few
paths on the data's input shape (first on the meta device: shapes alone, instant even for 4,000
channels; then for real where the meta device cannot say), every candidate of each layer choice
met run beside the chosen one. Refused in one line, naming the fix: candidates of one choice whose
outputs differ in shape (named even when a later layer fails on them), a forward that fails on the
input, logits of another width than the data's classes."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from nas_common.errors import UserError
from search_spaces.model_space.choices import LayerChoice, SpaceDefinitionError


def check_shapes(space: Any, archs: int = 4, seed: int = 0) -> None:
    """`space`: a ModelSpace. Raises SpaceDefinitionError naming the problem."""
    try:  # shapes alone first, on the meta device: no memory, no arithmetic
        _check_on(space, "meta", archs, seed)
        return
    except UserError:
        raise
    except Exception:  # an op without a meta kernel, or a real failure: the real run says which
        pass
    _check_on(space, "cpu", archs, seed)


def _check_on(space: Any, device: str, archs: int, seed: int) -> None:
    try:
        supernet = space.meta_supernet() if device == "meta" else \
            space.supernet(torch.Generator().manual_seed(seed)).eval()
    except (RuntimeError, MemoryError) as err:  # an allocation the machine cannot make
        if device == "meta":
            raise
        raise SpaceDefinitionError(f"{space.name}: the supernet cannot be built "
                                   f"({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    problems: list[str] = []

    def compare(module: LayerChoice, inputs: tuple, output: Any) -> None:
        shapes = [_shape(candidate(*inputs)) for candidate in module.candidates]
        other = next((i for i, shape in enumerate(shapes) if shape != shapes[0]), None)
        if other is not None and not problems:
            problems.append(f"layer choice {module.label!r}: candidate {module.names[other]} gives "
                            f"{shapes[other]}, candidate {module.names[0]} gives {shapes[0]}; the candidates "
                            "of a choice must give outputs of one shape")

    hooks = [m.register_forward_hook(compare) for m in supernet.modules() if isinstance(m, LayerChoice)]
    rng = np.random.default_rng(seed)
    try:
        with torch.no_grad():
            for _ in range(archs):
                output = supernet(space.probe_input(2).to(device), space.sample(rng))
                if problems:
                    raise SpaceDefinitionError(f"{space.name}: {problems[0]}")
                _check_classes(space, output)
    except UserError:
        raise
    except Exception as err:  # a shape mismatch inside the model itself, or any failure of its forward
        if device == "meta":
            raise
        if problems:  # candidates of one choice disagreed, and a later layer failed on it: name the choice
            raise SpaceDefinitionError(f"{space.name}: {problems[0]}") from None
        raise SpaceDefinitionError(f"{space.name}: the supernet fails on a "
                                   f"{tuple(space.probe_input(2).shape)} input ({str(err).splitlines()[0]})") from None
    finally:
        for hook in hooks:
            hook.remove()


def _check_classes(space: Any, output: Any) -> None:
    """Logits of another width than the data's classes (a model that ignores `num_classes` and
    keeps its own 1,000) would train on labels it cannot output: refused, naming the fix."""
    if space.num_classes is None or not isinstance(output, torch.Tensor) or output.dim() != 2:
        return
    if output.shape[1] != space.num_classes:
        takes = "num_classes" in space.model_options
        raise SpaceDefinitionError(
            f"{space.name} gives {output.shape[1]:,} outputs per image but the data has {space.num_classes:,} "
            "classes; " + ("size its classifier with its num_classes argument" if takes else
                           "take num_classes in its constructor (def __init__(self, num_classes=10, ...)) "
                           "and size its classifier with it"))


def _shape(output: Any) -> Any:
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (list, tuple)):
        return tuple(_shape(o) for o in output)
    return type(output).__name__
