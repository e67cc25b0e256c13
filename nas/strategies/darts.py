"""DARTS as a strategy: gradient-based search does not ask and tell its way through candidates,
so the training happens before the search loop (`nas.workflows.search` trains the run's supernet in mixed
mode with `nas.darts.trainer`, the options of this strategy) and the strategy is handed the
learned alphas (`use_alphas`). It then asks for one architecture, the discretised alphas
(`space.discretise`: argmax per decision; top-2 inputs per node in DARTS cells), which the run's
evaluator scores and the archive records like any other. No data, supernet or Ray here.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.darts.config import DartsConfig
from nas.strategies.base import Strategy
from search_spaces.arch import Arch
from search_spaces.protocol import Differentiable


@STRATEGIES.register("darts")
class DartsStrategy(Strategy):
    """DARTS: the architecture its alphas choose, after the supernet is trained by DARTS's bilevel
    loop (nas.darts; -o guard=darts- or robust against skip collapse, -o order=2 unrolled)."""

    name = "darts"
    Config = DartsConfig
    trains_supernet = "darts"  # the registered training method (nas.darts.method) trains its supernet first

    def __init__(self, space: Any, **kwargs: Any) -> None:
        if not isinstance(space, Differentiable):
            raise UserError(f"--strategy darts needs a space with a mixed forward (nb201, darts, binary, or a model "
                            f"space whose choices are all layer or input choices); {space.without_mixed_forward()}")
        super().__init__(space, **kwargs)
        self._alphas: np.ndarray | None = None

    def _default_budget(self) -> int:
        return 1

    def use_alphas(self, logits: Any) -> None:
        alphas = np.asarray(logits, dtype=float)
        if alphas.shape != tuple(self.space.alpha_shape) or not np.isfinite(alphas).all():
            raise UserError(f"DARTS alphas of shape {alphas.shape} do not fit space {self.space.name} "
                            f"{tuple(self.space.alpha_shape)} (or are not finite)")
        self._alphas = alphas

    def discretised(self) -> Arch:
        if self._alphas is None:
            raise RuntimeError("the darts strategy proposes after its supernet is trained (use_alphas)")
        return self.space.validate(self.space.discretise(self.config.capped(self._alphas, self.space.alpha_ops)))

    def _ask(self, n: int) -> list[Arch]:
        arch = self.discretised()
        if not self.proposals.is_new(arch):
            return []
        violation = self.constraint.violation(self.space, arch) if self.constraint.limits() else None
        if violation:
            raise UserError(f"the architecture DARTS found breaks the constraint ({violation}); DARTS does not "
                            "search under resource limits: drop them or use evolution/rl")
        return self.proposals.take([arch])

    def _state(self) -> dict:
        return {"alphas": None if self._alphas is None else self._alphas.tolist()}

    def _load_state(self, state: dict) -> None:
        if state.get("alphas") is not None:
            self._alphas = np.asarray(state["alphas"], dtype=float)
