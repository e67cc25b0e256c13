"""What `nas search` shows: the progress bars while it runs and the report at the end."""

from __future__ import annotations

import time
from typing import Any

from nas_common.progress import progress

from nas.archive import RunDir, top_table
from nas.archive.tables import readable_by
from nas_common.registry import SPACES
from nas.judging.trust import describe
from nas.judging.verdict import describe_separability, split_table
from nas_common.objective import Objective


class SearchProgress:
    """Search progress bar, opened at the first result (after any supernet training bar)."""

    def __init__(self, total: int | None, done: int, quiet: bool, objective: Objective) -> None:
        self.objective = objective
        self.best: float | None = None
        self.total, self.done, self.quiet = total, done, quiet
        self.bar: Any = None
        self.started: float | None = None  # when the search itself began (set by `start`)

    def start(self, budget: int | None) -> None:
        """The search begins (after training and the random baseline): rates count from here, and
        the total is the strategy's budget (its own settings' when the run sets none)."""
        self.started = time.time()
        if budget is not None:
            self.total = budget

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, record: dict[str, Any], new: bool) -> None:
        if self.bar is None:
            self.bar = progress(total=self.total, initial=self.done, desc="search", unit="arch",
                            disable=self.quiet, dynamic_ncols=True, smoothing=0)
            if self.started is not None:  # opened at the first result: its rate is not 1 over ~0 s
                self.bar.start_t = self.started
        value = self.objective.value(record["metrics"])
        if self.best is None or self.objective.better(value, self.best):
            self.best = value
        if new:
            self.bar.update(1)
        self.bar.set_postfix(best=self.objective.format(self.best))


class BaselineBar:
    """Progress of the random architectures scored before the search (the supernet trust check), or
    of the architectures scored again on the confirmation images after it."""

    def __init__(self, quiet: bool, desc: str = "random archs") -> None:
        self.quiet, self.bar, self.desc = quiet, None, desc

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress(total=total, desc=self.desc, unit="arch", disable=self.quiet, dynamic_ncols=True)
        self.bar.update(1)
        if done == total:
            self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _secondary(objective: Objective, metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """Further figures of the best architecture next to its objective (detection: AP50, AP75)."""
    prefix = objective.metric.split("_")[0] + "_"
    return [(k, f"{metrics[k]:.2f}") for k in (f"{prefix}AP50", f"{prefix}AP75") if k in metrics]


def report(summary: dict[str, Any], records: list[dict[str, Any]], top: int, seconds: float, run: RunDir) -> None:
    best = summary["best"]
    objective = run.objective()
    name, value = objective.metric, objective.format(objective.value(best["metrics"]))
    if isinstance(best["metrics"].get(f"{name}_se"), float):  # one standard error over the validation images
        value = f"{objective.value(best['metrics']):.2f} ± {best['metrics'][f'{name}_se']:.2f}{objective.unit}"
    readable = readable_by(run_space(run))
    print(top_table(records, top, objective=objective, readable=readable))
    print()
    print(f"best architecture   {best['arch']['choices']}  ({best['arch_hash']})")
    if readable is not None:
        print(f"                    {readable(best['arch'])}")
    if f"best_inherited_bn_{name}" in summary:
        print(f"{name:<19} {value}  (per-path BN recalibrated; "
              f"with inherited BN: {objective.format(summary[f'best_inherited_bn_{name}'])})")
    else:
        print(f"{name:<19} {value}")
    if "test_acc" in best["metrics"]:
        print(f"test_acc (reported) {best['metrics']['test_acc']:.2f}%  (never shown to the strategy)")
    for metric, text in _secondary(objective, best["metrics"]):
        print(f"{metric:<19} {text}")
    test_metric = "test_" + name.removeprefix("val_")
    if test_metric in summary.get("best_test", {}):
        test = summary["best_test"]
        extra = ", ".join(f"{k.removeprefix('test_')} {v:.2f}" for k, v in test.items()
                          if k in ("test_AP50", "test_AP75"))
        print(f"{test_metric + ' (test)':<19} {objective.format(test[test_metric])}"
              f"{f'  ({extra})' if extra else ''}  (supernet weights; the search never saw the test split)")
    note = SPACES.get(best["arch"]["space"]).cost_note if best["arch"]["space"] in SPACES else ""
    print(f"flops / params      {best['flops'] / 1e6:.2f} M / {best['params'] / 1e6:.3f} M{f'  ({note})' if note else ''}")
    if "random_baseline" in summary:
        rb = summary["random_baseline"]
        print(f"random archs        {describe(rb, rb.get('chance'), objective.unit)}")
        if rb.get("separability"):
            print(f"separability        {describe_separability(rb['separability'], objective.unit)}")
    if "darts_mixed_forward" in summary:
        mixed = summary["darts_mixed_forward"]
        print(f"DARTS supernet      mixed forward {mixed['val_acc']:.2f}% on held-out images in its last epoch "
              f"(chance {mixed['chance']:.2f}%): what DARTS's alphas were chosen by")
    if isinstance(summary.get("darts"), dict) and "skip_connections" in summary["darts"]:
        darts = summary["darts"]
        kept = darts.get("skip_connections_kept", darts["skip_connections"])
        capped = (f", {kept} kept (-o max_skips, P-DARTS's cap against the skip collapse)"
                  if kept != darts["skip_connections"] else "")
        print(f"skip connections    the alphas chose {darts['skip_connections']} of {darts['decisions']} "
              f"decisions{capped}")
    if "verdict" in summary:
        for line in verdict_lines(summary["verdict"], objective.unit):
            print(line)
    if "estimator" in summary:
        print(f"ranked by           {summary['estimator']['text']}")
    if "front" in summary:
        from nas.judging.front import describe_front

        print(f"pareto front        {describe_front(summary['front'], summary['evaluations'])}")
    print(f"evaluations         {summary['evaluations']}  in {seconds:.0f} s")
    print(f"run directory       {run.path}  (summary.json, evaluations.jsonl, progress.png, pareto.png)")


def verdict_lines(verdict: dict[str, Any], unit: str) -> list[str]:
    """The verdict as printed: the splits side by side, then the verdict; a verdict saved before
    confirmation existed is labelled as judged on the images that chose the best."""
    lines = [f"  {line}" for line in split_table(verdict, unit)]
    if lines:
        lines.insert(0, "splits")
    text = verdict.get("text", "-")
    if "basis" not in verdict:
        text = f"UNCONFIRMED (saved before confirmation: judged on the images that chose the best) {text}"
    return [*lines, f"verdict             {text}"]


def run_space(run: RunDir) -> Any:
    """The run's space, to read its architectures by name; None when it cannot be rebuilt here (a
    user's model that no longer imports): the digit form still identifies them."""
    from nas.supernet.loading import space_of_search
    from nas_common.errors import UserError

    try:
        return space_of_search(run, run.read_config())
    except (UserError, ValueError, TypeError):
        return None
