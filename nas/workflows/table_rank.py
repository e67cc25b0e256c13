"""Does the NB201 supernet rank architectures like NAS-Bench-201 says? (No retraining needed.)

NAS-Bench-201 (Dong & Yang, ICLR 2020) trained every cell of its space, so its table is the ground
truth a weight-sharing supernet can be checked against directly: K architectures spread over the
table's accuracy range (evenly spaced quantiles of the 12-epoch validation accuracy, so the sample
has the table's own distribution: a few broken cells, most in the 60-80% band) are scored on the
supernet with BN recalibrated per path and with the inherited running statistics, and ranked
against the table's 12-epoch validation accuracy (the search signal) and 200-epoch test accuracy
(the number papers report). Kendall tau, Spearman rho and the top-10 overlap are reported.

Published one-shot supernets on NB201 reach Kendall tau ~0.50-0.54 (e.g. SPOS), few-shot ones
0.54-0.69. The table itself gives 0.59 between its 12-epoch validation and 200-epoch test columns.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from nas.archive import write_json_atomic
from nas_common.errors import UserError
from nas.workflows.rank_check import interval_text, json_safe, rank_correlations, supernet_of
from search_spaces.arch import Arch

# Scores (higher is better): supernet accuracy with recalibrated BN, minus its validation loss
# (a finer signal than the accuracy of a few images; Ning et al. 2021), accuracy with inherited BN.
# The parameter count of the benchmark's network scores the same architectures as the baseline
# every estimator must beat (Kendall tau ~0.6 on NB201).
SCORES = ("recalibrated", "recalibrated_neg_loss", "inherited", "params")
TRUTHS = ("table_val_12ep", "table_test_200ep")
NAMES = {"recalibrated": "supernet acc, recalibrated BN", "recalibrated_neg_loss": "supernet -loss, recalibrated BN",
         "inherited": "supernet acc, inherited BN", "params": "parameter count (baseline)"}
TOP = 10


def spread_over_table(table: Any, space: Any, k: int) -> list[Arch]:
    """`k` architectures, one per class of isomorphic cells (NB201's 6,466; each its class's
    representative with that row's accuracies), at evenly spaced quantiles of the table's 12-epoch
    validation accuracy, worst to best (ties broken by the table's architecture index)."""
    rows = sorted(((row.val_acc, row.arch_idx, arch) for arch, row in table.items()
                   if space.representative(arch) == arch), key=lambda r: (r[0], r[1]))
    unique: dict[str, tuple[float, int, Arch]] = {}
    for row in rows:
        unique.setdefault(row[2].hash, row)
    ordered = sorted(unique.values(), key=lambda r: (r[0], r[1]))
    if k > len(ordered):
        raise UserError(f"--archs {k}: the table has only {len(ordered)} distinct architectures")
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, k)).astype(int))
    return [ordered[i][2] for i in picks]


def top_overlap(a: list[float], b: list[float], n: int = TOP) -> int:
    """How many of the `n` best by `a` are among the `n` best by `b`."""
    order = lambda v: set(np.argsort(-np.asarray(v), kind="stable")[:n].tolist())  # noqa: E731
    return len(order(a) & order(b))


def score_rows(archs: list[Arch], evaluator: Any, table: Any, on_arch: Any = None,
               inherited: bool = True) -> list[dict[str, Any]]:
    """Per architecture: the supernet's scores (`inherited`: also with the trained running
    statistics), the benchmark network's parameter count and the table's accuracies."""
    benchmark_net = table.space
    rows = []
    for arch in archs:
        truth = table.evaluate(arch)["val_acc"], table.reported(arch)["test_acc"]
        recalibrated = evaluator.evaluate(arch)
        row = {"arch": arch.to_dict(), "arch_hash": arch.hash,
               "recalibrated": recalibrated["val_acc"], "recalibrated_neg_loss": -recalibrated["val_loss"]}
        if inherited:
            row["inherited"] = evaluator.evaluate_inherited(arch)["val_acc"]
        rows.append({**row, "params": benchmark_net.params(arch), "table_val_12ep": truth[0],
                     "table_test_200ep": truth[1]})
        if on_arch is not None:
            on_arch()
    return rows


