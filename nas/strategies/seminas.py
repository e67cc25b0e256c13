"""SemiNAS (Luo et al., NeurIPS 2020, "Semi-Supervised Neural Architecture Search").

NAO (see `nao.py`) plus self-training of its encoder-predictor-decoder: after training on the
evaluated architectures, the model labels `unlabelled` random architectures with its own
predictions, and is trained again on the evaluated and the pseudo-labelled ones together; this
repeats `semi_rounds` times per generation. Unlabelled architectures cost nothing to evaluate, and
the extra data mostly helps the encoder and decoder learn the space, which makes the predictor
rank better from few evaluations. Everything else (generations, gradient ascent, state, the
`predictor=PRED_DIR` warm start) is NAO's.

Unlabelled architectures are drawn with the strategy's numpy generator, so they are part of the
seeded, restorable state like every other draw; they are never proposed for evaluation (and so
not marked seen) unless the ascent decodes to them later.

Defaults are scaled for 2 CPU cores. The paper's setting, as a `full` preset (its NAS-Bench-101
experiments): population=100 (N labelled), unlabelled=10000 (M), semi_rounds=1 (one round of
pseudo-labelling per generation), candidates=100, seeds=100, hidden=16 (NB101) to 64,
epochs=1000, lr=0.001, trade_off=0.8, batch_size=100, upsample=10. On the command line:
`-o population=100 -o unlabelled=10000 -o candidates=100 -o seeds=100 -o epochs=1000 -o lr=0.001
-o batch_size=100 -o upsample=10`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.nao import NAO, NAOConfig
from search_spaces.arch import Arch


@dataclass(frozen=True)
class SemiNASConfig(NAOConfig):
    unlabelled: int = 200  # pseudo-labelled random architectures per round (paper: 10,000)
    semi_rounds: int = 1  # pseudo-label-and-retrain rounds per generation (paper: 1)
    semi_epochs: int = 20  # epochs of each retraining on labelled + pseudo-labelled data
    upsample: int = 1  # labelled architectures repeat this often in retraining, so that true
    # scores are not drowned by pseudo-labels (the official code's up-sampling; paper: 10)
    owner: ClassVar[str] = "seminas"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("unlabelled", "semi_epochs", "upsample"):
            if getattr(self, key) < 1:
                raise UserError(f"seminas option {key}={getattr(self, key)} must be at least 1")
        if self.semi_rounds < 0:
            raise UserError(f"seminas option semi_rounds={self.semi_rounds} must be at least 0")


@STRATEGIES.register("seminas")
class SemiNAS(NAO):
    name = "seminas"
    Config = SemiNASConfig

    def _self_train(self, archs: list[Arch], scores: np.ndarray, seed: int) -> None:
        cfg = self.config
        known = {a.hash for a in archs}
        for r in range(cfg.semi_rounds):
            unlabelled = self._unlabelled(cfg.unlabelled, known)
            if not unlabelled:
                break
            # The predictor speaks standardised scores; map them back to the scale of the labels
            # so that labelled and pseudo-labelled data are standardised together.
            pseudo = self.predict(unlabelled) * (scores.std() or 1.0) + scores.mean()
            self.fit(archs * cfg.upsample + unlabelled, np.concatenate([np.tile(scores, cfg.upsample), pseudo]),
                     seed=seed + 7919 * (r + 1), epochs=cfg.semi_epochs)

    def _unlabelled(self, count: int, known: set[str]) -> list[Arch]:
        """`count` distinct random architectures not among `known` (fewer in a tiny space)."""
        found: dict[str, Arch] = {}
        for _ in range(4 * count):
            if len(found) == count:
                break
            arch = self.space.sample(self.rng)
            if arch.hash not in known and arch.hash not in found and self.space.contains(arch):
                found[arch.hash] = arch
        return list(found.values())
