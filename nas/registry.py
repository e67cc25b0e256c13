"""The registries of spaces, strategies, evaluators and predictors (defined in `nas_common.registry`)."""

from nas_common.registry import EVALUATORS, PREDICTORS, SPACES, STRATEGIES, TASKS, Registry, UnknownName

__all__ = ["EVALUATORS", "PREDICTORS", "Registry", "SPACES", "STRATEGIES", "TASKS", "UnknownName"]
