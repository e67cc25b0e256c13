"""The benchmark report: `results.json` (everything), `table.md` (mean ± std beside the published
figures) and `bench.png` (the pick's test accuracy vs queries, one line per strategy)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from nas.archive import write_bytes_atomic, write_json_atomic, write_text_atomic
from nas.bench_harness.references import REFERENCES
from nas.bench_harness.trajectory import curve_stats
from nas.bench_harness.variants import Variant


def _published(strategy: dict[str, Any]) -> str:
    variant = Variant(strategy["label"], strategy["strategy"], strategy["options"])
    refs = REFERENCES.get(variant.name, ()) if variant.is_default() else ()
    return "; ".join(r.text() for r in refs) or "-"


def markdown_table(results: dict[str, Any]) -> str:
    """Strategy, mean ± std test acc at each checkpoint, mean best val acc at the budget, published."""
    cfg = results["config"]
    checkpoints = cfg["checkpoints"]
    comparisons = results.get("comparisons")  # absent in reports written before noise was measured
    versus = f"vs {comparisons['baseline']} @{comparisons['at']}" if comparisons else None
    spends = any("proxy_scores_mean" in results["aggregates"][s["label"]] for s in cfg["strategies"])
    head = (["strategy"] + [f"test acc @{q}" for q in checkpoints] + [f"best val @{cfg['budget']}"]
            + ([versus] if versus else []) + (["proxies / search"] if spends else []) + ["published"])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for strategy in cfg["strategies"]:
        stats = results["aggregates"][strategy["label"]]
        cells = [f"`{strategy['label']}`"]
        for q in checkpoints:
            c = stats["checkpoints"][str(q)]
            cells.append(f"{c['test_acc_mean']:.2f} ± {c['test_acc_std']:.2f}")
        final = stats["final"]
        cells.append(f"{final['best_val_mean']:.2f} ± {final['best_val_std']:.2f}")
        if versus:
            cells.append(_versus(comparisons["strategies"].get(strategy["label"])))
        if spends:
            cells.append(_spend(stats))
        cells.append(_published(strategy))
        lines.append("| " + " | ".join(cells) + " |")
    sources = sorted({r.source for refs in REFERENCES.values() for r in refs})
    lines += [
        "",
        f"Test acc: 200-epoch CIFAR-10 test accuracy (%) of the architecture with the best 12-epoch "
        f"validation accuracy among the first q queries; mean ± std over {len(cfg['seeds'])} seeds. "
        f"Best val: 12-epoch validation accuracy (%), the only signal the strategies see. "
        f"Table optimum: {results['optimum']['test_acc']:.2f}.",
        *([_noise_note(results)] if versus else []),
        *([_proxy_note(results)] if spends else []),
        "Published (@q: at q queries; no @: a fixed search-time budget): " + "; ".join(sources) + ".",
    ]
    text = "\n".join(lines) + "\n"
    if results.get("fronts"):
        from nas.bench_harness.fronts import front_table

        text += "\n" + front_table(results["fronts"])
    return text


def _spend(stats: dict[str, Any]) -> str:
    if "proxy_scores_mean" not in stats:
        return "-"
    cpu = stats.get("proxy_cpu_s_mean")
    seconds = "CPU s unknown" if cpu is None else f"{cpu:,.0f} CPU s" if cpu >= 10 else f"{cpu:.2f} CPU s"
    return f"{stats['proxy_scores_mean']:,.0f} scores, {seconds}"


def _proxy_note(results: dict[str, Any]) -> str:
    from nas.strategies.warmup import SPACE_COUNTS

    source = results.get("proxies") or {}
    asked = {p for names in source.get("asked", {}).values() for p in names}
    where = f"read from {source['table']} first; " if source.get("table") else ""
    data = sorted(asked - set(SPACE_COUNTS))
    kept = (f"{', '.join(data)} scored on CIFAR-10 (one core, a batch of 128 training images, seeded "
            f"initialisation) once per cell class and kept in {source.get('cache')}, so later benchmarks "
            f"read them") if data else "no data proxy asked for"
    return (f"Proxies / search: the zero-cost scores a real search would compute (distinct architectures x "
            f"proxies) and their CPU seconds, cached or not. {where}params and FLOPs are counted by the "
            f"space; {kept}.")


def _versus(comparison: dict[str, Any] | None) -> str:
    if comparison is None:
        return "(baseline)"
    if comparison["se"] is None or comparison["se"] != comparison["se"]:  # one seed: no spread to measure
        return f"{comparison['difference']:+.2f} (one seed: noise unknown)"
    verdict = "beyond noise" if comparison["distinguishable"] else "within noise"
    return f"{comparison['difference']:+.2f} ± {comparison['se']:.2f} ({verdict})"


def _noise_note(results: dict[str, Any]) -> str:
    finals = [s["final"] for s in results["aggregates"].values() if "test_acc_record_se" in s["final"]]
    record = max((f["test_acc_record_se"] for f in finals), default=float("nan"))
    return (f"Noise: vs {results['comparisons']['baseline']} is the difference of the mean test acc at the "
            f"budget ± its standard error over seeds (seed spread / sqrt(seeds), the two strategies' "
            f"in quadrature; beyond noise: the 95% interval excludes 0). One record's own sampling noise "
            f"(binomial, 10,000 test images) is ± {record:.2f} at most: two single architectures whose "
            f"test accuracies differ by less than about {1.96 * 2 ** 0.5 * record:.2f} are not told apart by "
            f"the table.")


def _json_safe(value: Any) -> Any:
    """`value` with NaN (a standard error over one seed) written as null: results.json stays strict JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def plot_curves(results: dict[str, Any], path: str | Path) -> None:
    """Mean test acc of the pick vs queries with ±1 std bands, and the table optimum dashed."""
    from matplotlib.figure import Figure  # not pyplot: no global figure state, Agg on headless machines

    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for strategy in results["config"]["strategies"]:
        mean, std = curve_stats(results["pairs"], strategy["label"])
        xs = range(1, len(mean) + 1)
        (line,) = ax.plot(xs, mean, linewidth=2, label=strategy["label"])
        ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    optimum = results["optimum"]["test_acc"]
    ax.axhline(optimum, color="black", linestyle="--", linewidth=1, label=f"table optimum {optimum:.2f}")
    low = min(min(p["pick_test_acc"][len(p["pick_test_acc"]) // 10:], default=optimum)
              for p in results["pairs"])
    ax.set_ylim(max(low, optimum - 3) - 0.2, optimum + 0.3)  # the first queries would squash the rest
    ax.set_xlabel("queries")
    ax.set_ylabel("test accuracy of the best-val pick (%)")
    ax.set_title(f"NB201 CIFAR-10, mean ± std over {len(results['config']['seeds'])} seeds")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    write_bytes_atomic(path, buffer.getvalue())


def write_report(results: dict[str, Any], out: str | Path) -> Path:
    """results.json, table.md and bench.png under `out` (created), each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "results.json", _json_safe(results))
    write_text_atomic(out / "table.md", markdown_table(results))
    plot_curves(results, out / "bench.png")
    return out
