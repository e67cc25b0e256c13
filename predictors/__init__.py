"""Performance predictors: learn an architecture's score from evaluated ones.

Importing this package registers every model in `nas_common.registry.PREDICTORS` (`mlp`, `lstm`, `gcn`, `paths`).
Build one with `make_predictor(name, space, **options)`, reload a saved one with
`load_predictor(dir)`; `predictors.runs` reads training data from run archives.
"""

from predictors.base import Predictor, PredictorConfig, load_predictor

from predictors import gcn, lstm, mlp, paths  # noqa: F401  (register "gcn", "lstm", "mlp", "paths")


def make_predictor(name: str, space, **options) -> Predictor:
    """The registered predictor `name` over `space`; options are `PredictorConfig` fields."""
    from nas_common.registry import PREDICTORS
    from nas_common.typed_config import build_config

    cls = PREDICTORS.get(name)
    return cls(space, build_config(PredictorConfig, options, owner=f"predictor {name!r}"))


__all__ = ["Predictor", "PredictorConfig", "load_predictor", "make_predictor"]
