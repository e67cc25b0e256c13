"""The pictures of a run: search progress, accuracy vs FLOPs with the Pareto front, and for a
search of two objectives its own front (`front.png`).

matplotlib is imported inside the functions so the archive imports fast. Figures are made with
`matplotlib.figure.Figure`, not pyplot: no global figure state, no backend switch (a caller's
notebook backend is left alone), and it renders with Agg on headless machines (clusters, CI).
"""

from __future__ import annotations

import io
import math
import os
from typing import Any

from nas.archive.atomic import write_bytes_atomic
from nas_common.objective import VAL_ACC, Objective


def pareto_front(records: list[dict[str, Any]], objective: Objective = VAL_ACC) -> list[dict[str, Any]]:
    """Records not dominated in (better objective, fewer FLOPs), ordered by increasing FLOPs.

    A record is on the front when no other record is at least as good with at most as many
    FLOPs and strictly better in one of them. Of exact (flops, objective) duplicates only the
    earliest step is kept, so the front has no repeated points.
    """
    utility = objective.record_utility
    ordered = sorted(
        (r for r in records if not math.isnan(objective.value(r["metrics"]))),
        key=lambda r: (r["flops"], -utility(r), r.get("step", 0)),
    )
    front: list[dict[str, Any]] = []
    best = -math.inf
    for record in ordered:
        # Sorted by FLOPs, then objective best first: a point joins the front only when it beats
        # every cheaper-or-equal point seen so far.
        if utility(record) > best:
            front.append(record)
            best = utility(record)
    return front


def _label(objective: Objective) -> str:
    if objective.metric == "val_acc":
        return "validation accuracy (%)"
    unit = f" ({objective.unit.strip()})" if objective.unit.strip() else ""
    return f"{objective.metric}{unit}, {'higher' if objective.maximise else 'lower'} is better"


def _verdict_caption(verdict: dict[str, Any], objective: Objective) -> str:
    """The verdict in one short line, on the split that decided it."""
    judged = verdict.get("best_vs_random_median") or {}
    if "basis" not in verdict or not judged:
        return "verdict unconfirmed (judged on the images that chose the best)"
    on = {"confirmation": f"{judged.get('images', 0):,} confirmation images",
          "validation": "validation, selection allowed for"}.get(judged.get("split"), "validation")
    said = "better than random" if verdict.get("better_than_random") else "NOT distinguishable from random"
    # two lines: one would run past the figure's width
    return (f"best vs median random: {judged['difference']:+.2f}{objective.unit} ± {judged['se']:.2f} (standard "
            f"error) on {on}:\n{said}")


def plot_progress(records: list[dict[str, Any]], path: str | os.PathLike, objective: Objective = VAL_ACC,
                  verdict: dict[str, Any] | None = None) -> None:
    """Best objective so far vs number of evaluations, each evaluation as a faint dot; with the
    search's `verdict` (summary.json's), the random architectures' median on validation as a line
    and the verdict, judged on the confirmation images, under the title."""
    fig, ax = new_figure()
    accs = [objective.value(r["metrics"]) for r in records]
    xs = list(range(1, len(accs) + 1))
    best, running = [], -math.inf
    for acc in accs:
        if not math.isnan(acc):
            running = max(running, objective.utility(acc))
        best.append(objective.utility(running))
    shown = [(x, a) for x, a in zip(xs, accs) if math.isfinite(a)]
    if shown:
        ax.scatter(*zip(*shown), s=10, alpha=0.25, color="tab:blue", label="each evaluation")
    # the noise of each score (one standard error over the validation images), where recorded
    errors = [(x, a, r["metrics"].get(f"{objective.metric}_se")) for x, a, r in zip(xs, accs, records)]
    errors = [(x, a, e) for x, a, e in errors if math.isfinite(a) and isinstance(e, float) and math.isfinite(e)]
    if errors:
        ex, ey, ee = zip(*errors)
        ax.errorbar(ex, ey, yerr=ee, fmt="none", ecolor="tab:blue", alpha=0.2, linewidth=1,
                    label="± 1 standard error")
    if records:
        ax.step(xs, best, where="post", color="tab:red", linewidth=2, label="best so far")
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no evaluations yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"Search progress ({len(records)} evaluations)")
    if verdict:
        comparison = (verdict.get("splits") or {}).get("validation")
        if comparison and records:
            ax.axhline(comparison["b"], color="tab:gray", linestyle="--", linewidth=1,
                       label="median random architecture")
            ax.legend(loc="lower right")
        ax.set_title(f"Search progress ({len(records)} evaluations)\n{_verdict_caption(verdict, objective)}",
                     fontsize=9)
    ax.set_xlabel("evaluations")
    ax.set_ylabel(_label(objective))
    ax.grid(True, alpha=0.3)
    save_figure(fig, path)


def best_so_far(records: list[dict[str, Any]], objective: Objective) -> list[float]:
    """The best objective value after each evaluation (NaN until a finite one)."""
    best, running = [], -math.inf
    for record in records:
        value = objective.value(record["metrics"])
        if not math.isnan(value):
            running = max(running, objective.utility(value))
        best.append(objective.utility(running) if math.isfinite(running) else math.nan)
    return best


def plot_compare(series: list[tuple[str, list[dict[str, Any]], Objective]], path: str | os.PathLike) -> None:
    """Best objective so far vs evaluations of several runs (`(label, records, objective)`), one line each."""
    fig, ax = new_figure()
    for label, records, objective in series:
        ax.step(range(1, len(records) + 1), best_so_far(records, objective), where="post", linewidth=2,
                label=f"{label} ({len(records)})")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Search progress of {len(series)} runs")
    ax.set_xlabel("evaluations")
    ax.set_ylabel(_label(series[0][2]) + ", best so far")
    ax.grid(True, alpha=0.3)
    save_figure(fig, path)


