"""Independent CPU tasks on a local Ray instance (or the connected cluster), one core each."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import ray

from nas.distributed.cluster import connect
from nas_common.errors import UserError


def map_tasks(fn: Callable[..., Any], calls: Sequence[tuple], cpus: int,
              on_result: Callable[[int, Any], None]) -> None:
    """Run fn(*calls[i]) as Ray tasks of one CPU each on `cpus` CPUs; `on_result(i, value)` as each
    finishes (in completion order). A UserError raised in a task is re-raised here as itself."""
    with connect(num_cpus=cpus):
        task = ray.remote(num_cpus=1)(fn)
        refs = {task.remote(*args): i for i, args in enumerate(calls)}
        waiting = list(refs)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            try:
                value = ray.get(ready[0])
            except ray.exceptions.RayTaskError as err:
                _settle(waiting)
                if isinstance(err.cause, UserError):  # e.g. a table that lacks a proposed architecture
                    raise err.cause from None
                raise
            on_result(refs[ready[0]], value)


def _settle(refs: list, timeout_s: float = 10.0) -> None:
    """Cancel the tasks still running and wait for them to end before Ray shuts down: a task that
    fails after its driver has gone makes Ray's core print "Failed to push error to driver" on the
    terminal, under the one-line error the user should see alone."""
    for ref in refs:
        ray.cancel(ref)
    if refs:
        ray.wait(refs, num_returns=len(refs), timeout=timeout_s)
