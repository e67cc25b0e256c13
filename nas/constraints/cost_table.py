"""Costs users measured elsewhere: a table of architectures and their measured columns.

Latency on a phone or energy on a Raspberry Pi is measured there, not here; HW-NAS-Bench found
FLOPs and parameter counts often rank such costs poorly. A cost table brings the measurements in:
CSV with an `arch` column and one column per measurement (`lat_ms_pixel`, `energy_mj_pi5`, ...), or
JSON (a list of objects with `arch` and the columns). An architecture is written as its choices
(`[1, 0, 2, 3]`), as an architecture object (`{"space": ..., "choices": [...]}`), or in the space's
own notation (NB201's `|nor_conv_3x3~0|+|...|`).

Checked on load, each failure one line naming the file and row: an architecture the space does not
hold, a missing or empty column, NaN or infinite values, negative costs, an architecture listed
twice. For a space whose table does not cover every architecture, `predictor(column)` fits a ridge
regression on the architectures' encoding and reports its cross-validated relative error, so a
search that leans on predicted costs says how far to trust them.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from nas_common.errors import UserError
from search_spaces.arch import Arch
from search_spaces.protocol import StringForm


@dataclass(frozen=True)
class CostTable:
    path: str
    columns: tuple[str, ...]
    rows: dict[str, dict[str, float]]  # arch hash -> {column: value}
    archs: dict[str, Arch]  # arch hash -> architecture

    def value(self, arch: Arch, column: str) -> float | None:
        """The measured `column` of `arch`; None when the table does not list it."""
        row = self.rows.get(arch.hash)
        return None if row is None else row[column]

    def predictor(self, space: Any, column: str, folds: int = 5) -> tuple[Callable[[Arch], float], float]:
        """(predict(arch), cross-validated mean relative error) of a ridge regression of `column` on
        the space's encoding, fitted on every measured architecture."""
        from sklearn.linear_model import RidgeCV
        from sklearn.model_selection import KFold, cross_val_predict

        hashes = sorted(self.rows)
        x = np.stack([space.encode(self.archs[h]) for h in hashes]).astype(float)
        y = np.array([self.rows[h][column] for h in hashes])
        if len(y) < 2 * folds:
            raise UserError(f"{self.path}: {len(y)} measured architectures are too few to predict {column!r} for "
                            f"the others (need {2 * folds}); measure more or search only the listed ones")
        model = RidgeCV(alphas=np.logspace(-3, 3, 13))
        predicted = cross_val_predict(model, x, y, cv=KFold(folds, shuffle=True, random_state=0))
        error = float(np.mean(np.abs(predicted - y) / np.maximum(np.abs(y), 1e-12)))
        model.fit(x, y)
        return (lambda arch: float(model.predict(space.encode(arch).astype(float)[None])[0])), error


def read_cost_table(path: str | Path, space: Any) -> CostTable:
    """The table at `path` for `space`, checked (UserError, one line, on any problem)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read cost table {path}: {getattr(err, 'strerror', None) or err}") from None
    rows = _json_rows(path, text) if path.suffix.lower() == ".json" else _csv_rows(path, text)
    if not rows:
        raise UserError(f"cost table {path} lists no architecture")
    columns = tuple(k for k in rows[0][1] if k != "arch")
    if not columns:
        raise UserError(f"cost table {path} has no measured column beside `arch`")
    table: dict[str, dict[str, float]] = {}
    archs: dict[str, Arch] = {}
    for where, row in rows:
        arch = _arch(path, where, row.get("arch"), space)
        if arch.hash in table:
            raise UserError(f"{path} {where}: architecture {row.get('arch')} is listed twice")
        values = {}
        for column in columns:
            raw = row.get(column)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                raise UserError(f"{path} {where}: column {column!r} is missing or empty")
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise UserError(f"{path} {where}: {column}={raw!r} is not a number") from None
            if not math.isfinite(value):
                raise UserError(f"{path} {where}: {column}={raw!r} is not a finite number")
            if value < 0:
                raise UserError(f"{path} {where}: {column}={value:g} is negative; a measured cost is >= 0")
            values[column] = value
        extra = set(row) - {"arch", *columns}
        if extra:
            raise UserError(f"{path} {where}: column(s) {', '.join(sorted(extra))} are not in the first row")
        table[arch.hash], archs[arch.hash] = values, arch
    return CostTable(str(path), columns, table, archs)


def _csv_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "arch" not in reader.fieldnames:
        raise UserError(f"cost table {path} needs a header with an `arch` column and the measured columns")
    if len(set(reader.fieldnames)) != len(reader.fieldnames):
        raise UserError(f"cost table {path}: a column is named twice in the header")
    out = []
    for number, row in enumerate(reader, 2):
        if None in row:
            raise UserError(f"{path} line {number}: more fields than the header's {len(reader.fieldnames)}")
        out.append((f"line {number}", dict(row)))
    return out


def _json_rows(path: Path, text: str) -> list[tuple[str, dict[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"cost table {path} is not valid JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise UserError(f"cost table {path} must be a JSON list of objects with `arch` and measured columns")
    return [(f"entry {i}", dict(r)) for i, r in enumerate(data)]


def _arch(path: Path, where: str, raw: Any, space: Any) -> Arch:
    written = str(raw)[:80]  # as the user wrote it, for the message
    try:
        if isinstance(raw, str) and raw.strip().startswith(("[", "{")):
            raw = json.loads(raw)
        if isinstance(raw, list):
            return space.validate(Arch(space.name, tuple(int(c) for c in raw)))
        if isinstance(raw, dict):
            return space.parse(raw)
        if isinstance(raw, str) and isinstance(space, StringForm):
            return space.validate(space.from_string(raw.strip()))
    except (UserError, ValueError, TypeError, KeyError) as err:
        raise UserError(f"{path} {where}: {written!r} is not an architecture of {space.name} ({err})") from None
    raise UserError(f"{path} {where}: write the architecture as its choices ([1, 0, 2]), an object "
                    f"{{\"space\", \"choices\"}}{' or in the space notation' if isinstance(space, StringForm) else ''}; "
                    f"got {written!r}")
