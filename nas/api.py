"""The Python API: search, resume and read runs from a notebook or a script.

    import nas.api as nas
    result = nas.search(MyNet, strategy="evolution", data="cifar10-subset", budget=60, steps=300)
    result.best.arch, result.best.metrics          # the best architecture and what it scored
    model = result.model()                         # its stand-alone network, supernet weights inherited
    nas.resume(result.path, budget=100)            # continue the run
    nas.load("runs/archived/shufflenet-cifar10-evolution")   # any run directory
    nas.search_with(nas.SearchRequest(space="nb201", strategy="rl", evaluator="table", budget=100))
    space = nas.space(MyNet, in_channels=1)        # look before searching: decisions, sample, build
    space.build(space.from_labels({"kernel": 5, "width": 32}))   # your model, those choices taken

`search` takes the settings of `nas search` by the names of its flags (`budget`, `seed`, `data`,
`steps`, `epochs`, `evaluator`, `max_flops`, `preset`, ..., see `nas search --help`), with
`space_options`, `strategy_options` and `evaluator_options` as dicts for `-S`, `-o` and `-E`. The
command line calls the same functions (`plan`, `create`, `reopen`, `run`): one resolution of the
settings, one way to start a run, so a search started either way is the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from nas.archive import RunDir, new_run_id
from nas.archive.summary import ranked
from nas.config.request import SearchRequest
from nas.config.run_config import SearchConfig
from nas_common.errors import UserError
from search_spaces.arch import Arch


# ---- the steps the command line also takes ---------------------------------------------------------
@dataclass(frozen=True)
class Plan:
    """A resolved new search, checked before anything is written: its config, and what its strategy
    warns about and will do (budget)."""

    config: SearchConfig
    warnings: tuple[str, ...]
    budget: int | None
    steps: str  # e.g. "train the supernet (800 steps) -> score 10 random architectures -> search 60 ..."


def plan(request: SearchRequest) -> Plan:
    """Presets filled in and every option checked (strategy, space, data, constraint feasibility)."""
    from nas.config.resolve import config_from_file, resolve_config
    from nas.workflows.search import check_feasible, describe_steps, space_for_config

    config = config_from_file(request) if request.config is not None else resolve_config(request)
    strategy = check_feasible(space_for_config(config), config)
    return Plan(config, tuple(strategy.warnings()), strategy.budget, describe_steps(config, strategy.budget))


def create(planned: Plan, out: str | Path | None = None) -> RunDir:
    """The run directory of a planned search (default `runs/<date>-<time>-<space>-<strategy>`)."""
    config = planned.config
    return RunDir.create(out or Path("runs") / new_run_id(config.space.rsplit(':', 1)[-1], config.strategy), config.to_dict())


def reopen(request: SearchRequest) -> tuple[RunDir, Callable[[], None]]:
    """A stopped search, checked and with `request`'s allowed changes (budget, workers) saved; and
    how to put its config back if the resumed search is refused before it records anything."""
    from nas.archive.atomic import write_bytes_atomic, write_json_atomic
    from nas.config.resolve import resume_config

    run_dir, saved = resume_config(request)
    config = SearchConfig.from_dict(saved, where=str(run_dir.config))
    before, size = run_dir.config.read_bytes(), _size(run_dir.evaluations)
    write_json_atomic(run_dir.config, config.to_dict())

    def undo() -> None:
        if _size(run_dir.evaluations) == size:
            write_bytes_atomic(run_dir.config, before)  # a refused resume leaves the run as it was

    return run_dir, undo


def run(run_dir: RunDir, *, quiet: bool = True, undo: Callable[[], None] | None = None, **callbacks: Any):
    """Train what the run's config asks for, search, write the summary (`nas.workflows.search.execute`;
    `callbacks`: on_record, on_baseline, on_search_start, on_held_out)."""
    from nas.workflows.search import execute

    try:
        return execute(run_dir, quiet=quiet, **callbacks)
    except UserError:
        if undo is not None:
            undo()
        raise


# ---- the one-call API -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ranked:
    """One evaluated architecture: its rank (1 = best), architecture, metrics (with their standard
    errors as `<metric>_se` where measured), FLOPs and parameters."""

    rank: int
    arch: Arch
    metrics: dict[str, Any]
    flops: int | None
    params: int | None
    # the architecture as a person reads it: each decision's option by label (`SearchSpace.describe`)
    # and on one line (`SearchSpace.readable`: NB201's cell string, ShuffleNet's blocks); empty when
    # the run's space cannot be rebuilt here
    labels: dict[str, str] = field(default_factory=dict)
    readable: str = ""


@dataclass
class SearchResult:
    """A run directory, read: its config, summary and ranked records. `model(arch)` gives the
    stand-alone network of an architecture with the supernet's weights and recalibrated BN."""

    path: Path
    config: dict[str, Any]
    summary: dict[str, Any]
    ranking: list[Ranked] = field(default_factory=list)

    @property
    def best(self) -> Ranked:
        if not self.ranking:
            raise UserError(f"{self.path} has no evaluated architecture yet")
        return self.ranking[0]

    @property
    def objective(self) -> Any:
        return RunDir(self.path).objective()

    @property
    def verdict(self) -> dict[str, Any] | None:
        """Is the best better than random? `better_than_random`, decided on the images named by
        `basis` ("confirmation": images that took no part in choosing it; "selection": the
        validation lead against the best of N equal architectures, where none were kept apart),
        `splits` (validation, confirmation, test side by side) and `text`. None for a run without
        noise estimates (a table search) or one that has not ended."""
        return self.summary.get("verdict")

    def space(self) -> Any:
        """The run's search space, rebuilt with the options it ran with."""
        from nas.supernet.loading import space_of_search

        return space_of_search(RunDir(self.path), self.config)

    def model(self, arch: Arch | None = None, *, calibration_images: int | None = None, device: str = "auto",
              preprocessed: bool = True):
        """The stand-alone network of `arch` (default: the best) holding the supernet's weights on
        its path, BN statistics recalibrated as the search scored it; eval mode. It takes images as
        you have them, floats in [0, 1] (pixels / 255), NCHW: the normalisation of the data it was
        trained on is its first module (`.net` is the bare network; `preprocessed=False` gives that
        alone, which expects normalised images). A run without a supernet (a table or zero-cost
        search) has no weights to give: train the network instead."""
        from nas.data.preprocessed import with_preprocessing
        from nas.workflows.export import recalibrated_network

        network = recalibrated_network(self.path, arch, calibration_images=calibration_images, device=device)
        if not preprocessed:
            return network.model.eval()
        run = network.supernet_run
        return with_preprocessing(network.model, run.task.preprocessing(run.data)).eval()


