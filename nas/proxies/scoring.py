"""Scores architectures with zero-cost proxies: one fixed batch, one seeded initialisation.

Every architecture of a run is scored on the same batch of training images (picked by the run's
seed, no augmentation) and its network is initialised from the same seed, so the only thing that
differs between two scores is the architecture. The network is built once per architecture and
read by every proxy asked for (none of them changes it). CPU seconds are measured per
architecture and per proxy (`time.process_time`: both cores count), so a user can see what an
estimator costs.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from nas.proxies.base import ProxyInput, finite
from nas_common.errors import UserError
from nas_common.registry import PROXIES
from search_spaces.arch import Arch


def proxy_names(text: str | Sequence[str]) -> tuple[str, ...]:
    """`"naswot,synflow"` or a list, checked against the registry (an unknown name lists the valid ones)."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise UserError(f"no proxy named; valid proxies: {', '.join(PROXIES.names())}")
    for name in names:
        PROXIES.get(name)
    return tuple(dict.fromkeys(names))


def fixed_batch(task: Any, data: Any, batch_size: int, seed: int) -> tuple[torch.Tensor, Any]:
    """`batch_size` training images and their targets, a function of `seed` only (no augmentation)."""
    return task.train_loader(data, batch_size, seed, augment=False).batch(0)


class ProxyScorer:
    """`score(arch)`: the proxies' values for `arch`'s stand-alone network at initialisation."""

    def __init__(self, space: Any, task: Any, inputs: torch.Tensor, targets: Any, names: Sequence[str],
                 seed: int = 0, device: str | torch.device = "cpu") -> None:
        self.space = space
        self.names = proxy_names(names)
        self.seed = seed
        self.device = torch.device(device)
        # Contiguous (NCHW), not channels-last: channels-last scored naswot of an NB201 cell in 0.60
        # instead of 0.98 CPU s, but synflow's last digits then depended on the thread count, and a
        # resumed search must score exactly as an uninterrupted one (tests/test_zero_cost_search.py).
        self.inputs = inputs.to(self.device)
        self.targets = task.to_device((inputs, targets), self.device)[1]
        loss = task.training_loss()
        self.loss = lambda outputs, targets: loss(outputs, targets)[0]

    def network(self, arch: Arch) -> torch.nn.Module:
        """`arch`'s stand-alone network, initialised from the run's seed, in train mode."""
        generator = torch.Generator().manual_seed(self.seed)
        return self.space.build(arch, generator=generator).to(self.device).train()

    def score(self, arch: Arch) -> dict[str, float]:
        """{proxy: value, ..., "<proxy>_cpu_s": seconds, "zc_cpu_s": seconds for all, build included}."""
        started = time.process_time()
        needs_net = any(PROXIES.get(n).needs_data for n in self.names)
        net = self.network(arch) if needs_net else None
        inp = ProxyInput(net, self.inputs, self.targets, self.loss, self.space, arch)
        out: dict[str, float] = {}
        for name in self.names:
            begun = time.process_time()
            out[name] = finite(PROXIES.get(name)(inp))
            out[f"{name}_cpu_s"] = time.process_time() - begun
        out["zc_cpu_s"] = time.process_time() - started
        return out


def scorer_for(space: str, space_options: dict[str, Any], data: dict[str, Any], names: Sequence[str],
               seed: int = 0, batch_size: int = 128) -> ProxyScorer:
    """A `ProxyScorer` built from plain values (another process can build the same one): `data` is a
    `DataConfig` as a dict, and the space is adapted to it as a search would."""
    from nas.data import data_config_from_dict
    from nas.supernet.loading import make_space
    from nas.tasks import get_task

    data_config = data_config_from_dict(data)
    task = get_task(data_config.task)
    loaded = task.load_data(data_config)
    built = make_space(space, loaded, space_options, task)
    inputs, targets = fixed_batch(task, loaded, batch_size, seed)
    return ProxyScorer(built, task, inputs, targets, names, seed=seed)


def score_chunk(space: str, space_options: dict[str, Any], data: dict[str, Any], names: Sequence[str],
                choices: Sequence[Sequence[int]], seed: int = 0, batch_size: int = 128,
                threads: int = 1) -> list[dict[str, float]]:
    """The proxies of several architectures of `space` (given as choice lists), as one task in
    another process (bench tables, Ray tasks)."""
    torch.set_num_threads(threads)
    scorer = scorer_for(space, space_options, data, names, seed, batch_size)
    return [scorer.score(Arch(scorer.space.name, tuple(int(c) for c in arch))) for arch in choices]
