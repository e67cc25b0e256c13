"""Detection spaces and their parts, in one place: the `detnas` space (a searched ShuffleNetV2
backbone in a RetinaNet detector, Chen et al. 2019), the `nasfpn` space (a searched feature
pyramid, Ghiasi et al. 2019) and its cell encoding, the FPN/RetinaNet heads, merging cells and box
operations. Importing it registers both spaces."""

from search_spaces.detection import detnas, nasfpn  # noqa: F401  (registers "detnas" and "nasfpn")
