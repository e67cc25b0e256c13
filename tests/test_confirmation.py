"""A verdict that survives its own selection: the best of many is judged on images that took no
part in choosing it (nas.tasks.splits, nas.judging.confirmation, nas.judging.verdict.judge)."""

from __future__ import annotations

import numpy as np
import pytest

from nas.judging.confirmation import held_out_scores
from nas.judging.verdict import judge, selection_null, verdict
from nas.tasks.splits import validation_parts
from nas.tasks.uncertainty import PER_IMAGE, accuracy_se, pack_outcomes
from nas_common.objective import Objective
from search_spaces.arch import Arch

OBJECTIVE = Objective("val_acc", "max")


def outcomes(rng: np.random.Generator, difficulty: np.ndarray, accuracy: float, spread: float = 0.08) -> np.ndarray:
    """Per-image correctness of a net of true `accuracy`: images are hard or easy for every net
    alike (`difficulty`), each net errs a little on its own (`spread`), as nets of one supernet do."""
    return difficulty + spread * rng.standard_normal(len(difficulty)) < accuracy


def scored(split: str, hits: np.ndarray) -> dict:
    return {f"{split}_acc": 100.0 * hits.mean(), f"{split}_acc_se": accuracy_se(hits),
            PER_IMAGE: {f"{split}_correct": pack_outcomes(hits)}}


class ToyScorer:
    """A search's evaluator on toy nets: validation, confirmation and test outcomes drawn from each
    net's true accuracy on three disjoint sets of images."""

    def __init__(self, truth: dict[Arch, float], seed: int, images: int = 1000) -> None:
        rng = np.random.default_rng(seed)
        self.split_images = {"validation": images, "confirmation": images, "test": 4 * images}
        difficulty = {split: rng.random(n) for split, n in self.split_images.items()}
        self.hits = {(arch, split): outcomes(rng, difficulty[split], acc)
                     for arch, acc in truth.items() for split in self.split_images}

    def validation(self, arch: Arch) -> dict:
        return scored("val", self.hits[arch, "validation"])

    def confirm_metrics(self, arch: Arch) -> dict:
        return scored("confirm", self.hits[arch, "confirmation"])

    def test_metrics(self, arch: Arch, per_image: bool = False) -> dict:
        return scored("test", self.hits[arch, "test"])


def toy_search(seed: int, gain: float = 0.0, candidates: int = 100, randoms: int = 10):
    """A search that scored `candidates` nets of true accuracy 60% (its last one `gain` better)
    and a random baseline of `randoms` more: (records, baseline, scorer)."""
    searched = [Arch("toy", (i,)) for i in range(candidates)]
    drawn = [Arch("toy", (1000 + i,)) for i in range(randoms)]
    truth = {arch: 0.6 for arch in searched + drawn}
    truth[searched[-1]] = 0.6 + gain
    scorer = ToyScorer(truth, seed)
    records = []
    for step, arch in enumerate(searched):
        result = scorer.validation(arch)
        records.append({"arch": arch.to_dict(), "arch_hash": arch.hash, "step": step,
                        "metrics": {k: v for k, v in result.items() if k != PER_IMAGE}, PER_IMAGE: result[PER_IMAGE]})
    baseline = {"count": randoms, "objective": "val_acc",
                "evaluations": [{"arch_hash": a.hash, "choices": list(a.choices), **scorer.validation(a)} for a in drawn]}
    return records, baseline, scorer


def judged(seed: int, gain: float = 0.0, confirm: bool = True):
    records, baseline, scorer = toy_search(seed, gain)
    on_validation = verdict(records, baseline, "val_acc")
    held = held_out_scores(records, baseline, OBJECTIVE, scorer) if confirm else None
    return on_validation, judge(on_validation, held, candidates=len(records), randoms=baseline["count"])


