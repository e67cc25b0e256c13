"""DARTS's options (light: no torch), the RobustDARTS stopping rule, the P-DARTS skip cap and
DARTS's weight-training recipe. Read by the `darts` strategy, the DARTS trainer and DARTS's
training method (`nas.darts.method`) alike, so none of them imports another for them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


GUARDS = ("none", "darts-", "robust")


@dataclass(frozen=True)
class DartsConfig:
    """order: 1 (first-order: alphas follow the validation gradient at the current weights) or 2
    (one-step unrolled weights, finite-difference Hessian-vector product). arch_*: Adam on the
    architecture logits (DARTS: lr 3e-4, betas (0.5, 0.999), weight decay 1e-3). guard: "darts-"
    adds an auxiliary skip connection beside every mixed op, weighted by aux_skip decayed linearly
    to 0 over training (DARTS-, Chu et al. ICLR 2021), so skip connections stop winning by
    helping gradients flow rather than by being good ops; "robust" is RobustDARTS's early stop
    (DARTS-ES, Zela et al. ICLR 2020): at each epoch end the dominant eigenvalue of the validation
    loss's Hessian w.r.t. the alphas is estimated (power iteration on a fixed batch); when its mean
    over the last es_window epochs exceeds es_factor x the mean of the window before, training
    stops and the alphas of es_window epochs earlier are kept. "none" is plain DARTS.
    affine: False (as DARTS's and NB201's search code) fixes every BatchNorm inside the search
    cells at scale 1 and shift 0, so an op cannot rescale its own output and the alphas alone
    weigh it; True trains those scales and shifts like any weight.
    max_skips: P-DARTS's regularisation (Chen et al. 2019) when the alphas are discretised: at most
    this many decisions keep a skip connection as their op; the ones with the weakest skip weight
    beyond it take their next-best op. -1 keeps every skip. Default 2 (P-DARTS's M): on the default
    nb201 run it turned the one collapsed seed of three (5 skip edges, 80.57%) into 92.10% and left
    the others unchanged (bench/results-darts-nb201.log), where DARTS- and the early stop lost."""

    order: int = 1
    arch_lr: float = 3e-4
    arch_beta1: float = 0.5
    arch_beta2: float = 0.999
    arch_weight_decay: float = 1e-3
    guard: str = "none"
    aux_skip: float = 1.0
    init_scale: float = 1e-3  # alphas start at init_scale * N(0, 1), as DARTS does
    es_window: int = 5
    es_factor: float = 1.3
    affine: bool = False
    max_skips: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.affine, bool):
            raise ValueError(f"affine must be true or false, got {self.affine!r}")
        if self.order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {self.order}")
        if self.guard not in GUARDS:
            raise ValueError(f"guard must be one of {', '.join(GUARDS)}; got {self.guard!r}")
        for key in ("arch_lr", "arch_weight_decay", "aux_skip", "init_scale"):
            value = getattr(self, key)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{key} must be a finite number >= 0, got {value}")
        if not (0 <= self.arch_beta1 < 1 and 0 <= self.arch_beta2 < 1):
            raise ValueError("arch_beta1 and arch_beta2 must be in [0, 1)")
        if self.max_skips < -1:
            raise ValueError(f"max_skips must be >= 0, or -1 for no cap; got {self.max_skips}")
        if self.es_window < 1 or not (math.isfinite(self.es_factor) and self.es_factor > 1):
            raise ValueError("es_window must be >= 1 and es_factor a finite number > 1")

    def capped(self, logits: Any, ops: tuple[str, ...] | list[str]) -> Any:
        """`logits` with the skip option removed (-inf) from every decision whose strongest option is
        a skip connection beyond the `max_skips` with the largest skip weight."""
        import numpy as np

        logits = np.array(logits, dtype=float)
        skips = [i for i, name in enumerate(ops) if "skip" in name]
        if self.max_skips < 0 or not skips:
            return logits
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        flat, flat_weights = logits.reshape(-1, logits.shape[-1]), weights.reshape(-1, weights.shape[-1])
        chosen = [row for row in range(len(flat)) if flat_weights[row].argmax() in skips]
        chosen.sort(key=lambda row: -flat_weights[row, skips].max())
        for row in chosen[self.max_skips:]:
            flat[row, skips] = -np.inf
        return flat.reshape(logits.shape)

    def aux_skip_at(self, step: int, total: int) -> float:
        """DARTS-'s auxiliary skip weight at `step`: aux_skip decayed linearly to 0 (0 unguarded)."""
        if self.guard != "darts-":
            return 0.0
        return self.aux_skip * max(0.0, 1.0 - step / max(total, 1))


def early_stop(eigenvalues: list[float], window: int, factor: float) -> bool:
    """RobustDARTS's criterion on the per-epoch dominant eigenvalues so far: the mean of the last
    `window` over the mean of the `window` before it exceeds `factor`."""
    if len(eigenvalues) < 2 * window:
        return False
    now = sum(eigenvalues[-window:]) / window
    before = sum(eigenvalues[-2 * window:-window]) / window
    return before > 0 and now / before > factor


# Weight training as DARTS trains the supernet (SGD lr 0.025 cosine, weight decay 3e-4, batch 64,
# half of the training images for the alphas): defaults of `nas search --strategy darts`.
TRAIN_DEFAULTS = {"lr": 0.025, "weight_decay": 3e-4, "batch_size": 64, "val_size": 0.5}
