"""The core commands in-process (spaces, train-supernet, evaluate) and their user errors: exit status 2
and one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nas.cli.main import main

try:
    from tests.conftest import SUBSET, needs_subset
except ImportError:
    from conftest import SUBSET, needs_subset

REPO = Path(__file__).resolve().parents[1]
TRAIN = ["train-supernet", "--space", "shufflenet", "--width", "0.25", "--data", "cifar10-subset",
         "--val-size", "200", "--train-limit", "256", "--steps", "4", "--batch-size", "32", "--quiet"]
N_BLOCKS = 20


def cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit status, stdout, stderr of `nas ARGV` (argparse errors exit through SystemExit)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def assert_user_error(result: tuple[int, str, str], *fragments: str) -> None:
    code, _, err = result
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def arch_json(choices, space: str = "shufflenet") -> str:
    return json.dumps({"space": space, "choices": list(choices)})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A supernet trained for 4 steps by the CLI (shared by the evaluate tests; do not modify)."""
    if not SUBSET.is_file():
        pytest.skip("shared cifar10 subset not available")
    out = tmp_path_factory.mktemp("cli") / "run"
    code = main(TRAIN + ["--out", str(out)])
    assert code == 0
    return out


# ---- listing and help ------------------------------------------------------------------------------
def test_spaces_lists_shufflenet_with_its_size(capsys):
    code, out, _ = cli(["spaces"], capsys)
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("shufflenet"))
    assert f"{4 ** 20:.3e}" in line


@pytest.mark.parametrize("argv", [["--help"], ["spaces", "--help"], ["train-supernet", "--help"],
                                  ["evaluate", "--help"]])
def test_help_exits_zero(argv, capsys):
    code, out, _ = cli(argv, capsys)
    assert code == 0 and "usage:" in out