def scores_of(rows: list[dict[str, Any]]) -> list[str]:
    return [s for s in SCORES if rows and s in rows[0]]


def summarize_ranking(rows: list[dict[str, Any]]) -> dict[str, Any]:
    columns = {c: [r[c] for r in rows] for c in (*scores_of(rows), *TRUTHS)}
    correlations = rank_correlations(columns)
    overlaps = {f"{s}_vs_{t}": top_overlap(columns[s], columns[t]) for s in scores_of(rows) for t in TRUTHS}
    return {"correlations": correlations, f"top{TOP}_overlap": overlaps, "scores": scores_of(rows)}


def report(result: dict[str, Any]) -> str:
    from nas.archive import format_table

    corr, overlap = result["correlations"], result[f"top{TOP}_overlap"]
    lines = []
    for scored in result["scores"]:
        for truth in TRUTHS:
            pair = f"{scored}_vs_{truth}"
            values = corr[pair]
            lines.append([NAMES[scored], truth.replace("table_", "table ").replace("_", " "),
                          _num(values["kendall_tau"]), interval_text(values), _num(values["spearman_rho"]),
                          f"{overlap[pair]}/{TOP}"])
    return format_table(["scores", "against", "kendall tau", "95% interval", "spearman rho", f"top-{TOP} overlap"],
                        lines)


def _num(value: float | None) -> str:
    return "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:+.3f}"


def plot(rows: list[dict[str, Any]], result: dict[str, Any], path: Path) -> None:
    from nas.archive.plots import save_scatter

    series = [([r["table_val_12ep"] for r in rows], [r[column] for r in rows], marker,
               f"{column} BN (Kendall tau {_num(result['correlations'][f'{column}_vs_table_val_12ep']['kendall_tau'])})")
              for column, marker in (("recalibrated", "o"), ("inherited", "x")) if column in rows[0]]
    save_scatter(path, series, "NAS-Bench-201 12-epoch validation accuracy (%)", "supernet validation accuracy (%)",
                 f"supernet vs NAS-Bench-201, {len(rows)} architectures")


def table_rank_check(run_path: Any, out: Any, k: int, eval_cfg: Any, device: Any, *, seed: int = 0,
                     table: str | None = None, on_arch: Any = None, inherited: bool = True) -> dict[str, Any]:
    """Score `k` table architectures on the run's NB201 supernet; write `rank_check_table.json`
    and `rank_check_table.png` into `out`; return the result (with a printable `table`)."""
    from nas.evaluate.supernet_evaluator import SupernetEvaluator
    from nas.evaluate.table import TableEvaluator
    from nas.supernet.loading import load_supernet_run

    supernet_dir, _ = supernet_of(run_path)
    supernet = load_supernet_run(supernet_dir)
    if supernet.space.name not in TableEvaluator.spaces:
        raise UserError(f"--against-table needs an {'/'.join(TableEvaluator.spaces)} supernet; {run_path} holds a {supernet.space.name} one")
    truth = TableEvaluator(table)
    archs = spread_over_table(truth.rows(), supernet.space, k)
    evaluator = SupernetEvaluator.from_run(supernet, eval_cfg, device, seed=seed)
    rows = score_rows(archs, evaluator, truth, on_arch, inherited)
    result = {"run": str(run_path), "supernet": str(supernet_dir), "table": str(truth.path), "archs": rows,
              **summarize_ranking(rows)}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "rank_check_table.json", {**result, "correlations": json_safe(result["correlations"])})
    plot(rows, result, out / "rank_check_table.png")
    return {**result, "report": report(result)}
