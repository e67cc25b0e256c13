"""Scores with their noise: standard errors, per-image outcomes, paired differences, the
separability check before a search and the verdict after it."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nas_common.errors import UserError
from nas.judging.trust import check_separable
from nas.tasks.uncertainty import (PER_IMAGE, accuracy_se, bootstrap_se, mean_se, pack_outcomes, paired_difference,
                             unpack_outcomes)
from nas.judging.verdict import separability, verdict


def entry(name: str, hits: np.ndarray) -> dict:
    """A random-baseline entry as nas.judging.trust writes it."""
    return {"arch_hash": name, "choices": [], "val_acc": 100.0 * hits.mean(), "val_acc_se": accuracy_se(hits),
            PER_IMAGE: {"val_correct": pack_outcomes(hits)}}


def record(name: str, hits: np.ndarray) -> dict:
    """A search record (metrics apart, per-image outcomes beside them)."""
    e = entry(name, hits)
    return {"arch_hash": name, "metrics": {"val_acc": e["val_acc"], "val_acc_se": e["val_acc_se"]},
            PER_IMAGE: e[PER_IMAGE]}


def test_accuracy_standard_error_is_the_binomial_formula():
    hits = np.zeros(1000, dtype=bool)
    hits[:300] = True
    assert accuracy_se(hits) == pytest.approx(100 * math.sqrt(0.3 * 0.7 / 1000))
    assert accuracy_se(np.ones(50, dtype=bool)) == 0.0
    values = np.random.default_rng(0).normal(size=400)
    assert mean_se(values) == pytest.approx(values.std(ddof=1) / 20)


def test_classification_evaluate_reports_standard_errors_and_per_image_outcomes():
    from nas.tasks.classification import CLASSIFICATION

    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1, 1, 1, 0])  # the third is wrong: 80%
    batches = [(logits[:3], labels[:3]), (logits[3:], labels[3:])]
    m = CLASSIFICATION.evaluate(lambda x: x, batches, torch.device("cpu"), per_image=True)
    assert m["val_acc"] == pytest.approx(80.0) and m["val_acc_se"] == pytest.approx(100 * math.sqrt(0.8 * 0.2 / 5))
    losses = torch.nn.functional.cross_entropy(logits, labels, reduction="none").double().numpy()
    assert m["val_loss"] == pytest.approx(losses.mean()) and m["val_loss_se"] == pytest.approx(mean_se(losses))
    assert unpack_outcomes(m[PER_IMAGE]["val_correct"]).tolist() == [True, True, False, True, True]
    assert PER_IMAGE not in CLASSIFICATION.evaluate(lambda x: x, batches, torch.device("cpu"))


def test_per_image_outcomes_pack_small_and_round_trip():
    hits = np.random.default_rng(1).random(1000) < 0.6
    text = pack_outcomes(hits)
    assert len(text) <= 200  # 1,000 images in 173 characters (issue target: <= 1 KB)
    assert np.array_equal(unpack_outcomes(text), hits)
    for bad in ("1000:not base64!", "12:AAAA", "AAAA", "x:AA=="):
        with pytest.raises(ValueError):
            unpack_outcomes(bad)


def test_paired_difference_with_itself_is_exactly_zero_and_pairing_shrinks_the_error():
    rng = np.random.default_rng(2)
    a = rng.random(2000) < 0.7
    assert paired_difference(a, a) == (0.0, 0.0)
    b = a.copy()
    flip = rng.choice(2000, 60, replace=False)  # b differs from a on 3% of the images
    b[flip] = ~b[flip]
    diff, se = paired_difference(a, b)
    unpaired = math.hypot(accuracy_se(a), accuracy_se(b))
    assert diff == pytest.approx(100 * (a.mean() - b.mean())) and se < unpaired / 3


def test_bootstrap_standard_error_shrinks_with_images_and_is_zero_for_a_constant_metric():
    rng = np.random.default_rng(3)
    values = rng.random(4000)
    small = bootstrap_se(lambda idx: values[:100][idx].mean(), 100, draws=300)
    large = bootstrap_se(lambda idx: values[idx].mean(), 4000, draws=300)
    assert large < small / 4  # ~ 1 / sqrt(40) = 0.16
    assert small == pytest.approx(values[:100].std() / 10, rel=0.25)
    assert bootstrap_se(lambda idx: 100.0, 50) == 0.0  # a perfect detector: mAP 100 on every resample


def _noise_only(count: int = 10, images: int = 200, p: float = 0.6) -> list[dict]:
    rng = np.random.default_rng(4)
    return [entry(f"a{i}", rng.random(images) < p) for i in range(count)]


def _separated(count: int = 10, images: int = 200) -> list[dict]:
    rng = np.random.default_rng(5)
    base = rng.random(images)
    return [entry(f"a{i}", base < 0.3 + 0.05 * i) for i in range(count)]  # nested: 30% ... 75%


def test_separability_stops_a_search_whose_scores_are_noise_and_passes_a_separated_one(tmp_path):
    noisy = {"objective": "val_acc", "evaluations": _noise_only()}
    sep = separability(noisy["evaluations"], "val_acc")
    assert sep["paired"] and sep["reliability"] < 0.5 and sep["images"] == 200
    with pytest.raises(UserError, match="cannot tell architectures apart") as err:
        check_separable(noisy, tmp_path, force=False)
    assert f"nas search --resume {tmp_path} --force" in str(err.value) and "\n" not in str(err.value)
    assert check_separable(noisy, tmp_path, force=True)["reliability"] < 0.5  # --force searches anyway
    clear = {"objective": "val_acc", "evaluations": _separated()}
    assert check_separable(clear, tmp_path, force=False)["reliability"] > 0.9
    # without per-image outcomes, the standard errors alone still measure it
    unpaired = [{k: v for k, v in e.items() if k != PER_IMAGE} for e in noisy["evaluations"]]
    assert separability(unpaired, "val_acc")["paired"] is False
    assert separability(unpaired, "val_acc")["reliability"] < 0.5
    assert separability([{"val_acc": 50.0}] * 4, "val_acc") is None  # no noise estimate: no check


def test_separability_advises_how_many_images_the_noise_asks_for(tmp_path):
    """Noise variance falls as 1 / images: the advice is the count at which the measured spread
    would be 80% signal; a borderline set (reliability < 0.5) is refused with that number."""
    rng = np.random.default_rng(2)
    truth = np.linspace(0.45, 0.65, 8)  # a 20-point spread of true accuracies, 60 images each
    small = [entry(f"a{i}", rng.random(60) < t) for i, t in enumerate(truth)]
    sep = separability(small, "val_acc")
    signal = sep["rms_difference"] ** 2 - sep["rms_noise"] ** 2
    assert sep["images"] == 60 and 0 < sep["reliability"] < 0.5
    assert sep["images_needed"] == math.ceil(60 * sep["rms_noise"] ** 2 * 0.8 / (0.2 * signal)) > 60
    with pytest.raises(UserError, match=f"about {sep['images_needed']:,} validation images") as refused:
        check_separable({"objective": "val_acc", "evaluations": small}, tmp_path, force=False)
    assert "larger data set" not in str(refused.value)
    with pytest.raises(UserError, match="this data set has only 100 images outside its test split, so that "
                                        "needs a larger data set"):  # raccoon's case: 160 photos in all
        check_separable({"objective": "val_acc", "evaluations": small}, tmp_path, force=False, available=100)


def test_verdict_tells_a_clear_winner_from_a_tie():
    rng = np.random.default_rng(7)
    u = rng.random(1000)
    randoms = [entry(f"r{i}", u < 0.40 + 0.01 * i) for i in range(5)]  # 40-44%, median 42%
    strong = [record("best", u < 0.70), record("second", u < 0.699), record("third", u < 0.60)]
    v = verdict(strong, {"evaluations": randoms}, "val_acc")
    assert v["best_vs_random_median"]["distinguishable"] and v["best_vs_random_median"]["paired"]
    assert v["best_vs_random_median"]["difference"] == pytest.approx(28.0, abs=3)
    assert [t["arch_hash"] for t in v["tied_with_best"]] == ["second"]
    assert "distinguishable" in v["text"] and "1 of the next 2" in v["text"]
    # nested outcomes are told apart even 0.5 points apart (the better one wins on every image that
    # differs); a net that is right on other images, 1 point up, is not
    v = rng.random(1000)
    weak = [record("best", v < 0.43), record("other", u < 0.42)]
    w = verdict(weak, {"evaluations": randoms}, "val_acc")
    assert not w["best_vs_random_median"]["distinguishable"] and "NOT distinguishable" in w["text"]
    assert verdict([{"arch_hash": "x", "metrics": {"val_acc": 50.0}}], None, "val_acc")["tied_with_best"] == []


def _detections(count: int, seed: int = 0, perfect: bool = False):
    """`count` 100-px images with 0-3 boxes of 3 classes; detections jittered (or exact) plus clutter."""
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "width": 100, "height": 100} for i in range(count)]
    truth, found = [], []
    for im in images:
        for _ in range(rng.integers(1, 4)):
            x, y = rng.uniform(0, 70, 2)
            w, h = rng.uniform(8, 30, 2)
            box = {"image_id": im["id"], "category_id": int(rng.integers(1, 4)), "bbox": [x, y, x + w, y + h]}
            truth.append(box)
            if perfect:
                found.append({**box, "score": 0.9})
            elif rng.random() < 0.7:
                j = rng.normal(0, 3, 4)
                found.append({**box, "bbox": [x + j[0], y + j[1], x + w + j[2], y + h + j[3]],
                              "score": float(rng.random())})
        if not perfect:
            x, y = rng.uniform(0, 70, 2)
            found.append({"image_id": im["id"], "category_id": int(rng.integers(1, 4)),
                          "bbox": [x, y, x + 15, y + 15], "score": float(rng.random())})
    return images, truth, found


def test_coco_bootstrap_reproduces_pycocotools_and_its_error_shrinks_with_images():
    from nas.tasks.detection.coco_bootstrap import matches_of, mean_ap
    from nas.tasks.detection.coco_eval import coco_evaluation, coco_metrics, coco_metrics_with_bootstrap

    images, truth, found = _detections(40)
    evaluation = coco_evaluation(images, truth, found, [1, 2, 3])
    per_category, thresholds = matches_of(evaluation)
    assert mean_ap(per_category, thresholds, range(40)) == pytest.approx(
        coco_metrics(images, truth, found, [1, 2, 3])["mAP"], abs=1e-9)  # the images as given: pycocotools' mAP
    few = coco_metrics_with_bootstrap(*_detections(25, seed=1), [1, 2, 3])[1]
    many = coco_metrics_with_bootstrap(*_detections(400, seed=1), [1, 2, 3])[1]
    assert len(few) == 200 and np.std(many, ddof=1) < np.std(few, ddof=1) / 2  # ~ 1 / sqrt(16)
    perfect = coco_metrics_with_bootstrap(*_detections(30, seed=2, perfect=True), [1, 2, 3])[1]
    assert np.allclose(perfect, 100.0) and np.std(perfect) == 0.0
    again = coco_metrics_with_bootstrap(images, truth, found, [1, 2, 3])[1]
    assert np.array_equal(again, coco_metrics_with_bootstrap(images, truth, found, [1, 2, 3])[1])  # seeded


def _explicit_repeats_map(per_category, thresholds, images) -> float:
    """Brute force: the drawn images concatenated as separate images (repeats included), then
    COCOeval's accumulation ("all" area, the largest maxDets) on that list."""
    aps = []
    for row in per_category:
        found = [row[i] for i in images if row[i] is not None]
        boxes = sum(m.boxes for m in found)
        if not found or boxes == 0:
            continue
        order = np.argsort(-np.concatenate([m.scores for m in found]), kind="mergesort")
        matched = np.concatenate([m.matched for m in found], axis=1)[:, order]
        ignored = np.concatenate([m.ignored for m in found], axis=1)[:, order]
        tp = np.cumsum(matched & ~ignored, axis=1, dtype=float)
        fp = np.cumsum(~matched & ~ignored, axis=1, dtype=float)
        total = 0.0
        for t in range(tp.shape[0]):
            if tp.shape[1]:
                precision = tp[t] / (fp[t] + tp[t] + np.spacing(1))
                envelope = np.maximum.accumulate(precision[::-1])[::-1]
                at = np.searchsorted(tp[t] / boxes, thresholds, side="left")
                total += float(envelope[at[at < tp.shape[1]]].sum())
        aps.append(total / (tp.shape[0] * len(thresholds)))
    return 100.0 * float(np.mean(aps)) if aps else math.nan


