"""Reinforcement-learning search: an LSTM controller trained with policy gradients.

The controller of Zoph & Le 2017 ("Neural Architecture Search with Reinforcement Learning") in the
form ENAS made standard (Pham et al. 2018, "Efficient Neural Architecture Search via Parameter
Sharing") and NAS-FPN reused (Ghiasi et al. 2019): a one-layer LSTM that emits one choice per step
over `space.decisions`, each through its own linear head, and reads an embedding of that choice as
its next input; the first input is a learned start token. Logits are squashed as in ENAS,
`tanh_constant * tanh(logits / temperature)`, which bounds how sure the controller can become and
so keeps it exploring. Training is REINFORCE with an exponential-moving-average baseline and an
entropy bonus (or, with `algorithm="ppo"`, the clipped surrogate of Schulman et al. 2017, several
epochs per batch), reward = objective utility / objective scale (val_acc / 100), Adam.
`warmup=PROXY:N` first trains the controller on a zero-cost proxy's scores (Abdelfattah et al.,
ICLR 2021; see `_warm_up`).

Batches are on-policy: at most `batch_size` trials are collected or outstanding at once, so `ask`
returns [] while the rest of a batch is being evaluated (like spos generations), and every batch is
sampled from one policy. That is what lets the update recompute the log-probabilities from the
stored choices instead of keeping a graph from `ask` to `tell`, and it keeps the state plain data:
JSON for the batch, baseline and generator; `tensors()` for the controller weights and Adam state.

Not obvious: choices are drawn with the strategy's numpy generator from the controller's
probabilities (never torch's global RNG), and the controller is initialised from a
`torch.Generator` seeded from it, so a seed fixes every proposal. A sampled architecture that was
seen before or breaks the constraint is drawn again; when the controller has become too sure to
find a new one, a uniformly random architecture is proposed instead (it still trains the policy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nas_common.errors import UserError
from nas_common.registry import STRATEGIES
from nas.strategies.base import Strategy
from nas.strategies.reward import MnasReward, reward_cost_warnings
from nas.strategies.torch_state import check_weights, one_thread, pack, unpack
from nas.strategies.warmup import Warmup
from search_spaces.arch import Arch

ALGORITHMS = ("reinforce", "ppo")
CONTROLLER_TRIES = 128  # controller draws per proposal before falling back to a random architecture
DRAW_CHUNK = 32  # architectures sampled per controller pass: a rejected duplicate then costs little
INIT_RANGE = 0.1  # ENAS initialises every controller weight uniformly in [-0.1, 0.1]


@dataclass(frozen=True)
class RLConfig:
    hidden_size: int = 64
    temperature: float = 5.0  # ENAS
    tanh_constant: float = 2.5  # ENAS; 0 turns the tanh clipping off
    # ENAS trains with 3.5e-4 over thousands of updates; a search of 100-1000 trials gets 10-100,
    # and at that scale a large step is what makes the controller learn (see tests/test_rl.py).
    lr: float = 0.03
    baseline_decay: float = 0.95  # per result, as in ENAS
    entropy_weight: float = 1e-4  # ENAS
    batch_size: int = 10  # results per policy update
    algorithm: str = "reinforce"
    ppo_clip: float = 0.2
    ppo_epochs: int = 4
    # "PROXY:N": before the search, N controller samples scored by the proxy train the policy
    # (REINFORCE on the batch-standardised proxy scores; nas.strategies.warmup)
    warmup: str = ""
    # "mnas:COST:TARGET[:W]": the reward is MnasNet's ACC x (COST/TARGET)^W (nas.strategies.reward)
    reward: str = ""
    # costs measured on a device (nas.constraints.cost_table): the reward's COST may be one of its columns
    cost_table: str = ""

    def __post_init__(self) -> None:
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise UserError(f"rl option {message}")

        MnasReward.parse(self.reward, "rl")
        need(
            self.algorithm in ALGORITHMS,
            f"algorithm={self.algorithm!r} is unknown; valid algorithms: {', '.join(ALGORITHMS)}",
        )
        for key in ("hidden_size", "batch_size", "ppo_epochs"):
            need(getattr(self, key) >= 1, f"{key}={getattr(self, key)} must be at least 1")
        for key in ("temperature", "lr"):
            need(getattr(self, key) > 0, f"{key}={getattr(self, key)} must be positive")
        for key in ("tanh_constant", "entropy_weight"):
            need(getattr(self, key) >= 0, f"{key}={getattr(self, key)} must be at least 0")
        need(0 <= self.baseline_decay < 1, f"baseline_decay={self.baseline_decay} must be in [0, 1)")
        need(0 < self.ppo_clip < 1, f"ppo_clip={self.ppo_clip} must be in (0, 1)")
        Warmup.parse(self.warmup, "rl")


class Controller(nn.Module):
    """LSTM policy over a list of decisions with `num_options[i]` options each.

    Per-decision heads and embeddings (rather than one per option count) let the same option
    index mean different things at different steps, at a cost of a few thousand weights.
    """

    def __init__(
        self, num_options: tuple[int, ...], hidden: int, temperature: float, tanh_constant: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.temperature, self.tanh_constant = temperature, tanh_constant
        # Built on the meta device so that construction draws nothing from torch's global RNG.
        with torch.device("meta"):
            self.start = nn.Parameter(torch.empty(1, hidden))  # learned first input
            self.lstm = nn.LSTMCell(hidden, hidden)
            self.heads = nn.ModuleList(nn.Linear(hidden, k) for k in num_options)
            self.embeddings = nn.ModuleList(nn.Embedding(k, hidden) for k in num_options)
        self.to_empty(device="cpu")
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-INIT_RANGE, INIT_RANGE, generator=generator)

    def initial(self, batch: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """First input (batch, hidden) and zero LSTM state."""
        zeros = self.start.new_zeros(batch, self.start.shape[1])
        return self.start.expand(batch, -1), (zeros, zeros)

    def step(self, i: int, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]):
        """Logits (batch, options of decision i) and the new LSTM state."""
        h, c = self.lstm(x, state)
        logits = self.heads[i](h) / self.temperature
        if self.tanh_constant:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits, (h, c)

    def sample(self, batch: int, draw) -> np.ndarray:
        """`batch` architectures' choices (batch, decisions); `draw(probs)` picks one index per row
        of a float64 (batch, options) probability array."""
        columns = []
        with torch.no_grad():
            x, state = self.initial(batch)
            for i, embedding in enumerate(self.embeddings):
                logits, state = self.step(i, x, state)
                choice = draw(torch.softmax(logits.double(), dim=1).numpy())
                columns.append(choice)
                x = embedding(torch.from_numpy(choice))
        return np.stack(columns, axis=1)

    def evaluate(self, choices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability (batch,) of the given choices (batch, decisions), and policy entropy (batch,)."""
        x, state = self.initial(choices.shape[0])
        log_prob = entropy = 0
        for i, embedding in enumerate(self.embeddings):
            logits, state = self.step(i, x, state)
            logp = torch.log_softmax(logits, dim=1)
            log_prob = log_prob + logp.gather(1, choices[:, i : i + 1]).squeeze(1)
            entropy = entropy - (logp.exp() * logp).sum(1)
            x = embedding(choices[:, i])
        return log_prob, entropy


