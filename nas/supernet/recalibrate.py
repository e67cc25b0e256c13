"""Per-path BatchNorm recalibration (SPOS, Guo et al. 2019, Sec. 3.3).

A supernet's running BN statistics average over every path it trained, so they are wrong for
any single path: scoring a candidate with them gives near-chance accuracy. Before a candidate is
scored, the BN layers its path uses are reset and re-estimated on a fixed calibration set, in
train mode, without gradients, with exact cumulative averaging (`momentum=None`: every batch
weighs the same, so the result does not depend on a momentum or on earlier batches).

Which BN layers a path uses is discovered with forward hooks, so this works for every space
without the space listing its modules. `path_statistics` restores the previous statistics on
exit, so scoring one candidate never changes what another candidate (or training) sees.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

_BN = nn.modules.batchnorm._BatchNorm
BNState = dict[nn.Module, tuple[torch.Tensor, torch.Tensor, torch.Tensor, float | None]]


@torch.no_grad()
def recalibrate(model: nn.Module, run: Callable[[torch.Tensor], object],
                batches: Iterable[torch.Tensor]) -> BNState:
    """Reset and re-estimate the statistics of every BN layer that `run` touches.

    `run(x)` performs the forward of the path (e.g. `lambda x: supernet(x, arch)`). Returns the
    previous state of each touched layer, for `restore`.
    """
    saved: BNState = {}

    def reset_on_first_use(bn: nn.Module, _inputs: object) -> None:
        if bn not in saved:
            saved[bn] = (bn.running_mean.clone(), bn.running_var.clone(),
                         bn.num_batches_tracked.clone(), bn.momentum)
            bn.reset_running_stats()
            bn.momentum = None  # cumulative moving average: the exact mean over batches

    bns = [m for m in model.modules() if isinstance(m, _BN) and m.track_running_stats]
    hooks = [bn.register_forward_pre_hook(reset_on_first_use) for bn in bns]
    was_training = model.training
    model.train()
    try:
        for x in batches:
            run(x)
    finally:
        for hook in hooks:
            hook.remove()
        for bn, (*_, momentum) in saved.items():
            bn.momentum = momentum
        model.train(was_training)
    return saved


@torch.no_grad()
def restore(saved: BNState) -> None:
    for bn, (mean, var, count, momentum) in saved.items():
        bn.running_mean.copy_(mean)
        bn.running_var.copy_(var)
        bn.num_batches_tracked.copy_(count)
        bn.momentum = momentum


@contextmanager
def path_statistics(model: nn.Module, run: Callable[[torch.Tensor], object],
                    batches: Iterable[torch.Tensor]) -> Iterator[None]:
    """Inside the block the path has recalibrated statistics; outside, the model is as before."""
    saved = recalibrate(model, run, batches)
    try:
        yield
    finally:
        restore(saved)
