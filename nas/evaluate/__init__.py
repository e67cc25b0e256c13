"""Evaluators score an architecture and return a metrics dict; they know nothing of strategies."""
