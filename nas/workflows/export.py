"""Exported networks: the stand-alone net of one architecture with its supernet weights and
recalibrated BN statistics, in a file plain PyTorch loads (`torch.load(..., weights_only=True)`).

File layout (a dict): `format` ("nas-export/1"), `space`, `space_config`, `arch` (its JSON dict),
`state_dict`, `metrics` (what the search measured) and `preprocessing` (input size, mean/std,
resizing, class names: the task's `preprocessing`). `load_exported` rebuilds the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.archive import save_torch_atomic, write_json_atomic
from nas_common.errors import UserError
from nas_common.registry import SPACES
from search_spaces.arch import Arch

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
    """Write `model` as ONNX (batch size dynamic) and run it with onnxruntime on a random batch:
    returns the largest absolute difference from PyTorch's outputs (refused above 1e-3)."""
    try:
        import onnxruntime
    except ImportError:
        raise UserError("--format onnx needs the onnx and onnxruntime packages: pip install onnx onnxruntime") from None
    import io
    import warnings

    import numpy as np

    size, channels = int(preprocessing["input_size"]), int(preprocessing.get("channels", 3))
    x = torch.randn(2, channels, size, size, generator=torch.Generator().manual_seed(seed))
    model = model.eval()
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


def load_exported(path: str | Path) -> tuple[nn.Module, Arch, dict[str, Any]]:
    """(model in eval mode, architecture, the export's metadata)."""
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
    return model.eval(), arch, {k: v for k, v in state.items() if k != "state_dict"}


def describe_file(path: str | Path) -> str:
    _, arch, meta = load_exported(path)
    return json.dumps({"arch": arch.to_dict(), "space": meta["space"], "metrics": meta["metrics"]})