# ---- train-supernet ----------------------------------------------------------------------------------
@needs_subset
def test_train_supernet_writes_a_run_and_resumes(run_dir, capsys):
    assert {"config.json", "supernet.pt", "training.jsonl"} <= {p.name for p in run_dir.iterdir()}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["space"] == "shufflenet" and config["space_config"]["width"] == 0.25
    assert config["train"]["steps"] == 4 and config["data"]["train_limit"] == 256
    log = [json.loads(line) for line in (run_dir / "training.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 4

    checkpoint = (run_dir / "supernet.pt").read_bytes()
    code, out, err = cli(TRAIN + ["--out", run_dir], capsys)  # same options: resume, nothing to do
    assert code == 0, err
    assert "supernet trained" in out
    assert (run_dir / "supernet.pt").read_bytes() == checkpoint

    assert_user_error(cli([*TRAIN[:-3], "--lr", "0.3", "--quiet", "--out", run_dir], capsys),
                      "other settings")


# ---- evaluate ------------------------------------------------------------------------------------------
EVAL = ["--calibration-images", "64", "--val-images", "100"]


@needs_subset
def test_evaluate_prints_metrics_as_json(run_dir, capsys):
    arch = arch_json([0, 1, 2, 3] * 5)
    code, out, err = cli(["evaluate", "--run", run_dir, "--arch", arch, *EVAL, "--json", "--device", "cpu"],
                         capsys)
    assert code == 0, err
    result = json.loads(out)
    assert 0 <= result["val_acc"] <= 100 and result["flops"] > 0 and result["params"] > 0
    assert result["arch"] == json.loads(arch)


@needs_subset
@pytest.mark.parametrize("arch, fragment", [
    ('{"space": "shufflenet", "choices": [0, 1', "not valid JSON"),
    (arch_json([0] * (N_BLOCKS - 1)), "20 choices"),
    (arch_json([0] * (N_BLOCKS - 1) + [7]), "block_19"),
    (arch_json([0] * N_BLOCKS, space="nb201-or-other"), "belongs to space"),
    ('{"space": "shufflenet", "choices": "0000"}', "choices"),
    ("no/such/arch.json", "neither an architecture nor an existing file"),
])
def test_evaluate_rejects_bad_architectures(run_dir, arch, fragment, capsys):
    assert_user_error(cli(["evaluate", "--run", run_dir, "--arch", arch, *EVAL], capsys), fragment)


@needs_subset
def test_evaluate_rejects_corrupt_checkpoint_and_missing_run(run_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_bytes((run_dir / "config.json").read_bytes())
    (broken / "supernet.pt").write_bytes(b"\x00junk bytes, not a checkpoint" * 10)
    arch = arch_json([0] * N_BLOCKS)
    assert_user_error(cli(["evaluate", "--run", broken, "--arch", arch, *EVAL], capsys), "corrupt")
    assert_user_error(cli(["evaluate", "--run", tmp_path / "missing", "--arch", arch, *EVAL], capsys),
                      "does not exist")


# ---- bad inputs to train-supernet ------------------------------------------------------------------------
def _train_args(tmp_path: Path, **changes: str) -> list[str]:
    args = dict(zip(TRAIN[1:-1:2], TRAIN[2:-1:2]))
    args.update({f"--{k.replace('_', '-')}": v for k, v in changes.items()})
    return ["train-supernet", *[x for kv in args.items() for x in kv], "--quiet", "--out", str(tmp_path / "o")]


@needs_subset
def test_unknown_space_lists_the_valid_ones(tmp_path, capsys):
    assert_user_error(cli(_train_args(tmp_path, space="nope"), capsys), "nope", "shufflenet")


@pytest.mark.parametrize("option, value", [("steps", "0"), ("batch_size", "-1"), ("width", "0"),
                                           ("train_limit", "0"), ("steps", "three")])
def test_non_positive_sizes_are_refused(option, value, tmp_path, capsys):
    result = cli(_train_args(tmp_path, **{option: value}), capsys)
    assert_user_error(result, "--" + option.replace("_", "-"))
    assert not (tmp_path / "o").exists()


def test_missing_and_malformed_data(tmp_path, capsys):
    assert_user_error(cli(_train_args(tmp_path, data=str(tmp_path / "none.npz")), capsys), "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    assert_user_error(cli(_train_args(tmp_path, data=str(junk)), capsys), "junk.npz")
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((4, 8, 8, 3), np.uint8))
    assert_user_error(cli(_train_args(tmp_path, data=str(wrong)), capsys), "wrong.npz")


@needs_subset
def test_batch_larger_than_the_data_is_refused(tmp_path, capsys):
    assert_user_error(cli(_train_args(tmp_path, batch_size="512"), capsys), "batch size")


# ---- the installed entry point ---------------------------------------------------------------------------
def test_entry_point_exit_status_and_no_traceback(tmp_path):
    env = {**os.environ, "NAS_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("NAS_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "nas", "evaluate", "--run", str(tmp_path / "missing"),
                           "--arch", arch_json([0] * N_BLOCKS)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("nas evaluate: error:") and "does not exist" in proc.stderr


# ---- export round trips ---------------------------------------------------------------------------------
@needs_subset
def test_export_evaluate_export_round_trip_and_onnx(run_dir, tmp_path, capsys):
    """What `nas export` writes (`best.arch.json`, with hash and describe) is accepted back by
    `--arch`, as is the short form the tables print; the ONNX export runs like the PyTorch net."""
    import onnxruntime
    import torch

    from nas.workflows.export import load_exported

    choices = [0, 1, 2, 3] * 5
    first = tmp_path / "best.pt"
    code, out, err = cli(["export", "--run", run_dir, "--arch", arch_json(choices), "--calibration-images", "64",
                          "--out", first], capsys)
    assert code == 0, err
    arch_file = tmp_path / "best.arch.json"
    assert {"hash", "describe"} <= json.loads(arch_file.read_text()).keys()
    # the options that make this space differ from the default (not those the data sets: classes, size)
    assert json.loads(arch_file.read_text())["space_options"] == {"width": 0.25}
    code, out, err = cli(["evaluate", "--run", run_dir, "--arch", arch_file, *EVAL, "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["arch"]["choices"] == choices
    short = "shufflenet:" + "".join(map(str, choices))
    assert_user_error(cli(["export", "--run", run_dir, "--arch", short, "--out", first], capsys), "--overwrite")
    code, _, err = cli(["export", "--run", run_dir, "--arch", short, "--calibration-images", "64", "--overwrite",
                        "--out", first], capsys)
    assert code == 0, err
    model, arch, meta = load_exported(first)
    assert list(arch.choices) == choices and meta["preprocessing"]["input_size"] == 32

    onnx_file = tmp_path / "best.onnx"
    code, out, err = cli(["export", "--run", run_dir, "--arch", arch_file, "--calibration-images", "64",
                          "--format", "onnx", "--out", onnx_file], capsys)
    assert code == 0, err and "onnxruntime matches" in out
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": x.numpy()})
    with torch.no_grad():
        expected = model(x).numpy()
    assert logits.shape == (3, 10) and np.abs(logits - expected).max() < 1e-4


@needs_subset
def test_an_exported_architecture_file_rebuilds_its_space_in_retrain_and_scale(tmp_path):
    """The README's export -> retrain round trip failed on an 8-block run ("shufflenet architectures
    have 20 choices, got 8"): the exported file now carries its space options and both commands
    read them (-S on the command line still wins)."""
    from nas.cli.main import build_parser
    from nas.cli.retrain import job_from_archs
    from nas.cli.scale import base_from_args

    arch_file = tmp_path / "best.arch.json"
    arch_file.write_text(json.dumps({"space": "shufflenet", "choices": [3, 2, 1, 0, 0, 1, 2, 3],
                                     "space_options": {"stage_repeats": [2, 2, 2, 2], "width": 0.25}}))
    data = ["--data", "cifar10-subset", "--train-limit", "64", "--val-size", "16", "--epochs", "1"]

    def args(*argv):
        return build_parser(list(argv)).parse_args(list(argv))

    job = job_from_archs(args("retrain", "--arch", str(arch_file), *data, "--out", str(tmp_path / "r")))
    assert job.space_options["stage_repeats"] == [2, 2, 2, 2] and job.space_options["width"] == 0.25
    assert list(job.archs[0].choices) == [3, 2, 1, 0, 0, 1, 2, 3]
    job = job_from_archs(args("retrain", "--arch", str(arch_file), "--width", "0.5", *data, "--out",
                              str(tmp_path / "r")))
    assert job.space_options["width"] == 0.5
    name, space, arch, _, _ = base_from_args(args("scale", "--arch", str(arch_file), *data, "--out",
                                                  str(tmp_path / "s")))
    assert len(space.decisions) == 8 and space.config()["width"] == 0.25
