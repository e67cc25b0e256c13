"""How well does each estimator rank NAS-Bench-201 cells? Zero-cost proxies, counts, supernets and
the combined estimator, against the table, on the same architectures.

Architectures: `--archs` (default 1,000) cells drawn uniformly from NB201's 6,466 classes of
isomorphic cells (seeded), so they spread over the table like the space itself; the cheap proxies
(naswot, synflow, params, flops) are also ranked over all 6,466 (or the first `--cheap-classes`
of the same uniformly random order). For every estimator: Kendall tau,
Spearman rho and precision at the top 5% against the 200-epoch test accuracy and the 12-epoch
validation accuracy, and the CPU seconds it costs per architecture.

- proxies: `nas.proxies` on NB201's own network (C=16, N=5), a fixed CIFAR-10 batch of 128, seed 0,
  scored once and cached (bench/_zc_cache.py, Ray tasks on `--workers` cores);
- supernets: `--supernet RUN` (repeatable): a trained nb201 supernet run, every architecture scored
  with BN recalibrated per path, by validation accuracy and by -loss;
- combined: `predictors.forest` (random forest on the encoding, the cell's path features and every
  proxy score), fitted on `--labelled` (100) architectures and ranked on the rest, over `--splits`
  random splits: with table labels (standing in for stand-alone trainings), and, per supernet,
  with the supernet's scores as labels;
- label-free combinations, per supernet (what a user has without a single stand-alone training):
  the mean of the architectures' ranks under the supernet's -loss and a proxy (params, jacov, ...).

Every estimator also gets its pick: the table's 200-epoch test accuracy of the architecture it
ranks first among the `--archs` (what a search that trusted it would end on), and the mean of its
top 5.

Writes `--out`/estimators.json, table.md, ranking.png and archs.jsonl (every architecture's scores). Headline: the best CPU-budget estimator's
Kendall tau against the 200-epoch test accuracy.
Run: python bench/estimator_ranking_nb201.py [--archs 1000] [--proxies params,jacov,...] [--supernet RUN ...]
     [--workers 2] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _zc_cache import proxy_table  # noqa: E402

from nas.evaluate.table import TableEvaluator  # noqa: E402
from search_spaces.nb201 import NB201Space  # noqa: E402

PROXIES = ("params", "flops", "naswot", "jacov", "synflow", "snip", "grad_norm", "zico")
CHEAP = ("params", "flops", "naswot", "synflow")  # scored on all 6,466 classes
# Published Spearman rho on NB201 CIFAR-10, 1,000 random cells, batch 64 (NAS-Bench-Suite-Zero).
PUBLISHED_RHO = {"naswot": 0.77, "jacov": 0.75, "synflow": 0.73, "params": 0.72, "snip": 0.58, "grad_norm": 0.58}
TOP = 0.05


def metrics(score, truth_test, truth_val) -> dict[str, float]:
    score = np.asarray(score, dtype=float)
    order = np.argsort(-score, kind="stable")
    out = {"pick_test": float(np.asarray(truth_test)[order[0]]), "top5_test": float(np.asarray(truth_test)[order[:5]].mean())}
    for name, truth in (("test", np.asarray(truth_test)), ("val", np.asarray(truth_val))):
        out[f"tau_{name}"] = float(stats.kendalltau(score, truth).statistic)
        out[f"rho_{name}"] = float(stats.spearmanr(score, truth).statistic)
        k = max(1, int(round(TOP * len(score))))
        top_est = set(np.argsort(-score, kind="stable")[:k])
        top_true = set(np.argsort(-truth, kind="stable")[:k])
        out[f"p_top5_{name}"] = len(top_est & top_true) / k
    return out


def supernet_scores(run: str, archs, workers: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(accuracy, -loss, CPU s per arch) of every architecture on the supernet of `run`."""
    import torch

    from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
    from nas.supernet.loading import load_supernet_run

    torch.set_num_threads(workers)
    loaded = load_supernet_run(run)
    evaluator = SupernetEvaluator.from_run(loaded, EvaluatorConfig(256, val_images=2560), torch.device("cpu"))
    acc, neg_loss = [], []
    started = time.process_time()
    for arch in archs:
        m = evaluator.evaluate(arch)
        acc.append(m["val_acc"])
        neg_loss.append(-m["val_loss"])
    return np.array(acc), np.array(neg_loss), (time.process_time() - started) / len(archs)


def rank_mean(*scores) -> np.ndarray:
    """The mean of each architecture's ranks under `scores` (higher is better; ties share a rank):
    a combination that needs no labels and no scale matching."""
    return np.mean([stats.rankdata(np.asarray(s, dtype=float)) for s in scores], axis=0)


