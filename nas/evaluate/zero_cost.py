"""Scores architectures with a zero-cost proxy: training-free search on any space (`--evaluator zc`).

The stand-alone network of each architecture is built at initialisation (seeded by the run's seed)
and scored by one proxy (`nas.proxies`) on a fixed batch of the run's training data; that score is
the search signal, a metric named after the proxy (`naswot`, `synflow`, ...), maximised. Further
proxies (`report`) and the CPU seconds are recorded beside it but never told to the strategy.

Detection spaces are scored as whole detectors: activations, input Jacobians and synflow over the
whole network, the loss-based proxies (snip, grad_norm, zico) with the detection loss.

The space is the one the user names with its own defaults, `-S` and `--width`: no training
happens, so the presets' narrow widths (there to make supernet training affordable) do not apply.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nas.data import data_config_from_dict
from nas_common.errors import UserError
from nas.evaluate.spec import EvaluatorSpec
from nas.proxies import ProxyScorer, fixed_batch, proxy_names
from nas.supernet.loading import make_space, resolve_device
from nas.tasks import get_task
from nas_common.objective import Objective
from nas_common.registry import EVALUATORS
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace

if TYPE_CHECKING:
    from nas.config.run_config import SearchConfig


@dataclass(frozen=True)
class ZeroCostConfig:
    """`proxy`: the search signal; `report`: more proxies recorded beside it (comma-separated);
    `batch_size`: images in the fixed batch (NASWOT's 128)."""

    proxy: str = "naswot"
    report: str = ""
    batch_size: int = 128

    def __post_init__(self) -> None:
        proxy_names(self.proxy)
        if "," in self.proxy:
            raise UserError(f"zc option proxy={self.proxy!r}: name one proxy (put the others in report=...)")
        if self.report:
            proxy_names(self.report)
        if self.batch_size < 4:  # zico splits it in two, and BatchNorm needs two images per split
            raise UserError(f"zc option batch_size={self.batch_size} must be at least 4")


@EVALUATORS.register("zc")
class ZeroCostEvaluator:
    """Zero-cost proxy of the untrained stand-alone network on one batch, no training (`-E proxy=NAME`:
    params, flops, naswot, jacov, synflow, snip, grad_norm, zico)."""

    Config = ZeroCostConfig
    uses_supernet = False
    spaces = None  # any space
    chance = None  # an untrained network is what it scores: no trust check against chance
    images_available: int | None = None  # no validation split to grow: separability never asks

    def __init__(self, space: SearchSpace, task: Any, data: Any, cfg: ZeroCostConfig, seed: int,
                 device: torch.device, spec: EvaluatorSpec | None = None) -> None:
        self.cfg = cfg
        self.signal = proxy_names(cfg.proxy)[0]
        self.extra = tuple(n for n in (proxy_names(cfg.report) if cfg.report else ()) if n != self.signal)
        inputs, targets = fixed_batch(task, data, cfg.batch_size, seed)
        self.scorer = ProxyScorer(space, task, inputs, targets, (self.signal, *self.extra), seed, device)
        self.hidden_metrics = frozenset([*self.extra, "zc_cpu_s"])
        self.spec = spec
        self._scores: dict[str, dict[str, float]] = {}

    def _score(self, arch: Arch) -> dict[str, float]:
        if arch.hash not in self._scores:
            self._scores = {arch.hash: self.scorer.score(arch)}  # evaluate then reported: keep one
        return self._scores[arch.hash]

    def evaluate(self, arch: Arch) -> dict[str, float]:
        return {self.signal: self._score(arch)[self.signal]}

    def reported(self, arch: Arch) -> dict[str, float]:
        scores = self._score(arch)
        return {**{n: scores[n] for n in self.extra}, "zc_cpu_s": scores["zc_cpu_s"]}

    def shared_weights(self) -> None:
        return None

    # ---- the EvaluatorKind contract (nas.evaluate.base) ----
    @classmethod
    def objective_of(cls, config: "SearchConfig") -> Objective:
        return Objective(proxy_names(config.evaluator.typed().proxy)[0], "max", scale=1.0, unit="")

    @classmethod
    def estimator(cls, config: "SearchConfig") -> tuple[str, str]:
        proxy = proxy_names(config.evaluator.typed().proxy)[0]
        return f"zc:{proxy}", f"zero-cost proxy {proxy} of the untrained network"

    @classmethod
    def _parts(cls, space_name: str, space_options: dict[str, Any], data_dict: dict[str, Any]):
        data_config = data_config_from_dict(data_dict)
        task = get_task(data_config.task)
        data = task.load_data(data_config)
        return make_space(space_name, data, space_options, task), task, data

    @classmethod
    def search_space(cls, config: "SearchConfig") -> SearchSpace:
        if config.data is None:
            raise UserError("a zero-cost search needs data (--data) for its batch")
        data = config.data.load()
        return make_space(config.space, data, config.space_options, get_task(config.data.task))

    @classmethod
    def for_search(cls, run_path: Path, config: "SearchConfig", device: torch.device, quiet: bool):
        spec = EvaluatorSpec("zc", space=config.space, space_options=dict(config.space_options),
                             data=asdict(config.data), evaluator=dict(config.evaluator.settings), seed=config.seed,
                             device=config.device)
        evaluator = cls.from_spec(spec, None)
        return evaluator.scorer.space, evaluator

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, weights: Any = None) -> "ZeroCostEvaluator":
        from nas_common.typed_config import build_config

        space, task, data = cls._parts(spec.space, spec.space_options, spec.data)
        cfg = build_config(ZeroCostConfig, spec.evaluator, owner="evaluator 'zc'")
        return cls(space, task, data, cfg, spec.seed, resolve_device(spec.device), spec)
