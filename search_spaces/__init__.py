"""Search spaces. Importing this package registers every space in `nas_common.registry.SPACES`."""

from search_spaces.arch import Arch
from search_spaces.protocol import Decision, Membership, SearchSpace

from search_spaces import nb201  # noqa: F401  (registers "nb201")
from search_spaces import shufflenet  # noqa: F401  (registers "shufflenet")
from search_spaces import detection  # noqa: F401  (registers "detnas" and "nasfpn")
from search_spaces import mbconv  # noqa: F401  (registers "mbconv")
from search_spaces import darts  # noqa: F401  (registers "darts")
from search_spaces import binary  # noqa: F401  (registers "binary")

from nas_common.registry import SPACES
from search_spaces.model_space import ModelSpace, model_space, resolve_reference

SPACES.add_resolver(resolve_reference)  # `--space package.module:Class`: a model with choice points
SPACES.set_adapter(lambda name, obj: obj if isinstance(obj, type) and issubclass(obj, SearchSpace)
                   else model_space(obj, name=name))  # a `nas.spaces` entry point may name a model class

__all__ = ["Arch", "ModelSpace", "model_space", "Decision", "Membership", "SearchSpace"]
