"""FPN neck, RetinaNet head and inference on tiny inputs: shapes, strides, the prior, decoding."""

from __future__ import annotations

import math

import torch

from search_spaces.detection.heads import FPN, AnchorConfig, InferenceConfig, RetinaHead, detect


def test_fpn_gives_p3_to_p7_at_their_strides():
    g = torch.Generator().manual_seed(0)
    c3, c4, c5 = (torch.randn(2, c, 64 // s, 64 // s, generator=g) for c, s in ((8, 8), (16, 16), (32, 32)))
    levels = FPN([4, 8, 16, 32], channels=12)([torch.zeros(2, 4, 16, 16), c3, c4, c5])
    assert [tuple(p.shape) for p in levels] == [(2, 12, 8, 8), (2, 12, 4, 4), (2, 12, 2, 2), (2, 12, 1, 1), (2, 12, 1, 1)]


def test_head_outputs_match_the_anchor_order_and_start_at_the_prior():
    head = RetinaHead(channels=12, num_anchors=9, num_classes=3, convs=2)
    sizes = [(8, 8), (4, 4), (2, 2), (1, 1), (1, 1)]
    levels = [torch.randn(2, 12, h, w) for h, w in sizes]
    cls, box = head(levels)
    anchors = AnchorConfig().anchors(sizes)
    assert cls.shape == (2, len(anchors), 3) and box.shape == (2, len(anchors), 4)
    # cls_out weights are N(0, 0.01): every probability starts near the prior 0.01.
    assert torch.isfinite(cls).all() and torch.isfinite(box).all()
    assert abs(torch.sigmoid(cls).mean().item() - 0.01) < 0.005


def test_detect_decodes_thresholds_and_suppresses():
    cfg = AnchorConfig(strides=(8,), sizes=(16,), ratios=(1.0,), scales=(1.0,))
    anchors = cfg.anchors([(4, 4)])  # 16 anchors of 16x16 at centres 4, 12, 20, 28
    logits = torch.full((1, 16, 2), -10.0)
    logits[0, 5, 1] = 3.0    # anchor at (12, 12), class 1: kept
    logits[0, 6, 1] = 2.0    # its neighbour (IoU 1/3): suppressed at NMS 0.3, kept at 0.5
    logits[0, 0, 0] = 1.0    # class 0 at (4, 4): kept (other class)
    deltas = torch.zeros(1, 16, 4)
    out = detect(logits, deltas, anchors, [(32, 32)], InferenceConfig(nms_threshold=0.3))[0]
    assert out["labels"].tolist() == [1, 0]
    torch.testing.assert_close(out["boxes"][0], torch.tensor([4.0, 4.0, 20.0, 20.0]))
    torch.testing.assert_close(out["boxes"][1], torch.tensor([0.0, 0.0, 12.0, 12.0]))  # clipped at 0
    torch.testing.assert_close(out["scores"], torch.sigmoid(torch.tensor([3.0, 1.0])))
    loose = detect(logits, deltas, anchors, [(32, 32)], InferenceConfig(nms_threshold=0.5))[0]
    assert loose["labels"].tolist() == [1, 1, 0]
    assert math.isclose(float(loose["scores"][1]), float(torch.sigmoid(torch.tensor(2.0))), rel_tol=1e-6)


def test_anchored_head_returns_the_anchors_of_its_levels():
    from search_spaces.detection.heads import AnchoredHead

    head = AnchoredHead(channels=12, num_classes=2, convs=1)
    sizes = [(4, 4), (2, 2), (1, 1), (1, 1), (1, 1)]
    out = head([torch.randn(1, 12, h, w) for h, w in sizes])
    assert torch.equal(out.anchors, AnchorConfig().anchors(sizes))
    assert out.cls_logits.shape == (1, len(out.anchors), 2) and out.box_deltas.shape == (1, len(out.anchors), 4)
