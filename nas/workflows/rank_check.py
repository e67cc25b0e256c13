"""Does the supernet rank architectures like stand-alone training does? (Yu et al. 2020, "Evaluating
the search phase of NAS"; Zela et al. 2020 on BN statistics in weight-sharing NAS.)

K architectures spread over the range of the task's objective (validation accuracy, or mAP for
detection) are scored three ways: on the supernet with
BatchNorm statistics recalibrated per path (what search uses), on the supernet with the inherited
running statistics, and stand-alone after retraining from scratch (Ray Tune, `nas.workflows.retrain`). The
rank agreement of each pair is Kendall's tau and Spearman's rho.

A correlation is NaN when one of its columns is constant (every architecture equally accurate,
e.g. all at chance after too little retraining): the ranking is undefined there, not zero.
NaN is written as null in `rank_check.json`.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Mapping, Sequence

import numpy as np

from nas.archive import read_records
from search_spaces.arch import Arch
from search_spaces.protocol import SearchSpace

COLUMNS = ("recalibrated", "inherited", "standalone")
MIN_ARCHS = 3


def rank_correlations(columns: Mapping[str, Sequence[float]]) -> dict[str, dict[str, float]]:
    """{"<a>_vs_<b>": {"kendall_tau", "spearman_rho", "kendall_tau_low", "kendall_tau_high"}} for
    every pair of columns (NaN if one is constant); low-high is tau's 95% interval over which
    architectures happened to be checked (`tau_interval`)."""
    from scipy import stats

    out = {}
    for a, b in itertools.combinations(columns, 2):
        x, y = np.asarray(columns[a], dtype=float), np.asarray(columns[b], dtype=float)
        if len(x) != len(y):
            raise ValueError(f"columns {a} and {b} differ in length ({len(x)} vs {len(y)})")
        if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0 or not np.isfinite(np.r_[x, y]).all():
            tau = rho = low = high = math.nan  # undefined; scipy would warn and return NaN too
        else:
            tau, rho = float(stats.kendalltau(x, y).statistic), float(stats.spearmanr(x, y).statistic)
            low, high = tau_interval(x, y)
        out[f"{a}_vs_{b}"] = {"kendall_tau": tau, "spearman_rho": rho, "kendall_tau_low": low,
                              "kendall_tau_high": high}
    return out


def tau_interval(x: np.ndarray, y: np.ndarray, draws: int = 500, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of Kendall's tau, resampling the architectures (seeded):
    with 100 architectures it is about +-0.1 wide, so two estimators closer than that are not
    told apart by the check."""
    from scipy import stats

    rng = np.random.default_rng([seed, len(x)])
    taus = []
    for _ in range(draws):
        idx = rng.integers(0, len(x), len(x))
        if np.ptp(x[idx]) > 0 and np.ptp(y[idx]) > 0:
            taus.append(stats.kendalltau(x[idx], y[idx]).statistic)
    if len(taus) < draws // 2:
        return math.nan, math.nan
    low, high = np.percentile(taus, [2.5, 97.5])
    return float(low), float(high)


def spread(scored: list[tuple[Arch, float]], k: int) -> list[Arch]:
    """`k` architectures at evenly spaced quantiles of accuracy, worst to best (one per architecture)."""
    unique = {arch.hash: (arch, acc) for arch, acc in scored}
    ordered = sorted(unique.values(), key=lambda pair: (pair[1], pair[0].hash))
    if len(ordered) < k:
        raise ValueError(f"only {len(ordered)} distinct architectures to pick {k} from")
    picks = np.unique(np.round(np.linspace(0, len(ordered) - 1, k)).astype(int))
    return [ordered[i][0] for i in picks]


SPREADS = ("accuracy", "flops")


