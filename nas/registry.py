"""The registries of spaces, strategies, evaluators, predictors and zero-cost proxies (defined in `nas_common.registry`)."""

from nas_common.registry import (EVALUATORS, PREDICTORS, PROXIES, SPACES, STRATEGIES, TASKS, TRAINING_METHODS,
                                 Registry, UnknownName)

__all__ = ["EVALUATORS", "PREDICTORS", "PROXIES", "Registry", "SPACES", "STRATEGIES", "TASKS", "TRAINING_METHODS",
           "UnknownName"]
