"""Exported networks: the stand-alone net of one architecture with its supernet weights and
recalibrated BN statistics, in a file plain PyTorch loads (`torch.load(..., weights_only=True)`).

File layout (a dict): `format` ("nas-export/1"), `space`, `space_config`, `arch` (its JSON dict),
`state_dict`, `metrics` (what the search measured) and `preprocessing` (input size, mean/std,
resizing, class names: the task's `preprocessing`). `load_exported` rebuilds the module behind its
normalisation: it takes images in [0, 1] (`nas.data.preprocessed`), as the ONNX file does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nas.archive import save_torch_atomic, write_json_atomic
from nas.archive.atomic import verify_checksum
from nas.data.preprocessed import with_preprocessing
from nas_common.errors import UserError
from nas_common.registry import SPACES
from search_spaces.arch import Arch

if TYPE_CHECKING:
    from nas.evaluate.supernet_evaluator import EvaluatorConfig

FORMAT = "nas-export/1"


def options_beyond_defaults(space, derived: dict[str, Any]) -> dict[str, Any]:
    """The options that make `space` differ from its defaults on the same data (`derived`: what the
    task sets from the data): what `-S`/`--width` said, so an architecture file can rebuild it."""
    default = type(space)(**derived).config()
    return {k: v for k, v in space.config().items() if k not in derived and default.get(k) != v}


def export_model(path: str | Path, *, space, arch: Arch, model: nn.Module, metrics: dict[str, Any],
                 preprocessing: dict[str, Any] | None = None, space_options: dict[str, Any] | None = None) -> Path:
    """Write the model file and `<path>.arch.json` beside it; returns the JSON's path.
    `preprocessing` (the task's: input size, mean/std, resizing, class names) is stored with the
    weights, so the file alone says how to run the network on new images."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "space": space.name, "space_config": space.config(), "arch": arch.to_dict(),
             "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "metrics": {k: float(v) for k, v in metrics.items()}, "preprocessing": preprocessing or {}}
    save_torch_atomic(state, path)
    arch_path = path.with_suffix(".arch.json")
    # `space_options`: what the space needs beyond its defaults (an 8-block shufflenet), which every
    # command reading the file (retrain, scale, evaluate) takes unless -S says otherwise
    write_json_atomic(arch_path, {**arch.to_dict(), "hash": arch.hash, "space_options": space_options or {},
                                  "describe": [f"{label}={option}" for label, option in space.describe(arch)]})
    return arch_path


def export_onnx(path: str | Path, model: nn.Module, preprocessing: dict[str, Any], seed: int = 0) -> float:
    """Write `model` behind its normalisation as ONNX (input "images": floats in [0, 1], NCHW, batch
    size dynamic) and run it with onnxruntime on a random batch: returns the largest absolute
    difference from PyTorch's outputs (refused above 1e-3)."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError("--format onnx needs the onnx and onnxruntime packages: pip install onnx onnxruntime") from None
    import io
    import warnings

    import numpy as np

    size, channels = int(preprocessing["input_size"]), int(preprocessing.get("channels", 3))
    x = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(seed))
    model = with_preprocessing(model, preprocessing).eval()
    with torch.no_grad():
        out = model(x)
    expected = [out] if isinstance(out, torch.Tensor) else list(out)
    fields = out._fields if isinstance(out, tuple) and type(out) is not tuple else None  # a detector's named outputs
    names = list(fields) if fields else ["logits"] if len(expected) == 1 else [f"output_{i}" for i in
                                                                                range(len(expected))]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(model, (x,), buffer, dynamo=False, input_names=["images"], output_names=names,
                          dynamic_axes={"images": {0: "batch"}, **{n: {0: "batch"} for n in names if n != "anchors"}},
                          opset_version=17)
    session = onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"images": x.numpy()})
    error = max(float(np.abs(g - e.numpy()).max()) for g, e in zip(got, expected))
    if error > 1e-3:
        raise UserError(f"the ONNX export differs from PyTorch by {error:.2e}; not written")
    from nas.archive import write_bytes_atomic

    write_bytes_atomic(path, buffer.getvalue())
    return error


def load_exported(path: str | Path, preprocessed: bool = True) -> tuple[nn.Module, Arch, dict[str, Any]]:
    """(model in eval mode, architecture, the export's metadata). The model takes images as a user
    has them, floats in [0, 1] (pixels / 255), NCHW, and normalises them itself
    (`nas.data.preprocessed.Preprocessed`; `.net` is the bare network); `preprocessed=False`: the
    bare network, which expects images normalised with `meta["preprocessing"]`'s mean and std."""
    if Path(path).is_file():
        verify_checksum(path, "exported model", "export it again (`nas export`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"no exported model at {path}") from None
    except Exception as err:  # damaged files raise many types
        raise UserError(f"{path} is not a readable exported model ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{path} is not a nas export (format {FORMAT})")
    factory = SPACES.get(state["space"])
    space = factory(**factory.upgrade_config(state["space_config"]))
    arch = space.parse(state["arch"])
    model = space.build(arch)
    model.load_state_dict(state["state_dict"])
    meta = {k: v for k, v in state.items() if k != "state_dict"}
    if preprocessed:
        model = with_preprocessing(model, meta.get("preprocessing") or {})
    return model.eval(), arch, meta


def describe_file(path: str | Path) -> str:
    _, arch, meta = load_exported(path)
    return json.dumps({"arch": arch.to_dict(), "space": meta["space"], "metrics": meta["metrics"]})


def run_evaluator_config(config: dict, args: Any) -> tuple["EvaluatorConfig", list[str]]:
    """How a run scores architectures, so `evaluate`/`export` reproduce its numbers: a search run's
    own evaluator settings, a supernet run's preset for its space (what `search --supernet` would
    use); flags given override them. Also which settings came from where, to say so."""
    from nas.config.presets import preset
    from nas.evaluate.supernet_evaluator import EvaluatorConfig

    evaluator = config.get("evaluator") if isinstance(config.get("evaluator"), dict) else None
    if config.get("kind") == "search" and evaluator and evaluator.get("kind", "supernet") == "supernet":
        saved, source = {k: v for k, v in evaluator.items() if k in EvaluatorConfig.__dataclass_fields__}, "the search's"
    else:
        p = preset(config.get("preset") or "cpu", config.get("space"))
        saved = {"calibration_images": p["calibration_images"], "val_images": p["val_images"],
                 "confirm_images": p["confirm_images"]}
        source = f"the {config.get('preset') or 'cpu'} preset's"
    given = {"calibration_images": args.calibration_images, "batch_size": args.eval_batch_size,
             "val_images": args.val_images}
    settings = {**saved, **{k: v for k, v in given.items() if v is not None}}
    cfg = EvaluatorConfig(**settings)
    said = [f"{cfg.calibration_images:,} calibration images ({'--calibration-images' if given['calibration_images'] else source})",
            (f"{cfg.val_images:,} validation images" if cfg.val_images else "all validation images")
            + (f" less {cfg.confirm_images:,} kept apart for confirmation" if cfg.confirm_images else "")
            + f" ({'--val-images' if given['val_images'] else source})"]
    return cfg, said


@dataclass
class RecalibratedNetwork:
    """An architecture of a run as a stand-alone network: the supernet's weights on its path and
    BN statistics recalibrated for it, scored as the run scored (`run_evaluator_config`)."""

    model: nn.Module
    arch: Arch
    metrics: dict[str, Any]  # its record's metrics when it is the run's best; {} for a given one
    space: Any
    supernet_run: Any
    settings: Any  # the EvaluatorConfig used


def recalibrated_network(run_path: str | Path, arch: Arch | None = None, *, calibration_images: int | None = None,
                         eval_batch_size: int | None = None, device: str = "auto",
                         on_step: Any = None) -> RecalibratedNetwork:
    """The stand-alone network of `arch` (default: the run's best) with inherited weights, for a
    search run or a supernet run; what `nas export` writes and `nas.api` hands back."""
    from nas.archive import RunDir, ranked
    from nas.evaluate.supernet_evaluator import SupernetEvaluator
    from nas.supernet.loading import load_supernet_run, resolve_device, supernet_dir_of

    run_dir = RunDir.open(run_path)
    config = run_dir.read_config()
    supernet_dir = supernet_dir_of(run_dir, config)
    if supernet_dir is None:
        raise UserError(f"{run_path} has no supernet to export weights from (a table or zero-cost search); "
                        "train the architecture instead (`nas retrain`)")
    if on_step:
        on_step(f"loading the supernet of {supernet_dir} ...")  # 5-10 s: say so
    supernet_run = load_supernet_run(supernet_dir)
    space, metrics = supernet_run.space, {}
    if arch is None:
        records = run_dir.read_records()
        if not records:
            raise UserError(f"{run_path} has no evaluations yet; pass an architecture or finish the search")
        best = ranked(records, run_dir.objective())[0]
        arch, metrics = space.parse(best["arch"]), best["metrics"]
    settings, _ = run_evaluator_config(config, SimpleNamespace(
        calibration_images=calibration_images, eval_batch_size=eval_batch_size, val_images=None))
    evaluator = SupernetEvaluator.from_run(supernet_run, settings, resolve_device(device),
                                           seed=config.get("seed", 0) if config.get("kind") == "search" else 0)
    if on_step:
        on_step(f"recalibrating BN of {arch} on {settings.calibration_images:,} training images ...")
    model = evaluator.recalibrated_model(arch).cpu()
    return RecalibratedNetwork(model, arch, metrics, space, supernet_run, settings)
