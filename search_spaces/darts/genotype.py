"""The DARTS genotype format, both ways: `Genotype(normal=[('sep_conv_3x3', 0), ...],
normal_concat=[2, 3, 4, 5], reduce=[...], reduce_concat=[2, 3, 4, 5])`, two (op, input) pairs per
intermediate node in node order; inputs 0 and 1 are the cell's inputs, 2.. its earlier nodes.
Parsed with `ast.literal_eval` on each field (never `eval`), so a genotype string from a paper's
repository is read safely.
"""

from __future__ import annotations

import ast
import re
from typing import NamedTuple

from nas_common.errors import InvalidArchitecture


class Genotype(NamedTuple):
    normal: list[tuple[str, int]]
    normal_concat: list[int]
    reduce: list[tuple[str, int]]
    reduce_concat: list[int]

    def __str__(self) -> str:
        return (f"Genotype(normal={self.normal!r}, normal_concat={self.normal_concat!r}, "
                f"reduce={self.reduce!r}, reduce_concat={self.reduce_concat!r})")

    def sorted_nodes(self) -> "Genotype":
        """The same cells with each node's two inputs in source order (the order DARTS writes
        them, by strength, carries no meaning: a node sums its inputs)."""
        def fix(cell: list[tuple[str, int]]) -> list[tuple[str, int]]:
            return [pair for i in range(0, len(cell), 2) for pair in sorted(cell[i:i + 2], key=lambda p: (p[1], p[0]))]

        return Genotype(fix(self.normal), list(self.normal_concat), fix(self.reduce), list(self.reduce_concat))


_FIELD = re.compile(r"(normal|normal_concat|reduce|reduce_concat)\s*=\s*")


def parse_genotype(text: str) -> Genotype:
    """A `Genotype(...)` string (as printed by the DARTS code) as a `Genotype`."""
    body = text.strip()
    if not (body.startswith("Genotype(") and body.endswith(")")):
        raise InvalidArchitecture(f"a DARTS genotype reads Genotype(normal=[...], normal_concat=[...], reduce=[...], "
                                  f"reduce_concat=[...]); got {text[:60]!r}")
    body = body[len("Genotype("):-1]
    marks = list(_FIELD.finditer(body))
    values = {}
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(body)
        chunk = body[mark.end():end].strip().rstrip(",").strip()
        chunk = re.sub(r"^range\((\d+),\s*(\d+)\)$", lambda m: str(list(range(int(m[1]), int(m[2])))), chunk)
        try:
            values[mark.group(1)] = ast.literal_eval(chunk)
        except (ValueError, SyntaxError):
            raise InvalidArchitecture(f"genotype field {mark.group(1)} is not a literal list: {chunk[:40]!r}") from None
    missing = [k for k in Genotype._fields if k not in values]
    if missing:
        raise InvalidArchitecture(f"genotype lacks {', '.join(missing)}")
    for key in ("normal", "reduce"):
        cell = values[key]
        if not (isinstance(cell, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 and
                                                        isinstance(p[0], str) and isinstance(p[1], int) for p in cell)):
            raise InvalidArchitecture(f"genotype {key} must be a list of (op, input) pairs")
        values[key] = [tuple(p) for p in cell]
    for key in ("normal_concat", "reduce_concat"):
        values[key] = list(values[key]) if isinstance(values[key], (list, tuple)) else values[key]
    return Genotype(**values)


# The published DARTS (second order) cell, CIFAR-10 2.76% test error (Liu et al. 2019, Table 1).
DARTS_V2 = ("Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
            "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], "
            "normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), "
            "('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), "
            "('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])")
