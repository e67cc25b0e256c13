"""The typed configuration of a search run: resolved once (CLI flags, preset, `--config FILE`),
saved as the run's `config.json`, and read back into the same types on `--resume`.

No module below the CLI reinterprets the JSON dict: `nas.workflows.search.execute`, the evaluator kinds and
the Ray executor take a `SearchConfig`. `from_dict` accepts every config.json written so far
(keys added later have defaults: `objective` = val_acc maximised, `task` = classification) and
turns a broken one into one `UserError` line; `to_dict` writes the same layout back.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from nas_common.errors import UserError
from nas.constraints.limits import Constraint
from nas.data import DataConfig, data_config_from_dict
from nas.supernet.pipeline import BackbonePretraining
from nas.supernet.train import TrainConfig
from nas_common.objective import Objective


@dataclass(frozen=True)
class Cluster:
    """Where evaluations run: this process (workers 1), or N Ray actors, locally or on `address`."""

    workers: int | str = 1  # an integer or "auto"
    gpus_per_worker: float | None = None
    address: str | None = None


@dataclass(frozen=True)
class EvaluatorChoice:
    """`kind` names a registered evaluator; `settings` are that kind's `Config` fields."""

    kind: str = "supernet"
    settings: dict[str, Any] = field(default_factory=dict)

    def typed(self) -> Any:
        """The kind's Config built from `settings` (a TypeError names a bad key)."""
        from nas_common.registry import EVALUATORS

        return EVALUATORS.get(self.kind).Config(**self.settings)


