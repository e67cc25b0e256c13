"""A cell as a DAG of nodes (NB201, DARTS and binary cells): each node is the sum of its incoming
edges, each edge an op applied to an earlier node.

`CellGraph` is the plain description (input nodes, edges as (target, source) pairs, which nodes
form the output); `walk(inputs, run_edge)` evaluates it for any edge function, so the stand-alone
cell (`run_edge = its fixed op`), the single-path supernet cell (`op(x, choice)`) and DARTS's mixed
cell (`op.forward_mixed(x, weights)`) share one traversal. `to_networkx` gives the graph for
predictors and plots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import torch

if TYPE_CHECKING:
    import networkx


@dataclass(frozen=True)
class CellGraph:
    num_inputs: int  # nodes 0..num_inputs-1 are the cell's inputs (NB201: 1; DARTS: 2)
    num_nodes: int  # all nodes, inputs included
    edges: tuple[tuple[int, int], ...]  # (target, source), source < target; edge e is edges[e]
    output: str = "last"  # "last": the last node; "concat": channel-concat of the non-input nodes

    def __post_init__(self) -> None:
        if self.output not in ("last", "concat"):
            raise ValueError(f"cell output must be 'last' or 'concat', got {self.output!r}")
        for target, source in self.edges:
            if not (0 <= source < target < self.num_nodes and target >= self.num_inputs):
                raise ValueError(f"edge ({target} <- {source}) does not go forward into a computed node")
        fed = {t for t, _ in self.edges}
        missing = [n for n in range(self.num_inputs, self.num_nodes) if n not in fed]
        if missing:
            raise ValueError(f"nodes {missing} have no incoming edge")

    def walk(self, inputs: Sequence[torch.Tensor], run_edge: Callable[[int, torch.Tensor], torch.Tensor]
             ) -> torch.Tensor:
        """The cell's output for `inputs`, with `run_edge(e, source_tensor)` as edge e's op."""
        if len(inputs) != self.num_inputs:
            raise ValueError(f"the cell takes {self.num_inputs} inputs, got {len(inputs)}")
        nodes = list(inputs)
        for target in range(self.num_inputs, self.num_nodes):
            nodes.append(sum(run_edge(e, nodes[source]) for e, (t, source) in enumerate(self.edges)
                             if t == target))
        if self.output == "last":
            return nodes[-1]
        return torch.cat(nodes[self.num_inputs:], dim=1)

    def to_networkx(self, labels: Sequence[str] | None = None) -> "networkx.DiGraph":
        """Nodes 0..num_nodes-1; each edge carries its index `e` and, if given, `labels[e]` as `op`."""
        import networkx

        graph = networkx.DiGraph()
        graph.add_nodes_from(range(self.num_nodes))
        for e, (target, source) in enumerate(self.edges):
            graph.add_edge(source, target, e=e, **({"op": labels[e]} if labels is not None else {}))
        return graph
