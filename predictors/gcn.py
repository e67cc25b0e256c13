"""`gcn`: a graph convolutional predictor for cell spaces, in the manner of GATES (Ning et al.,
ECCV 2020) and BRP-NAS (Dudziak et al., NeurIPS 2020).

The space draws the cell (`space.graph(arch)` -> `networkx.DiGraph` whose nodes carry an `op`
label; NB201 gives the op-on-node form). Node features are one-hot op labels over the vocabulary
`input`, `output` and every option name of the space. Each layer mixes a node with the mean of its
predecessors and the mean of its successors (information flows both ways along the cell, which
GATES and BRP-NAS found to matter), then ReLU; the readout is the mean over nodes, then an MLP.
Spaces without `graph` cannot use this model.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from nas_common.errors import UserError
from nas_common.registry import PREDICTORS
from predictors.base import Predictor, init_weights
from predictors.mlp import mlp
from search_spaces.protocol import GraphForm
from search_spaces.arch import Arch


def op_vocabulary(space) -> tuple[str, ...]:
    names = ["input", "output"]
    for d in space.decisions:
        names += [o for o in d.options if o not in names]
    return tuple(names)


def graph_tensors(space, archs: Sequence[Arch]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(adjacency (B, N, N) with [b, i, j] = 1 for an edge i -> j, one-hot ops (B, N, V), node
    mask (B, N)); graphs smaller than the largest are padded with masked-out nodes."""
    if not isinstance(space, GraphForm):
        raise UserError(f"the gcn predictor needs a cell space that draws its graph (space.graph); "
                        f"{space.name} has none: use --model mlp or lstm")
    vocab = {name: i for i, name in enumerate(op_vocabulary(space))}
    graphs = [space.graph(a) for a in archs]
    n = max(g.number_of_nodes() for g in graphs)
    adj = np.zeros((len(graphs), n, n), dtype=np.float32)
    ops = np.zeros((len(graphs), n, len(vocab)), dtype=np.float32)
    mask = np.zeros((len(graphs), n), dtype=np.float32)
    for b, g in enumerate(graphs):
        index = {node: i for i, node in enumerate(g.nodes)}  # the space's node order
        for node, i in index.items():
            label = g.nodes[node].get("op")
            if label not in vocab:
                raise UserError(f"{space.name}.graph gave node {node!r} the op {label!r}, which is not "
                                f"input, output or an option name of the space")
            ops[b, i, vocab[label]] = 1.0
            mask[b, i] = 1.0
        for u, v in g.edges:
            adj[b, index[u], index[v]] = 1.0
    return torch.from_numpy(adj), torch.from_numpy(ops), torch.from_numpy(mask)


class GraphConv(nn.Module):
    """h' = relu(W_self h + W_in mean(predecessors' h) + W_out mean(successors' h))."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.self_ = nn.Linear(dim_in, dim_out)
        self.in_ = nn.Linear(dim_in, dim_out, bias=False)
        self.out_ = nn.Linear(dim_in, dim_out, bias=False)

    def forward(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        # adj (B, N, N); h (B, N, D). Predecessors of j: column j of adj; successors of i: row i.
        pred = adj.transpose(1, 2)
        pred = pred / pred.sum(-1, keepdim=True).clamp(min=1)
        succ = adj / adj.sum(-1, keepdim=True).clamp(min=1)
        return torch.relu(self.self_(h) + self.in_(pred @ h) + self.out_(succ @ h))


class GCN(nn.Module):
    def __init__(self, vocab: int, hidden: int, layers: int) -> None:
        super().__init__()
        dims = [vocab] + [hidden] * layers
        self.convs = nn.ModuleList(GraphConv(a, b) for a, b in zip(dims, dims[1:]))
        self.head = mlp([hidden, hidden, 1])

    def forward(self, adj: torch.Tensor, ops: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = ops
        for conv in self.convs:
            h = conv(h, adj) * mask[..., None]  # padded nodes stay zero
        pooled = h.sum(1) / mask.sum(1, keepdim=True)
        return self.head(pooled).squeeze(-1)


@PREDICTORS.register("gcn")
class GCNPredictor(Predictor):
    name = "gcn"

    def __init__(self, space, config=None) -> None:
        super().__init__(space, config)
        if not isinstance(space, GraphForm):
            graph_tensors(space, [])  # raises the UserError that explains

    def _features(self, archs: Sequence[Arch]) -> tuple[torch.Tensor, ...]:
        return graph_tensors(self.space, archs)

    def _network(self, generator: torch.Generator) -> nn.Module:
        with torch.device("meta"):
            net = GCN(len(op_vocabulary(self.space)), self.config.hidden, self.config.layers)
        return init_weights(net, generator)
