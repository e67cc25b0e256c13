"""Saving and restoring the torch state of strategies that learn (rl's controller, NAO's model),
and the one-thread setting they train under.

A strategy's JSON state says how often its model was trained (`counter`); the tensors file saved
beside it carries the same count, so a resume that loads one without the other is caught
(`check_weights`) instead of silently continuing from the initial weights.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from nas_common.errors import UserError


def pack(modules: dict[str, nn.Module], counter_key: str, counter: int,
         optimizer: torch.optim.Optimizer | None = None) -> dict[str, torch.Tensor]:
    """`<prefix>.<name>` for every module's state, `opt.state.<param>.<slot>` for the optimizer's
    per-parameter state (step counts included), and the training count under `counter_key`."""
    out = {f"{prefix}.{k}": v.detach().clone() for prefix, m in modules.items() for k, v in m.state_dict().items()}
    if optimizer is not None:
        for index, slots in optimizer.state_dict()["state"].items():
            for key, value in slots.items():
                out[f"opt.state.{index}.{key}"] = torch.as_tensor(value).clone()
    out[counter_key] = torch.tensor(counter)
    return out


def unpack(tensors: dict[str, torch.Tensor], modules: dict[str, nn.Module], counter_key: str, owner: str,
           optimizer: torch.optim.Optimizer | None = None) -> int:
    """Restore what `pack` saved into `modules` (and `optimizer`); returns the saved training count."""
    weights: dict[str, dict[str, torch.Tensor]] = {prefix: {} for prefix in modules}
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        prefix, _, name = key.partition(".")
        if prefix in weights:
            weights[prefix][name] = value
        elif optimizer is not None and key.startswith("opt.state."):
            index, slot = key[len("opt.state."):].split(".", 1)
            slots.setdefault(int(index), {})[slot] = value.clone()
        elif key != counter_key:
            raise ValueError(f"unknown {owner} strategy tensor {key!r}")
    for prefix, module in modules.items():
        try:
            module.load_state_dict(weights[prefix])
        except RuntimeError as err:
            raise UserError(f"saved {owner} {prefix} does not fit this space and config ({err}); resume "
                            "with the saved space and options") from None
    if optimizer is not None:
        groups = optimizer.state_dict()["param_groups"]  # lr etc. come from the config
        optimizer.load_state_dict({"state": slots, "param_groups": groups})
    return int(tensors[counter_key])


def check_weights(owner: str, what: str, done: int, weights_at: int) -> None:
    """Refuse a state whose model weights are not those of its last training (`done`)."""
    if weights_at != done:
        raise UserError(
            f"{owner} strategy state was saved after {done} {what}, but the weights loaded are from "
            f"{what} number {weights_at}; load the saved tensors (the run's strategy_tensors-*.pt) with "
            "load_tensors as well as the JSON state"
        )


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the controller on one intra-op thread, then restore the caller's setting.

    Its matrices are (<= 32) x 64: threads cannot speed them up, and on a busy machine they make
    each LSTM step 5-25x slower (measured on a shared 2-core box). Strategies run between
    evaluations, never beside them, so the process-wide setting is changed only while nothing
    else computes.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
