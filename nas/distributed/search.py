"""The Ray executor of one search run: connect, size the pool, hand the actors the run's evaluator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from nas.distributed.cluster import connect, resolve_workers
from nas.distributed.executor import RayExecutor
from nas.config.run_config import Cluster


@contextlib.contextmanager
def ray_executor(cluster: Cluster, evaluator: Any) -> Iterator[RayExecutor]:
    """Actors that each build `evaluator`'s twin from its spec (weights put in the object store once)."""
    with connect(cluster.address):
        workers, gpus = resolve_workers(cluster.workers, cluster.gpus_per_worker)
        with RayExecutor(evaluator.spec, workers, gpus, evaluator.shared_weights()) as executor:
            yield executor