def load(run: str | Path) -> SearchResult:
    """Any search run directory (an archived one included), read; damaged lines of its log are
    skipped with a warning, never rewritten."""
    run_dir = RunDir.open(run)
    config = run_dir.read_config()
    objective = run_dir.objective()
    records = ranked(run_dir.read_records(strict=False), objective)
    summary = {}
    if run_dir.summary.exists():
        from nas_common.json_files import read_json_or_none

        summary = read_json_or_none(run_dir.summary) or {}
    try:
        from nas.supernet.loading import space_of_search

        searched = space_of_search(run_dir, config)
    except (UserError, ValueError, TypeError):  # a user's model that no longer imports: digits only
        searched = None
    ranking = []
    for i, r in enumerate(records, start=1):
        arch = Arch.from_dict(r["arch"])
        labels, readable = {}, ""
        if searched is not None and searched.contains(arch):
            labels, readable = dict(searched.describe(arch)), searched.readable(arch)
        ranking.append(Ranked(i, arch, dict(r["metrics"]), r.get("flops"), r.get("params"), labels, readable))
    return SearchResult(run_dir.path, config, summary, ranking)


def space(model: Any, **options: Any) -> Any:
    """The search space of `model` (a model class with choice points, a registered name, a
    `package.module:Class` reference or a `SearchSpace` class) with `options` (its constructor's
    arguments, and `in_channels`, `input_size`, `num_classes` as your data has them), to look at
    before searching: `.decisions` (each with its label and options), `.sample(rng)`,
    `.from_labels({"stage1.kernel": 5, ...})` (an architecture by its choices' names),
    `.describe(arch)` / `.readable(arch)`, `.build(arch)` (your model with those choices taken: a
    plain `nn.Module` to print, run or train) and `.flops(arch)` / `.params(arch)`."""
    from nas_common.registry import SPACES

    factory = SPACES.get(space_name(model))
    try:
        return factory(**options)
    except (TypeError, ValueError) as err:
        said = str(err)
        raise UserError(said if said.startswith("space ") else f"space {factory.name!r}: {said}") from None


