"""Bad inputs and faults through the real CLI, in one process: architecture strings, flags, data
files, run directories and predictor directories. Each must end with exit status 2 and one line on
stderr, and leave every file of the workspace (runs, supernet, predictor) exactly as it was: a
failed start leaves no directory behind. Also: architecture parsing never raises anything but a
user error on random JSON (hypothesis)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.cli.main import main
from nas_common.errors import UserError

try:
    from tests.conftest import SUBSET
except ImportError:
    from conftest import SUBSET

MARKER = Path("/tmp/nas-test-pickle-ran")
ZEROS = [0] * 20


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def _arch(choices, space="shufflenet", **extra) -> str:
    return json.dumps({"space": space, "choices": choices, **extra})


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    """The workspace: a finished table search, a supernet, a predictor, and damaged copies/files."""
    if not SUBSET.is_file():
        pytest.skip("shared cifar10 subset not available")
    w = tmp_path_factory.mktemp("bad")
    assert main(["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random", "--budget", "6",
                 "--quiet", "--out", str(w / "nb")]) == 0
    assert main(["train-supernet", "--space", "shufflenet", "--width", "0.25", "--data", "cifar10-subset",
                 "--val-size", "100", "--train-limit", "128", "--steps", "2", "--batch-size", "32", "--quiet",
                 "--out", str(w / "sup")]) == 0
    assert main(["predictor", "train", "--space", "nb201", "--runs", str(w / "nb"), "--epochs", "2", "--quiet",
                 "--out", str(w / "pred")]) == 0
    # damaged search runs
    for name in ("nb-noopts", "nb-badconfig", "nb-otherspace", "nb-badstate", "nb-evalsdir"):
        shutil.copytree(w / "nb", w / name)
    config = json.loads((w / "nb-noopts" / "config.json").read_text())
    del config["strategy_options"]
    (w / "nb-noopts" / "config.json").write_text(json.dumps(config))
    (w / "nb-badconfig" / "config.json").write_text("{not json")
    shutil.copytree(w / "nb", w / "nb-newkey")
    config = json.loads((w / "nb-newkey" / "config.json").read_text())
    (w / "nb-newkey" / "config.json").write_text(json.dumps({**config, "future_option": 1}))
    record = json.loads((w / "nb" / "evaluations.jsonl").read_text().splitlines()[0])
    record.update(arch={"space": "shufflenet", "choices": ZEROS}, arch_hash="0123456789abcdef")
    with (w / "nb-otherspace" / "evaluations.jsonl").open("a") as f:
        f.write(json.dumps(record) + "\n")
    (w / "nb-badstate" / "strategy_state.json").write_text("[1, 2")
    (w / "nb-evalsdir" / "evaluations.jsonl").unlink()
    (w / "nb-evalsdir" / "evaluations.jsonl").mkdir()
    # damaged predictors
    for name in ("pred-trunc", "pred-evil", "pred-mismatch", "pred-badjson", "pred-noweights"):
        shutil.copytree(w / "pred", w / name)
    weights = (w / "pred" / "weights.pt").read_bytes()
    (w / "pred-trunc" / "weights.pt").write_bytes(weights[: len(weights) // 2])
    (w / "pred-evil" / "weights.pt").write_bytes(pickle.dumps(_Evil()))
    # an attacker replaces the checksum too (here: removes it): weights_only loading must still refuse
    (w / "pred-evil" / "weights.pt.sha256").unlink(missing_ok=True)
    meta = json.loads((w / "pred" / "predictor.json").read_text())
    meta["config"]["hidden"] = meta["config"].get("hidden", 64) * 2 + 3
    (w / "pred-mismatch" / "predictor.json").write_text(json.dumps(meta))
    (w / "pred-badjson" / "predictor.json").write_text("{")
    (w / "pred-noweights" / "weights.pt").unlink()
    # data files
    (w / "empty.npz").write_bytes(b"")
    (w / "text.npz").write_text("not a zip")
    (w / "notes.txt").write_text("x")
    (w / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (w / "deep.json").write_text('{"space": "shufflenet", "choices": ' + "[" * 5000 + "]" * 5000 + "}")
    (w / "afile").write_text("a file, not a folder")
    (w / "best.arch.json").write_text(_arch(ZEROS, hash="0000000000000000", describe=[]))
    x, y = np.zeros((40, 8, 8, 3), np.uint8), np.zeros(40, np.int64)
    np.savez(w / "nokeys.npz", x_train=x)
    np.savez(w / "labels.npz", x_train=x, y_train=np.arange(40) + 3, x_test=x[:4], y_test=y[:4])
    np.savez(w / "nan.npz", x_train=np.full((40, 8, 8, 3), np.nan), y_train=y, x_test=x[:4], y_test=y[:4])
    labels = np.arange(40) % 4
    np.savez(w / "huge-label.npz", x_train=x, y_train=np.r_[labels[:-1], 2**63 - 1], x_test=x[:4], y_test=labels[:4])
    np.savez(w / "one-class.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    np.savez(w / "negative.npz", x_train=x, y_train=labels, x_test=x[:4], y_test=np.r_[labels[:3], -1])
    np.savez(w / "1x1.npz", x_train=np.zeros((40, 1, 1, 3), np.uint8), y_train=labels, x_test=np.zeros((4, 1, 1, 3),
             np.uint8), y_test=labels[:4])
    np.savez(w / "nonsquare.npz", x_train=np.zeros((40, 8, 6, 3), np.uint8), y_train=y, x_test=x[:4, :, :6],
             y_test=y[:4])
    # a ZIP of images whose first training "image" is text (said "cannot write ... fix the permissions")
    import zipfile

    with zipfile.ZipFile(w / "notimage.zip", "w") as archive:
        archive.writestr("train/cat/a.jpg", "not an image")
        archive.writestr("test/cat/b.jpg", "not an image")
    # search config files (--config)
    config = json.loads((w / "nb" / "config.json").read_text())
    for name, change in (("cfg-bogus-option", {"space_options": {"bogus": 3}}), ("cfg-seed-float", {"seed": 1.5}),
                         ("cfg-evaluator-string", {"evaluator": "table"}),
                         ("cfg-channels-option", {"space_options": {"channels": 8}})):
        (w / f"{name}.json").write_text(json.dumps({**config, **change}))
    (w / "cfg-nan.json").write_text(json.dumps(config)[:-1] + ', "budget": NaN}')
    (w / "cfg-big.json").write_text(" " * (2 << 20) + "{}")
    aliases = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    (w / "cfg-bomb.yaml").write_text("space: nb201\n" + "\n".join(aliases) + "\n")
    (w / "cfg-inf.yaml").write_text("space: nb201\nstrategy: random\nbudget: .inf\n")
    return w


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file and folder under `root` (the writer lock, which names its last pid, excluded)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*")) if p.name != ".lock"}


DEEP = '{"space": "shufflenet", "choices": ' + "[" * 5000 + "]" * 5000 + "}"
SEARCH = ["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random", "--budget", "4", "--quiet"]
TRAIN = ["train-supernet", "--space", "shufflenet", "--width", "0.25", "--data", "cifar10-subset", "--steps", "1",
         "--train-limit", "64", "--val-size", "16", "--batch-size", "8", "--quiet"]


def _train_data(path: str) -> list[str]:
    return ["train-supernet", "--space", "shufflenet", "--width", "0.25", "--data", path, "--steps", "1",
            "--val-size", "4", "--batch-size", "8", "--quiet", "--out", "{w}/new-data"]


# (id, argv with {w} for the workspace, a fragment the one error line must contain)
CASES = [
    # ---- architecture strings (checked against the supernet's space before anything loads) ----
    ("arch-truncated-json", ["evaluate", "--run", "{w}/sup", "--arch", '{"space": "shufflenet", "choices": [0'],
     "not valid JSON"),
    ("arch-no-choices", ["evaluate", "--run", "{w}/sup", "--arch", '{"space": "shufflenet"}'], "JSON object"),
    ("arch-extra-key", ["evaluate", "--run", "{w}/sup", "--arch", _arch(ZEROS, extra=1)], "JSON object"),
    ("arch-choices-string", ["evaluate", "--run", "{w}/sup", "--arch", '{"space": "shufflenet", "choices": "00"}'],
     "choices"),
    ("arch-too-short", ["evaluate", "--run", "{w}/sup", "--arch", _arch([0] * 19)], "20 choices"),
    ("arch-choice-out-of-range", ["evaluate", "--run", "{w}/sup", "--arch", _arch([0] * 19 + [7])], "block_19"),
    ("arch-negative-choice", ["evaluate", "--run", "{w}/sup", "--arch", _arch([-1] + [0] * 19)], "block_0"),
    ("arch-huge-choice", ["evaluate", "--run", "{w}/sup", "--arch", _arch([10 ** 30] + [0] * 19)], "block_0"),
    ("arch-bool-choices", ["evaluate", "--run", "{w}/sup", "--arch", _arch([True] * 20)], "integers"),
    ("arch-float-choices", ["evaluate", "--run", "{w}/sup", "--arch", _arch([0.5] * 20)], "integers"),
    ("arch-space-not-string", ["evaluate", "--run", "{w}/sup", "--arch", _arch(ZEROS, space=7)], "string"),
    ("arch-other-space", ["evaluate", "--run", "{w}/sup", "--arch", _arch(ZEROS, space="nb201")], "space"),
    ("arch-short-form-too-short", ["evaluate", "--run", "{w}/sup", "--arch", "shufflenet:0123"], "20 choices"),
    ("arch-short-form-bad-choice", ["evaluate", "--run", "{w}/sup", "--arch", "shufflenet:" + "9" * 20],
     "block_0"),
    ("arch-short-form-other-space", ["evaluate", "--run", "{w}/sup", "--arch", "nb201:000000"], "space"),
    ("arch-nb201-string-for-shufflenet", ["evaluate", "--run", "{w}/sup", "--arch", "|none~0|+|none~0|none~1|"],
     "NB201 cell string (space nb201)"),
    ("arch-deep-inline", ["evaluate", "--run", "{w}/sup", "--arch", DEEP], "nested too deeply"),
    ("arch-deep-file", ["evaluate", "--run", "{w}/sup", "--arch", "{w}/deep.json"], "nested too deeply"),
    ("arch-binary-file", ["evaluate", "--run", "{w}/sup", "--arch", "{w}/binary.bin"], "not a text file"),
    ("arch-missing-file", ["evaluate", "--run", "{w}/sup", "--arch", "{w}/nope.json"], "neither an architecture"),
    ("arch-empty", ["evaluate", "--run", "{w}/sup", "--arch", ""], "neither an architecture"),
    ("arch-export-file-wrong-hash", ["evaluate", "--run", "{w}/sup", "--arch", "{w}/best.arch.json"],
     "does not match"),
    ("arch-record-not-object", ["evaluate", "--run", "{w}/sup", "--arch", '{"arch": 5}'], "JSON object"),
    ("arch-export-out-exists", ["export", "--run", "{w}/sup", "--arch", _arch(ZEROS), "--out", "{w}/afile"],
     "already exists"),
    # ---- flags ----
    ("width-inf", [*SEARCH[:-1], "--width", "inf", "--out", "{w}/new"], "finite"),
    ("width-nan", [*TRAIN, "--width", "nan", "--out", "{w}/new"], "finite"),
    ("width-negative", [*TRAIN, "--width", "-1", "--out", "{w}/new"], "positive"),
    ("width-too-narrow", [*TRAIN, "--width", "0.125", "--out", "{w}/new"], "smallest width"),
    ("lr-nan", [*TRAIN, "--lr", "nan", "--out", "{w}/new"], "finite"),
    ("lr-inf", [*TRAIN, "--lr", "inf", "--out", "{w}/new"], "finite"),
    ("weight-decay-nan", [*TRAIN, "--weight-decay", "nan", "--out", "{w}/new"], "weight-decay"),
    ("weight-decay-negative", [*TRAIN, "--weight-decay", "-1", "--out", "{w}/new"], "weight-decay"),
    ("batch-size-zero", [*TRAIN, "--batch-size", "0", "--out", "{w}/new"], "positive"),
    ("steps-text", [*TRAIN, "--steps", "many", "--out", "{w}/new"], "steps"),
    ("val-size-negative", [*TRAIN, "--val-size", "-3", "--out", "{w}/new"], "val"),
    ("budget-zero", [*SEARCH, "--budget", "0", "--out", "{w}/new"], "positive"),
    ("budget-text", [*SEARCH, "--budget", "ten", "--out", "{w}/new"], "integer"),
    ("random-baseline-negative", [*SEARCH, "--random-baseline", "-1", "--out", "{w}/new"], ">= 0"),
    ("max-flops-zero", [*SEARCH, "--max-flops", "0", "--out", "{w}/new"], "positive"),
    ("max-flops-unit", [*SEARCH, "--max-flops", "12X", "--out", "{w}/new"], "max-flops"),
    ("seed-negative", [*SEARCH, "--seed", "-1", "--out", "{w}/new"], "--seed"),
    ("seed-huge", [*SEARCH, "--seed", str(2 ** 64), "--out", "{w}/new"], "--seed"),
    ("unknown-space", ["search", "--space", "nope", "--strategy", "random", "--out", "{w}/new"], "unknown space"),
    ("unknown-strategy", [*SEARCH, "--strategy", "nope", "--out", "{w}/new"], "unknown strategy"),
    ("strategy-option-type", [*SEARCH, "--strategy", "evolution", "-o", "population=abc", "--out", "{w}/new"],
     "not a valid int"),
    ("strategy-option-unknown", [*SEARCH, "-o", "foo=1", "--out", "{w}/new"], "unknown option"),
    ("strategy-option-no-value", [*SEARCH, "-o", "population", "--out", "{w}/new"], "KEY=VALUE"),
    ("unknown-preset", [*SEARCH, "--preset", "huge", "--out", "{w}/new"], "preset"),
    ("unknown-device", [*TRAIN, "--device", "quantum", "--out", "{w}/new"], "device"),
    ("cuda-without-gpu", [*TRAIN, "--device", "cuda", "--out", "{w}/new"], "no CUDA GPU"),
    ("pretrain-steps-negative", ["search", "--space", "detnas", "--strategy", "random", "--pretrain-steps", "-1",
                                 "--out", "{w}/new"], ">= 0"),
    ("retrain-seed-negative", ["retrain", "--arch", _arch([0] * 6, "nb201"), "--seed", "-1", "--out", "{w}/new"],
     "--seed: must be >= 0"),  # was a Ray worker traceback and a run directory left behind
    ("retrain-seed-huge", ["retrain", "--arch", _arch([0] * 6, "nb201"), "--seed", "99999999999999999999",
                           "--out", "{w}/new"], "below 2^63"),
    ("lut-check-seed-negative", ["lut", "check", "--lut", "{w}/nothing.json", "--seed", "-1"], "--seed: must be >= 0"),
    ("search-budget-above-the-space", ["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random",
                                       "--budget", "20000", "--out", "{w}/new"],
     "more than the 15,625 architectures of nb201"),  # it ran until killed
    ("width-huge", [*TRAIN, "--width", "1e3", "--out", "{w}/new"], "--width: must be at most 16"),
    ("width-overflow", [*TRAIN, "--width", "99999999999999999999", "--out", "{w}/new"], "at most 16"),
    ("stage-repeats-huge", ["train-supernet", "--space", "shufflenet", "-S", "stage_repeats=[1000000000,1,1,1]",
                            "--steps", "1", "--out", "{w}/new"], "stage_repeats 1,000,000,000 is above 64"),
    ("table-search-space-option", ["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random",
                                   "-S", "bogus=3", "--out", "{w}/new"], "do not apply to a table search"),
    ("resume-unknown-config-key", ["search", "--resume", "{w}/nb-newkey"], "keys this version does not know "
                                                                            "(future_option)"),  # was dropped
    ("search-max-flops-infinite", [*SEARCH, "--max-flops", "1e309", "--out", "{w}/new"], "at most 1e+18"),
    ("search-max-params-huge", [*SEARCH, "--max-params", "1e19", "--out", "{w}/new"], "at most 1e+18"),
    # ---- search config files ----
    ("config-unknown-space-option", ["search", "--config", "{w}/cfg-bogus-option.json", "--out", "{w}/new"],
     "space 'nb201' has no option 'bogus'; valid options:"),  # was saved and ignored
    ("config-option-on-a-table-search", ["search", "--config", "{w}/cfg-channels-option.json", "--out", "{w}/new"],
     "do not apply to a table search"),
    ("config-seed-fraction", ["search", "--config", "{w}/cfg-seed-float.json", "--out", "{w}/new"],
     "seed='1.5' is not a whole number"),  # ran with seed 1
    ("config-evaluator-not-a-mapping", ["search", "--config", "{w}/cfg-evaluator-string.json", "--out", "{w}/new"],
     "'evaluator' must be a mapping"),
    ("config-json-nan", ["search", "--config", "{w}/cfg-nan.json", "--out", "{w}/new"], "NaN is not a setting"),
    ("config-yaml-infinity", ["search", "--config", "{w}/cfg-inf.yaml", "--out", "{w}/new"], "inf is not a setting"),
    ("config-too-large", ["search", "--config", "{w}/cfg-big.json", "--out", "{w}/new"], "larger than any search"),
    ("config-yaml-anchor-bomb", ["search", "--config", "{w}/cfg-bomb.yaml", "--out", "{w}/new"],
     "expands to more than 100,000 values"),  # was a 14.7 MB config.json
    # ---- space options ----
    ("space-option-unknown", [*TRAIN, "-S", "bogus=3", "--out", "{w}/new"], "space 'shufflenet' has no option 'bogus'"),
    ("space-option-nan-count", [*TRAIN, "-S", "stem_channels=.nan", "--out", "{w}/new"],
     "stem_channels must be a whole number"),
    ("space-option-nb201-huge", ["train-supernet", "--space", "nb201", "-S", "cells_per_stage=1000000000", "--steps",
                                 "1", "--out", "{w}/new"], "cells_per_stage 1,000,000,000 is above 64"),
    ("space-option-darts-huge", ["train-supernet", "--space", "darts", "-S", "layers=100000", "--steps", "1",
                                 "--out", "{w}/new"], "layers 100,000 is above 64"),
    ("space-option-mbconv-depth", ["train-supernet", "--space", "mbconv", "-S", "depth=1e6", "--steps", "1",
                                   "--out", "{w}/new"], "depth 1e+06 is above 16"),
    ("space-option-flag-not-bool", ["train-supernet", "--space", "mbconv", "-S", "small_input_strides=7", "--steps",
                                    "1", "--out", "{w}/new"], "small_input_strides must be true or false"),
    ("strategy-option-infinite", [*SEARCH, "-o", "lr=inf", "--strategy", "rl", "--out", "{w}/new"], "out of range"),
    ("strategy-option-huge-population", [*SEARCH, "--strategy", "evolution", "-o", "population=99999999999999999999",
                                         "--out", "{w}/new"], "out of range"),
    ("evaluator-option-negative", ["search", "--space", "shufflenet", "--strategy", "random", "-E",
                                   "calibration_images=-1", "--out", "{w}/new"], "calibration_images must be at least 1"),
    ("long-value-echoed-short", [*SEARCH, "--budget", "9" * 100_000, "--out", "{w}/new"], "(100,000 digits)"),
    # ---- data files ----
    ("data-zero-bytes", _train_data("{w}/empty.npz"), "cannot read as .npz"),
    ("data-not-a-zip", _train_data("{w}/text.npz"), "cannot read as .npz"),
    ("data-missing-arrays", _train_data("{w}/nokeys.npz"), "missing arrays"),
    ("data-labels-out-of-range", _train_data("{w}/labels.npz"), "no training image"),
    ("data-nan-pixels", _train_data("{w}/nan.npz"), "NaN"),
    ("data-label-2**63", _train_data("{w}/huge-label.npz"), "have no training image"),  # was a MemoryError
    ("data-one-class", _train_data("{w}/one-class.npz"), "one class leaves nothing to classify"),
    ("data-negative-test-label", _train_data("{w}/negative.npz"), "label -1 is negative"),
    ("data-1x1-images", _train_data("{w}/1x1.npz"), "images of 1x1 pixels"),
    ("data-not-square", _train_data("{w}/nonsquare.npz"), "not square"),
    ("data-unknown-format", _train_data("{w}/notes.txt"), "unknown data format"),
    ("data-zip-of-non-images", _train_data("{w}/notimage.zip"), "notimage.zip:train/cat/a.jpg: cannot decode image"),
    ("data-missing", _train_data("{w}/nothing.npz"), "nothing.npz"),
    ("table-binary", [*SEARCH, "--table", "{w}/binary.bin", "--out", "{w}/new"], "not a text (UTF-8)"),
    ("table-missing", [*SEARCH, "--table", "{w}/none.csv", "--out", "{w}/new"], "not found"),
    # ---- run directories ----
    ("resume-missing", ["search", "--resume", "{w}/none"], "does not exist"),
    ("resume-a-file", ["search", "--resume", "{w}/afile"], "not a run directory"),
    ("resume-a-supernet-run", ["search", "--resume", "{w}/sup"], "not a search run"),
    ("resume-corrupt-config", ["search", "--resume", "{w}/nb-badconfig"], "config"),
    ("resume-without-strategy-options", ["search", "--resume", "{w}/nb-noopts"], "strategy_options"),
    ("resume-budget-below-records", ["search", "--resume", "{w}/nb", "--budget", "2"], "below"),
    ("resume-record-of-another-space", ["search", "--resume", "{w}/nb-otherspace", "--quiet"], "another run"),
    ("resume-corrupt-strategy-state", ["search", "--resume", "{w}/nb-badstate"], "strategy_state.json"),
    ("resume-evaluations-is-a-folder", ["search", "--resume", "{w}/nb-evalsdir"], "evaluations.jsonl"),
    ("resume-changed-option", ["search", "--resume", "{w}/nb", "-o", "x=1"], "cannot change"),
    ("resume-another-evaluator", ["search", "--resume", "{w}/nb", "--evaluator", "supernet"],
     "--evaluator cannot change on --resume"),  # was silently ignored
    ("resume-evaluator-option", ["search", "--resume", "{w}/nb", "-E", "calibration_images=5"],
     "--evaluator-option cannot change on --resume"),
    ("resume-training-flags", ["search", "--resume", "{w}/nb", "--lr", "0.5", "--epochs", "3"],
     "--epochs, --lr cannot change on --resume"),
    ("resume-data-on-a-table-run", ["search", "--resume", "{w}/nb", "--data", "cifar10"],
     "--data does not apply to this run"),  # said "saved data None"
    ("out-is-a-file", [*SEARCH, "--out", "{w}/afile"], "not a directory"),
    ("out-under-a-file", [*SEARCH, "--out", "{w}/afile/run"], "cannot create"),
    ("out-is-a-run", [*SEARCH, "--out", "{w}/nb"], "already exists"),
    ("evaluate-table-run", ["evaluate", "--run", "{w}/nb", "--arch", "x"], "without a supernet"),
    ("export-table-run", ["export", "--run", "{w}/nb", "--out", "{w}/new.pt"], "no supernet"),
    ("export-over-a-run-file", ["export", "--run", "{w}/sup", "--arch", _arch(ZEROS), "--out", "{w}/sup/config.json",
                                "--overwrite"], "never replaces a run's own files"),
    ("export-arch-file-exists", ["export", "--run", "{w}/sup", "--arch", _arch(ZEROS), "--out", "{w}/best.pt"],
     "--out's architecture file"),  # best.arch.json is there: it was silently replaced
    ("export-out-directory", ["export", "--run", "{w}/sup", "--arch", _arch(ZEROS), "--out", "{w}"],
     "is a directory"),
    ("export-out-under-file", ["export", "--run", "{w}/sup", "--arch", _arch(ZEROS), "--out", "{w}/afile/x.pt"],
     "is a file"),
    ("runs-show-missing", ["runs", "show", "{w}/none"], "does not exist"),
    ("runs-compare-supernet", ["runs", "compare", "{w}/sup", "--out", "{w}/new.png"], "not a search run"),
    ("runs-list-a-file", ["runs", "list", "{w}/afile"], "not a directory"),
    # ---- nas scale ----
    ("scale-arch-without-multipliers", ["scale", "--arch", _arch([0] * 6, "nb201"), "--epochs", "1", "--out",
                                        "{w}/new"], "no width, depth or resolution"),
    ("scale-arch-of-another-space", ["scale", "--space", "mbconv", "--arch", _arch(ZEROS), "--epochs", "1",
                                     "--out", "{w}/new"], "not 'mbconv'"),
    ("scale-impossible-grid", ["scale", "--arch", _arch(ZEROS), "--width", "0.25", "--grid-step", "0.5",
                               "--grid-tolerance", "0.01", "--epochs", "1", "--out", "{w}/new"], "no (alpha"),
    ("scale-candidate-off-the-constraint", ["scale", "--arch", _arch(ZEROS), "--width", "0.25", "--candidate",
                                            "1,1.5,1", "--epochs", "1", "--out", "{w}/new"], "not within"),
    ("scale-candidate-of-a-missing-dimension", ["scale", "--arch", _arch(ZEROS), "--width", "0.25", "--candidate",
                                                "2,1,1", "--epochs", "1", "--out", "{w}/new"], "does not have"),
    ("scale-candidate-malformed", ["scale", "--arch", _arch(ZEROS), "--candidate", "1.2,1.1", "--out", "{w}/new"],
     "ALPHA,BETA,GAMMA"),
    ("scale-resume-a-search-run", ["scale", "--resume", "{w}/nb"], "not a scaling run"),
    ("retrain-resume-a-search-run", ["retrain", "--resume", "{w}/nb"], "not a retraining run"),
    ("scale-run-is-a-supernet", ["scale", "--run", "{w}/sup", "--epochs", "1", "--out", "{w}/new"],
     "not a search run"),
    # ---- predictor directories ----
    ("predictor-missing", ["predictor", "eval", "--predictor", "{w}/none", "--runs", "{w}/nb"], "not found"),
    ("predictor-truncated", ["predictor", "eval", "--predictor", "{w}/pred-trunc", "--runs", "{w}/nb"], "damaged"),
    ("predictor-malicious-pickle", ["predictor", "eval", "--predictor", "{w}/pred-evil", "--runs", "{w}/nb"],
     "corrupt"),
    ("predictor-weights-mismatch", ["predictor", "eval", "--predictor", "{w}/pred-mismatch", "--runs", "{w}/nb"],
     "do not fit"),
    ("predictor-bad-json", ["predictor", "eval", "--predictor", "{w}/pred-badjson", "--runs", "{w}/nb"],
     "not valid JSON"),
    ("predictor-weights-missing", ["predictor", "eval", "--predictor", "{w}/pred-noweights", "--runs", "{w}/nb"],
     "missing"),
    ("predictor-out-is-a-file", ["predictor", "train", "--space", "nb201", "--runs", "{w}/nb", "--out", "{w}/afile"],
     "is a file"),
    ("predictor-out-holds-a-predictor", ["predictor", "train", "--space", "nb201", "--runs", "{w}/nb", "--out",
                                         "{w}/pred"], "--overwrite"),
    ("predictor-runs-of-another-space", ["predictor", "train", "--space", "shufflenet", "--runs", "{w}/nb", "--out",
                                         "{w}/new-pred"], "nb201"),
    ("nao-with-truncated-predictor", [*SEARCH, "--strategy", "nao", "-o", "predictor={w}/pred-trunc", "--out",
                                      "{w}/new"], "damaged"),
]


def test_the_table_is_large_enough():
    assert len(CASES) >= 60 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(ws, argv, fragment, capsys):
    before = snapshot(ws)
    argv = [a.replace("{w}", str(ws)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("run directory:")]
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert fragment in lines[0], lines[0]
    assert snapshot(ws) == before
    assert not MARKER.exists()  # no pickle ever runs code


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4)
                    | st.dictionaries(st.sampled_from(["space", "choices", "arch", "hash", "x"]), children,
                                      max_size=4), max_leaves=20))
def test_random_json_never_escapes_as_anything_but_a_user_error(value):
    from nas.cli.arch_input import read_arch
    from search_spaces.nb201.space import NB201Space

    space = NB201Space()
    for text in (json.dumps(value), json.dumps({"space": "nb201", "choices": value}), str(value)):
        try:
            read_arch(text, space)
        except UserError:
            pass
