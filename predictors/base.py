"""The predictor protocol: fit on (architecture, score) pairs, predict scores, save and load.

Every predictor reads architectures only through the space protocol (`space.encode`,
`space.decisions`, and `space.graph` for graph models), so every predictor works on every space
that offers what it reads. A subclass supplies two things: `_features(archs)` (the tensors its
network reads, batch first) and `_network(generator)` (an `nn.Module` mapping those tensors to one
score per architecture). The base class owns the rest: score standardisation, the seeded training
loop, the two losses and the files on disk.

Scores are standardised before training, so the same learning rate fits accuracies in percent
and in [0, 1]. With the `rank` loss only the order of predictions means anything; they are still
mapped back through the standardisation so that they read like scores.

Determinism: weights are drawn from a `torch.Generator` seeded with `config.seed` (networks are
built on the meta device first, so nothing draws from torch's global generator), mini-batches are
shuffled by the same generator, and no layer uses dropout. On CPU a fit is bitwise repeatable.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import torch
from torch import nn

from nas_common.errors import UserError
from predictors.losses import LOSSES, loss_fn
from search_spaces.arch import Arch

CONFIG_FILE = "predictor.json"
WEIGHTS_FILE = "weights.pt"


@dataclass(frozen=True)
class PredictorConfig:
    loss: str = "mse"  # mse (regression on standardised scores) or rank (pairwise logistic)
    hidden: int = 64
    layers: int = 2
    epochs: int = 300
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0
    ensemble: int = 1  # independently initialised networks trained side by side; predictions averaged

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise UserError(f"predictor loss {self.loss!r} is unknown; valid losses: {', '.join(LOSSES)}")
        for key in ("hidden", "layers", "epochs", "batch_size", "ensemble"):
            if getattr(self, key) < 1:
                raise UserError(f"predictor option {key}={getattr(self, key)} must be at least 1")
        if not self.lr > 0 or self.weight_decay < 0:
            raise UserError(f"predictor options need lr > 0 and weight_decay >= 0; got {self.lr}, {self.weight_decay}")
        if self.seed < 0:
            raise UserError(f"predictor seed must be >= 0; got {self.seed}")


def init_weights(module: nn.Module, generator: torch.Generator) -> nn.Module:
    """Materialise a module built on the meta device: matrices uniform in +-1/sqrt(fan_in) (the
    torch default for Linear/LSTM, drawn from `generator`), vectors (biases) zero."""
    module.to_empty(device="cpu")
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() >= 2:
                bound = 1.0 / math.sqrt(p.shape[1])
                p.uniform_(-bound, bound, generator=generator)
            else:
                p.zero_()
    return module


class Ensemble(nn.Module):
    """Members with their own weights: in training mode (K, B) scores, one row per member (each is
    fit to the targets on its own; summed losses give each member exactly its own gradient), in
    eval mode their mean (B,)."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *features: torch.Tensor) -> torch.Tensor:
        out = torch.stack([m(*features) for m in self.members])
        return out if self.training else out.mean(0)