@dataclass(frozen=True)
class SearchConfig:
    space: str
    strategy: str
    space_options: dict[str, Any] = field(default_factory=dict)
    strategy_options: dict[str, Any] = field(default_factory=dict)
    budget: int | None = None
    seed: int = 0
    constraint: Constraint = Constraint()
    evaluator: EvaluatorChoice = EvaluatorChoice()
    objective: Objective = Objective()
    task: str = "classification"
    data: DataConfig | None = None  # supernet evaluators: the data the supernet trains and scores on
    train: TrainConfig | None = None  # supernet trained into this run (None: referenced, or a table)
    supernet_run: str | None = None  # a supernet trained elsewhere (`--supernet DIR`)
    backbone_pretraining: BackbonePretraining | None = None  # DetNAS step 1, run before the supernet
    uses_supernet: bool = True  # False for lookup tables: no data, no training
    random_baseline: int = 0
    force: bool = False
    device: str = "auto"
    cluster: Cluster = Cluster()
    preset: str = "cpu"
    provenance: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.uses_supernet and self.supernet_run is None and (self.data is None or self.train is None):
            raise UserError("a supernet search needs data and training settings, or a supernet run (--supernet)")
        self._check_space_options()

    def _check_space_options(self) -> None:
        """Unknown option names fail here, before data are loaded or a run directory exists; a
        lookup table's networks are fixed, so it takes none (they would be saved and ignored),
        unless a supernet is trained here (DARTS, then scored by the table)."""
        from nas_common.registry import SPACES

        factory = SPACES.get(self.space)
        declared = factory.options
        unknown = sorted(set(self.space_options) - set(declared))
        if unknown and declared:
            raise UserError(f"space {self.space!r} has no option {unknown[0]!r}; valid options: "
                            f"{', '.join(sorted(declared))}")
        try:  # the values too (a negative width, 10^19 blocks), on the space's own defaults for the data
            factory(**self.space_options)
        except (TypeError, ValueError) as err:
            said = str(err)
            raise UserError(said if said.startswith(f"space {self.space!r}") else f"space {self.space!r}: {said}") \
                from None
        from nas_common.registry import EVALUATORS

        scored = EVALUATORS.get(self.evaluator.kind).spaces  # None: any space
        if scored is not None and self.space not in scored:
            raise UserError(f"--evaluator {self.evaluator.kind} has rows for {', '.join(scored)} only, not space "
                            f"{self.space!r}; use --space {scored[0]}, or another evaluator (supernet, zc)")
        if self.space_options and self.train is None and not self.uses_supernet and scored is not None:
            raise UserError(f"space options ({', '.join(sorted(self.space_options))}) do not apply to a table search: "
                            "the table's networks are fixed; remove them")

    # ---- JSON ------------------------------------------------------------------------------------
    KEYS = ("kind", "preset", "strategy", "strategy_options", "budget", "seed", "constraint", "random_baseline",
            "device", "workers", "force", "gpus_per_worker", "address", "evaluator", "space", "space_options",
            "data", "train", "supernet", "objective", "task", "backbone_pretraining", "provenance")

    def to_dict(self) -> dict[str, Any]:
        """config.json's layout (unchanged since the first runs, plus objective and task)."""
        out = {"kind": "search", "preset": self.preset, "strategy": self.strategy,
               "strategy_options": dict(self.strategy_options), "budget": self.budget, "seed": self.seed,
               "constraint": _unset_dropped(asdict(self.constraint), ("max_latency_us", "latency_table")),
               "random_baseline": self.random_baseline,
               "device": self.device, "workers": self.cluster.workers, "force": self.force,
               "gpus_per_worker": self.cluster.gpus_per_worker, "address": self.cluster.address,
               "evaluator": {"kind": self.evaluator.kind, **self.evaluator.settings},
               "space": self.space, "space_options": dict(self.space_options),
               "data": _unset_dropped(asdict(self.data), ("image_size",)) if self.data else None,
               "train": _train_dict(self.train) if self.train else None,
               "supernet": {"run": self.supernet_run} if self.uses_supernet else None,
               "objective": self.objective.to_dict(), "task": self.task}
        if self.backbone_pretraining is not None:
            out["backbone_pretraining"] = asdict(self.backbone_pretraining)
        if self.provenance is not None:
            out["provenance"] = self.provenance
        return out

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], where: str = "config.json") -> "SearchConfig":
        if config.get("kind", "search") != "search":
            raise UserError(f"{where} is a {str(config.get('kind'))[:40]!r} run's config, not a search's")
        unknown = sorted(set(config) - set(cls.KEYS))
        if unknown:  # refused, not dropped: a resume rewrites config.json and would lose them
            raise UserError(f"{where} has keys this version does not know ({', '.join(map(str, unknown))[:200]}); "
                            "remove them, or use the version that wrote them")
        for key in ("space_options", "strategy_options", "constraint", "evaluator", "data", "train",
                    "objective", "backbone_pretraining", "supernet"):
            if config.get(key) is not None and not isinstance(config[key], Mapping):
                raise UserError(f"{where}: {key!r} must be a mapping of settings (for example "
                                f"{key}: {{...}}), got {config[key]!r:.80}")
        _check_saved_types(config, where)
        try:
            evaluator = dict(config.get("evaluator") or {})
            supernet = config.get("supernet")
            return cls(
                space=config["space"], strategy=config["strategy"],
                space_options=dict(config.get("space_options") or {}),
                strategy_options=dict(config.get("strategy_options") or {}),
                budget=config.get("budget"), seed=_seed(config.get("seed", 0)),
                constraint=Constraint(**(config.get("constraint") or {})),
                evaluator=EvaluatorChoice(evaluator.pop("kind", "supernet"), evaluator),
                objective=Objective.from_dict(config.get("objective")),
                task=config.get("task") or "classification",
                data=data_config_from_dict(config["data"]) if config.get("data") else None,
                train=TrainConfig(**config["train"]) if config.get("train") else None,
                supernet_run=supernet.get("run") if isinstance(supernet, dict) else None,
                backbone_pretraining=BackbonePretraining(**config["backbone_pretraining"])
                if config.get("backbone_pretraining") else None,
                uses_supernet=isinstance(supernet, dict),
                random_baseline=int(config.get("random_baseline", 0)), force=bool(config.get("force", False)),
                device=config.get("device", "auto"),
                cluster=Cluster(config.get("workers", 1), config.get("gpus_per_worker"), config.get("address")),
                preset=config.get("preset", "cpu"), provenance=config.get("provenance"))
        except UserError:
            raise
        except KeyError as err:
            raise UserError(f"{where} lacks {err}; it is not a complete search config") from None
        except (TypeError, ValueError) as err:
            raise UserError(f"{where} is malformed: {err}") from None

    def updated(self, **changes: Any) -> "SearchConfig":
        return replace(self, **changes)


