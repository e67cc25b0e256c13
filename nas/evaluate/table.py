"""Scores NB201 architectures by looking them up in a NAS-Bench-201 table (Dong & Yang, ICLR 2020).

Follows the NATS-Bench fast-search protocol: the strategy sees only the 12-epoch validation
accuracy (`evaluate`); the 200-epoch test accuracy is the number to report for the architecture a
search picks (`reported`), and must never reach the strategy. The two are separate methods so
that no caller can leak the test accuracy by passing `evaluate`'s dict along.

The table is a CSV with (at least) the columns of `COLUMNS`; the bundled one is
`<data root>/nb201/nb201_cifar10.csv` (all 15,625 architectures, CIFAR-10). Any CSV with those
columns works, so other NB201 data (another data set, other epochs) can be brought in.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from nas.data import data_root
from nas_common.errors import InvalidArchitecture, UserError
from nas.evaluate.spec import EvaluatorSpec
from nas_common.objective import VAL_ACC, Objective
from nas_common.registry import EVALUATORS, SPACES
from search_spaces.arch import Arch
from search_spaces.nb201.space import NB201Space

COLUMNS = ("arch_idx", "arch_str", "cifar10_valid_acc_12ep", "cifar10_test_acc_12ep", "cifar10_test_acc_200ep")


def default_table() -> Path:
    return data_root() / "nb201" / "nb201_cifar10.csv"


@dataclass(frozen=True)
class TableConfig:
    """`table`: path of the CSV; None reads the bundled NB201 CIFAR-10 table."""

    table: str | None = None


class Row(NamedTuple):
    arch_idx: int
    val_acc: float  # cifar10_valid_acc_12ep
    test_acc_12ep: float
    test_acc: float  # cifar10_test_acc_200ep


@EVALUATORS.register("table")
class TableEvaluator:
    Config = TableConfig
    uses_supernet = False
    # What `reported` returns: recorded in the run archive, never told to the strategy.
    hidden_metrics: frozenset[str] = frozenset({"test_acc", "test_acc_12ep"})
    chance = None  # a table needs no trust check
    images_available: int | None = None  # no validation split to grow: separability never asks
    spaces = ("nb201",)  # the spaces whose architectures it has rows for

    def __init__(self, table: str | Path | None = None) -> None:
        self.path = Path(table).expanduser() if table is not None else default_table()
        self.space = NB201Space()
        self._rows = _read_table(self.path, self.space)
        self.spec = EvaluatorSpec("table", table=None if table is None else str(table))

    @classmethod
    def from_config(cls, cfg: TableConfig) -> "TableEvaluator":
        return cls(cfg.table)

    # ---- the EvaluatorKind contract (nas.evaluate.base) ----
    @classmethod
    def from_spec(cls, spec: EvaluatorSpec, weights=None) -> "TableEvaluator":
        return cls(spec.table)

    @classmethod
    def objective_of(cls, config) -> Objective:
        """What its evaluate() returns as the search signal: the table's validation accuracy."""
        return VAL_ACC

    @classmethod
    def estimator(cls, config) -> tuple[str, str]:
        """(id in nas.evaluate.known, what a person reads) of what ranks a search's architectures."""
        return "table", "benchmark table lookup (12-epoch validation accuracy)"

    @classmethod
    def search_space(cls, config) -> NB201Space:
        # The table's figures are those of the benchmark's network (C = 16, N = 5): its costs are
        # reported, whatever smaller supernet a DARTS search trained (`space_options`).
        return SPACES.get(config.space)()

    @classmethod
    def for_search(cls, run_path: Path, config, device=None, quiet: bool = True):
        return cls.search_space(config), cls.from_config(config.evaluator.typed())

    def shared_weights(self) -> None:
        return None

    def __len__(self) -> int:
        return len(self._rows)

    def rows(self) -> dict[Arch, Row]:
        """Every row of the table, by architecture (a copy)."""
        return dict(self._rows)

    def __contains__(self, arch: Arch) -> bool:
        return arch in self._rows

    def _row(self, arch: Arch) -> Row:
        try:
            return self._rows[arch]
        except KeyError:
            pass
        text = self.space.to_string(arch)  # raises InvalidArchitecture for non-NB201 archs
        raise UserError(f"architecture {text} is not in the NB201 table {self.path} ({len(self)} rows); "
                        "use a table that lists every architecture the search can propose")

    def evaluate(self, arch: Arch) -> dict[str, float]:
        """The search signal only: 12-epoch validation accuracy (percent)."""
        return {"val_acc": self._row(arch).val_acc}

    def reported(self, arch: Arch) -> dict[str, float]:
        """What to report, never the search signal: 200-epoch test accuracy (`test_acc`, percent)
        and the 12-epoch test accuracy."""
        row = self._row(arch)
        return {"test_acc": row.test_acc, "test_acc_12ep": row.test_acc_12ep}

    def arch_index(self, arch: Arch) -> int:
        """The `arch_idx` of `arch` in the table (NB201's architecture index for the bundled one)."""
        return self._row(arch).arch_idx

    def best(self, metric: str = "test_acc") -> tuple[Arch, float]:
        """The table's best architecture by `metric` (`val_acc`, `test_acc_12ep` or `test_acc`):
        the oracle a search result is compared with. Ties go to the lowest `arch_idx`."""
        if metric not in ("val_acc", "test_acc_12ep", "test_acc"):
            raise ValueError(f"unknown metric {metric!r}; valid: val_acc, test_acc_12ep, test_acc")
        arch, row = max(self._rows.items(), key=lambda item: (getattr(item[1], metric), -item[1].arch_idx))
        return arch, getattr(row, metric)