def test_the_best_of_100_equal_candidates_is_not_called_better_than_random():
    """The winner's curse: 100 nets of equal truth on the same 1,000 images; the maximum leads the
    random median by about 2.5 paired standard errors, so a verdict on the images that chose it
    calls most such searches "distinguishable". Judged on the confirmation images it does not."""
    claims_on_validation = claims_confirmed = claims_by_null = 0
    for seed in range(20):
        on_validation, final = judged(seed)
        claims_on_validation += on_validation["best_vs_random_median"]["distinguishable"]
        claims_confirmed += final["better_than_random"]
        assert final["basis"] == "confirmation" and final["best_vs_random_median"]["split"] == "confirmation"
        claims_by_null += judged(seed, confirm=False)[1]["better_than_random"]
    assert claims_on_validation >= 6  # what the old verdict said (9 of these 20 searches)
    assert claims_confirmed <= 2  # a 95% test: about 1 in 20 by chance
    assert claims_by_null <= 2  # the second opinion without confirmation images


def test_a_candidate_truly_better_by_3_points_is_confirmed():
    confirmed = 0
    for seed in range(10):
        _, final = judged(seed, gain=0.03)
        confirmed += final["better_than_random"]
        assert "CONFIRMED" in final["text"] or "NOT confirmed" in final["text"]
    assert confirmed >= 9
    _, final = judged(0, gain=0.03)
    test = final["splits"]["test"]["comparison"]
    assert test["distinguishable"] and test["difference"] == pytest.approx(3.0, abs=1.5)


def test_the_verdict_shows_three_splits_and_the_two_sets_on_confirmation():
    _, final = judged(3, gain=0.03)
    splits = final["splits"]
    assert {"validation", "confirmation", "test"} <= splits.keys()
    assert splits["validation"]["images"] == 1000 and splits["confirmation"]["images"] == 1000
    confirmation = splits["confirmation"]
    assert confirmation["top_count"] == 10 and confirmation["random_count"] == 10
    assert confirmation["top_median"] is not None and confirmation["random_set_median"] is not None
    # the best on validation is scored again: the confirmation's "a" is its confirmation score
    best = max(toy_search(3, 0.03)[0], key=lambda r: r["metrics"]["val_acc"])
    assert confirmation["top"][0]["arch_hash"] == best["arch_hash"]


def test_not_confirmed_says_how_many_images_would_confirm_it():
    for seed in range(20):
        _, final = judged(seed)
        c = final["splits"]["confirmation"]["comparison"]
        if not final["better_than_random"] and c["difference"] > 0:
            assert "images to confirm" in final["text"]
            break
    else:
        pytest.fail("no seed gave a positive, unconfirmed difference")


def test_an_evaluator_that_cannot_rescore_leaves_the_verdict_unconfirmed():
    records, baseline, _ = toy_search(0)
    held = held_out_scores(records, baseline, OBJECTIVE, object())
    final = judge(verdict(records, baseline, "val_acc"), held, candidates=100, randoms=10)
    assert final["basis"] == "selection" and final["text"].startswith("UNCONFIRMED")
    assert "keeps no network" in final["text"]


def test_the_selection_null_grows_with_the_candidates():
    small, large = selection_null(5, 10, 1.0), selection_null(100, 10, 1.0)
    assert 0 < small["expected"] < large["expected"] < large["q95"]
    # the maximum of 100 normals is about 2.5 standard deviations (of noise / sqrt 2 each)
    assert large["expected"] == pytest.approx(2.5 / np.sqrt(2), abs=0.25)
    assert selection_null(100, 10, 1.0) == large  # seeded


@pytest.mark.parametrize("available, val_images, confirm, spare, search, from_val, from_spare", [
    (5000, 1000, 5000, 25000, 1000, 0, 5000),  # the demo: spare training images, the search's own untouched
    (5000, 1000, 2000, 0, 1000, 2000, 0),      # no spare: the last 2,000 of the validation split
    (5000, None, 2000, 500, 3500, 1500, 500),  # the whole split less what the confirmation takes from it
    (600, 1000, 2000, 0, 300, 300, 0),         # a small split: at most half confirms
    (5000, 1000, 0, 25000, 1000, 0, 0),        # runs saved before confirmation: exactly as they were
    (1, None, 2000, 0, 1, 0, 0),
])
def test_validation_parts_never_overlap(available, val_images, confirm, spare, search, from_val, from_spare):
    parts = validation_parts(available, val_images, confirm, spare)
    assert (parts.search, parts.from_val, parts.from_spare) == (search, from_val, from_spare)
    assert parts.disjoint() and parts.confirm_start + parts.from_val == available