class Predictor(ABC):
    """Predicts a score (higher is better) for architectures of one space."""

    name: ClassVar[str]

    def __init__(self, space: Any, config: PredictorConfig | None = None) -> None:
        self.space = space
        self.config = config or PredictorConfig()
        self.net: nn.Module | None = None
        self.mean, self.std = 0.0, 1.0  # score standardisation, fixed by `fit`

    # ---- what a model supplies ------------------------------------------------------------------
    @abstractmethod
    def _features(self, archs: Sequence[Arch]) -> tuple[torch.Tensor, ...]:
        """The network's inputs for `archs`, each tensor batch first."""

    @abstractmethod
    def _network(self, generator: torch.Generator) -> nn.Module:
        """A fresh network: `net(*features)` -> (batch,) scores."""

    def _build(self, generator: torch.Generator) -> nn.Module:
        """`config.ensemble` networks drawn one after another from `generator` (one: the bare
        network, so its files are those of a single model)."""
        members = [self._network(generator) for _ in range(self.config.ensemble)]
        return members[0] if len(members) == 1 else Ensemble(members)

    # ---- fit / predict -------------------------------------------------------------------------
    def fit(self, archs: Sequence[Arch], scores: Sequence[float],
            on_epoch: Callable[[int, int], None] | None = None) -> "Predictor":
        """Train on (architecture, score) pairs; `on_epoch(done, total)` after each epoch (progress)."""
        scores = np.asarray(scores, dtype=np.float64)
        if len(archs) != len(scores) or len(archs) < 2:
            raise UserError(f"fit needs at least 2 architectures with one score each; got "
                            f"{len(archs)} architectures and {len(scores)} scores")
        if not np.all(np.isfinite(scores)):
            raise UserError("fit needs finite scores; drop diverged (NaN) evaluations first")
        cfg = self.config
        self.mean = float(scores.mean())
        self.std = float(scores.std()) or 1.0
        target = torch.tensor((scores - self.mean) / self.std, dtype=torch.float32)
        features = self._features(archs)
        generator = torch.Generator().manual_seed(cfg.seed)
        self.net = self._build(generator)
        optimizer = torch.optim.Adam(self.net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, cfg.epochs)
        loss = loss_fn(cfg.loss)
        n = len(target)
        self.net.train()
        for epoch in range(cfg.epochs):
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                if len(idx) < 2 and n >= 2:
                    continue  # a pairwise loss needs two; a lone leftover adds only noise
                pred = self.net(*(f[idx] for f in features))
                optimizer.zero_grad()
                rows = pred if pred.dim() == 2 else pred[None]  # (members, batch)
                sum(loss(row, target[idx]) for row in rows).backward()
                optimizer.step()
            schedule.step()
            if on_epoch is not None:
                on_epoch(epoch + 1, cfg.epochs)
        self.net.eval()
        return self

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        if self.net is None:
            raise UserError(f"{self.name} predictor is not trained; call fit or load a saved one")
        if not len(archs):
            return np.zeros(0)
        with torch.no_grad():
            out = self.net(*self._features(archs)).double().numpy()
        return out * self.std + self.mean

    # ---- files -----------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """`predictor.json` (model, space, config, standardisation) and `weights.pt` (state dict)."""
        from nas.archive import save_torch_atomic, write_json_atomic

        if self.net is None:
            raise UserError("cannot save an untrained predictor; call fit first")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_torch_atomic(self.net.state_dict(), directory / WEIGHTS_FILE)
        write_json_atomic(directory / CONFIG_FILE, {
            "model": self.name, "space": self.space.name, "space_options": self.space.config(),
            "config": asdict(self.config), "score_mean": self.mean, "score_std": self.std,
        })
        return directory

    def _load_weights(self, directory: Path, meta: dict) -> None:
        self.mean, self.std = float(meta["score_mean"]), float(meta["score_std"])
        self.net = self._build(torch.Generator().manual_seed(self.config.seed))
        from nas.archive.atomic import load_torch

        state = load_torch(directory / WEIGHTS_FILE, "predictor weights", "retrain the predictor")
        try:
            self.net.load_state_dict(state)
        except (RuntimeError, TypeError, AttributeError):  # torch's size-mismatch dump is many lines: name it
            raise UserError(f"predictor weights {directory / WEIGHTS_FILE} do not fit its predictor.json "
                            "(the directory was edited or mixed from two predictors); retrain the predictor") from None
        self.net.eval()


def read_meta(directory: str | Path) -> dict:
    path = Path(directory) / CONFIG_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path} not found; pass a directory written by `nas predictor train` "
                        "or Predictor.save") from None
    except json.JSONDecodeError as err:
        raise UserError(f"{path} is not valid JSON ({err.msg}); retrain the predictor") from None
    missing = {"model", "space", "space_options", "config", "score_mean", "score_std"} - set(meta)
    if missing:
        raise UserError(f"{path} lacks {', '.join(sorted(missing))}; retrain the predictor")
    return meta


def load_predictor(directory: str | Path, space: Any = None) -> Predictor:
    """The predictor saved in `directory`. Without `space` it is rebuilt from the saved space name
    and options; a given `space` must be the saved one."""
    from nas_common.registry import PREDICTORS, SPACES

    directory = Path(directory)
    meta = read_meta(directory)
    if space is None:
        space = SPACES.get(meta["space"])(**meta["space_options"])
    elif space.name != meta["space"] or space.config() != meta["space_options"]:
        raise UserError(f"predictor {directory} was trained on space {meta['space']} "
                        f"{meta['space_options']}, not {space.name} {space.config()}; "
                        "use a predictor trained on this space")
    cls = PREDICTORS.get(meta["model"])
    predictor = cls(space, PredictorConfig(**meta["config"]))
    predictor._load_weights(directory, meta)
    return predictor
