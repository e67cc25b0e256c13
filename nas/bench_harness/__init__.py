"""The strategy benchmark harness: every (strategy, seed) pair searched on the NAS-Bench-201 table,
trajectories of the architecture each search would pick, aggregates over seeds, and a report
beside the published figures. `nas bench` is its command line; `bench/strategies_nb201.py` runs the
default setting.
"""

from nas.bench_harness.harness import BenchConfig, run_benchmark, run_pair
from nas.bench_harness.references import REFERENCES, Reference
from nas.bench_harness.report import markdown_table, plot_curves, write_report
from nas.bench_harness.trajectory import aggregate, compare_to_baseline, trajectory
from nas.bench_harness.variants import HARNESS_DEFAULTS, Variant, parse_variants

__all__ = [
    "BenchConfig",
    "HARNESS_DEFAULTS",
    "REFERENCES",
    "Reference",
    "Variant",
    "aggregate",
    "compare_to_baseline",
    "markdown_table",
    "parse_variants",
    "plot_curves",
    "run_benchmark",
    "run_pair",
    "trajectory",
    "write_report",
]