def _read_table(path: Path, space: NB201Space) -> dict[Arch, Row]:
    hint = f"pass --table PATH to a CSV with columns {', '.join(COLUMNS)}"
    try:
        handle = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"NB201 table {path} not found; {hint} (or set NAS_DATA_DIR to the data "
                        "folder holding nb201/nb201_cifar10.csv)") from None
    except OSError as err:
        raise UserError(f"cannot read NB201 table {path}: {err.strerror}; {hint}") from None
    rows: dict[Arch, Row] = {}
    try:
        with handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise UserError(f"NB201 table {path} is empty; {hint}")
            header = [name.strip() for name in header]
            missing = [c for c in COLUMNS if c not in header]
            if missing:
                raise UserError(f"NB201 table {path} lacks column(s) {', '.join(missing)}; {hint}")
            idx, text, val, test12, test200 = (header.index(c) for c in COLUMNS)
            for line, fields in enumerate(reader, start=2):
                if not fields:
                    continue  # blank line
                try:
                    arch = space.from_string(fields[text])
                    row = Row(int(fields[idx]), float(fields[val]), float(fields[test12]), float(fields[test200]))
                except IndexError:
                    raise UserError(f"{path} line {line}: expected {len(header)} fields, got {len(fields)}") from None
                except ValueError as err:  # InvalidArchitecture is a ValueError too
                    what = str(err) if isinstance(err, InvalidArchitecture) else f"not a number ({err})"
                    raise UserError(f"{path} line {line}: {what}") from None
                if not all(math.isfinite(v) for v in row[1:]):
                    raise UserError(f"{path} line {line}: accuracies must be finite numbers, got {fields}")
                if arch in rows:
                    raise UserError(f"{path} line {line}: architecture {fields[text]} appears twice; "
                                    "an NB201 table has one row per architecture")
                rows[arch] = row
    except UnicodeDecodeError:
        raise UserError(f"NB201 table {path} is not a text (UTF-8) CSV file; {hint}") from None
    if not rows:
        raise UserError(f"NB201 table {path} has no rows; {hint}")
    return rows
