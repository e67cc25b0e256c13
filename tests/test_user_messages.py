"""What a newcomer with their own model meets first: each mistake is one line that names the fix,
said before anything expensive, and a failed start leaves nothing behind (issue 36's list)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

try:
    from tests.conftest import run_main
except ImportError:
    from conftest import run_main

REPO = Path(__file__).resolve().parents[1]

MODELS = '''
import torch
from torch import nn
from search_spaces.model_space import InputChoice, LayerChoice, ValueChoice


class Widths(nn.Module):
    """Candidates of one choice with different channel counts: a later layer fails on one of them."""
    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv = LayerChoice({"narrow": nn.Conv2d(in_channels, 8, 3), "wide": nn.Conv2d(in_channels, 16, 3)},
                                label="conv1")
        self.head = nn.Linear(8, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


class RawValue(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, ValueChoice([8, 16], label="width"), 3)

    def forward(self, x):
        return self.conv(x)


class TensorToInput(nn.Module):
    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.pick = InputChoice(2, label="skip")
        self.head = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        return self.head(self.pick(x).mean((1, 2)))


class Needs(nn.Module):
    def __init__(self, channels: int, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv = LayerChoice([nn.Conv2d(in_channels, channels, 3), nn.Conv2d(in_channels, channels, 5, padding=1)])
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


class Huge(nn.Module):
    """Two architectures; 4,000 channels is slow to run but quick to check on the meta device."""
    def __init__(self, channels: int = 8, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, channels, 3, padding=1)
        self.conv = LayerChoice([nn.Conv2d(channels, channels, 3, padding=1), nn.Conv2d(channels, channels, 5, padding=2)],
                                label="op")
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.head(self.conv(self.stem(x)).mean((2, 3)))


class Linear(nn.Module):
    """No activation anywhere: naswot has nothing to score."""
    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.conv = LayerChoice([nn.Conv2d(in_channels, 4, 3), nn.Conv2d(in_channels, 4, 5, padding=1)], label="op")
        self.head = nn.Linear(4, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))
'''


@pytest.fixture
def usermodels(tmp_path, monkeypatch):
    """A module of the user's models in the working directory, as a newcomer has it."""
    name = f"usermodels_{abs(hash(str(tmp_path))) % 10**8}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def error_of(argv, capsys) -> str:
    code, _ = run_main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err, "expected exit 2 with a message"
    assert "Traceback" not in "\n".join(err)
    return err[-1]


SEARCH = ["search", "--strategy", "random", "--evaluator", "zc", "--budget", "2", "--data", "cifar10-subset",
          "--quiet"]


def test_candidates_of_different_widths_are_named_not_a_matmul_error(usermodels, capsys):
    message = error_of([*SEARCH, "--space", f"{usermodels}:Widths"], capsys)
    assert "layer choice 'conv1': candidate wide gives" in message and "one shape" in message
    assert "mat1" not in message


def test_a_dotted_reference_suggests_module_colon_class(capsys):
    message = error_of([*SEARCH, "--space", "mynet.MyNet"], capsys)
    assert "unknown space 'mynet.MyNet' (for a class of your own, write package.module:Class: mynet:MyNet)" in message


def test_a_raw_value_choice_in_a_layer_says_to_map_it(usermodels, capsys):
    message = error_of([*SEARCH, "--space", f"{usermodels}:RawValue"], capsys)
    assert "a ValueChoice is a choice, not a number" in message and ".map(lambda v" in message


def test_an_input_choice_given_a_tensor_says_it_takes_a_list(usermodels, capsys):
    message = error_of([*SEARCH, "--space", f"{usermodels}:TensorToInput"], capsys)
    assert "input choice 'skip' takes a list of its 2 candidate inputs" in message and "not a Tensor" in message


def test_a_missing_constructor_argument_suggests_the_flag(usermodels, capsys):
    message = error_of([*SEARCH, "--space", f"{usermodels}:Needs"], capsys)
    assert "missing 1 required positional argument: 'channels'" in message and "-S channels=VALUE" in message


def test_a_module_not_found_suggests_where_to_run_from(capsys):
    message = error_of([*SEARCH, "--space", "no_such_usermodule:Net"], capsys)
    assert "run nas from the folder that holds no_such_usermodule(.py), or add that folder to PYTHONPATH" in message


def test_a_budget_beyond_the_space_is_said_before_a_huge_model_is_run(usermodels, capsys):
    started = time.perf_counter()
    message = error_of([*SEARCH, "--space", f"{usermodels}:Huge", "-S", "channels=4000", "--budget", "3"], capsys)
    assert "--budget 3 is more than the 2 architectures" in message
    assert time.perf_counter() - started < 30  # was 82 s: the shape check now runs on the meta device


def test_a_failed_zero_cost_start_leaves_nothing_and_the_rerun_is_not_blocked(usermodels, tmp_path, capsys):
    out = tmp_path / "zc-run"
    message = error_of([*SEARCH, "--space", f"{usermodels}:Linear", "-E", "proxy=naswot", "--out", str(out)], capsys)
    assert "naswot needs activation modules" in message
    assert not out.exists()
    again = error_of([*SEARCH, "--space", f"{usermodels}:Linear", "-E", "proxy=naswot", "--out", str(out)], capsys)
    assert "already" not in again and "naswot needs activation modules" in again


def test_darts_names_the_choice_it_cannot_weigh(capsys):
    message = error_of(["search", "--space", "examples.small_cnn:SmallCNN", "--strategy", "darts",
                        "--data", "cifar10-subset", "--quiet"], capsys)
    assert "choice 'stage0.depth' of examples.small_cnn:SmallCNN is a depth (Repeat)" in message


def test_a_closed_pipe_ends_quietly():
    """`nas runs show RUN | head -3`: head closes the pipe; nas stops without an error, as git does."""
    run = REPO / "runs" / "archived" / "shufflenet-cifar10-evolution"
    shown = subprocess.run(f"{sys.executable} -m nas runs show {run} --top 100 | head -3", shell=True,
                           capture_output=True, text=True, cwd=REPO)
    assert len(shown.stdout.splitlines()) == 3
    assert "error" not in shown.stderr and "Broken pipe" not in shown.stderr and "Exception" not in shown.stderr


def test_a_run_that_fails_after_opening_its_log_is_removed(tmp_path):
    """An empty evaluations.jsonl and TensorBoard's event files are no record: the directory goes."""
    from nas.archive import RunDir, run_dir

    out = tmp_path / "failed"
    run = RunDir.create(out, {"kind": "search", "space": "nb201", "strategy": "random"})
    (run.path / "evaluations.jsonl").write_text("")
    (run.path / "tensorboard").mkdir()
    (run.path / "tensorboard" / "events.out.tfevents.1").write_bytes(b"header")
    assert run_dir.discard_failed_starts() == [out] and not out.exists()
    kept = RunDir.create(tmp_path / "kept", {"kind": "search", "space": "nb201", "strategy": "random"})
    (kept.path / "evaluations.jsonl").write_text('{"arch": {}}\n')
    assert run_dir.discard_failed_starts() == [] and kept.path.exists()
