"""What every weight-sharing space needs: seeded initialisation and moving a path's weights from a
supernet into the stand-alone net of that path.

A supernet says which of its tensors make up a path with `path_state(arch)`: the stand-alone net's
state dict, each entry a tensor of the supernet (the tensor itself, or a kernel composed of nested
parts); `load_path_weights` copies it into a stand-alone net.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch
from torch import nn

from search_spaces.arch import Arch


def choices_of(arch: Arch | Sequence[int]) -> Sequence[int]:
    return arch.choices if isinstance(arch, Arch) else arch


def init_weights(model: nn.Module, generator: torch.Generator | None) -> None:
    """Kaiming-normal convs, unit BN, small linear layers. Every parameter is re-drawn from
    `generator`, so a seeded generator gives the same weights whatever the global torch RNG did
    while the modules were constructed."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            if m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01, generator=generator)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def load_path_weights(supernet: Any, net: nn.Module, arch: Arch | Sequence[int]) -> nn.Module:
    """`net` (the stand-alone net of `arch`) given copies of the supernet's weights and BN
    statistics for that path, on the supernet's device."""
    with torch.no_grad():
        state = {k: v.detach().clone() for k, v in supernet.path_state(arch).items()}
    net.load_state_dict(state)
    return net.to(next(supernet.parameters()).device)


def freeze_affine_norms(modules: Iterable[nn.Module]) -> None:
    """Every affine BatchNorm inside `modules` fixed at scale 1 and shift 0, frozen: the affine-free
    BN of DARTS's and NB201's search cells. The state-dict keys stay, so `path_state`/`extract`
    still give stand-alone nets (whose BN then starts as the identity affine map)."""
    norms = {id(n): n for m in modules for n in m.modules() if isinstance(n, nn.modules.batchnorm._BatchNorm)}
    for norm in norms.values():
        if norm.affine:
            with torch.no_grad():
                norm.weight.fill_(1.0)
                norm.bias.zero_()
            norm.weight.requires_grad_(False)
            norm.bias.requires_grad_(False)
