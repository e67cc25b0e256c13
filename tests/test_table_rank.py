"""Ranking an NB201 supernet against the NAS-Bench-201 table (`nas rank-check --against-table`),
on a tiny setting: selection over the table's range, top-k overlap, the whole check end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nas.cli.main import main
from nas.data import data_root
from nas.evaluate.table import TableEvaluator, default_table
from nas_common.registry import SPACES
from nas.workflows.table_rank import spread_over_table, top_overlap

needs_table = pytest.mark.skipif(not default_table().is_file(), reason="bundled NB201 table not available")
SUBSET = data_root() / "cifar10" / "cifar10_subset_5k_1k.npz"


@pytest.fixture(scope="module")
def table():
    if not default_table().is_file():
        pytest.skip("bundled NB201 table not available")
    return TableEvaluator()


@needs_table
def test_spread_covers_the_table_range_in_order(table):
    space = SPACES.get("nb201")()
    archs = spread_over_table(table.rows(), space, 21)
    accs = [table.evaluate(a)["val_acc"] for a in archs]
    assert len({a.hash for a in archs}) == 21
    assert all(space.representative(a) == a for a in archs)  # one per class of isomorphic cells
    assert accs == sorted(accs)
    all_accs = [row.val_acc for row in table.rows().values()]
    assert accs[0] == min(all_accs) and accs[-1] == max(all_accs)
    assert abs(accs[10] - float(np.median(all_accs))) < 1.0  # evenly spaced quantiles


def test_top_overlap():
    a = [1, 2, 3, 4, 5, 6]
    assert top_overlap(a, a, n=3) == 3
    assert top_overlap(a, [6, 5, 4, 3, 2, 1], n=3) == 0
    assert top_overlap(a, [0, 0, 0, 9, 8, 1], n=2) == 1


@needs_table
@pytest.mark.skipif(not SUBSET.is_file(), reason="shared cifar10 subset not available")
def test_against_table_end_to_end(tmp_path, capsys, one_thread):
    run = tmp_path / "nb201"
    assert main(["train-supernet", "--space", "nb201", "-S", "channels=4", "-S", "cells_per_stage=1",
                 "--data", "cifar10-subset", "--train-limit", "256", "--val-size", "100", "--steps", "3",
                 "--batch-size", "32", "--device", "cpu", "--quiet", "--out", str(run)]) == 0
    out = tmp_path / "check"
    assert main(["rank-check", "--run", str(run), "--against-table", "--archs", "6", "--calibration-images", "32",
                 "--val-images", "64", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "kendall tau" in printed and "top-10 overlap" in printed
    assert "parameter count (baseline)" in printed and "counting parameters on these architectures" in printed
    result = json.loads((out / "rank_check_table.json").read_text())
    assert len(result["archs"]) == 6
    row = result["archs"][0]
    assert {"recalibrated", "inherited", "table_val_12ep", "table_test_200ep"} <= row.keys()
    assert set(result["correlations"]) >= {"recalibrated_vs_table_val_12ep", "inherited_vs_table_test_200ep"}
    assert (out / "rank_check_table.png").read_bytes().startswith(b"\x89PNG")
    # --table means nothing without --against-table: refused in one line
    assert main(["rank-check", "--run", str(run), "--table", "x.csv", "--device", "cpu"]) == 2