def test_the_bootstrap_reweights_images_exactly_as_repeating_them():
    """Each resample is computed by weighting the once-sorted detections by how often their image
    was drawn; it must equal concatenating the repeats. (Where different images' detections tie
    in score, concatenation would order them by the draw, an arbitrary order; the weighting orders
    them by image, as COCOeval does on the images as given.)"""
    from nas.tasks.detection.coco_bootstrap import matches_of, mean_ap
    from nas.tasks.detection.coco_eval import coco_evaluation

    images, truth, found = _detections(30, seed=5)
    assert len({d["score"] for d in found}) == len(found)  # no ties
    per_category, thresholds = matches_of(coco_evaluation(images, truth, found, [1, 2, 3]))
    rng = np.random.default_rng(0)
    for _ in range(40):
        drawn = rng.integers(0, 30, 30)
        assert mean_ap(per_category, thresholds, drawn) == pytest.approx(
            _explicit_repeats_map(per_category, thresholds, drawn), abs=1e-9)


def test_detection_scores_pair_up_through_the_same_resamples():
    from nas.tasks.detection.coco_eval import coco_metrics_with_bootstrap
    from nas.tasks.uncertainty import pack_values
    from nas.judging.verdict import difference

    images, truth, found = _detections(60, seed=3)
    worse = [d for i, d in enumerate(found) if i % 5]  # the same detector missing a fifth of its boxes

    def scored(dets):
        m, boot = coco_metrics_with_bootstrap(images, truth, dets, [1, 2, 3])
        return {"val_mAP": m["mAP"], "val_mAP_se": float(np.std(boot, ddof=1)),
                PER_IMAGE: {"val_mAP_boot": pack_values(boot), "images": 60}}

    a, b = scored(found), scored(worse)
    assert difference(a, a, "val_mAP", (a["val_mAP"], a["val_mAP"])) == (0.0, 0.0, True)
    d, se, paired = difference(a, b, "val_mAP", (a["val_mAP"], b["val_mAP"]))
    assert paired and d > 0 and se < math.hypot(a["val_mAP_se"], b["val_mAP_se"])
