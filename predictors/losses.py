"""Training losses of the predictors.

`mse`: regression on standardised scores. `rank`: the pairwise logistic ranking loss (RankNet,
Burges et al. 2005; the loss GATES, Ning et al. ECCV 2020, found best for NAS predictors): over
every pair of the batch whose scores differ, `softplus(-(p_better - p_worse))`. A search only needs
the order of architectures, and a ranking loss spends no capacity on matching absolute values.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

LOSSES = ("mse", "rank")


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def pairwise_logistic(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # (batch, batch): entry [i, j] compares i with j; only pairs where i is truly better count.
    better = (target[:, None] - target[None, :]) > 0
    if not better.any():
        return pred.sum() * 0.0  # all scores equal: nothing to order, zero gradient
    margin = pred[:, None] - pred[None, :]
    return F.softplus(-margin[better]).mean()


def loss_fn(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    return {"mse": mse, "rank": pairwise_logistic}[name]
