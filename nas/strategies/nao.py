"""Neural Architecture Optimization (Luo et al., NeurIPS 2018, "Neural Architecture Optimization").

NAO moves the search into a continuous space. An encoder LSTM maps an architecture (its decision
list, see `predictors.lstm.SequenceEncoder`) to an embedding of one unit vector per decision; a
performance predictor (mean-pooled embedding + MLP) scores the embedding; a decoder LSTM
reconstructs the architecture from it. The three are trained jointly on every result so far, loss
= 0.8 * MSE(prediction, standardised score) + 0.2 * cross-entropy(reconstruction) (NAO's
trade-off). New candidates come from gradient ascent on the predicted score in embedding space,
starting from the best architectures found: e <- e + eta * grad/|grad| until the greedy decoding is
an architecture the search has not proposed yet (and that the space accepts and the constraint
allows), for at most `ascent_steps` steps per start.

Generational, like spos: generation 0 is `population` random architectures (or, with
`predictor=PRED_DIR`, the `population` best of `pool` random ones as ranked by a predictor saved
by `nas predictor train`: a warm start from earlier runs of the same space); each later generation
is `candidates` architectures from gradient ascent, topped up with random ones when the ascent finds
too few. `ask` returns [] while a generation is being evaluated. With `surrogate=NAME` (a registered
predictor, e.g. `paths` on cell spaces), each later generation's ascent proposals are topped up
with random architectures to `surrogate_pool`, and that predictor (a 5-seed ensemble, fit afresh
on every result) picks the `candidates` it ranks best; off by default.

Not obvious:
- The model is kept from generation to generation and trained further on all results (the NAO
  code does the same), with a fresh Adam each time. Its weights are the tensor sidecar
  (`tensors()`); the JSON state counts trainings, so a restore that forgets the sidecar is caught.
- Weights come from a `torch.Generator` seeded from the strategy's numpy generator, and training
  shuffles with a generator seeded from the run's seed and the training count: nothing touches
  torch's global RNG, so a seed fixes every proposal, and a restored strategy continues exactly.
- Decoding uses one output head per decision, so every decoded choice is in range for any space;
  spaces with extra rules still reject some decodings through `space.contains`.

The paper's defaults (NAS-Bench/CIFAR-10 searches): population 600 (NB101: 100), 100 new
architectures per generation from the top 100, hidden size 64-96, 1000 training epochs, lr 1e-3,
trade-off 0.8. The defaults here are scaled for searches of ~100 evaluations on 2 CPU cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.base import Strategy
from nas.strategies.torch_state import check_weights, one_thread, pack, unpack
from nas.strategies.warmup import Warmup
from predictors.base import init_weights
from predictors.lstm import PerformanceHead, SequenceEncoder, tokens
from search_spaces.arch import Arch


@dataclass(frozen=True)
class NAOConfig:
    population: int = 20  # generation 0: random architectures (NAO: 600; NB101 runs: 100)
    candidates: int = 10  # new architectures per later generation (NAO: 100)
    seeds: int = 10  # best architectures the gradient ascent starts from (NAO: 100)
    hidden: int = 32  # encoder/decoder width (NAO: 64-96)
    epochs: int = 60  # training epochs per generation (NAO: 1000)
    batch_size: int = 64
    lr: float = 5e-3  # NAO: 1e-3 over 1000 epochs
    trade_off: float = 0.8  # weight of the prediction loss; 1 - trade_off weighs reconstruction
    step_size: float = 0.5  # eta: length of one ascent step, relative to the unit-length embedding
    ascent_steps: int = 10  # steps per start before giving up on it
    generations: int = 10  # only sets the default budget: population + (generations-1) * candidates
    predictor: str = ""  # PRED_DIR of a saved predictor of this space: pre-ranks generation 0
    pool: int = 1000  # random architectures the saved predictor ranks for generation 0
    surrogate: str = ""  # a registered predictor (e.g. paths) that picks each later generation
    surrogate_pool: int = 200  # ascent proposals + random ones the surrogate picks `candidates` of
    warmup: str = ""  # PROXY:N: generation 0 is the proxy's top of N random architectures (warmup.py)
    owner: ClassVar[str] = "nao"  # the strategy these options belong to, as errors name it

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UserError(f"{self.owner} option {message}")

        for key in ("population", "candidates", "seeds", "hidden", "epochs", "batch_size",
                    "ascent_steps", "generations", "pool"):
            need(getattr(self, key) >= 1, f"{key}={getattr(self, key)} must be at least 1")
        need(self.lr > 0 and self.step_size > 0, "lr and step_size must be positive")
        warmup = Warmup.parse(self.warmup, self.owner)
        need(warmup is None or warmup.count >= self.population,
             f"warmup={self.warmup!r} must score at least population={self.population} architectures")
        need(not (warmup and self.predictor), "warmup and predictor both choose generation 0; give one")
        need(0 < self.trade_off <= 1, f"trade_off={self.trade_off} must be in (0, 1]")
        need(not self.predictor or self.pool >= self.population,
             f"pool={self.pool} must be >= population={self.population} to pre-rank with a predictor")
        need(self.surrogate_pool >= self.candidates,
             f"surrogate_pool={self.surrogate_pool} must be >= candidates={self.candidates}")


class NAOModel(nn.Module):
    """Encoder -> embedding (B, L, H) -> predictor (B,) and decoder -> per-decision logits.

    The decoder is an LSTM whose step i reads the embedding of decision i and the token of the
    previous choice (a start token first); its state starts from the mean embedding, so the whole
    architecture informs every step. Tokens and output logits use the encoder's shared table with
    an offset per decision (`predictors.lstm.tokens`); decision i reads only its own options'
    slice of the output layer, so every decoded choice is in range.
    """

    def __init__(self, num_options: Sequence[int], hidden: int) -> None:
        super().__init__()
        self.num_options = tuple(num_options)
        self.offsets = [sum(self.num_options[:i]) for i in range(len(self.num_options))]
        num_tokens = sum(self.num_options)
        self.encoder = SequenceEncoder(num_tokens, hidden)
        self.predictor = PerformanceHead(hidden, layers=2)
        self.tokens = nn.Embedding(num_tokens + 1, hidden)  # + the start token, index num_tokens
        self.decoder = nn.LSTM(2 * hidden, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_tokens)

    def _logits(self, out: torch.Tensor, i: int) -> torch.Tensor:
        return out[..., self.offsets[i] : self.offsets[i] + self.num_options[i]]

    def _initial(self, embedding: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = embedding.mean(dim=1)[None]  # (1, B, H)
        return h, torch.zeros_like(h)

    def reconstruct(self, embedding: torch.Tensor, token_ids: torch.Tensor) -> list[torch.Tensor]:
        """Teacher-forced logits of each decision (list of (B, options_i)), in one LSTM pass."""
        start = torch.full_like(token_ids[:, :1], self.tokens.num_embeddings - 1)
        prev = self.tokens(torch.cat([start, token_ids[:, :-1]], dim=1))
        out, _ = self.decoder(torch.cat([prev, embedding], dim=2), self._initial(embedding))
        out = self.out(out)
        return [self._logits(out[:, i], i) for i in range(len(self.num_options))]

    def decode(self, embedding: torch.Tensor) -> torch.Tensor:
        """Greedy decoding: (B, L) choice indices."""
        state = self._initial(embedding)
        token = torch.full((embedding.shape[0],), self.tokens.num_embeddings - 1, dtype=torch.long)
        choices = []
        for i in range(len(self.num_options)):
            x = torch.cat([self.tokens(token), embedding[:, i]], dim=1)[:, None]
            out, state = self.decoder(x, state)
            choice = self._logits(self.out(out[:, 0]), i).argmax(dim=1)
            choices.append(choice)
            token = choice + self.offsets[i]
        return torch.stack(choices, dim=1)


@STRATEGIES.register("nao")
class NAO(Strategy):
    name = "nao"
    Config = NAOConfig

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._init_seed = int(self.rng.integers(2**62))
        self._build()
        self._generation = 0
        self._queue: list[Arch] = []  # built but not yet handed out
        self._trainings = 0  # how often the model was trained: names the weights it must hold
        self._weights_at = 0
        self._warm_start = None
        if self.config.predictor:  # loaded now: a missing or damaged directory fails before a search starts
            from predictors import load_predictor

            self._warm_start = load_predictor(self.config.predictor, self.space)

    def _default_budget(self) -> int:
        return self.config.population + (self.config.generations - 1) * self.config.candidates

    def proxies_requested(self) -> tuple[str, ...]:
        warmup = Warmup.parse(self.config.warmup, self.name)
        return (warmup.proxy,) if warmup else ()

    def _build(self) -> None:
        with torch.device("meta"):
            model = NAOModel([d.num_options for d in self.space.decisions], self.config.hidden)
        self.model = init_weights(model, torch.Generator().manual_seed(self._init_seed))
        generator = torch.Generator().manual_seed(self._init_seed + 1)
        with torch.no_grad():  # unit-scale token embeddings, as nn.Embedding's default init
            for emb in (self.model.encoder.embedding, self.model.tokens):
                emb.weight.normal_(generator=generator)

    def _backlog(self) -> int:
        return len(self._queue)

    # ---- ask ---------------------------------------------------------------------------------------
    def _ask(self, n: int) -> list[Arch]:
        if not self._queue:
            if self.history.pending():
                return []  # the next generation learns from every result of this one
            with one_thread():
                self._queue = self._next_generation()
            self._generation += 1
        handed, self._queue = self._queue[:n], self._queue[n:]
        return handed

    def _next_generation(self) -> list[Arch]:
        cfg = self.config
        if self._generation == 0:
            children = self._pre_ranked() if cfg.predictor else self._warmed() if cfg.warmup else []
            size = cfg.population
        else:
            self._check_weights()
            self._train()
            children = self._surrogate_pick() if cfg.surrogate else self._ascend()
            size = cfg.candidates
        while len(children) < size:
            arch = self.proposals.sample()
            if arch is None:
                break
            children.append(arch)
        return children

    def _warmed(self) -> list[Arch]:
        """The `population` best of the warm-up's random architectures by the zero-cost proxy."""
        warmup = Warmup.parse(self.config.warmup, self.name)
        ranked = self.proxies.ranked(self.proposals.candidates(warmup.count), warmup.proxy)
        return self.proposals.take(arch for arch, _ in ranked[: self.config.population])

    def _pre_ranked(self) -> list[Arch]:
        """The `population` best of `pool` random new architectures by the saved predictor."""
        archs = self.proposals.candidates(self.config.pool)
        order = np.argsort(-self._warm_start.predict(archs), kind="stable")
        return self.proposals.take(archs[i] for i in order[: self.config.population])

    # ---- training -----------------------------------------------------------------------------------
    def _training_data(self) -> tuple[list[Arch], np.ndarray]:
        """What the model learns from: every result so far (SemiNAS adds pseudo-labelled ones)."""
        return [a for a, _ in self.history], np.array([self.history.utility(m) for _, m in self.history])

    def _train(self) -> None:
        archs, scores = self._training_data()
        seed = self._init_seed + 2 + self._trainings
        self.fit(archs, scores, seed=seed)
        self._self_train(archs, scores, seed)
        self._trainings += 1
        self._weights_at = self._trainings

    def _self_train(self, archs: list[Arch], scores: np.ndarray, seed: int) -> None:
        """More training after the fit on the results (SemiNAS: on pseudo-labelled architectures)."""

    def fit(self, archs: list[Arch], scores: np.ndarray, seed: int, epochs: int | None = None) -> None:
        """Train the encoder, predictor and decoder on `archs` and their scores (standardised here)."""
        cfg = self.config
        x = tokens(self.space, archs)
        choices = torch.tensor([a.choices for a in archs], dtype=torch.long).reshape(len(archs), -1)
        std = scores.std() or 1.0
        y = torch.tensor((scores - scores.mean()) / std, dtype=torch.float32)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=1e-4)
        self.model.train()
        for _ in range(cfg.epochs if epochs is None else epochs):
            order = torch.randperm(len(y), generator=generator)
            for start in range(0, len(y), cfg.batch_size):
                idx = order[start : start + cfg.batch_size]
                embedding = self.model.encoder(x[idx])
                prediction = F.mse_loss(self.model.predictor(embedding), y[idx])
                logits = self.model.reconstruct(embedding, x[idx])
                reconstruction = sum(F.cross_entropy(lg, choices[idx, i]) for i, lg in enumerate(logits)) / len(logits)
                loss = cfg.trade_off * prediction + (1 - cfg.trade_off) * reconstruction
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)  # NAO clips at 5 as well
                optimizer.step()
        self.model.eval()

    def predict(self, archs: Sequence[Arch]) -> np.ndarray:
        """The model's predicted (standardised) scores: only their order means anything."""
        with torch.no_grad():
            return self.model.predictor(self.model.encoder(tokens(self.space, archs))).double().numpy()

    # ---- gradient ascent in embedding space ---------------------------------------------------------
    def _surrogate_pick(self) -> list[Arch]:
        """The `candidates` best, by the `surrogate` predictor fit on every result so far, of the
        ascent's proposals topped up with random architectures to `surrogate_pool`, drafted without
        being claimed: only the picked ones are handed out."""
        from predictors import make_predictor

        cfg = self.config
        pool = self._ascend(cfg.surrogate_pool, claim=False)
        drafted = {a.hash for a in pool}
        while len(pool) < cfg.surrogate_pool:
            arch = self.proposals.sample(claim=False, exclude=drafted)
            if arch is None:
                break
            pool.append(arch)
            drafted.add(arch.hash)
        archs, scores = self._training_data()
        seed = (self._init_seed + 3 + self._trainings) % 2**31
        surrogate = make_predictor(cfg.surrogate, self.space, seed=seed, ensemble=5).fit(archs, scores)
        order = np.argsort(-surrogate.predict(pool), kind="stable")
        return self.proposals.take(pool[i] for i in order[: cfg.candidates])

    def _ascend(self, count: int | None = None, *, claim: bool = True) -> list[Arch]:
        """Up to `count` new architectures, one per ascent from each of the best results; with
        `claim` False they are drafts (distinct, not claimed)."""
        cfg = self.config
        count = cfg.candidates if count is None else count
        starts = [arch for arch, _ in self.history.top(cfg.seeds)]
        children: list[Arch] = []
        drafted: set[str] = set()
        for start in starts:
            if len(children) == count:
                break
            child = self.proposals.propose(self._ascent_walk(start), cfg.ascent_steps, strict=False, claim=claim,
                                           exclude=drafted)
            if child is not None:
                children.append(child)
                if not claim:
                    drafted.add(child.hash)
        return children

    def _ascent_walk(self, start: Arch):
        """A generator function for `proposals.propose`: each call takes one more ascent step from
        `start` and returns the greedy decoding; a decoding the space rejects returns `start` (seen,
        so it counts as a failed try)."""
        embedding = self.model.encoder(tokens(self.space, [start])).detach()

        def step() -> Arch:
            nonlocal embedding
            e = embedding.clone().requires_grad_(True)
            score = self.model.predictor(e).sum()
            (grad,) = torch.autograd.grad(score, e)
            embedding = (e + self.config.step_size * grad / (grad.norm() + 1e-12)).detach()
            with torch.no_grad():
                (choices,) = self.model.decode(embedding).tolist()
            arch = self.space.canonical(Arch(self.space.name, tuple(choices)))
            return arch if self.space.contains(arch) else start

        return step

    def decode(self, archs: Sequence[Arch]) -> list[Arch]:
        """Encode then greedily decode `archs` (what the ascent does with zero steps)."""
        with torch.no_grad():
            rows = self.model.decode(self.model.encoder(tokens(self.space, archs))).tolist()
        return [self.space.canonical(Arch(self.space.name, tuple(r))) for r in rows]

    # ---- state -------------------------------------------------------------------------------------
    def _check_weights(self) -> None:
        check_weights(self.name, "model trainings", self._trainings, self._weights_at)

    def _state(self) -> dict:
        return {
            "init_seed": self._init_seed,
            "generation": self._generation,
            "queue": [a.to_dict() for a in self._queue],
            "trainings": self._trainings,
        }

    def _load_state(self, state: dict) -> None:
        self._init_seed = int(state["init_seed"])
        self._generation = int(state["generation"])
        self._queue = [self.space.parse(a) for a in state["queue"]]
        self._trainings = int(state["trainings"])
        if self._trainings == 0:  # still the initial model: rebuilt from the seed, no tensors needed
            self._build()
            self._weights_at = 0

    def tensors(self) -> dict[str, torch.Tensor]:
        return pack({"model": self.model}, "trainings", self._weights_at)

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        self._weights_at = unpack(tensors, {"model": self.model}, "trainings", self.name)
