"""The search loop: ask -> evaluate -> tell, every result appended to the run archive as it arrives.

One loop drives every strategy, locally or on Ray: evaluation goes through an `Executor`
(`LocalExecutor` evaluates in this process, one trial at a time; the Ray executor spreads trials
over actors). The loop keeps the executor full, tells results as they come back, and after every
ask and every tell saves the strategy state atomically, so a `kill -9` at any moment loses at most
the evaluations in flight:

- a trial asked but not recorded is still pending in the saved state, and is evaluated again;
- a trial recorded but not yet told is found in the archive by its hash and told from there,
  without a second evaluation; the same cache answers any architecture seen before in the run.
Evaluation is deterministic, so a resumed local search ends exactly where an uninterrupted one does.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from nas.archive import RunDir, make_record, save_torch_atomic, write_json_atomic
from nas_common.errors import UserError
from nas.evaluate.base import Scorer, score, split_outcomes
from nas.strategies.base import Strategy, Trial
from search_spaces.protocol import SearchSpace


class Executor(Protocol):
    capacity: int

    def submit(self, trial: Trial) -> None: ...

    def wait(self) -> list[tuple[Trial, dict[str, float]]]:
        """Block until at least one submitted trial finished; return the finished ones."""
        ...


class LocalExecutor:
    """Evaluates in this process, in submission order (deterministic)."""

    capacity = 1

    def __init__(self, evaluator: Scorer) -> None:
        self.evaluator = evaluator
        self._queue: deque[Trial] = deque()

    def submit(self, trial: Trial) -> None:
        self._queue.append(trial)

    def wait(self) -> list[tuple[Trial, dict[str, float]]]:
        trial = self._queue.popleft()
        return [(trial, score(self.evaluator, trial.arch))]


def save_strategy(strategy: Strategy, run: RunDir) -> None:
    """State JSON (and a tensor sidecar where the strategy has tensors), each written atomically.

    The sidecar is named by a version that the JSON references, and written first, so the JSON on
    disk always points at a complete sidecar of the same moment.
    """
    state: dict[str, Any] = {"state": strategy.state_dict()}
    tensors = strategy.tensors()
    if tensors:
        version = state["state"]["next_id"] * 1_000_003 + len(strategy.history)
        name = f"strategy_tensors-{version}.pt"
        save_torch_atomic(tensors, run.path / name)
        state["tensors"] = name
    write_json_atomic(run.strategy_state, state)
    for old in run.path.glob("strategy_tensors-*.pt"):
        if old.name != state.get("tensors"):
            old.unlink(missing_ok=True)


def load_strategy(strategy: Strategy, run: RunDir) -> bool:
    """Restore a saved state into `strategy`; False when the run has none yet."""
    saved = run.read_strategy_state()
    if saved is None:
        return False
    try:
        strategy.load_state_dict(saved["state"])
        if saved.get("tensors"):
            from nas.archive.atomic import load_torch

            strategy.load_tensors(load_torch(run.path / saved["tensors"], "strategy tensors",
                                             "restore the run's strategy_tensors file or start a new run"))
    except UserError:
        raise
    except Exception as err:  # a damaged state file surfaces as many error types; one message
        raise UserError(f"strategy state in {run.path} is unreadable ({type(err).__name__}: {err}); "
                        "restore strategy_state.json or start a new run") from None
    return True


@dataclass
class SearchLoop:
    space: SearchSpace
    strategy: Strategy
    executor: Executor
    run: RunDir | None  # None: records kept in memory only (benchmarks over a lookup table)
    hidden_metrics: frozenset[str] = frozenset()
    on_record: Callable[[dict[str, Any], bool], None] | None = None  # (record, is_new)
    records: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Opening the writer repairs a partial last line left by a crash.
        self.writer = self.run.record_writer() if self.run is not None else None
        self.objective = self.strategy.objective

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def _save_strategy(self) -> None:
        if self.run is not None:
            save_strategy(self.strategy, self.run)

    def run_to_end(self) -> list[dict[str, Any]]:
        self.records = self.run.read_records() if self.run is not None else []
        cache = {r["arch_hash"]: r for r in self.records}
        wall_offset = max((r.get("wall_s", 0.0) for r in self.records), default=0.0)
        started = time.perf_counter()
        if self.run is not None:
            self._reconcile(cache, lambda: wall_offset + time.perf_counter() - started)
        in_flight: set[int] = set()
        queue: deque[Trial] = deque(self.strategy.history.pending())  # asked before a crash, never told
        while True:
            if not queue and len(in_flight) < self.executor.capacity and not self.strategy.done():
                queue.extend(self.strategy.ask(self.executor.capacity - len(in_flight)))
                self._save_strategy()
            if not queue and not in_flight:
                break  # done, exhausted, or waiting on nothing: no later ask can change that
            while queue and len(in_flight) < self.executor.capacity:
                trial = queue.popleft()
                hit = cache.get(trial.arch.hash)
                if hit is None:
                    self.executor.submit(trial)
                    in_flight.add(trial.trial_id)
                else:  # recorded before a crash (or seen earlier in the run): no re-evaluation
                    self._tell(trial, hit["metrics"])
                    if self.on_record:
                        self.on_record(hit, False)
            if not in_flight:
                continue
            for trial, metrics in self.executor.wait():
                in_flight.discard(trial.trial_id)
                metrics, outcomes = split_outcomes(metrics)
                record = make_record(trial.arch, metrics, flops=self.space.flops(trial.arch),
                                     params=self.space.params(trial.arch), step=trial.trial_id,
                                     wall_s=wall_offset + time.perf_counter() - started,
                                     objective=self.objective, **outcomes)
                if self.writer is not None:
                    self.writer.append(record)
                self.records.append(record)
                cache[record["arch_hash"]] = record
                self._tell(trial, metrics)
                if self.on_record:
                    self.on_record(record, True)
        return self.records

    def _reconcile(self, cache: dict[str, dict[str, Any]], wall: Callable[[], float]) -> None:
        """Make a resumed run's archive agree with its strategy state: a record of another space is
        refused; a told result whose record disagrees with what was told is refused; a told result
        whose record is missing (a truncated or emptied evaluations.jsonl) is evaluated again and
        recorded, without telling the strategy twice."""
        where = self.run.evaluations
        for record in self.records:
            if record["arch"]["space"] != self.space.name:
                raise UserError(f"{where} holds an architecture of space {record['arch']['space']!r} (step "
                                f"{record['step']}), but this run searches {self.space.name!r}; move that record "
                                "out (it belongs to another run)")
        missing: dict[int, Trial] = {}
        metric = self.objective.metric
        for trial, told in self.strategy.history.told():
            record = cache.get(trial.arch.hash)
            if record is None:
                missing[trial.trial_id] = trial
            elif metric in told and not _same(record["metrics"].get(metric), told[metric]):
                raise UserError(f"{where}: the record of {trial.arch} says {metric}={record['metrics'].get(metric)}, "
                                f"but the strategy was told {told[metric]}; the archive was edited or mixed from two "
                                "runs: restore it, or start a new run")
        for trial in missing.values():
            self.executor.submit(trial)
        while missing:
            for trial, metrics in self.executor.wait():
                missing.pop(trial.trial_id, None)
                metrics, outcomes = split_outcomes(metrics)
                record = make_record(trial.arch, metrics, flops=self.space.flops(trial.arch),
                                     params=self.space.params(trial.arch), step=trial.trial_id, wall_s=wall(),
                                     objective=self.objective, **outcomes)
                self.writer.append(record)
                self.records.append(record)
                cache[record["arch_hash"]] = record

    def _tell(self, trial: Trial, metrics: dict[str, float]) -> None:
        self.strategy.tell(trial.trial_id, {k: v for k, v in metrics.items() if k not in self.hidden_metrics})
        self._save_strategy()


def _same(a: Any, b: Any) -> bool:
    """Equal scores (a float written to JSON and read back is the same float; NaN equals NaN)."""
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True
    return a == b
