"""What a search is, from a `SearchRequest` (the command line's flags or the Python API's
arguments), a --config file, or a run being resumed: the typed `SearchConfig` saved as the run's
config.json (presets filled in, options checked before any run directory exists). The command line
and `nas.api` both come here: one resolution, so a search is the same run whichever started it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from nas.config.request import SearchRequest, backbone_run, data_config, init_run, path_pool_file
from nas.archive import RunDir
from nas.data import DataConfig, default_augmentation
from nas_common.errors import UserError
from nas.config.presets import preset
from nas_common.registry import EVALUATORS, SPACES, STRATEGIES
from nas.config.run_config import SearchConfig
from nas.strategies.factory import build_config
from nas.supernet.backbone import adopted_backbone
from nas.supernet.methods import method_of
from nas.supernet.loading import read_supernet_config
from nas.supernet.train import TrainConfig


def pick(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def resolve_config(args: SearchRequest) -> SearchConfig:
    """The full, explicit, typed config of a new search (saved as the run's config.json), with
    the objective its evaluator optimises."""
    if args.supernet is not None:  # a search run stands for the supernet it trained or used
        import copy

        from nas.supernet.loading import supernet_of

        args = copy.copy(args)  # the caller's request is left as given
        args.supernet = supernet_of(args.supernet)
    config = SearchConfig.from_dict(_resolve_config(args), where="the command line")
    return config.updated(objective=EVALUATORS.get(config.evaluator.kind).objective_of(config))


# Flags that define what a --config FILE search is: set them in the file, not on the command line.
_DEFINED_BY_FILE = ("space", "width", "space_option", "supernet", "evaluator", "evaluator_option", "table",
                    "max_flops", "max_params", "max_latency", "lut",
                    "preset", "random_baseline", "data", "val_size", "split_seed", "train_limit", "images",
                    "test_data", "image_size", "backbone", "init_from", "path_pool", "average_last", "grad_clip",
                    "pretrain_steps", "pretrain_data", "epochs", "steps", "batch_size", "lr", "weight_decay", "warmup_epochs", "calibration_images",
                    "val_images", "confirm_images", "eval_batch_size", "augment")


def config_from_file(args: SearchRequest) -> SearchConfig:
    """`--config FILE`: a search config as JSON (a run's config.json, or written by hand); the
    budget, seed, strategy and its options, device and cluster flags may override it."""
    from nas.config.config_file import read_config_file

    saved = read_config_file(args.config, SearchConfig.KEYS, "search")
    given = [name for name in _DEFINED_BY_FILE if getattr(args, name, None) not in (None, [], False)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise UserError(f"{flags} cannot be combined with --config: set {'them' if len(given) > 1 else 'it'} "
                        f"in {args.config}")
    saved.pop("provenance", None)
    if args.strategy is not None and args.strategy != saved.get("strategy"):
        saved.update(strategy=args.strategy, strategy_options={})
    saved["strategy_options"] = {**(saved.get("strategy_options") or {}), **dict(args.option)}
    for key in ("budget", "seed", "device", "workers", "gpus_per_worker", "address"):
        if getattr(args, key) is not None:
            saved[key] = getattr(args, key)
    if args.force:
        saved["force"] = True
    config = SearchConfig.from_dict(saved, where=str(args.config))
    build_config(STRATEGIES.get(config.strategy).Config, config.strategy_options,
                 owner=f"strategy {config.strategy!r}")
    return config


def _resolve_config(args: SearchRequest) -> dict[str, Any]:
    preset_name = args.preset or "cpu"
    space = args.space
    if space is None and getattr(args, "supernet", None) is not None:
        # the supernet fixes the space, and with it the space's preset (a detection supernet must
        # not be scored with the classification preset's 512 calibration images)
        space = read_supernet_config(args.supernet).get("space")
    p = preset(preset_name, space)
    if args.strategy is None:
        raise UserError("--strategy is required for a new search (e.g. --strategy evolution)")
    if args.seed is not None and not 0 <= args.seed < 2**63:
        raise UserError(f"--seed must be in [0, 2^63), got {args.seed}")
    seed = pick(args.seed, 0)
    strategy_options = {**p["strategy_options"].get(args.strategy, {}), **dict(args.option)}
    # Check the strategy and its options now: a typo must fail before a run directory is created
    # (or a supernet trained), not leave a half-made run that blocks reusing --out.
    typed = build_config(STRATEGIES.get(args.strategy).Config, strategy_options, owner=f"strategy {args.strategy!r}")
    config: dict[str, Any] = {"kind": "search", "preset": preset_name, "strategy": args.strategy,
                              "strategy_options": {k: getattr(typed, k) for k in strategy_options},  # typed
                              "budget": args.budget, "seed": seed,
                              "constraint": {"max_flops": args.max_flops, "max_params": args.max_params,
                                             "max_latency_us": args.max_latency,
                                             "latency_table": str(args.lut.resolve()) if args.lut else None},
                              "random_baseline": pick(args.random_baseline, p["random_baseline"]),
                              "device": pick(args.device, "auto"), "workers": pick(args.workers, 1),
                              "force": bool(args.force),
                              "gpus_per_worker": args.gpus_per_worker, "address": args.address}
    config["evaluator"] = {"kind": "supernet", "calibration_images": pick(args.calibration_images, p["calibration_images"]),
                           "batch_size": pick(args.eval_batch_size, 256),
                           "val_images": pick(args.val_images, p["val_images"]),
                           "confirm_images": pick(args.confirm_images, p["confirm_images"])}
    method = method_of(args.strategy)  # a strategy that trains its supernet its own way (DARTS)
    trains = method is not None
    if trains and args.supernet is not None:
        raise UserError(f"--strategy {args.strategy} trains its own supernet; drop --supernet")
    if trains:  # DARTS's recipe where the user gives none (lr 0.025, wd 3e-4, batch 64, half for the alphas)
        p = preset(preset_name)  # not the single-path supernet's per-space settings (nb201's ranking setup)
        p = {**p, **method.train_defaults, "data": {**p["data"], "val_size": method.train_defaults["val_size"]}}
    if trains and args.evaluator is None and args.table is None:
        # DARTS is judged by the architecture it derives: single paths of a supernet trained in mixed
        # mode score near chance (the trust check refused every default DARTS run). The table scores
        # it where the space has one, a short stand-alone training otherwise.
        space = pick(args.space, "nb201")
        args.evaluator = "table" if space in EVALUATORS.get("table").spaces else "standalone"
    if args.evaluator == "table" or args.table is not None:
        resolved = _table_search(args, config, p, seed, trains)
    elif args.evaluator == "zc":
        resolved = _zero_cost_search(args, config, p, trains)
    elif args.evaluator == "standalone":
        resolved = _standalone_search(args, config, p, seed, trains)
    elif args.supernet is not None:
        resolved = _referenced_supernet(args, config)
    else:
        resolved = _supernet_trained_here(args, config, p, seed)
    return _with_evaluator_options(resolved, args.evaluator_option)


def _with_evaluator_options(config: dict[str, Any], given: list[tuple[str, str]]) -> dict[str, Any]:
    """`-E KEY=VALUE` on top of the evaluator's settings, checked (and typed) by its kind's Config."""
    from nas_common.typed_config import build_config

    settings = dict(config["evaluator"])
    kind = settings.pop("kind")
    settings.update(dict(given))
    typed = build_config(EVALUATORS.get(kind).Config, settings, owner=f"evaluator {kind!r}")
    config["evaluator"] = {"kind": kind, **asdict(typed)}
    return config


def _zero_cost_search(args: SearchRequest, config: dict[str, Any], p: dict[str, Any],
                      trains: bool) -> dict[str, Any]:
    """A training-free search: the space at its own defaults (plus -S/--width; the preset's widths
    exist to make supernet training affordable) and the data its proxies' batch comes from."""
    if trains:
        raise UserError(f"--strategy {args.strategy} trains a supernet; --evaluator zc trains nothing: "
                        "use a sampling strategy (random, evolution, rl, nao, seminas)")
    if args.supernet is not None or args.table is not None:
        raise UserError("--evaluator zc scores untrained networks; drop --supernet/--table")
    space = pick(args.space, "shufflenet")
    data = data_config(args, SPACES.get(space).task, {"train_limit": p["train_limit"], **p["data"]})
    space_options = {**({"width": args.width} if args.width is not None else {}), **dict(args.space_option)}
    config.update(space=space, space_options=space_options, data=asdict(data), task=data.task, train=None,
                  supernet=None, random_baseline=pick(args.random_baseline, 0), evaluator={"kind": "zc"})
    return config


def _standalone_search(args: SearchRequest, config: dict[str, Any], p: dict[str, Any], seed: int,
                       trains: bool) -> dict[str, Any]:
    """Each architecture trained alone (`nas.evaluate.standalone`) at the preset's widths (training
    must be affordable); with DARTS, the supernet is trained first and only what it derives is."""
    if args.supernet is not None:
        raise UserError("--supernet and --evaluator standalone exclude each other: nothing is shared")
    config = _supernet_trained_here(args, {**config, "space": pick(args.space, "nb201" if trains else "shufflenet")},
                                    p, seed)
    # the stand-alone trainings take the run's batch size (--batch-size), -E batch_size=N still wins
    config.update(supernet=None, evaluator={"kind": "standalone", "batch_size": config["train"]["batch_size"]},
                  random_baseline=pick(args.random_baseline, 0))
    if not trains:
        config.update(train=None, backbone_pretraining=None)
    return config


def _table_search(args: SearchRequest, config: dict[str, Any], p: dict[str, Any], seed: int,
                  trains: bool) -> dict[str, Any]:
    if args.supernet is not None:
        raise UserError("--supernet and --evaluator table exclude each other; pick one")
    table = {"kind": "table", "table": str(args.table.resolve()) if args.table else None}
    if trains:  # DARTS trains a supernet even when the table scores what it finds
        config = _supernet_trained_here(args, {**config, "space": pick(args.space, "nb201")}, p, seed)
        config.update(supernet=None, evaluator=table, random_baseline=pick(args.random_baseline, 0))
        return config
    if getattr(args, "space_option", None) or getattr(args, "width", None) is not None:
        raise UserError("-S/--space-option and --width do not apply to a table search: the table's networks are "
                        "fixed (NB201's own); drop them")
    config.update(space=pick(args.space, "nb201"), space_options={}, data=None, train=None,
                  supernet=None, random_baseline=pick(args.random_baseline, 0), evaluator=table)
    return config


def _referenced_supernet(args: SearchRequest, config: dict[str, Any]) -> dict[str, Any]:
    trained = read_supernet_config(args.supernet)
    if args.space_option:
        raise UserError("-S/--space-option and --supernet exclude each other: the supernet fixes the space")
    if args.space is not None and args.space != trained["space"]:
        raise UserError(f"--space {args.space} conflicts with the supernet's space {trained['space']}")
    config.update(space=trained["space"], space_options=trained["space_config"], data=trained["data"],
                  task=trained.get("task", "classification"), train=None,
                  supernet={"run": str(args.supernet.resolve())})
    return config


def _augment(args: SearchRequest, data: Any) -> str:
    """--augment (or --no-augment), else what suits the data (`nas.data.default_augmentation`)."""
    if args.no_augment and args.augment not in (None, "none"):
        raise UserError(f"--no-augment contradicts --augment {args.augment}; give one of them")
    return "none" if args.no_augment else pick(args.augment, default_augmentation(data))


def _supernet_trained_here(args: SearchRequest, config: dict[str, Any], p: dict[str, Any],
                           seed: int) -> dict[str, Any]:
    space = pick(args.space, config.get("space") or "shufflenet")
    data = data_config(args, SPACES.get(space).task, {"train_limit": p["train_limit"], **p["data"]})
    try:
        train = TrainConfig(epochs=pick(args.epochs, p["epochs"]), steps=args.steps,
                            batch_size=pick(args.batch_size, p["batch_size"]), lr=pick(args.lr, p["lr"]),
                            weight_decay=pick(args.weight_decay, p.get("weight_decay", TrainConfig.weight_decay)),
                            seed=seed,
                            checkpoint_every=pick(args.checkpoint_every, 0), augment=_augment(args, data),
                            warmup_epochs=pick(args.warmup_epochs, p.get("warmup_epochs", 0.0)),
                            average_last=pick(args.average_last, p.get("average_last", 0.0)),
                            grad_clip=pick(args.grad_clip, p.get("grad_clip", 0.0)),
                            path_pool=path_pool_file(args),
                            backbone=backbone_run(args), init_from=init_run(args))
    except ValueError as err:
        raise UserError(str(err)) from None
    # the preset's width where the space has one (a model space's options are its model's arguments)
    width = {"width": pick(args.width, p["width"])} if "width" in SPACES.get(space).options or args.width else {}
    space_options = {**p["space_options"].get(space, {}), **width,
                     **fixed_backbone_options(args, space), **dict(args.space_option)}
    config.update(space=space, space_options=space_options, data=asdict(data), task=data.task,
                  train=asdict(train), supernet={"run": None})
    config["backbone_pretraining"] = _pretraining(args, space, p, seed)
    return config


def fixed_backbone_options(args: SearchRequest, space: str) -> dict[str, Any]:
    """`--backbone RUN` on a space with a fixed backbone (`nasfpn`): `nas.supernet.backbone.adopted_backbone`."""
    return adopted_backbone(args.backbone, space, keep_width=args.width is None) if args.backbone else {}


def _pretraining(args: SearchRequest, space: str, p: dict[str, Any], seed: int) -> dict[str, Any] | None:
    """DetNAS step 1 settings, when the space has a backbone to pre-train and no --backbone is given."""
    settings = p.get("pretrain", {})
    steps = pick(args.pretrain_steps, settings.get("steps", 0))
    if steps < 0:
        raise UserError(f"--pretrain-steps must be >= 0, got {steps}")
    has_backbone = SPACES.get(space).classification_backbone is not None
    if args.pretrain_steps and not has_backbone:
        raise UserError(f"--pretrain-steps: space {space!r} has no backbone to pre-train (detection spaces do)")
    if args.pretrain_data is not None and not steps:
        raise UserError("--pretrain-data needs --pretrain-steps N (N > 0)")
    if not steps or not has_backbone or args.backbone:
        return None
    data = DataConfig(pick(args.pretrain_data, settings.get("data", "cifar10")), val_size=0,
                      train_limit=settings.get("train_limit"))
    train = TrainConfig(steps=steps, batch_size=settings.get("batch_size", 128), lr=settings.get("lr", 0.2),
                        seed=seed, warmup_epochs=0.0)
    return {"data": asdict(data), "train": asdict(train)}


# Options that define a run: on --resume they must be absent or equal to the saved value.
_FIXED = {"space": ("space",), "strategy": ("strategy",), "seed": ("seed",), "preset": ("preset",),
          "max_flops": ("constraint", "max_flops"), "max_params": ("constraint", "max_params"),
          "max_latency": ("constraint", "max_latency_us"),
          "data": ("data", "spec"), "width": ("space_options", "width")}


def resume_config(args: SearchRequest) -> tuple[RunDir, dict[str, Any]]:
    run = RunDir.open(args.resume).lock()
    config = run.read_config()
    if config.get("kind") != "search":
        raise UserError(f"{args.resume} is not a search run (it is a {config.get('kind', 'unknown')} run); "
                        "pass a directory written by `nas search`")
    for option, path in _FIXED.items():
        given = getattr(args, option)
        saved: Any = config
        for key in path:
            saved = saved.get(key) if isinstance(saved, dict) else None
        if given is not None and given != saved:
            flag = "--" + option.replace("_", "-")
            if saved is None:  # "saved data None" said nothing: the run never had the setting
                raise UserError(f"{flag} does not apply to this run (it was started without {option}; "
                                f"a {config.get('evaluator', {}).get('kind', 'table')} search); drop {flag} to resume")
            raise UserError(f"{flag} {str(given)[:60]} conflicts with the run's saved {option} {saved}; "
                            f"drop {flag} to resume, or start a new run with --out")
    # Every other flag that defines a search is saved in config.json: given on --resume it would be
    # silently ignored (`--evaluator supernet` on a table run, `--lr` on a trained supernet).
    handled = set(_FIXED) | {"space_option", "supernet", "lut"}
    ignored = [name for name in _DEFINED_BY_FILE
               if name not in handled and getattr(args, name, None) not in (None, [], False)]
    if ignored:
        flags = ", ".join("--" + name.replace("_", "-") for name in ignored)
        raise UserError(f"{flags} cannot change on --resume (the run continues with its saved settings, "
                        f"{run.config}); drop {'them' if len(ignored) > 1 else 'it'}, or start a new run with --out")
    if not isinstance(config.get("strategy_options"), dict):
        raise UserError(f"{run.config} lacks \"strategy_options\" (edited or damaged); restore it, or start a new run")
    config_cls, owner = STRATEGIES.get(config.get("strategy", "")).Config, f"strategy {config.get('strategy')!r}"
    saved = build_config(config_cls, config["strategy_options"], owner=owner)

    def differs(key: str, value: str) -> bool:  # compared typed: "0.10" repeats a saved 0.1
        if key not in config["strategy_options"]:
            return True
        try:
            return getattr(build_config(config_cls, {**config["strategy_options"], key: value}, owner=owner),
                           key) != getattr(saved, key)
        except (UserError, ValueError):
            return True

    changed = [f"{k}={v}" for k, v in args.option if differs(k, v)]
    if changed:  # repeating a saved option is harmless; a new or different one would be ignored
        raise UserError(f"strategy options (-o {' -o '.join(changed)}) cannot change on --resume; "
                        "drop them, or start a new run with --out")
    if args.supernet is not None:
        raise UserError("--supernet cannot change on --resume; drop it")
    if args.lut is not None:
        raise UserError("--lut cannot change on --resume; drop it")
    changed = [f"{k}={v}" for k, v in args.space_option if config.get("space_options", {}).get(k) != v]
    if changed:
        raise UserError(f"space options (-S {' -S '.join(changed)}) cannot change on --resume; drop them")
    if args.budget is not None:  # a resumed search may be given a larger budget, never one below its records
        recorded = len({r["arch_hash"] for r in run.read_records()})
        if args.budget < recorded:
            raise UserError(f"--budget {args.budget} is below the {recorded} architectures this run has already "
                            f"evaluated; give --budget {recorded} or more (or drop it)")
        config["budget"] = args.budget
    if args.force:
        config["force"] = True
    for key in ("workers", "gpus_per_worker", "address"):  # where it runs may change on resume
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    # A damaged log or state file must fail the resume before anything in the run is rewritten.
    run.read_records()
    run.read_strategy_state()
    return run, config
