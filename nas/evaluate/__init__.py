"""Evaluators score an architecture and return a metrics dict; they know nothing of strategies.

Importing this package registers every evaluator kind in `nas_common.registry.EVALUATORS` (`table`,
`supernet`, `zc`, `standalone`). A kind is a class with the class-level contract of `nas.evaluate.base.EvaluatorKind`
(how to build it for a search run, from a picklable spec in a Ray actor, which space a run
searches); its instances follow `nas.evaluate.base.Evaluator`.
"""

from nas.evaluate import standalone, supernet_evaluator, table, zero_cost  # noqa: F401  (register every kind)