@STRATEGIES.register("rl")
class RL(Strategy):
    name = "rl"
    Config = RLConfig

    def __init__(self, space, **kwargs) -> None:
        super().__init__(space, **kwargs)
        self._init_seed = int(self.rng.integers(2**63))  # saved: a resume before any update rebuilds from it
        self._build(self._init_seed)
        self._batch: list[tuple[tuple[int, ...], float]] = []  # (choices, reward) awaiting the update
        self._baseline: float | None = None  # None until the first reward
        self._updates = 0
        self._weights_at = 0  # the update count the controller weights belong to (see load_tensors)
        self._warmup = Warmup.parse(self.config.warmup, "rl")
        self._warmed = self._warmup is None  # the proxy warm-up has run (its updates count in `updates`)

    def _reward_option(self) -> str:
        return self.config.reward

    def _cost_table_option(self) -> str:
        return self.config.cost_table

    def warnings(self) -> list[str]:
        return reward_cost_warnings(self)

    def proxies_requested(self) -> tuple[str, ...]:
        return (self._warmup.proxy,) if self._warmup else ()

    def _warm_up(self) -> None:
        """Abdelfattah et al.'s RL warm-up: the controller learns from the proxy before it sees a
        real reward. Each batch is sampled from the current policy and scored by the proxy; the
        advantage is the score standardised within the batch (proxies have no common scale), so
        the baseline and reward scale of the real search start untouched."""
        cfg = self.config
        for start in range(0, self._warmup.count, cfg.batch_size):
            rows = self.controller.sample(min(cfg.batch_size, self._warmup.count - start), self._draw)
            archs = [self.space.canonical(Arch(self.space.name, tuple(int(c) for c in r))) for r in rows]
            scores = np.asarray(self.proxies.scores(archs, self._warmup.proxy), dtype=np.float64)
            adv = torch.tensor((scores - scores.mean()) / (scores.std() or 1.0), dtype=torch.float32)
            choices = torch.tensor([a.choices for a in archs], dtype=torch.long)
            self._step(lambda logp, ent: -(adv * logp).mean() - cfg.entropy_weight * ent.mean(), choices)
            self._updates += 1
        self._weights_at = self._updates
        self._warmed = True

    def _default_budget(self) -> int:
        return 100 * self.config.batch_size  # 100 policy updates; 1000 trials, evolution's default too

    def _build(self, seed: int) -> None:
        cfg = self.config
        self.controller = Controller(
            tuple(d.num_options for d in self.space.decisions), cfg.hidden_size, cfg.temperature,
            cfg.tanh_constant, torch.Generator().manual_seed(seed),
        )
        self.optimizer = torch.optim.Adam(self.controller.parameters(), lr=cfg.lr)

    # ---- ask / tell ------------------------------------------------------------------------------
    def _ask(self, n: int) -> list[Arch]:
        with one_thread():
            return self._ask_controller(n)

    def _ask_controller(self, n: int) -> list[Arch]:
        self._check_weights()
        if not self._warmed:
            self._warm_up()
        # On-policy: never more than one batch collected or outstanding (see module docstring).
        n = min(n, self.config.batch_size - len(self._batch) - len(self.history.pending()))
        drawn: list[Arch] = []  # sampled in chunks, used in order; the rest is dropped below

        def controller_arch() -> Arch:
            if not drawn:
                rows = self.controller.sample(DRAW_CHUNK, self._draw)
                drawn.extend(self.space.canonical(Arch(self.space.name, tuple(r))) for r in rows[::-1])
            return drawn.pop()

        archs: list[Arch] = []
        for _ in range(n):
            arch = self.proposals.propose(controller_arch, CONTROLLER_TRIES, strict=False) or self.proposals.sample()
            if arch is None:
                break
            archs.append(arch)
        # Unused draws are dropped, not kept: they are i.i.d. from the policy, so nothing is lost,
        # and the state after `ask` stays the generator alone.
        return archs

    def _draw(self, probs: np.ndarray) -> np.ndarray:
        # Inverse CDF with one uniform per row: exact, and robust to rows not summing to exactly 1.
        cdf = np.cumsum(probs, axis=1)
        u = self.rng.random(len(probs))[:, None] * cdf[:, -1:]
        return np.minimum((cdf <= u).sum(axis=1), probs.shape[1] - 1)

    def _on_tell(self, trial_id: int, arch: Arch, metrics: dict) -> None:
        self._batch.append((arch.choices, self.history.utility(metrics) / self.objective.scale))
        if len(self._batch) >= self.config.batch_size:
            with one_thread():
                self._update()

    # ---- policy update ---------------------------------------------------------------------------
    def _update(self) -> None:
        self._check_weights()
        cfg = self.config
        choices = torch.tensor([c for c, _ in self._batch], dtype=torch.long)
        rewards = [r for _, r in self._batch]
        # ENAS's baseline: an EMA over results in the order they came; each advantage is taken
        # against the baseline before its own reward. It starts at the first reward, not at 0, so
        # the first updates do not reward everything.
        advantages = []
        for r in rewards:
            self._baseline = r if self._baseline is None else self._baseline
            advantages.append(r - self._baseline)
            self._baseline = cfg.baseline_decay * self._baseline + (1 - cfg.baseline_decay) * r
        adv = torch.tensor(advantages, dtype=torch.float32)

        if cfg.algorithm == "reinforce":
            self._step(lambda logp, ent: -(adv * logp).mean() - cfg.entropy_weight * ent.mean(), choices)
        else:
            with torch.no_grad():
                old, _ = self.controller.evaluate(choices)  # = the sampling policy: batches are on-policy

            def ppo_loss(logp: torch.Tensor, ent: torch.Tensor) -> torch.Tensor:
                ratio = torch.exp(logp - old)
                clipped = torch.clamp(ratio, 1 - cfg.ppo_clip, 1 + cfg.ppo_clip)
                return -torch.min(ratio * adv, clipped * adv).mean() - cfg.entropy_weight * ent.mean()

            for _ in range(cfg.ppo_epochs):
                self._step(ppo_loss, choices)
        self._batch = []
        self._updates += 1
        self._weights_at = self._updates

    def _step(self, loss_fn, choices: torch.Tensor) -> None:
        logp, ent = self.controller.evaluate(choices)
        self.optimizer.zero_grad()
        loss_fn(logp, ent).backward()
        self.optimizer.step()

    def greedy(self) -> Arch:
        """The controller's most likely architecture (argmax at each step): what it has learnt."""
        (choices,) = self.controller.sample(1, lambda probs: probs.argmax(axis=1))
        return self.space.canonical(Arch(self.space.name, tuple(choices)))

    # ---- state -----------------------------------------------------------------------------------
    def _check_weights(self) -> None:
        check_weights("rl", "controller updates", self._updates, self._weights_at)

    def _state(self) -> dict:
        return {
            "init_seed": self._init_seed,
            "baseline": self._baseline,
            "updates": self._updates,
            "batch": [[list(c), r] for c, r in self._batch],
            **({"warmed": self._warmed} if self._warmup else {}),
        }

    def _load_state(self, state: dict) -> None:
        self._init_seed = int(state["init_seed"])
        self._baseline = state["baseline"]
        self._updates = int(state["updates"])
        self._batch = [(tuple(int(x) for x in c), float(r)) for c, r in state["batch"]]
        self._warmed = bool(state.get("warmed", self._warmup is None))
        if self._updates == 0:
            # The controller is still its initial self: rebuild it, no tensors needed.
            self._build(self._init_seed)
            self._weights_at = 0

    def tensors(self) -> dict[str, torch.Tensor]:
        """Controller weights (`controller.*`), Adam state flattened (`opt.state.<param>.<key>`,
        step counts included) and the update count they belong to (`updates`)."""
        return pack({"controller": self.controller}, "updates", self._weights_at, self.optimizer)

    def load_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what `tensors()` saved; before or after `load_state_dict`, either order works."""
        self._weights_at = unpack(tensors, {"controller": self.controller}, "updates", "rl", self.optimizer)
