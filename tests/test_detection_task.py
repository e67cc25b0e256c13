"""The detection task: its loss vanishes on a perfect prediction and trains; its evaluation gives
COCO mAP 100 for a detector that outputs the ground truth."""

from __future__ import annotations

import torch

from nas_common.registry import TASKS
from search_spaces.detection.boxes import encode
from nas.tasks.detection.loss import match_anchors
from search_spaces.detection.heads import AnchorConfig, DetectorOutput

ANCHORS = AnchorConfig(strides=(8, 16), sizes=(16, 32), ratios=(1.0,), scales=(1.0,)).anchors([(4, 4), (2, 2)])
TARGETS = [{"boxes": torch.tensor([[4.0, 4.0, 20.0, 20.0]]), "labels": torch.tensor([1])},
           {"boxes": torch.tensor([[0.0, 0.0, 30.0, 32.0], [18.0, 2.0, 30.0, 14.0]]), "labels": torch.tensor([0, 1])}]


def perfect_output() -> DetectorOutput:
    logits = torch.full((2, len(ANCHORS), 2), -30.0)
    deltas = torch.zeros(2, len(ANCHORS), 4)
    for i, target in enumerate(TARGETS):
        matched = match_anchors(ANCHORS, target["boxes"])
        fg = matched >= 0
        logits[i, fg, target["labels"][matched[fg]]] = 30.0
        deltas[i, fg] = encode(ANCHORS[fg], target["boxes"][matched[fg]])
    return DetectorOutput(logits, deltas, ANCHORS)


def test_registered_with_map_as_objective():
    task = TASKS.get("detection")()
    assert task.objective.metric == "val_mAP" and task.objective.maximise


def test_loss_vanishes_on_a_perfect_prediction_and_has_gradients():
    loss_fn = TASKS.get("detection")().training_loss()
    loss, parts = loss_fn(perfect_output(), TARGETS)
    assert float(loss) < 1e-6 and set(parts) == {"cls", "box"}
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, len(ANCHORS), 2, generator=g, requires_grad=True)
    deltas = torch.randn(2, len(ANCHORS), 4, generator=g, requires_grad=True)
    loss, parts = loss_fn(DetectorOutput(logits, deltas, ANCHORS), TARGETS)
    assert float(loss.detach()) > 0.1 and float(parts["box"]) > 0
    loss.backward()
    assert logits.grad.abs().sum() > 0 and deltas.grad.abs().sum() > 0


def test_evaluation_of_a_detector_that_outputs_the_truth():
    task = TASKS.get("detection")()
    images = torch.zeros(2, 3, 32, 32)
    metrics = task.evaluate(lambda x: perfect_output(), [(images, TARGETS)], torch.device("cpu"))
    assert abs(metrics["val_mAP"] - 100.0) < 1e-6 and abs(metrics["val_AP50"] - 100.0) < 1e-6
