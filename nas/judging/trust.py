"""Can this supernet be searched? Random paths scored before the search spends its budget.

A supernet that has not learned scores every path near chance; a search on it ranks noise and
still reports a "best architecture". So before the search, K uniformly random architectures
(under the run's constraint) are scored like any candidate; their distribution is kept in the run
directory (`random_baseline.json`, reused on resume, copied into `summary.json`) and printed, and
the search stops with a one-line error when their median is not clearly above chance, or when
the validation set cannot tell them apart (their differences are mostly sampling noise:
`nas.judging.verdict.separability`), saying how many validation images the measured noise asks for.

"Clearly above" = at least `MIN_GAIN` of the way from chance to a perfect score, e.g. 14.5% for 10
classes (chance 10%) and 52.5% for 2 classes. `--force` searches anyway.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nas.archive.atomic import write_json_atomic
from nas_common.errors import UserError
from nas.constraints.limits import Constraint
from nas_common.json_files import read_json_or_none
from nas.strategies.random_search import RandomSearch
from nas.tasks.uncertainty import PER_IMAGE
from nas.judging.verdict import MIN_RELIABILITY, WANTED_RELIABILITY, describe_separability, separability

MIN_GAIN = 0.05
BASELINE_NAME = "random_baseline.json"
_BASELINE_STREAM = 0xBA5E


def sample_random(space, constraint: Constraint, count: int, seed: int) -> list:
    """`count` distinct uniformly random architectures that satisfy the constraint: random search's
    own sampler, on a stream of its own so the baseline never repeats the search's draws."""
    if count < 1:
        return []
    sampler = RandomSearch(space, budget=count, constraint=constraint,
                           rng=np.random.default_rng([seed, _BASELINE_STREAM]))
    return [trial.arch for trial in sampler.ask(count)]


def distribution(values: list[float]) -> dict[str, float]:
    q25, q75 = np.percentile(values, [25, 75]) if values else (float("nan"),) * 2
    return {"median": statistics.median(values), "q25": float(q25), "q75": float(q75),
            "min": min(values), "max": max(values)}


def random_baseline(run_path: Path, space, evaluator, constraint: Constraint, count: int, seed: int,
                    objective: str = "val_acc", on_result: Callable[[], None] | None = None) -> dict[str, Any]:
    """Score `count` random architectures (or read the scores a previous attempt saved)."""
    path = Path(run_path) / BASELINE_NAME
    if path.exists():
        saved = read_json_or_none(path)  # derived data: recomputed below when damaged
        if saved is not None and saved.get("count") == count:
            return saved
    evaluations = []
    for arch in sample_random(space, constraint, count, seed):
        result = evaluator.evaluate(arch)
        entry = {"arch_hash": arch.hash, "choices": list(arch.choices), objective: result[objective]}
        if f"{objective}_se" in result:  # the noise of each score, for the separability check
            entry[f"{objective}_se"] = result[f"{objective}_se"]
        if PER_IMAGE in result:
            entry[PER_IMAGE] = result[PER_IMAGE]
        evaluations.append(entry)
        if on_result is not None:
            on_result()
    values = [e[objective] for e in evaluations]
    baseline = {"count": len(values), "objective": objective, "evaluations": evaluations}
    if values:
        stats = distribution(values)
        baseline.update({f"{k}_{objective}": v for k, v in stats.items()})
    write_json_atomic(path, baseline)
    return baseline


def describe(baseline: dict[str, Any], chance: float | None, unit: str = "%") -> str:
    """One line: the random architectures' median, quartiles and range (`unit`: the objective's)."""
    obj = baseline.get("objective", "val_acc")
    if not baseline.get("count"):
        return "no random architecture scored"
    u = unit
    text = (f"median {obj} {baseline[f'median_{obj}']:.2f}{u} over {baseline['count']} random architectures "
            f"(quartiles {baseline[f'q25_{obj}']:.2f}-{baseline[f'q75_{obj}']:.2f}{u}, "
            f"range {baseline[f'min_{obj}']:.2f}-{baseline[f'max_{obj}']:.2f}{u})")
    return text + (f"; chance {chance:.2f}{u}" if chance is not None else "")


def check_learned(baseline: dict[str, Any], chance: float | None, run_path: Path, force: bool,
                  unit: str = "%") -> None:
    """Raise UserError when the random architectures score like chance (unless `force`)."""
    obj = baseline.get("objective", "val_acc")
    if chance is None or force or not baseline.get("count"):
        return
    median = baseline[f"median_{obj}"]
    needed = chance + MIN_GAIN * (100.0 - chance)
    if median < needed:
        raise UserError(
            f"the supernet has not learned: {baseline['count']} random architectures score a median "
            f"{median:.2f}{unit} {obj} (chance {chance:.2f}{unit}, needed >= {needed:.2f}{unit}), so a search would rank "
            f"noise; train it longer (--epochs) or with a lower --lr, or search anyway with "
            f"`nas search --resume {run_path} --force`")


def check_separable(baseline: dict[str, Any], run_path: Path, force: bool, unit: str = "%",
                    scale: float = 100.0, available: int | None = None) -> dict[str, Any] | None:
    """Raise UserError when the validation set cannot tell the random architectures apart (most of
    their differences are sampling noise; unless `force`); returns the measured separability (None
    when the scores carry no noise estimate). `available`: the images a validation split could be
    drawn from, to say when the images needed exceed the data set."""
    obj = baseline.get("objective", "val_acc")
    sep = separability(baseline.get("evaluations", []), obj, scale)
    if sep is None or force or sep["reliability"] >= MIN_RELIABILITY:
        return sep
    if sep["images_needed"]:
        more = (f"score on about {sep['images_needed']:,} validation images (now {sep['images']:,}; "
                f"--val-size, --val-images) for a reliability of {WANTED_RELIABILITY}")
        if available is not None and sep["images_needed"] > available:
            more += (f"; this data set has only {available:,} images outside its test split, so that needs "
                     f"a larger data set")
    else:
        more = "no spread beyond noise at all: more validation images alone will not help"
    raise UserError(
        f"the validation set cannot tell architectures apart: {describe_separability(sep, unit)} "
        f"(needed >= {MIN_RELIABILITY}), so a search would rank noise; {more}, or train the supernet longer "
        f"(--epochs); or search anyway with `nas search --resume {run_path} --force`")


def check_mixed_learned(training: list[dict[str, Any]], chance: float | None, run_path: Path,
                        force: bool) -> dict[str, float] | None:
    """A DARTS supernet is judged by what DARTS uses, its mixed forward: the last epoch's mean
    accuracy on the alphas' validation batches (images the weights never train on). Single paths of
    such a supernet score near chance whatever it learned, so the random-path check says nothing.
    Returns {"val_acc", "chance"} (None when the log has no held-out accuracy: second-order
    DARTS); raises UserError when it is not clearly above chance (unless `force`)."""
    last = training[-1] if training else {}
    if "val_acc" not in last or chance is None:
        return None
    measured = {"val_acc": float(last["val_acc"]), "chance": chance, "epoch": last.get("epoch")}
    needed = chance + MIN_GAIN * (100.0 - chance)
    if measured["val_acc"] < needed and not force:
        raise UserError(
            f"the DARTS supernet has not learned: its mixed forward scores {measured['val_acc']:.2f}% on held-out "
            f"images (chance {chance:.2f}%, needed >= {needed:.2f}%), so its alphas rank noise; train it longer "
            f"(--epochs) or search anyway with `nas search --resume {run_path} --force`")
    return measured
