"""Your own model as a search space: choice points in plain PyTorch (`LayerChoice`, `InputChoice`,
`ValueChoice`, `Repeat`), layers whose sizes are nested choices (`nested`: `Conv2d`, `BatchNorm2d`,
`Linear`), and the space, supernet and stand-alone networks derived from them (`model_space`)."""

from search_spaces.model_space.choices import (
    ChosenInput, InputChoice, LayerChoice, Repeat, SpaceDefinitionError, ValueChoice, fixed, recording,
)
from search_spaces.model_space.space import ModelSpace, ModelSupernet, model_space, resolve_reference

__all__ = ["ChosenInput", "InputChoice", "LayerChoice", "ModelSpace", "ModelSupernet", "Repeat",
           "SpaceDefinitionError", "ValueChoice", "fixed", "model_space", "recording", "resolve_reference"]