def _check_saved_types(config: Mapping[str, Any], where: str) -> None:
    """Every field of a saved search config has its declared JSON type and a sane range, before
    anything is built from it: a hand-edited or damaged config.json (`"workers": "x"`, a momentum
    of 1e19, an epoch count of true) is one line naming the field, never a run on nonsense."""
    from nas.data import DataConfig, DetectionDataConfig
    from nas_common.typed_config import check_json_types

    check_json_types(Cluster, {k: config[k] for k in ("workers", "gpus_per_worker", "address") if k in config},
                     where)
    check_json_types(_TopLevel, {k: config[k] for k in _TopLevel.__dataclass_fields__ if k in config}, where)
    check_json_types(TrainConfig, config.get("train"), f"{where} train")
    check_json_types(Constraint, config.get("constraint"), f"{where} constraint")
    data = config.get("data")
    check_json_types(DetectionDataConfig if isinstance(data, dict) and "annotations" in data else DataConfig, data,
                     f"{where} data")
    workers = config.get("workers", 1)
    if workers != "auto" and not (isinstance(workers, int) and 1 <= workers <= 10_000):
        raise UserError(f"{where}: workers must be \"auto\" or 1..10,000, got {str(workers)[:40]!r}")
    gpus = config.get("gpus_per_worker")
    if gpus is not None and not 0 <= gpus <= 64:
        raise UserError(f"{where}: gpus_per_worker must be in [0, 64], got {gpus}")
    for key, low, high in (("budget", 1, 10**12), ("random_baseline", 0, 10**6)):
        value = config.get(key)
        if value is not None and not low <= value <= high:
            raise UserError(f"{where}: {key} must be in {low:,}..{high:,}, got {value}")
    train = config.get("train")
    if isinstance(train, dict):
        if not 0 <= train.get("momentum", 0.9) < 1 or not 0 <= train.get("checkpoint_every", 0) <= 10**9:
            raise UserError(f"{where} train: need 0 <= momentum < 1 and 0 <= checkpoint_every <= 1e9")
        if not 0 <= train.get("seed", 0) < 2**63:
            raise UserError(f"{where} train: seed must be in [0, 2^63), got {train.get('seed')}")
    if isinstance(data, dict):
        _check_data_ranges(data, f"{where} data")
    constraint = config.get("constraint")
    if isinstance(constraint, dict):
        for key in ("max_flops", "max_params", "max_latency_us"):
            if (constraint.get(key) or 0) > 10**18:
                raise UserError(f"{where} constraint: {key} {constraint[key]:,} is above 1e18 (no network counts that many)")
    device = config.get("device", "auto")
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d{1,3})?", device):
        raise UserError(f"{where}: device {device[:40]!r} is not a device; use auto, cpu or cuda[:N]")
    from nas.config.presets import PRESETS

    if config.get("preset", "cpu") not in PRESETS:
        raise UserError(f"{where}: unknown preset {str(config.get('preset'))[:40]!r}; valid presets: {', '.join(PRESETS)}")
    supernet = config.get("supernet")
    if isinstance(supernet, dict) and not isinstance(supernet.get("run"), (str, type(None))):
        raise UserError(f"{where}: supernet.run must be a run directory or null, got {str(supernet['run'])[:40]!r}")
    _check_component_options(config, where)


def _check_data_ranges(data: Mapping[str, Any], where: str) -> None:
    """A saved data entry's numbers in range: split seed in [0, 2^63), image counts 1..10^12, a
    validation share in [0, 1) or a whole number of images."""
    if not 0 <= data.get("split_seed", 0) < 2**63:
        raise UserError(f"{where}: split_seed must be in [0, 2^63), got {data['split_seed']}")
    for key in ("train_limit", "image_size", "max_size"):
        if data.get(key) is not None and not 1 <= data[key] <= 10**12:
            raise UserError(f"{where}: {key} must be in 1..10^12 (or null), got {data[key]}")
    val = data.get("val_size", 0)
    if not (0 <= val < 1 or (float(val).is_integer() and 1 <= val <= 10**12)):
        raise UserError(f"{where}: val_size must be a share in [0, 1) or a whole number of images, got {val}")


def _check_component_options(config: Mapping[str, Any], where: str) -> None:
    """The strategy's options and the evaluator's settings, typed and checked by their own Config
    (a saved `"population": -1` or `"calibration_images": "x"` fails here, naming the file)."""
    from nas_common.registry import EVALUATORS, STRATEGIES
    from nas_common.typed_config import build_config

    strategy, options = config.get("strategy"), config.get("strategy_options")
    if isinstance(strategy, str) and isinstance(options, dict):
        build_config(STRATEGIES.get(strategy).Config, options, owner=f"{where}: strategy {strategy!r}")
    evaluator = dict(config.get("evaluator") or {})
    kind = evaluator.pop("kind", "supernet")
    if isinstance(kind, str):
        build_config(EVALUATORS.get(kind).Config, evaluator, owner=f"{where}: evaluator {kind!r}")


@dataclass(frozen=True)
class _TopLevel:
    """The scalar top-level entries of config.json, by type (checked by `_check_saved_types`)."""

    preset: str
    strategy: str
    space: str
    task: str
    device: str
    budget: int | None
    seed: int
    random_baseline: int
    force: bool


def _seed(value: Any) -> int:
    """A saved seed: an integer in [0, 2^63) (1.5 or "3" is a damaged or hand-written file, not seed 1)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise UserError(f"seed must be an integer in [0, 2^63), got {value!r}")
    return value


def _train_dict(train: TrainConfig) -> dict[str, Any]:
    """The training settings as saved; `backbone` only when set, so configs written before it
    existed read back and write out unchanged."""
    settings = asdict(train)
    for key in ("backbone", "init_from", "path_pool"):
        if settings.get(key) is None:
            settings.pop(key, None)
    for key in ("average_last", "grad_clip"):  # added later; 0 = off
        if settings.get(key) == 0.0:
            settings.pop(key, None)
    return settings


SEARCH_FIELDS = tuple(f.name for f in fields(SearchConfig))


def _unset_dropped(values: dict[str, Any], optional: tuple[str, ...]) -> dict[str, Any]:
    """Settings added after runs were archived are written only when set: a config written before
    them reads back and writes back unchanged."""
    return {k: v for k, v in values.items() if not (k in optional and v is None)}
