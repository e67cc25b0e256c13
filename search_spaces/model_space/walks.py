"""Walks over a model built as a supernet (`choices.recording`): pointing its choice points at an
architecture (`select`), DARTS's relaxation (`mix`), the tensors a path uses under the stand-alone
network's names (`path_items`), and which decisions a path uses at all (`relevant_labels`)."""

from __future__ import annotations

from typing import Iterator, Mapping

import torch
from torch import nn

from search_spaces.model_space.choices import InputChoice, LayerChoice, Repeat, Sliced


def select(model: nn.Module, chosen: Mapping[str, int]) -> None:
    """Point every choice point of a supernet-built model at the architecture `chosen`."""
    for m in model.modules():
        if isinstance(m, (LayerChoice, InputChoice)):
            m.active = chosen[m.label]
        elif isinstance(m, Repeat) and m.depth_label is not None:
            m.active = m.depths[chosen[m.depth_label]]
        elif isinstance(m, Sliced):
            m.select(chosen)


def mix(model: nn.Module, weights: Mapping[str, torch.Tensor] | None, aux_skip: float = 0.0) -> None:
    """DARTS's continuous relaxation: every layer choice sums its candidates, every input choice
    its inputs, weighted by `weights[label]` (None: back to the single path)."""
    for m in model.modules():
        if isinstance(m, (LayerChoice, InputChoice)):
            m.mixed = None if weights is None else (weights[m.label], aux_skip)


def path_items(model: nn.Module, chosen: Mapping[str, int]) -> Iterator[tuple[str, torch.Tensor]]:
    """(stand-alone name, supernet tensor) of every parameter and persistent buffer the path of
    `chosen` uses: a `LayerChoice` is replaced by its candidate (the candidate takes its name), a
    `Repeat` keeps its first `depth` blocks, everything else keeps its name."""

    def walk(module: nn.Module, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
        if isinstance(module, Sliced):  # a nested layer: the slices of the chosen sizes
            for name, tensor in module.sliced_state(chosen).items():
                yield prefix + name, tensor
            return
        if isinstance(module, LayerChoice):
            yield from walk(module.candidates[chosen[module.label]], prefix)
            return
        if isinstance(module, Repeat):
            depth = module.depths[chosen[module.depth_label]] if module.depth_label is not None else len(module.blocks)
            for i in range(depth):
                yield from walk(module.blocks[i], f"{prefix}blocks.{i}.")
            return
        for name, param in module._parameters.items():
            if param is not None:
                yield prefix + name, param
        for name, buffer in module._buffers.items():
            if buffer is not None and name not in module._non_persistent_buffers_set:
                yield prefix + name, buffer
        for name, child in module._modules.items():
            if child is not None:
                yield from walk(child, f"{prefix}{name}.")

    yield from walk(model, "")


def labels_by_kind(model: nn.Module) -> dict[str, set[str]]:
    """The labels a supernet-built model uses in layer choices, input choices and depths."""
    kinds: dict[str, set[str]] = {"layer": set(), "input": set(), "depth": set(), "size": set()}
    for m in model.modules():
        if isinstance(m, Sliced):
            kinds["size"] |= m.labels
        elif isinstance(m, LayerChoice):
            kinds["layer"].add(m.label)
        elif isinstance(m, InputChoice):
            kinds["input"].add(m.label)
        elif isinstance(m, Repeat) and m.depth_label is not None:
            kinds["depth"].add(m.depth_label)
    return kinds


def relevant_labels(model: nn.Module, chosen: Mapping[str, int]) -> set[str]:
    """The decisions that change the network of `chosen` (a choice inside a candidate it does not
    use, or inside a block deeper than its depth, does not)."""
    used: set[str] = set()

    def walk(module: nn.Module) -> None:
        if isinstance(module, Sliced):
            used.update(module.labels)
            return
        if isinstance(module, LayerChoice):
            used.add(module.label)
            walk(module.candidates[chosen[module.label]])
            return
        if isinstance(module, InputChoice):
            used.add(module.label)
            return
        if isinstance(module, Repeat) and module.depth_label is not None:
            used.add(module.depth_label)
            for block in module.blocks[:module.depths[chosen[module.depth_label]]]:
                walk(block)
            return
        for child in module.children():
            walk(child)

    walk(model)
    return used
