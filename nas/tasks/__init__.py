"""Tasks (classification; detection comes with DetNAS): see `nas.tasks.base.Task`.

Importing this package registers every task in `nas_common.registry.TASKS`. `task_of(config)` is the task
of a run config ("task" key; runs written before tasks existed are classification).
"""

from typing import Any, Mapping

from nas.tasks import classification, detection  # noqa: F401  (register "classification", "detection")
from nas.tasks.base import Task
from nas_common.registry import TASKS


def get_task(name: str = "classification") -> Task:
    return TASKS.get(name)()


def task_of(config: Mapping[str, Any]) -> Task:
    return get_task(config.get("task") or "classification")


__all__ = ["Task", "get_task", "task_of"]
