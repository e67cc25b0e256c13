"""`RayExecutor`: the search loop's executor with evaluations on Ray actors.

Each actor builds its evaluator once from an `EvaluatorSpec` (a supernet's weights are put in the
object store once and shared by reference) and then only scores architectures. The loop drives it
exactly like `LocalExecutor`: `submit` a trial, `wait` for finished ones.

Fault tolerance: an actor that dies mid-task (node lost, OOM kill, `ray.kill`) is replaced by a new
one and its trial runs again, first in line. A dead actor returned nothing, so the trial is recorded
once: no loss, no duplicate. An actor gets trials only once it is placed and built (it answered a
first call): when a lost node leaves no room for the replacement, it waits unplaced and the
surviving actors carry the search instead of a trial waiting forever on it. A replacement budget
stops an evaluator that crashes every actor it runs on from looping forever.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import ray
import torch
from ray.exceptions import RayActorError

from nas_common.errors import UserError
from nas.evaluate.spec import EvaluatorSpec, build_evaluator
from nas.evaluate.base import score
from nas.strategies.base import Trial
from search_spaces.arch import Arch


class EvaluatorActor:
    """One evaluator, built once; torch uses as many threads as Ray gave this actor CPUs."""

    def __init__(self, spec: EvaluatorSpec, weights: dict[str, torch.Tensor] | None) -> None:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
        torch.set_num_threads(max(1, int(cpus)))
        self.evaluator = build_evaluator(spec, weights)

    def score(self, arch: Arch) -> dict[str, float]:
        return score(self.evaluator, arch)

    def threads(self) -> int:
        return torch.get_num_threads()


class RayExecutor:
    """`capacity` actors, one trial each at a time. Needs a connected Ray (see `cluster.connect`)."""

    def __init__(self, spec: EvaluatorSpec, workers: int, gpus_per_worker: float = 0.0,
                 weights: dict[str, torch.Tensor] | None = None, max_replacements: int | None = None) -> None:
        if workers <= 0:
            raise UserError(f"--workers must be positive, got {workers}")
        self.spec, self.capacity, self.gpus_per_worker = spec, workers, gpus_per_worker
        self._weights = ray.put(weights) if weights is not None else None  # once, shared by all actors
        self._actor_class = ray.remote(EvaluatorActor).options(num_cpus=1, num_gpus=gpus_per_worker)
        self._starting: dict[ray.ObjectRef, Any] = {}  # a first call per new actor: ready when answered
        self.actors: list[Any] = [self._start() for _ in range(workers)]  # exposed for tests
        self._idle: deque[Any] = deque()
        self._queue: deque[Trial] = deque()  # submitted, waiting for an idle actor
        self._running: dict[ray.ObjectRef, tuple[Any, Trial]] = {}
        self.replacements = 0
        self.max_replacements = 3 * workers if max_replacements is None else max_replacements

    def _start(self) -> Any:
        actor = self._actor_class.remote(self.spec, self._weights)
        self._starting[actor.threads.remote()] = actor
        return actor

    def submit(self, trial: Trial) -> None:
        self._queue.append(trial)
        self._dispatch()

    def _dispatch(self) -> None:
        while self._queue and self._idle:
            actor, trial = self._idle.popleft(), self._queue.popleft()
            self._running[actor.score.remote(trial.arch)] = (actor, trial)

    def wait(self) -> list[tuple[Trial, dict[str, float]]]:
        """Block until at least one trial finished; a trial whose actor died is re-run, not returned."""
        results: list[tuple[Trial, dict[str, float]]] = []
        while not results:
            pending = [*self._running, *self._starting]
            if not self._running and not self._queue or not pending:
                raise RuntimeError("wait() with no trial submitted")
            ray.wait(pending, num_returns=1)  # block for one, then take all that are done
            ready, _ = ray.wait(pending, num_returns=len(pending), timeout=0)
            for ref in ready:
                if ref in self._starting:  # a new actor is placed and built: it may take trials
                    actor = self._starting.pop(ref)
                    try:
                        ray.get(ref)
                    except RayActorError as err:  # it died while being built: another one
                        self._replace(actor, err)
                        continue
                    self._idle.append(actor)
                    continue
                actor, trial = self._running.pop(ref)
                try:
                    metrics = ray.get(ref)
                except RayActorError as err:  # the actor died (or became unreachable) mid-task
                    self._replace(actor, err)
                    self._queue.appendleft(trial)  # run again, first in line
                    continue
                self._idle.append(actor)
                results.append((trial, metrics))
            self._dispatch()
        return results

    def _replace(self, dead: Any, err: Exception) -> None:
        self.replacements += 1
        if self.replacements > self.max_replacements:
            raise RuntimeError(f"evaluator actors died {self.replacements} times (last: {err}); giving up") from err
        ray.kill(dead)  # if it was only unreachable, make sure it never comes back
        self.actors[self.actors.index(dead)] = self._start()  # takes trials once placed (see wait)

    def close(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
        self.actors, self._running, self._starting = [], {}, {}
        self._idle.clear()

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