def test_confirmation_images_are_disjoint_from_training_and_search_validation(tmp_path):
    """By index: every image carries its own number, so the three sets can be compared exactly."""
    import torch

    from nas.data import load_data
    from nas.evaluate.supernet_evaluator import EvaluatorConfig, SupernetEvaluator
    from nas.tasks.classification import CLASSIFICATION

    n = 400
    ids = np.arange(n + 50)
    x = np.zeros((len(ids), 4, 4, 3), dtype=np.uint8)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = ids % 256, ids // 256  # the image's number in two pixels
    y = (ids % 2).astype(np.int64)
    np.savez(tmp_path / "numbered.npz", x_train=x[:n], y_train=y[:n], x_test=x[n:], y_test=y[n:])
    data = load_data(str(tmp_path / "numbered.npz"), val_size=100, seed=3, train_limit=280)
    assert len(data.x_spare) == 20  # 400 - 100 validation - 280 trained on

    def numbers(images: np.ndarray) -> set[int]:
        return {int(a) + 256 * int(b) for a, b in zip(images[:, 0, 0, 0], images[:, 0, 0, 1])}

    class Net(torch.nn.Module):
        def forward(self, x, arch=None):
            return x.flatten(1)[:, :2]

    evaluator = SupernetEvaluator.from_parts(Net(), data, EvaluatorConfig(calibration_images=8, batch_size=16,
                                                                         val_images=30, confirm_images=40),
                                             torch.device("cpu"), seed=0, task=CLASSIFICATION)
    mean, std = np.array(data.mean), np.array(data.std)

    def seen(batches) -> set[int]:
        images = torch.cat([xb for xb, _ in batches]).permute(0, 2, 3, 1).numpy() * std + mean
        return numbers(np.rint(images * 255).astype(np.int64))

    searched, confirming = seen(evaluator.val_batches), seen(evaluator.confirm_batches())
    assert len(searched) == 30 and len(confirming) == 40
    assert evaluator.split_images == {"validation": 30, "confirmation": 40, "test": 50}
    assert not searched & confirming
    assert not (searched | confirming) & numbers(data.x_train)  # the supernet never trained on either
    assert not (searched | confirming) & numbers(data.x_test)
    # the 20 spare training images first, then the last 20 of the validation split
    assert searched == numbers(data.x_val[:30]) and confirming == numbers(data.x_spare) | numbers(data.x_val[80:])


def test_detection_is_judged_by_the_same_rule_over_paired_bootstrap_resamples():
    """mAP is no mean over images: two detectors are paired through the same bootstrap resamples of
    the confirmation images, and the verdict is decided there as for accuracy."""
    from nas.judging.verdict import compare
    from nas.tasks.uncertainty import pack_values

    rng = np.random.default_rng(0)
    shared = rng.normal(30.0, 3.0, 200)  # resampling moves both detectors' mAP alike

    def detector(shift: float, split: str) -> dict:
        boot = shared + shift + rng.normal(0.0, 0.3, 200)
        return {f"{split}_mAP": float(30.0 + shift), f"{split}_mAP_se": float(boot.std(ddof=1)),
                PER_IMAGE: {f"{split}_mAP_boot": pack_values(boot), "images": 40}}

    better = compare(detector(2.0, "confirm"), detector(0.0, "confirm"), "confirm_mAP")
    assert better["paired"] and better["distinguishable"] and better["se"] < 1.0  # unpaired it would be ~4.2
    held = {"confirmation": {"images": 40, "metric": "confirm_mAP", "comparison": better}}
    validation = verdict([{"arch_hash": "a", "metrics": {"val_mAP": 35.0, "val_mAP_se": 3.0}}],
                         {"evaluations": [{"arch_hash": "r", "choices": [], "val_mAP": 30.0, "val_mAP_se": 3.0}]},
                         "val_mAP", unit="")
    final = judge(validation, held, candidates=10, randoms=1, unit="")
    assert final["basis"] == "confirmation" and final["better_than_random"]
    assert not compare(detector(0.1, "confirm"), detector(0.0, "confirm"), "confirm_mAP")["distinguishable"]
