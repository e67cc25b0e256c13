"""What every evaluator kind provides, as protocols (the registry holds the classes).

An evaluator kind is built in exactly three ways: for a search run (`for_search`, which may train
a supernet first), from a picklable `EvaluatorSpec` where a Ray actor runs (`from_spec`), and, to
validate a new search's options before anything is trained, the space it would search
(`search_space`). Callers never compare kind names: they ask the registry for the class and use
its attributes (`uses_supernet`: whether export, rank-check and inherited-BN reports apply).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import torch

from nas.evaluate.spec import EvaluatorSpec
from nas_common.objective import Objective
from nas.tasks.uncertainty import PER_IMAGE
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace

if TYPE_CHECKING:
    from nas.config.run_config import SearchConfig


class Scorer(Protocol):
    """What the search loop needs of an evaluator (toy objectives in tests give just this): scores an
    architecture. `evaluate` gives the search signal (told to the strategy);
    `reported` gives figures recorded in the archive but never told (e.g. the NB201 table's
    200-epoch test accuracy), whose names are `hidden_metrics`."""

    hidden_metrics: frozenset[str]

    def evaluate(self, arch: Arch) -> dict[str, float]: ...

    def reported(self, arch: Arch) -> dict[str, float]: ...


def split_outcomes(result: dict[str, Any]) -> tuple[dict[str, float], dict[str, Any]]:
    """An evaluation's numbers, and its per-image outcomes as a record's extra field (if any)."""
    numbers = {k: v for k, v in result.items() if k != PER_IMAGE}
    return numbers, ({PER_IMAGE: result[PER_IMAGE]} if PER_IMAGE in result else {})


def score(evaluator: Scorer, arch: Arch) -> dict[str, float]:
    """Everything recorded for `arch`: the search signal and the hidden, reported figures."""
    return {**evaluator.evaluate(arch), **evaluator.reported(arch)}


class Evaluator(Scorer, Protocol):
    """A registered evaluator kind's instance: a scorer that also says what a search needs to judge it."""

    chance: float | None  # the objective an untrained model scores (nas.judging.trust); None: no such check
    images_available: int | None  # images a validation split could be drawn from; None: not a question
    spec: EvaluatorSpec  # how to build the same evaluator elsewhere

    def shared_weights(self) -> dict[str, torch.Tensor] | None: ...  # what from_spec needs beside the spec


@runtime_checkable
class HeldOutScorer(Protocol):
    """An evaluator that can score an architecture again on images the search never chose by
    (`nas.tasks.splits`): the confirmation images that judge the verdict, and the test split that is
    only reported. The supernet evaluator is one (a path is rescored in a second); evaluators that
    train each candidate or read a table keep no network to rescore."""

    split_images: dict[str, int]  # {"validation": n, "confirmation": n, "test": n}

    def confirm_metrics(self, arch: Arch) -> dict[str, Any]: ...  # "confirm_<metric>", per-image outcomes

    def test_metrics(self, arch: Arch, per_image: bool = False) -> dict[str, Any]: ...


class EvaluatorKind(Protocol):
    Config: ClassVar[type]  # the typed settings in config.json's "evaluator" (besides "kind")
    uses_supernet: ClassVar[bool]
    # the spaces whose fixed networks it has rows for (a benchmark table); None: it scores any space
    spaces: ClassVar[tuple[str, ...] | None]

    @classmethod
    def for_search(cls, run_path: Path, config: "SearchConfig", device: torch.device,
                   quiet: bool) -> tuple[SearchSpace, Evaluator]: ...

    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, weights: dict[str, torch.Tensor] | None) -> Evaluator: ...

    @classmethod
    def search_space(cls, config: "SearchConfig") -> SearchSpace: ...

    @classmethod
    def objective_of(cls, config: "SearchConfig") -> Objective: ...  # what evaluate() returns as the signal

    @classmethod
    def estimator(cls, config: "SearchConfig") -> tuple[str, str]: ...  # (id in nas.evaluate.known, label)