def plain_log_axis(axis) -> None:
    """A log-scaled axis ticked with plain numbers ("20", "50", "100") at 1-2-5 steps of each
    decade, not matplotlib's "3x10^1"."""
    from matplotlib.ticker import LogLocator, ScalarFormatter

    axis.axes.set_xscale("log") if axis is axis.axes.xaxis else axis.axes.set_yscale("log")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_minor_locator(LogLocator(base=10, subs="auto"))
    formatter = ScalarFormatter()
    formatter.set_scientific(False)
    axis.set_major_formatter(formatter)
    axis.set_minor_formatter("")


def plot_pareto(records: list[dict[str, Any]], path: str | os.PathLike, objective: Objective = VAL_ACC) -> None:
    """Objective vs MFLOPs: all points, the Pareto front connected, the best starred."""
    fig, ax = new_figure()

    def value(r: dict[str, Any]) -> float:
        return objective.value(r["metrics"])

    points = [(r["flops"] / 1e6, value(r)) for r in records if math.isfinite(value(r))]
    if points:
        ax.scatter(*zip(*points), s=12, alpha=0.35, color="tab:blue", label="evaluated")
        front = [(r["flops"] / 1e6, value(r)) for r in pareto_front(records, objective)]
        ax.plot(*zip(*front), "-o", color="tab:orange", markersize=5, label="Pareto front")
        top = max(records, key=objective.record_utility)
        ax.scatter([top["flops"] / 1e6], [value(top)], marker="*", s=220, color="tab:red",
                   zorder=5, label=f"best: {objective.format(value(top))}")
        mflops = [x for x, _ in points]
        # Log scale only when FLOPs span more than a decade; otherwise it just squeezes the points.
        if min(mflops) > 0 and max(mflops) / min(mflops) > 10:
            plain_log_axis(ax.xaxis)
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no evaluations yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(f"{'Accuracy' if objective.metric == 'val_acc' else objective.metric} vs FLOPs")
    ax.set_xlabel("FLOPs (millions)")
    ax.set_ylabel(_label(objective))
    ax.grid(True, alpha=0.3)
    save_figure(fig, path)


def plot_front(path: str | os.PathLike, evaluated: list[tuple[float, float]], front: list[tuple[float, float]],
               randoms: list[tuple[float, float]], xlabel: str, ylabel: str, title: str) -> None:
    """Two objectives of a Pareto search: every evaluated point, the front joined up, and the random
    baseline's points (what the same axes look like without a search)."""
    fig, ax = new_figure()
    if evaluated:
        ax.scatter(*zip(*evaluated), s=12, alpha=0.35, color="tab:blue", label="evaluated")
    if randoms:
        ax.scatter(*zip(*randoms), s=22, marker="x", color="tab:gray", label="random baseline")
    if front:
        ax.plot(*zip(*sorted(front)), "-o", color="tab:orange", markersize=5, label="Pareto front")
        ax.legend(loc="best", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no evaluations yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    save_figure(fig, path)


def save_scatter(path: str | os.PathLike, series: list[tuple[list[float], list[float], str, str]],
                 xlabel: str, ylabel: str, title: str) -> None:
    """Scatter plots of (xs, ys, marker, label) series on one axis, saved as PNG (rank checks)."""
    fig, ax = new_figure((6, 4.5))
    for xs, ys, marker, label in series:
        ax.scatter(xs, ys, marker=marker, s=14, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path, dpi=110)


def new_figure(figsize: tuple[float, float] = (7, 4.5)) -> tuple[Any, Any]:
    """A pyplot-free figure and its axes (no global state, renders headless)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 120) -> None:
    # Render to memory, then replace atomically: a viewer never sees a half-written PNG.
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=dpi)
    write_bytes_atomic(path, buffer.getvalue())


def plot_scaling(summary: dict[str, Any], path: str | os.PathLike, objective: Objective = VAL_ACC) -> None:
    """A compound-scaling run (`nas scale`): objective vs FLOPs of the compound family and, below it
    in the legend, each dimension scaled alone (EfficientNet's Figures 3 and 8); grid candidates as
    faint points."""
    fig, ax = new_figure()

    def line(entries: list[dict[str, Any]]) -> tuple[list[float], list[float]]:
        entries = sorted(entries, key=lambda e: e["flops"])
        return [e["flops"] / 1e6 for e in entries], [objective.value(e["metrics"]) for e in entries]

    base = summary["base"]
    ax.plot(*line(summary["family"]), "-o", linewidth=2.2, color="tab:red",
            label="compound (a={:g}, b={:g}, g={:g})".format(*summary["winner"]["coefficients"]))
    colours = {"depth": "tab:blue", "width": "tab:green", "resolution": "tab:purple"}
    for dim in summary["dims"]:
        entries = [e for e in summary["ablation"] if e["kind"] == dim]
        if entries:
            ax.plot(*line([base] + entries), "--s", markersize=4, color=colours[dim], label=f"{dim} only")
    grid = summary["grid"]
    if grid:
        ax.scatter(*line(grid), s=18, alpha=0.4, color="grey", label="grid candidates (phi 1)")
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(f"Scaling {summary['space']}: {_label(objective).split(',')[0]} vs FLOPs")
    ax.set_xlabel("FLOPs (millions)")
    ax.set_ylabel(_label(objective))
    ax.grid(True, alpha=0.3)
    save_figure(fig, path)