def select_archs(space: SearchSpace, evaluator: Any, records_path: Any, k: int, seed: int,
                 pool_factor: int = 4, metric: str = "val_acc", spread_by: str = "accuracy") -> tuple[list[Arch], str]:
    """K architectures spread over the accuracy range, and where they came from: the run's
    evaluations when it holds at least `pool_factor * k` distinct ones, else `pool_factor * k`
    random architectures scored on the supernet (recalibrated BN). `spread_by="flops"`: spread over
    the FLOPs of `pool_factor * k` random architectures instead (no supernet score chooses them, so
    a search's evaluations, which crowd where the search looked, do not bias the check)."""
    if spread_by not in SPREADS:
        raise ValueError(f"spread_by {spread_by!r}: expected one of {', '.join(SPREADS)}")
    if spread_by == "flops":
        return spread([(a, float(space.flops(a))) for a in _random_pool(space, pool_factor * k, seed)], k), "flops"
    records = read_records(records_path, missing_ok=True) if records_path is not None else []
    scored = [(Arch.from_dict(r["arch"]), float(r["metrics"][metric])) for r in records
              if r["arch"].get("space") == space.name and metric in r.get("metrics", {})]
    if len({a.hash for a, _ in scored}) >= pool_factor * k:
        return spread(scored, k), "evaluations"
    return spread([(a, evaluator.evaluate(a)[metric]) for a in _random_pool(space, pool_factor * k, seed)], k), "random"


def _random_pool(space: SearchSpace, size: int, seed: int) -> list[Arch]:
    """Up to `size` distinct random architectures, a function of `seed`."""
    rng = np.random.default_rng([seed, 0x4A4C])
    pool: dict[str, Arch] = {}
    for _ in range(100 * size):
        if len(pool) == size:
            break
        arch = space.sample(rng)
        pool.setdefault(arch.hash, arch)
    return list(pool.values())


def report_table(rows: list[dict[str, Any]], correlations: dict[str, dict[str, float]],
                 metric: str = "val_acc") -> str:
    from nas.archive import format_table

    archs = format_table(["arch", "hash", f"recalibrated {metric}", f"inherited BN {metric}", f"stand-alone {metric}"],
                         [[r["arch_str"], r["arch_hash"], *(f"{r[c]:.2f}" for c in COLUMNS)] for r in rows])
    corr = format_table(["pair", "kendall tau", "95% interval", "spearman rho"],
                        [[pair.replace("_", " "), _num(v["kendall_tau"]), interval_text(v), _num(v["spearman_rho"])]
                         for pair, v in correlations.items()])
    return archs + "\n\n" + corr


def _num(value: float) -> str:
    return "nan (constant column)" if math.isnan(value) else f"{value:+.3f}"


def interval_text(values: Mapping[str, Any]) -> str:
    low, high = values.get("kendall_tau_low"), values.get("kendall_tau_high")
    if low is None or high is None or math.isnan(low) or math.isnan(high):
        return "-"
    return f"{low:+.2f} to {high:+.2f}"


def json_safe(correlations: dict[str, dict[str, float]]) -> dict[str, dict[str, float | None]]:
    return {pair: {k: None if math.isnan(v) else v for k, v in values.items()} for pair, values in correlations.items()}


def plot_rank_check(rows: list[dict[str, Any]], correlations: dict[str, dict[str, float]], path: Any,
                    metric: str = "val_acc") -> None:
    """Stand-alone objective (y) against the supernet's (x), recalibrated and inherited BN."""
    from nas.archive.plots import save_scatter

    def label(column: str) -> str:
        tau = correlations[f"{column}_vs_standalone"]["kendall_tau"]
        return f"supernet, {column} BN (Kendall tau {'nan' if math.isnan(tau) else f'{tau:+.2f}'})"

    y = [r["standalone"] for r in rows]
    series = [([r[column] for r in rows], y, marker, label(column))
              for column, marker in (("recalibrated", "o"), ("inherited", "x"))]
    save_scatter(path, series, f"supernet {metric}", f"stand-alone {metric}",
                 f"ranking check, {len(rows)} architectures")


# ---- the whole check, from a run directory ------------------------------------------------------------
def supernet_of(run_path: Any) -> tuple[Any, Any]:
    """(supernet run directory, evaluations.jsonl or None) of a supernet or search run."""
    from nas.archive import RunDir
    from nas_common.errors import UserError
    from nas.supernet.loading import supernet_dir_of

    run = RunDir.open(run_path)
    config = run.read_config()
    supernet_dir = supernet_dir_of(run, config)
    if supernet_dir is None:
        raise UserError(f"{run_path} searched without a supernet; nothing to rank-check")
    return supernet_dir, (run.evaluations if config.get("kind") == "search" else None)


