"""NAS-FPN merging cells: the published cell, connectivity errors with reasons, the merge ops
against direct computations, the unread-map rule, the joint detnas + nasfpn space, and a tiny
neck search on raccoon. (Contract and supernet-exactness tests run on `nasfpn` as on every space.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from nas.data import data_root
from nas_common.errors import InvalidArchitecture
from search_spaces.detection.merging import Cell, merge, run_cells
from search_spaces.detection.detnas import DetNASSpace
from search_spaces.detection.nasfpn import NASFPNSpace
from search_spaces.detection.nasfpn_cells import PUBLISHED

SMALL = {"layout": "cpu", "width": 0.25, "input_size": 64, "num_classes": 2, "head_convs": 1}


def test_the_published_cell_is_an_architecture_of_the_space():
    space = NASFPNSpace(**SMALL)
    arch = space.from_cells(PUBLISHED)
    assert space.contains(arch)
    cells = space.cells(arch)
    assert [(c.level, c.op, *c.inputs) for c in cells] == list(PUBLISHED)
    assert sum(c.op == "attention" for c in cells) == 4 and sum(c.op == "sum" for c in cells) == 3
    assert sorted(c.level for c in cells[-5:]) == [3, 4, 5, 6, 7]
    assert dict(space.describe(arch))["output_levels"] == "P3,P4,P5,P7,P6"
    net = space.build(arch, torch.Generator().manual_seed(0)).eval()
    with torch.no_grad():
        levels = net.forward_features(torch.randn(1, 3, 64, 64))
    assert [tuple(x.shape[-2:]) for x in levels] == [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    assert len(net.neck.stacks[0]) == 7


@pytest.mark.parametrize("cells, reason", [
    ([(4, "sum", 1, 1)] + list(PUBLISHED[1:]), "reads node 1 twice"),
    ([(4, "sum", 1, 6)] + list(PUBLISHED[1:]), "reads node 6, but only nodes 0-4 exist"),
    ([(4, "concat", 1, 3)] + list(PUBLISHED[1:]), "op 'concat'"),
    (list(PUBLISHED[:-1]) + [(5, "sum", 9, 10)], "P5 twice"),
    (list(PUBLISHED[:-1]), "has 7 cells, got 6"),
])
def test_invalid_connectivity_is_rejected_with_a_reason(cells, reason):
    with pytest.raises(InvalidArchitecture, match=reason):
        NASFPNSpace(**SMALL).from_cells(cells)


def test_merge_ops_equal_direct_computations():
    g = torch.Generator().manual_seed(0)
    fine, coarse = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 4, 2, 2, generator=g)  # P3, P5
    size = (4, 4)  # into P4
    down = nn.functional.max_pool2d(fine, 2)
    up = nn.functional.interpolate(coarse, size=size, mode="nearest")
    torch.testing.assert_close(merge("sum", fine, 3, coarse, 5, 4, size), down + up)
    attention = up + down * torch.sigmoid(coarse.amax(dim=(2, 3), keepdim=True))  # paper: coarser's max
    torch.testing.assert_close(merge("attention", fine, 3, coarse, 5, 4, size), attention)
    torch.testing.assert_close(merge("attention", coarse, 5, fine, 3, 4, size), attention)  # order-free
    mmdet = down + up * torch.sigmoid(down.mean(dim=(2, 3), keepdim=True))  # second + first * avg(second)
    torch.testing.assert_close(merge("attention", coarse, 5, fine, 3, 4, size, attention="avg"), mmdet)


def test_unread_intermediate_maps_join_the_output_of_their_level():
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    pool = [torch.full((1, 1, *s), float(v)) for v, s in zip(range(1, 6), sizes)]  # P3..P7 = 1..5
    cells = [Cell((0, 1), 5, "sum")] + [Cell((0, 2), level, "sum") for level in (3, 4, 5, 6, 7)]
    out = run_cells(pool, cells, [nn.Identity()] * len(cells), "max")
    # Every output is P3 + P5 = 4, except P5, which also takes the unread intermediate map (1 + 2).
    assert [float(x.flatten()[0]) for x in out] == [4.0, 4.0, 7.0, 4.0, 4.0]


def test_joint_backbone_and_neck_space_extracts_exactly():
    space = DetNASSpace(**SMALL, neck="nasfpn", neck_cells=6)
    assert len(space.decisions) == 10 + len(space.neck_encoding.decisions)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 64, 64)
    for seed in range(3):
        arch = space.sample(np.random.default_rng(seed))
        assert space.build(arch).state_dict().keys() == supernet.path_state(arch).keys()
        with torch.no_grad():
            for a, b in zip(supernet.eval()(x, arch), supernet.extract(arch).eval()(x)):
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_backbone_arch_is_checked():
    with pytest.raises(ValueError, match="backbone_arch needs 10 choices"):
        NASFPNSpace(**SMALL, backbone_arch=[0, 1])


@pytest.mark.skipif(not (data_root() / "raccoon" / "raccoon_coco.json").is_file(), reason="no raccoon data")
def test_tiny_neck_search_on_raccoon(tmp_path):
    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "nas", "search", "--space", "nasfpn", "--strategy", "evolution", "--steps", "4",
         "--batch-size", "8", "--image-size", "64", "--budget", "4", "--random-baseline", "2",
         "--calibration-images", "8", "--force", "-S", "head_convs=1", "-S", "neck_cells=6", "-o", "population=2",
         "-o", "topk=2", "-o", "mutations=1", "-o", "crossovers=1", "--quiet", "--out", str(run)],
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "val_mAP" in out.stdout and "whole detector" in out.stdout
    summary = json.loads((run / "summary.json").read_text())
    assert summary["evaluations"] == 4 and summary["best"]["arch"]["space"] == "nasfpn"
    assert not (run / "backbone").exists()  # a fixed backbone: no pre-training


def test_fixed_backbone_starts_from_the_best_backbone_of_a_detnas_search(tmp_path):
    """`nas search --space nasfpn --backbone DETNAS_SEARCH`: the fixed backbone is the search's best
    backbone, with the weights of its path in the DetNAS supernet, and the DetNAS configuration."""
    from argparse import Namespace
    from dataclasses import asdict

    from nas.archive import RunDir
    from nas.archive.records import make_record
    from nas.config.resolve import fixed_backbone_options
    from nas.data import DetectionDataConfig
    from nas.supernet.backbone import load_backbone, searched_backbone
    from nas.supernet.checkpoint import CHECKPOINT_NAME, save_checkpoint
    from nas.supernet.train import TrainConfig
    from nas.tasks import get_task

    detnas = DetNASSpace(**SMALL)
    trained = detnas.supernet(torch.Generator().manual_seed(5))
    supernet_dir = tmp_path / "detnas-supernet"
    RunDir.create(supernet_dir, {"kind": "supernet", "space": "detnas", "space_config": detnas.config(),
                                 "data": asdict(DetectionDataConfig()), "train": asdict(TrainConfig()),
                                 "task": "detection"})
    save_checkpoint({"model": trained.state_dict(), "optimizer": {}, "step": 0, "total_steps": 1, "space": "detnas",
                     "space_config": detnas.config(), "train_config": {}}, supernet_dir / CHECKPOINT_NAME)
    objective = get_task("detection").objective
    search = RunDir.create(tmp_path / "detnas-search", {"kind": "search", "space": "detnas", "space_options": {},
                                                       "supernet": {"run": str(supernet_dir)},
                                                       "objective": objective.to_dict()})
    rng = np.random.default_rng(0)
    archs = [detnas.sample(rng) for _ in range(3)]
    writer = search.record_writer()
    for step, (arch, score) in enumerate(zip(archs, (10.0, 30.0, 20.0))):
        writer.append(make_record(arch, {"val_mAP": score}, flops=0, params=0, step=step, wall_s=0.0,
                                   objective=objective))
    best = detnas.split(archs[1])[0]

    assert searched_backbone(search.path) == best
    assert searched_backbone(supernet_dir) is None  # a supernet run names no backbone
    adopted = fixed_backbone_options(Namespace(backbone=str(search.path), width=None), "nasfpn")
    assert adopted == {"layout": "cpu", "width": 0.25, "sharing": detnas.cfg.sharing, "backbone_arch": list(best)}
    assert "width" not in fixed_backbone_options(Namespace(backbone=str(search.path), width=0.5), "nasfpn")

    space = NASFPNSpace(**SMALL, backbone_arch=best)
    neck_search = space.supernet(torch.Generator().manual_seed(1))
    assert load_backbone(neck_search, search.path, space) == len(neck_search.backbone.state_dict())
    expected = trained.backbone.path_state(best)
    for key, value in neck_search.backbone.state_dict().items():
        assert torch.equal(value, expected[key]), key