def combined(space, archs, labels, extra, truth_test, truth_val, labelled: int, splits: int) -> dict[str, float]:
    """Mean metrics over `splits` random splits of a forest fitted on `labelled` architectures
    (their `labels`) and ranked on the others; fit seconds too."""
    from predictors.forest import ForestEstimator

    rows, fit_s = [], []
    for seed in range(splits):
        idx = np.random.default_rng(1000 + seed).permutation(len(archs))
        train, test = idx[:labelled], idx[labelled:]
        started = time.process_time()
        forest = ForestEstimator(space, trees=300, seed=seed).fit(
            [archs[i] for i in train], labels[train], None if extra is None else extra[train])
        pred = forest.predict([archs[i] for i in test], None if extra is None else extra[test])
        fit_s.append(time.process_time() - started)
        rows.append(metrics(pred, truth_test[test], truth_val[test]))
    out = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["tau_test_std"] = float(np.std([r["tau_test"] for r in rows]))
    out["fit_cpu_s"] = float(np.mean(fit_s))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", type=int, default=1000)
    parser.add_argument("--supernet", action="append", default=[], metavar="RUN")
    parser.add_argument("--cheap-classes", type=int, default=None, metavar="N",
                        help="rank the cheap proxies over the first N classes of the scoring order "
                             "(default: all 6,466; about 1 CPU s each for naswot)")
    parser.add_argument("--proxies", default=",".join(PROXIES),
                        help="the proxies to score (comma-separated; jacov, snip, grad_norm and zico cost ~1.5 CPU s each)")
    parser.add_argument("--labelled", type=int, default=100)
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("/tmp/estimator-ranking"))
    parser.add_argument("--write-known", type=Path, default=None, metavar="JSON",
                        help="record the measured figures for search summaries (nas/evaluate/known_rankings.json)")
    args = parser.parse_args()
    space, rows = NB201Space(), TableEvaluator().rows()
    classes = space.unique_archs()
    order = np.random.default_rng(0).permutation(len(classes))  # the order bench/_zc_cache.py scores in
    every = [classes[i] for i in order][: args.cheap_classes]
    archs = every[: args.archs]
    proxies = tuple(p for p in args.proxies.split(",") if p)
    unknown = sorted(set(proxies) - set(PROXIES))
    if unknown:
        raise SystemExit(f"--proxies: unknown {', '.join(unknown)}; choose from {', '.join(PROXIES)}")
    scores = proxy_table([a.choices for a in archs], proxies, workers=args.workers)
    cheap = proxy_table([a.choices for a in every], tuple(p for p in ("naswot", "synflow") if p in proxies),
                        workers=args.workers)
    test = np.array([rows[a].test_acc for a in archs])
    val = np.array([rows[a].val_acc for a in archs])
    results: dict[str, dict[str, float]] = {}
    for name in proxies:
        values = np.array([scores[a.choices][name] for a in archs])
        cpu = np.mean([scores[a.choices].get(f"{name}_cpu_s", 0.0) for a in archs])
        results[name] = {**metrics(values, test, val), "cpu_s": float(cpu), "kind": "proxy"}
    everyone = {"test": np.array([rows[a].test_acc for a in every]), "val": np.array([rows[a].val_acc for a in every])}
    for name in (p for p in CHEAP if p in proxies):
        values = np.array([space.params(a) if name == "params" else space.flops(a) if name == "flops"
                           else cheap[a.choices][name] for a in every])
        results[f"{name} ({len(every)} classes)"] = {**metrics(values, everyone["test"], everyone["val"]),
                                                 "cpu_s": results[name]["cpu_s"], "kind": "proxy"}
    results[f"table 12-epoch validation ({len(every)} classes)"] = {
        **metrics(everyone["val"], everyone["test"], everyone["val"]), "cpu_s": 0.0, "kind": "ground truth, short"}
    extra = np.stack([[scores[a.choices][n] for n in proxies] for a in archs])
    zc_cost = float(np.mean([scores[a.choices]["zc_cpu_s"] for a in archs]))
    results["combined: forest, table labels"] = {
        **combined(space, archs, test, extra, test, val, args.labelled, args.splits), "cpu_s": zc_cost,
        "kind": f"combined ({args.labelled} labelled)"}
    results["forest on encoding only, table labels"] = {
        **combined(space, archs, test, None, test, val, args.labelled, args.splits), "cpu_s": 0.0,
        "kind": f"combined ({args.labelled} labelled)"}
    per_arch = [{"choices": list(a.choices), "test_200ep": float(t), "val_12ep": float(v),
                 **{n: scores[a.choices][n] for n in proxies}} for a, t, v in zip(archs, test, val)]
    for run in args.supernet:
        acc, neg_loss, cpu = supernet_scores(run, archs, args.workers)
        label = Path(run).name
        for row, a, nl in zip(per_arch, acc, neg_loss):
            row[f"supernet {label} acc"], row[f"supernet {label} -loss"] = float(a), float(nl)
        results[f"supernet {label}: acc"] = {**metrics(acc, test, val), "cpu_s": cpu, "kind": "supernet"}
        results[f"supernet {label}: -loss"] = {**metrics(neg_loss, test, val), "cpu_s": cpu, "kind": "supernet"}
        with_sn = np.c_[extra, neg_loss]
        results[f"combined: forest + supernet {label}, table labels"] = {
            **combined(space, archs, test, with_sn, test, val, args.labelled, args.splits), "cpu_s": zc_cost + cpu,
            "kind": f"combined ({args.labelled} labelled)"}
        results[f"combined: forest, supernet {label} labels"] = {
            **combined(space, archs, neg_loss, extra, test, val, args.labelled, args.splits), "cpu_s": zc_cost + cpu,
            "kind": "combined (supernet labels)"}
        for name in proxies:
            proxy = np.array([scores[a.choices][name] for a in archs])
            for signal, values in (("-loss", neg_loss), ("acc", acc)):
                results[f"rank mean: supernet {label} {signal} + {name}"] = {
                    **metrics(rank_mean(values, proxy), test, val), "kind": "label-free",
                    "cpu_s": cpu + results[name]["cpu_s"]}
        if {"params", "jacov"} <= set(proxies):
            both = [np.array([scores[a.choices][n] for a in archs]) for n in ("params", "jacov")]
            results[f"rank mean: supernet {label} -loss + params + jacov"] = {
                **metrics(rank_mean(neg_loss, *both), test, val), "kind": "label-free",
                "cpu_s": cpu + results["params"]["cpu_s"] + results["jacov"]["cpu_s"]}
            results["rank mean: params + jacov (no supernet)"] = {
                **metrics(rank_mean(*both), test, val), "kind": "label-free",
                "cpu_s": results["params"]["cpu_s"] + results["jacov"]["cpu_s"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "archs.jsonl").write_text("".join(json.dumps(row) + "\n" for row in per_arch))
    report(results, archs, args)
    if args.write_known:
        write_known(args.write_known, results, len(archs), len(every), args.supernet)


def write_known(path: Path, results: dict[str, dict[str, float]], archs: int, every: int,
                supernets: list[str]) -> None:
    """Each proxy's figures (over all classes where measured there) as `zc:<proxy>` for nb201, and
    the supernet's (the mean over the `--supernet` runs of the recalibrated accuracy's figures: the
    supernet evaluator's signal) as `supernet`."""
    known = json.loads(path.read_text()) if path.exists() else {}
    nb201 = known.setdefault("nb201", {})
    source = "bench/estimator_ranking_nb201.py"
    for name in (p for p in PROXIES if p in results):
        full = results.get(f"{name} ({every} classes)")
        r, count = (full, every) if full else (results[name], archs)
        nb201[f"zc:{name}"] = {"kendall_tau": round(r["tau_test"], 3), "spearman_rho": round(r["rho_test"], 3),
                               "p_top5": round(r["p_top5_test"], 2),
                               "truth": "the 200-epoch test accuracy", "archs": count, "source": source}
    r = results[f"table 12-epoch validation ({every} classes)"]
    nb201["table"] = {"kendall_tau": round(r["tau_test"], 3), "spearman_rho": round(r["rho_test"], 3),
                      "truth": "the 200-epoch test accuracy", "archs": every, "source": source}
    if supernets:
        rows = [results[f"supernet {Path(run).name}: acc"] for run in supernets]
        nb201["supernet"] = {"kendall_tau": round(float(np.mean([r["tau_test"] for r in rows])), 3),
                             "spearman_rho": round(float(np.mean([r["rho_test"] for r in rows])), 3),
                             "p_top5": round(float(np.mean([r["p_top5_test"] for r in rows])), 2),
                             "truth": "the 200-epoch test accuracy", "archs": archs,
                             "source": f"{source}, CPU preset supernet, mean of {len(rows)} training seeds"}
    path.write_text(json.dumps(known, indent=1, sort_keys=True) + "\n")


def report(results: dict[str, dict[str, float]], archs, args) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    header = ("| estimator | kind | tau test | rho test | p@5% test | pick test | top-5 test | tau val12 | rho val12 "
              "| CPU s/arch | published rho |")
    lines = [header, "|" + "---|" * 11]
    for name, r in results.items():
        published = PUBLISHED_RHO.get(name.split(" ")[0], "")
        lines.append(f"| {name} | {r['kind']} | {r['tau_test']:.3f} | {r['rho_test']:.3f} | {r['p_top5_test']:.2f} | "
                     f"{r.get('pick_test', float('nan')):.2f} | {r.get('top5_test', float('nan')):.2f} | "
                     f"{r['tau_val']:.3f} | {r['rho_val']:.3f} | {r['cpu_s']:.2f} | {published} |")
    table = "\n".join(lines)
    (args.out / "table.md").write_text(table + "\n")
    (args.out / "estimators.json").write_text(json.dumps({"archs": len(archs), "results": results}, indent=1))
    from nas.archive.plots import new_figure, save_figure

    fig, ax = new_figure((8, 0.35 * len(results) + 1.5))
    names = list(results)
    ax.barh(range(len(names)), [results[n]["tau_test"] for n in names], color="tab:blue")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("Kendall tau vs NB201 200-epoch test accuracy")
    ax.set_title(f"estimators on {len(archs)} NB201 cells")
    save_figure(fig, args.out / "ranking.png")
    print(table)
    affordable = {n: r for n, r in results.items() if not n.endswith(" classes)") and not n.startswith("table")}
    best = max(affordable, key=lambda n: affordable[n]["tau_test"])
    print(f"best: {best}")
    print(f"nb201_best_estimator_kendall_tau={affordable[best]['tau_test']:.3f}")


if __name__ == "__main__":
    main()
