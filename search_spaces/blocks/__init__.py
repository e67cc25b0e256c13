"""Building blocks shared by spaces: conv-norm-act with the norm and activation as arguments,
squeeze-and-excitation, a mixed op over candidate modules (single-path and weighted forward), a
cell graph (the DAG traversal of NB201/DARTS/binary cells) and, in `search_spaces.cost`, the
additive per-decision cost table. A space's own folder holds only what is its own."""

from search_spaces.blocks.cell import CellGraph
from search_spaces.blocks.conv import ConvNormAct, conv_norm_act
from search_spaces.blocks.mixed import MixedOp
from search_spaces.blocks.se import SqueezeExcite

__all__ = ["CellGraph", "ConvNormAct", "MixedOp", "SqueezeExcite", "conv_norm_act"]
