"""The `detnas` space and detection through the engine: layouts and DetNAS's cost convention,
supernet exactness after recalibration on detection images, the detection evaluator, VOC data,
data-flag errors, and one tiny end-to-end search on the bundled raccoon photos."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from nas.data import DetectionDataConfig, data_config_from_dict, data_root
from nas.data.detection.data import load_detection
from nas_common.errors import UserError
from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
from nas_common.registry import SPACES
from nas.supernet.loading import make_space
from nas.workflows.export import load_exported
from nas.training.standalone import StandaloneTrainer
from nas.supernet.recalibrate import path_statistics
from nas.supernet.train import TrainConfig
from nas.tasks import get_task
from search_spaces.detection.heads import DetectorOutput
from search_spaces.detection.detnas import DetNASSpace

RACCOON = data_root() / "raccoon" / "raccoon_coco.json"
needs_raccoon = pytest.mark.skipif(not RACCOON.is_file(), reason="shared raccoon data not available")
TINY = {"layout": "cpu", "width": 0.25, "input_size": 64, "num_classes": 2, "head_convs": 1}


def test_layouts_are_detnas_and_costs_follow_its_convention():
    big = DetNASSpace(layout="1.3G", num_classes=1)
    assert len(big.decisions) == 40 and len(DetNASSpace(layout="300M").decisions) == 20
    space = DetNASSpace(layout="300M", num_classes=1)
    arch = space.sample(np.random.default_rng(0))
    macs = space.flops(arch) / 2  # DetNAS's "300M" counts multiply-adds of the backbone at 224
    assert 250e6 < macs < 400e6
    probe, x = space.cost_probe(arch)  # the backbone as an ImageNet classifier at 224
    assert x.shape == (1, 3, 224, 224) and probe.head is not None and probe.head.fc.out_features == 1000
    assert space.task == "detection" and "224" in space.cost_note
    with pytest.raises(ValueError, match="layout"):
        DetNASSpace(layout="600M")


def test_the_backbone_reuses_the_shufflenet_blocks_and_has_no_classifier():
    space = DetNASSpace(**TINY)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    assert type(supernet.backbone).__module__ == "search_spaces.shufflenet.network"
    assert supernet.backbone.head is None and not any(k.startswith("backbone.head") for k in supernet.state_dict())
    out = supernet(torch.randn(2, 3, 64, 64), space.sample(np.random.default_rng(1)))
    assert isinstance(out, DetectorOutput) and out.cls_logits.shape[-1] == 2
    assert out.anchors.shape[0] == out.cls_logits.shape[1] == out.box_deltas.shape[1]


def test_same_seed_same_detector():
    space = DetNASSpace(**TINY)
    a, b = (space.supernet(torch.Generator().manual_seed(3)).state_dict() for _ in range(2))
    assert all(torch.equal(a[k], b[k]) for k in a)


def _synthetic_detection(n: int = 12, size: int = 80):
    """A small in-memory COCO set (bright squares on dark images), written to disk for the loader."""
    rng = np.random.default_rng(0)
    images = []
    for i in range(n):
        image = (rng.random((size, size, 3)) * 40).astype(np.uint8)
        x, y, w = (int(v) for v in rng.integers(5, 40, 3))
        image[y:y + w, x:x + w] = 230
        images.append((image, [x, y, w, w]))
    return images


@pytest.fixture(scope="module")
def coco_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    coco = {"images": [], "annotations": [], "categories": [{"id": 3, "name": "square"}, {"id": 9, "name": "other"}]}
    for i, (image, bbox) in enumerate(_synthetic_detection(), start=1):
        Image.fromarray(image).save(folder / f"{i}.png")
        coco["images"].append({"id": i, "file_name": f"{i}.png", "split": "test" if i > 10 else "train"})
        coco["annotations"].append({"id": i, "image_id": i, "category_id": 3 if i % 2 else 9, "bbox": bbox})
    (folder / "set.json").write_text(json.dumps(coco))
    return folder


def test_detection_evaluator_recalibrates_and_scores_with_pycocotools(coco_dir):
    config = DetectionDataConfig(str(coco_dir / "set.json"), image_size=64, max_size=80, val_size=3)
    task = get_task(config.task)
    data = config.load()
    space = make_space("detnas", data, {k: v for k, v in TINY.items() if k != "num_classes"}, task)
    assert space.config()["num_classes"] == 2 and space.config()["input_size"] == 64
    supernet = space.supernet(torch.Generator().manual_seed(0))
    evaluator = SupernetEvaluator.from_parts(supernet, data, EvaluatorConfig(calibration_images=6, batch_size=4),
                                             torch.device("cpu"), seed=0, task=task)
    arch = space.sample(np.random.default_rng(2))
    metrics = evaluator.evaluate(arch)
    assert {"val_mAP", "val_AP50", "val_AP75"} <= metrics.keys()
    assert all(0.0 <= metrics[k] <= 100.0 for k in ("val_mAP", "val_AP50", "val_AP75"))
    assert evaluator.evaluate(arch) == metrics  # recalibration restores the supernet: same again
    test = evaluator.test_metrics(arch)
    assert "test_mAP" in test
    # The extracted detector, recalibrated, computes exactly the supernet path under recalibration.
    x = evaluator.val_batches[0][0]
    net = evaluator.recalibrated_model(arch)
    with torch.no_grad(), path_statistics(supernet, lambda b: supernet(b, arch), evaluator.calibration.split(4)):
        expected = supernet.eval()(x, arch)
        got = net(x)
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_a_detector_retrains_stand_alone_through_the_task(coco_dir):
    config = DetectionDataConfig(str(coco_dir / "set.json"), image_size=64, max_size=80, val_size=3)
    task, data = get_task("detection"), config.load()
    space = make_space("detnas", data, {k: v for k, v in TINY.items() if k != "num_classes"}, task)
    arch = space.sample(np.random.default_rng(4))
    trainer = StandaloneTrainer(space, arch, data, TrainConfig(epochs=2, batch_size=4, lr=0.01), task=task)
    first, second = trainer.train_epoch(), trainer.train_epoch()
    assert {"train_loss", "train_cls", "train_box"} == first.keys() and np.isfinite(second["train_loss"])
    assert "val_mAP" in trainer.accuracy("val") and "test_AP50" in trainer.accuracy("test")


def test_space_and_data_of_different_tasks_are_refused(coco_dir):
    data = DetectionDataConfig(str(coco_dir / "set.json"), image_size=64, max_size=80, val_size=3).load()
    with pytest.raises(UserError, match="solves classification"):
        make_space("shufflenet", data, {}, get_task("detection"))
    with pytest.raises(UserError, match="malformed data settings"):
        data_config_from_dict({"annotations": "x.json", "spec": "cifar10"})
    assert isinstance(data_config_from_dict({"annotations": "raccoon"}), DetectionDataConfig)


def _classification_run(folder, options: dict, seed: int = 5):
    """A supernet run directory of the `shufflenet` space with `options` (untrained weights)."""
    from dataclasses import asdict

    from nas.archive import RunDir
    from nas.data import DataConfig
    from nas.supernet.checkpoint import CHECKPOINT_NAME, save_checkpoint

    space = SPACES.get("shufflenet")(**options)
    supernet = space.supernet(torch.Generator().manual_seed(seed))
    RunDir.create(folder, {"kind": "supernet", "space": "shufflenet", "space_config": space.config(),
                           "data": asdict(DataConfig("cifar10-subset")), "train": asdict(TrainConfig()),
                           "task": "classification"})
    save_checkpoint({"model": supernet.state_dict(), "optimizer": {}, "step": 0, "total_steps": 1,
                     "space": "shufflenet", "space_config": space.config(), "train_config": {}},
                    folder / CHECKPOINT_NAME)
    return supernet


def test_backbone_loads_from_a_classification_supernet_of_the_same_layout(tmp_path):
    from nas.supernet.backbone import load_backbone

    space = DetNASSpace(**TINY)
    name, options = space.classification_backbone()
    assert name == "shufflenet" and options["classifier"] and options["stage_repeats"] == [2, 2, 4, 2]
    source = _classification_run(tmp_path / "cls", {**options, "input_size": 32, "num_classes": 10})
    detector = space.supernet(torch.Generator().manual_seed(0))
    assert load_backbone(detector, tmp_path / "cls", space) == len(detector.backbone.state_dict())
    for key, value in detector.backbone.state_dict().items():
        assert torch.equal(value, source.state_dict()[key])
    _classification_run(tmp_path / "wide", {**options, "width": 0.5, "input_size": 32, "num_classes": 10})
    with pytest.raises(UserError, match="does not fit this backbone"):
        load_backbone(detector, tmp_path / "wide", space)


# ---- PASCAL VOC ----------------------------------------------------------------------------------
def _voc_xml(filename: str, objects: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    body = "".join(f"<object><name>{n}</name><difficult>0</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin>"
                   f"<xmax>{c}</xmax><ymax>{d}</ymax></bndbox></object>" for n, (a, b, c, d) in objects)
    return f"<annotation><filename>{filename}</filename><size><width>40</width><height>30</height></size>{body}</annotation>"


def test_voc_folder_loads_with_its_test_list(tmp_path):
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    for i, objects in enumerate([[("dog", (2, 3, 20, 25))], [("cat", (5, 5, 30, 20)), ("dog", (1, 1, 9, 9))],
                                 [("cat", (0, 0, 39, 29))], [("cat", (3, 3, 13, 13))]]):
        Image.fromarray(np.full((30, 40, 3), 50 * i, np.uint8)).save(tmp_path / "JPEGImages" / f"im{i}.jpg")
        (tmp_path / "Annotations" / f"im{i}.xml").write_text(_voc_xml(f"im{i}.jpg", objects))
    (tmp_path / "ImageSets" / "Main" / "test.txt").write_text("im3\n")
    data = load_detection(tmp_path, val_size=1, seed=0)
    assert data.category_names == ["cat", "dog"] and (len(data.train), len(data.val), len(data.test)) == (2, 1, 1)
    found = {i: (b, lab) for s in (data.train, data.val) for i, b, lab in zip(s.ids, s.boxes, s.labels)}
    boxes, labels = found[2]  # the second image, ids 1..N in file order
    np.testing.assert_allclose(boxes, [[5, 5, 30, 20], [1, 1, 9, 9]])
    assert labels.tolist() == [0, 1]
    (tmp_path / "ImageSets" / "Main" / "test.txt").write_bytes(b"im3\xff\xfe\n")  # not UTF-8: named, not bare
    with pytest.raises(UserError, match=r"ImageSets/Main/test.txt is not a text file \(not UTF-8\)"):
        load_detection(tmp_path)
    (tmp_path / "ImageSets" / "Main" / "test.txt").write_text("im3\n")
    (tmp_path / "Annotations" / "im0.xml").write_text("<annotation><filename>")
    with pytest.raises(UserError, match="not valid XML"):
        load_detection(tmp_path)


@needs_raccoon
def test_the_raccoon_voc_zip_loads_the_same_boxes_as_its_coco_json():
    coco = load_detection(RACCOON, max_size=96, val_size=0.2)
    voc = load_detection(RACCOON.parent / "raccoon_dataset.zip", max_size=96, val_size=0.2)
    assert len(voc.train) + len(voc.val) + len(voc.test) == 200 == len(coco.train) + len(coco.val) + len(coco.test)
    with zipfile.ZipFile(RACCOON.parent / "raccoon_dataset.zip") as archive:
        assert sum(n.endswith(".xml") for n in archive.namelist()) == 200
    by_shape = lambda d: sorted(tuple(np.round(b, 2).ravel()) for s in (d.train, d.val, d.test) for b in s.boxes)
    assert by_shape(coco) == by_shape(voc)


# ---- the command line ----------------------------------------------------------------------------
def _nas(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_data_flags_that_do_not_apply_are_one_line_errors(tmp_path):
    out = _nas("search", "--space", "detnas", "--strategy", "random", "--train-limit", "10", "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "--train-limit does not apply to detection data" in out.stderr
    assert "Traceback" not in out.stderr and not (tmp_path / "r").exists()
    out = _nas("search", "--space", "detnas", "--strategy", "random", "--data", str(tmp_path / "none.json"),
               "--out", str(tmp_path / "r"))
    assert out.returncode == 2 and "not found" in out.stderr and "Traceback" not in out.stderr


@needs_raccoon
def test_tiny_detnas_search_on_raccoon_end_to_end(tmp_path):
    run = tmp_path / "run"
    args = ["search", "--space", "detnas", "--strategy", "evolution", "--steps", "6", "--batch-size", "8",
            "--image-size", "64", "--budget", "4", "--random-baseline", "2", "--calibration-images", "8",
            "--max-flops", "40M", "--force", "-S", "head_convs=1", "--pretrain-steps", "3",
            "--pretrain-data", "cifar10-subset", "-o", "population=2", "-o", "topk=2", "-o", "mutations=1",
            "-o", "crossovers=1", "--quiet", "--out", str(run)]
    out = _nas(*args)
    assert out.returncode == 0, out.stderr
    assert "val_mAP" in out.stdout and "test_mAP (test)" in out.stdout and "DetNAS" in out.stdout
    summary = json.loads((run / "summary.json").read_text())
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "detection" and config["objective"]["metric"] == "val_mAP"
    assert config["data"]["annotations"] == "raccoon" and config["data"]["image_size"] == 64
    assert summary["evaluations"] == 4 and "test_mAP" in summary["best_test"]
    # the verdict is judged on the 16 validation photos the search never scored (half of the 32)
    verdict = summary["verdict"]
    assert verdict["basis"] == "confirmation" and verdict["splits"]["confirmation"]["images"] == 16
    assert verdict["splits"]["confirmation"]["metric"] == "confirm_mAP"
    assert verdict["splits"]["validation"]["images"] == 16 and verdict["splits"]["test"]["images"] == 40
    records = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    assert all(r["flops"] <= 40e6 and "val_AP50" in r["metrics"] for r in records)
    # Step 1 ran first: a classification backbone supernet, which the detection supernet started from.
    backbone = json.loads((run / "backbone" / "config.json").read_text())
    assert backbone["space"] == "shufflenet" and backbone["train"]["steps"] == 3
    supernet_config = json.loads((run / "supernet" / "config.json").read_text())
    assert supernet_config["train"]["backbone"] == str((run / "backbone").resolve())
    supernet_log = (run / "supernet" / "training.jsonl").read_text().splitlines()
    assert {"loss", "cls", "box"} <= json.loads(supernet_log[-1]).keys()
    again = _nas("search", "--resume", str(run), "--quiet")  # a finished run resumes to the same result
    assert again.returncode == 0, again.stderr
    assert json.loads((run / "summary.json").read_text())["best"] == summary["best"]
    exported = _nas("export", "--run", str(run), "--out", str(tmp_path / "detector.pt"))
    assert exported.returncode == 0, exported.stderr
    model, arch, meta = load_exported(tmp_path / "detector.pt")
    assert arch.to_dict() == summary["best"]["arch"] and meta["preprocessing"]["classes"] == ["raccoon"]
    assert meta["preprocessing"]["input_size"] == 64 and "letterbox" in meta["preprocessing"]["resize"]
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 64, 64))
    assert out.cls_logits.shape[-1] == 1


# ---- detection that learns: GroupNorm head, scaled anchors, a users'-style small-object set ---------
def test_a_groupnorm_head_is_alive_at_initialisation_where_retinanets_narrow_head_is_not():
    """RetinaNet's head init (std 0.01, no norm) at width 0.25 (64 channels) outputs a near-constant:
    the classifier has almost no gradient to learn from. GroupNorm in the towers keeps the signal."""
    from search_spaces.detection.heads import AnchorConfig, _groups

    x = torch.randn(2, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    spread = {}
    for norm in ("none", "gn"):
        space = DetNASSpace(layout="cpu", width=0.25, input_size=128, num_classes=10, head_norm=norm)
        net = space.build(space.sample(np.random.default_rng(0)), torch.Generator().manual_seed(0)).eval()
        with torch.no_grad():
            spread[norm] = float(net(x).cls_logits.std())
        assert any(isinstance(m, torch.nn.GroupNorm) for m in net.modules()) == (norm == "gn")
    assert spread["none"] < 1e-4 < 1e-2 < spread["gn"]
    assert [_groups(c) for c in (64, 256, 24, 8)] == [16, 32, 6, 2]
    assert AnchorConfig.scaled(4) == AnchorConfig()  # RetinaNet's 32..512 is 4 strides
    assert AnchorConfig.scaled(2).sizes == (16, 32, 64, 128, 256)
    with pytest.raises(ValueError, match="head_norm"):
        DetNASSpace(head_norm="bn")
    with pytest.raises(ValueError, match="anchor_scale"):
        DetNASSpace(anchor_scale=0.1)


def test_the_small_shapes_set_is_an_ordinary_coco_json_with_small_objects_of_ten_classes(tmp_path):
    from nas.data.detection.shapes import CLASSES, write_shapes_coco

    path = write_shapes_coco(tmp_path / "shapes", 30, test=6, canvas=100, sizes=(10, 30), seed=3)
    again = write_shapes_coco(tmp_path / "again", 30, test=6, canvas=100, sizes=(10, 30), seed=3)
    assert path.read_text() == again.read_text()  # a pure function of the seed
    coco = json.loads(path.read_text())
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    assert sum(im.get("split") == "test" for im in coco["images"]) == 6
    assert all(10 <= a["bbox"][2] <= 30 and a["bbox"][2] == a["bbox"][3] for a in coco["annotations"])
    data = load_detection(path, val_size=0.25, seed=0)
    assert (len(data.train), len(data.val), len(data.test)) == (18, 6, 6) and data.num_classes <= 10


def test_the_default_detnas_recipe_learns_small_objects_without_diverging_and_catches_a_divergence(tmp_path, capsys):
    """The default command (cpu preset: warm-up, clip at 35, GroupNorm head) on a generated
    10-class small-object set: no divergence, the classification loss falls. The same command
    at an absurd learning rate, with the guards off, stops with the divergence message."""
    from nas.data.detection.shapes import write_shapes_coco
    from tests.conftest import run_main

    torch.set_num_threads(1)
    data = write_shapes_coco(tmp_path / "shapes", 48, test=8, canvas=64, sizes=(8, 20), seed=0)
    common = ["search", "--space", "detnas", "--strategy", "random", "--data", data, "--image-size", "64",
              "--budget", "1", "--random-baseline", "2", "--calibration-images", "8", "--force", "--quiet"]
    code, text = run_main([*common, "--steps", "60", "--out", tmp_path / "default"])
    assert code == 0, text
    log = [json.loads(line) for line in (tmp_path / "default" / "supernet" / "training.jsonl").read_text().splitlines()]
    assert all(np.isfinite(e["loss"]) for e in log)
    assert log[-1]["cls"] < 0.8 * log[0]["cls"], [round(e["cls"], 3) for e in log]
    config = json.loads((tmp_path / "default" / "config.json").read_text())
    assert config["space_options"]["head_norm"] == "gn" and config["train"]["grad_clip"] == 35.0
    code, _ = run_main([*common, "--steps", "30", "--lr", "10", "--grad-clip", "0", "--warmup-epochs", "0",
                        "--out", tmp_path / "diverged"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "training diverged: the loss is" in message
    assert "--lr 2 (now 10), --warmup-epochs 1, --grad-clip 35" in message


def test_anchors_are_fitted_to_the_training_boxes_and_old_runs_keep_retinanets(tmp_path):
    from nas.data.detection.data import DetectionData, DetectionSplit
    from nas.data.detection.shapes import write_shapes_coco
    from nas.tasks.detection.task import anchor_scale_for

    def data_with(sizes: list[float], image: int = 100, image_size: int = 128) -> DetectionData:
        split = DetectionSplit([np.zeros((image, image, 3), np.uint8)] * len(sizes),
                               [np.array([[0, 0, s, s]], np.float32) for s in sizes],
                               [np.zeros(1, np.int64)] * len(sizes), list(range(1, len(sizes) + 1)))
        return DetectionData("boxes", split, split, split, [1], ["thing"], image_size=image_size)

    # 10th percentile of 10..100 px at 100 -> 128 px: 19 * 1.28 = 24.3 px; / stride 8 = 3.04 -> 3.0
    assert anchor_scale_for(data_with(list(range(10, 101)))) == 3.0
    assert anchor_scale_for(data_with([90.0] * 5)) == 4.0  # large boxes: RetinaNet's 4 strides, no larger
    assert anchor_scale_for(data_with([2.0] * 5)) == 1.0  # tiny boxes: never below one stride
    shapes = DetectionDataConfig(str(write_shapes_coco(tmp_path / "s", 40, test=5, canvas=100)), image_size=128)
    space = make_space("detnas", shapes.load(), {"layout": "cpu", "width": 0.25}, get_task("detection"))
    assert space.cfg.anchor_scale == anchor_scale_for(shapes.load()) < 4.0
    assert make_space("detnas", shapes.load(), {"anchor_scale": 4.0}, get_task("detection")).cfg.anchor_scale == 4.0
    old = {"layout": "cpu", "width": 0.25, "input_size": 128, "num_classes": 10}  # saved before the options
    assert DetNASSpace.upgrade_config(old) == {**old, "head_norm": "none", "anchor_scale": 4.0}
    assert DetNASSpace.upgrade_config({**old, "anchor_scale": 2.0})["anchor_scale"] == 2.0
