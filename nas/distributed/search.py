"""The Ray executor of one search run: connect, size the pool, hand the actors the run's evaluator."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nas.archive import RunDir
from nas.distributed.cluster import connect, resolve_workers
from nas.distributed.executor import RayExecutor
from nas.evaluate.spec import EvaluatorSpec


def evaluator_spec(run: RunDir, config: dict[str, Any], evaluator: Any) -> tuple[EvaluatorSpec, dict | None]:
    """(spec, supernet weights or None) of the evaluator `nas.search.build_evaluator` made for `run`."""
    settings = dict(config["evaluator"])
    if settings.pop("kind", "supernet") == "table":
        return EvaluatorSpec("table", table=settings.get("table")), None
    from nas.supernet.loading import read_supernet_config

    supernet_dir = Path(config["supernet"].get("run") or run.path / "supernet")
    spec = EvaluatorSpec.for_supernet_run(read_supernet_config(supernet_dir), settings, config["seed"],
                                          config.get("device", "auto"))
    weights = {k: v.detach().cpu() for k, v in evaluator.supernet.state_dict().items()}
    return spec, weights


@contextlib.contextmanager
def ray_executor(run: RunDir, config: dict[str, Any], evaluator: Any) -> Iterator[RayExecutor]:
    spec, weights = evaluator_spec(run, config, evaluator)
    with connect(config.get("address")):
        workers, gpus = resolve_workers(config.get("workers", 1), config.get("gpus_per_worker"))
        with RayExecutor(spec, workers, gpus, weights) as executor:
            yield executor