def search(space: Any, strategy: str = "evolution", *, out: str | Path | None = None, quiet: bool = True,
           space_options: dict[str, Any] | None = None, strategy_options: dict[str, Any] | None = None,
           evaluator_options: dict[str, Any] | None = None, **settings: Any) -> SearchResult:
    """Search `space` (a registered name, a `package.module:Class` reference, a model class with
    choice points, or a `SearchSpace` class) with `strategy`; `settings` are `nas search`'s flags by
    name (budget=60, seed=0, data="cifar10", steps=300, evaluator="zc", max_flops=300_000_000, ...)."""
    unknown = sorted(set(settings) - set(SearchRequest.settings()) - {"space", "strategy"})
    if unknown:
        raise UserError(f"search() has no setting {unknown[0]!r}; settings: {', '.join(_public_settings())}")
    request = SearchRequest(space=space_name(space), strategy=strategy,
                            space_option=list((space_options or {}).items()),
                            option=list((strategy_options or {}).items()),
                            evaluator_option=list((evaluator_options or {}).items()), **settings)
    return search_with(request, out=out, quiet=quiet)


def search_with(request: SearchRequest, *, out: str | Path | None = None, quiet: bool = True) -> SearchResult:
    """A search from a settings object (`SearchRequest`, the flags of `nas search` as fields; its
    `config` field may name a config.json to repeat)."""
    planned = plan(request)
    run_dir = create(planned, out)
    run(run_dir, quiet=quiet)
    return load(run_dir.path)


def resume(run_path: str | Path, *, budget: int | None = None, quiet: bool = True, **settings: Any) -> SearchResult:
    """Continue a stopped search (a larger `budget`, other `workers`, ...); it ends as an
    uninterrupted run would."""
    allowed = {"workers", "gpus_per_worker", "address", "force"}
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise UserError(f"resume() cannot change {unknown[0]!r}: a run continues with its saved settings "
                        f"(it may change: budget, {', '.join(sorted(allowed))})")
    run_dir, undo = reopen(SearchRequest(resume=Path(run_path), budget=budget, **settings))
    run(run_dir, quiet=quiet, undo=undo)
    return load(run_dir.path)


def space_name(space: Any) -> str:
    """The registry name of `space`: a name or reference as given; a class is registered under
    its `module:qualname` reference (a model class with choice points becomes a model space)."""
    from nas_common.registry import SPACES
    from search_spaces.model_space import model_space
    from search_spaces.protocol import SearchSpace

    if isinstance(space, str):
        return space
    if not isinstance(space, type):
        raise UserError(f"space must be a name, a package.module:Class reference or a class, not a "
                        f"{type(space).__name__} (pass the class, not an instance)")
    cls = space if issubclass(space, SearchSpace) else model_space(space)
    name = cls.name
    if name in SPACES and SPACES.get(name) is not cls:
        if not _redefined(SPACES.get(name), cls):
            raise UserError(f"another space is registered as {name!r}; give this one another name")
        SPACES.remove(name)  # a notebook cell run again: the new definition replaces the old
    if name not in SPACES:
        SPACES.register(name)(cls)  # found by name from here on: runs, resume, this process's workers
    return name


def _redefined(old: Any, new: Any) -> bool:
    """Whether `new` is `old` defined again (same module and name), as re-running a cell does."""
    from search_spaces.model_space import ModelSpace

    if issubclass(old, ModelSpace) and issubclass(new, ModelSpace):
        old, new = old.model, new.model
    return (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__)


def _public_settings() -> list[str]:
    internal = {"space", "strategy", "option", "space_option", "evaluator_option", "resume", "config"}
    return [s for s in SearchRequest.settings() if s not in internal]


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


__all__ = ["Plan", "Ranked", "SearchRequest", "SearchResult", "create", "load", "plan", "reopen", "resume", "run",
           "search", "search_with", "space_name"]
