"""Search spaces. Importing this package registers every space in `nas_common.registry.SPACES`."""

from search_spaces.arch import Arch
from search_spaces.protocol import Decision, Membership, SearchSpace

from search_spaces import nb201  # noqa: F401  (registers "nb201")
from search_spaces import shufflenet  # noqa: F401  (registers "shufflenet")
from search_spaces import detection  # noqa: F401  (registers "detnas" and "nasfpn")
from search_spaces import mbconv  # noqa: F401  (registers "mbconv")
from search_spaces import darts  # noqa: F401  (registers "darts")
from search_spaces import binary  # noqa: F401  (registers "binary")

__all__ = ["Arch", "Decision", "Membership", "SearchSpace"]
