"""A DARTS run's alphas: reading `supernet/alphas.json`, the collapse symptom (how many decisions
chose a skip connection), the summary written with the search, and `alphas.png` (each decision's
softmax weights per epoch)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from nas_common.errors import UserError
from nas_common.json_files import read_json_object

ALPHAS_NAME = "alphas.json"


def read_alphas(supernet_dir: Path) -> dict[str, Any]:
    path = Path(supernet_dir) / ALPHAS_NAME
    alphas = read_json_object(path, what="alphas", fix="resume the run to rewrite it",
                              missing=f"{path} is missing: the DARTS training did not finish an epoch; resume the run")
    try:
        np.asarray(alphas["logits"], dtype=float)
    except (ValueError, KeyError, TypeError) as err:
        raise UserError(f"{path} is damaged ({type(err).__name__}); resume the run to rewrite it") from None
    return alphas


def skip_count(ops: list[str] | tuple[str, ...], weights: Any) -> int:
    """Decisions whose strongest option is a skip connection: DARTS's collapse symptom (plain DARTS
    on NB201 ends with mostly skip edges and 54% CIFAR-10 accuracy)."""
    skips = [i for i, name in enumerate(ops) if "skip" in name]
    return int(np.isin(np.asarray(weights).argmax(axis=-1), skips).sum())


def darts_summary(space: Any, alphas: dict[str, Any], kept: Any = None) -> dict[str, Any]:
    """What summary.json says of a DARTS run: skip connections the alphas chose and, with `kept`
    (the logits discretised after the skip cap), how many the derived architecture kept."""
    weights = _softmax(np.asarray(alphas["logits"], dtype=float))
    extra = {} if kept is None else {"skip_connections_kept": skip_count(alphas["ops"], _softmax(np.asarray(kept)))}
    return {"skip_connections": skip_count(alphas["ops"], weights), **extra,
            "decisions": int(np.prod(weights.shape[:-1])),
            "epochs": len(alphas.get("epochs") or []), "alphas": "supernet/alphas.json",
            "final_weights": np.round(weights, 4).tolist()}


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def plot_alphas(alphas: dict[str, Any], path: Path) -> None:
    """One small panel per decision: the softmax weight of each option vs epoch."""
    from nas.archive.plots import save_figure
    from matplotlib.figure import Figure

    epochs = alphas.get("epochs") or []
    ops = alphas["ops"]
    if not epochs:
        return
    series = np.asarray([e["weights"] for e in epochs], dtype=float)  # (epochs, *shape)
    series = series.reshape(len(epochs), -1, len(ops))
    count = series.shape[1]
    cols = min(6, count)
    rows = math.ceil(count / cols)
    fig = Figure(figsize=(2.3 * cols + 1.5, 1.9 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)).ravel()
    x = [e["epoch"] for e in epochs]
    for d in range(count):
        for o, name in enumerate(ops):
            axes[d].plot(x, series[:, d, o], label=name, linewidth=1.4)
        axes[d].set_title(f"decision {d}", fontsize=8)
        axes[d].grid(alpha=0.3)
    for ax in axes[count:]:
        ax.axis("off")
    axes[0].legend(fontsize=6, loc="upper left")
    fig.suptitle("DARTS: softmax(alpha) per decision vs epoch", fontsize=10)
    save_figure(fig, path)