def rank_check(run_path: Any, out: Any, k: int, train: Any, eval_cfg: Any, device: Any, *, seed: int = 0,
               resume: bool = False, test: bool = False, spread_by: str = "accuracy", **cluster: Any) -> dict[str, Any]:
    """Select (or, on resume, reuse) K architectures of `run_path`, score them on its supernet both
    ways, retrain them on Ray Tune into `out`, and write `rank_check.json` and `rank_check.png` there.
    `cluster`: workers, gpus_per_worker, address (see `nas.workflows.retrain.retrain`)."""
    from dataclasses import asdict
    from pathlib import Path

    from nas.archive import write_json_atomic
    from nas.evaluate.supernet_evaluator import SupernetEvaluator
    from nas.workflows.retrain import RetrainJob, open_or_create, retrain
    from nas.supernet.loading import load_supernet_run

    if k < MIN_ARCHS:
        raise ValueError(f"--archs {k}: need at least {MIN_ARCHS} architectures for a rank correlation")
    out = Path(out)
    supernet_dir, evaluations = supernet_of(run_path)
    supernet = load_supernet_run(supernet_dir)
    evaluator = SupernetEvaluator.from_run(supernet, eval_cfg, device, seed=seed)
    metric = evaluator.task.objective.metric  # val_acc, or val_mAP for detection
    test_metric = "test_" + metric.removeprefix("val_")
    job = None
    if resume:
        _, job = open_or_create(out, None, resume=True)
        archs, source = list(job.archs), job.extra.get("rank_check", {}).get("selection", "saved")
    else:
        archs, source = select_archs(supernet.space, evaluator, evaluations, k, seed, metric=metric,
                                     spread_by=spread_by)
        job = RetrainJob(supernet.space.name, supernet.space.config(), supernet.data_config, train, tuple(archs),
                         test, {"rank_check": {"run": str(run_path), "supernet": str(supernet_dir), "archs": k,
                                               "selection": source, "seed": seed, "evaluator": asdict(eval_cfg)}})
    records = {r["arch_hash"]: r for r in retrain(out, None if resume else job, resume=resume, **cluster)}
    rows = []
    for arch in archs:
        record = records[arch.hash]
        rows.append({"arch": arch.to_dict(), "arch_str": str(arch), "arch_hash": arch.hash,
                     "recalibrated": evaluator.evaluate(arch)[metric],
                     "inherited": evaluator.evaluate_inherited(arch)[metric],
                     "standalone": record["metrics"][metric],
                     **({"standalone_test": record["metrics"][test_metric]} if test_metric in record["metrics"] else {}),
                     "flops": record["flops"], "params": record["params"]})
    correlations = rank_correlations({c: [r[c] for r in rows] for c in COLUMNS})
    # The simplest estimator on the same architectures: a supernet that ranks no better is no help.
    correlations["params_vs_standalone"] = rank_correlations(
        {"params": [r["params"] for r in rows], "standalone": [r["standalone"] for r in rows]})["params_vs_standalone"]
    result = {"run": str(run_path), "supernet": str(supernet_dir), "selection": source, "metric": metric,
              "space": supernet.space.name, "space_options": supernet.space.config(),
              "epochs": job.train.epochs, "archs": [{key: v for key, v in r.items() if key != "arch_str"} for r in rows],
              "correlations": json_safe(correlations),
              "note": "null correlation: one column is constant, so its ranking is undefined"}
    write_json_atomic(out / "rank_check.json", result)
    plot_rank_check(rows, correlations, out / "rank_check.png", metric)
    result["table"] = report_table(rows, correlations, metric)
    return result


def known_figure(result: dict[str, Any], when: str) -> dict[str, Any] | None:
    """What a search's summary quotes of this check (`nas.evaluate.known`): the recalibrated
    supernet's rank agreement with stand-alone training, its 95% interval, and counting parameters
    on the same architectures; None when the correlation is undefined."""
    ours = result["correlations"]["recalibrated_vs_standalone"]
    if ours["kendall_tau"] is None:
        return None
    figure = {"archs": len(result["archs"]), "kendall_tau": round(ours["kendall_tau"], 3),
              "spearman_rho": round(ours["spearman_rho"], 3),
              "truth": f"stand-alone {result['metric']} after {result['epochs']} epochs",
              "source": f"nas rank-check of {result['run']} ({result['selection']} spread), {when}",
              "space_options": result.get("space_options", {})}
    if ours.get("kendall_tau_low") is not None and ours.get("kendall_tau_high") is not None:
        figure["kendall_tau_interval"] = [round(ours["kendall_tau_low"], 3), round(ours["kendall_tau_high"], 3)]
    params = result["correlations"].get("params_vs_standalone", {})
    if params.get("kendall_tau") is not None:
        figure["params_kendall_tau"] = round(params["kendall_tau"], 3)
    return figure
