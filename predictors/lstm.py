"""`lstm`: the NAO encoder and performance predictor (Luo et al., NeurIPS 2018, "Neural
Architecture Optimization") as a stand-alone predictor.

An architecture is read as the sequence of its decisions (`space.decisions`): token i is choice i,
embedded with a table of its own decision (one shared table, offset per decision, so option 3 of
decision 0 and option 3 of decision 5 are different tokens). A one-layer LSTM turns the tokens into
one vector per decision, L2-normalised as in NAO: that (decisions, hidden) sequence is NAO's
continuous architecture embedding. The predictor mean-pools it and applies an MLP. The NAO search
strategy (`nas.strategies.nao`) reuses `SequenceEncoder` and adds a decoder.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas_common.registry import PREDICTORS
from predictors.base import Predictor, init_weights
from predictors.mlp import mlp
from search_spaces.arch import Arch


def token_offsets(space) -> np.ndarray:
    """Index of option 0 of each decision in the shared token table."""
    sizes = [d.num_options for d in space.decisions]
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def tokens(space, archs: Sequence[Arch]) -> torch.Tensor:
    """(batch, decisions) token ids of `archs` (choices shifted by their decision's offset)."""
    for a in archs:
        space.validate(a)
    choices = np.array([a.choices for a in archs], dtype=np.int64).reshape(len(archs), -1)
    return torch.from_numpy(choices + token_offsets(space))


class SequenceEncoder(nn.Module):
    """tokens (batch, L) -> embedding (batch, L, hidden), each vector of unit length (NAO)."""

    def __init__(self, num_tokens: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(num_tokens, hidden)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(tokens))
        return F.normalize(out, dim=-1)


class PerformanceHead(nn.Module):
    """embedding (batch, L, hidden) -> score (batch,): mean over decisions, then an MLP (NAO)."""

    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.mlp = mlp([hidden] * max(layers, 1) + [1])

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.mlp(embedding.mean(dim=1)).squeeze(-1)


class _EncoderPredictor(nn.Module):
    def __init__(self, num_tokens: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.encoder = SequenceEncoder(num_tokens, hidden)
        self.head = PerformanceHead(hidden, layers)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(tokens))


@PREDICTORS.register("lstm")
class LSTMPredictor(Predictor):
    name = "lstm"

    def _features(self, archs: Sequence[Arch]) -> tuple[torch.Tensor, ...]:
        return (tokens(self.space, archs),)

    def _network(self, generator: torch.Generator) -> nn.Module:
        with torch.device("meta"):
            net = _EncoderPredictor(self.space.encoding_size(), self.config.hidden, self.config.layers)
        return init_weights(net, generator)
