"""Distributed execution on Ray: evaluator actors for the search loop, data-parallel supernet training.

Only this package imports Ray; the runner, strategies and evaluators know nothing of it.
"""
