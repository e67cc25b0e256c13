"""Users' own models on users' own data: the data's shape reaches the model (grayscale, any size,
the number of classes), checked on every example and through the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nas.data import load_data
from nas.supernet.loading import make_space
from nas.tasks.classification import CLASSIFICATION
from nas_common.errors import UserError
from search_spaces.model_space import LayerChoice, SpaceDefinitionError, model_space

try:
    from tests.conftest import run_main
except ImportError:
    from conftest import run_main

EXAMPLES = [("examples.small_cnn:SmallCNN", {"channels": 4}), ("examples.cell_inputs:CellNet", {"channels": 4}),
            ("examples.nb201_model:NB201", {"channels": 4, "cells_per_stage": 1}),
            ("examples.nested_blocks:NestedNet", {"channels": 4})]


def write_digits(path, size: int = 28, channels: int = 1, classes: int = 10, count: int = 240):
    """A small user data set as an .npz: images whose class is the brightness of a square, so a
    network can learn it in a few steps; grayscale stored (N, H, W) as MNIST-like files are."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, classes, count + 60)
    x = rng.integers(0, 40, (count + 60, size, size, channels)).astype(np.uint8)
    for i, label in enumerate(y):
        x[i, size // 4: 3 * size // 4, size // 4: 3 * size // 4] += np.uint8(20 * label)
    if channels == 1:
        x = x[..., 0]
    np.savez(path, x_train=x[:count], y_train=y[:count], x_test=x[count:], y_test=y[count:])
    return path


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 32), (3, 20)], ids=["gray28", "colour32", "colour20"])
@pytest.mark.parametrize("reference, options", EXAMPLES, ids=[e[0].split(":")[1] for e in EXAMPLES])
def test_every_example_builds_for_the_data_shape(reference, options, channels, size, tmp_path):
    data = load_data(str(write_digits(tmp_path / "d.npz", size, channels, classes=7)), val_size=40)
    assert (data.channels, data.image_size) == (channels, size)
    space = make_space(reference, data, options, CLASSIFICATION)
    arch = space.sample(np.random.default_rng(0))
    supernet = space.supernet(torch.Generator().manual_seed(0)).eval()
    x = torch.rand(2, channels, size, size)
    with torch.no_grad():
        out = supernet(x, arch)
        alone = supernet.extract(arch).eval()(x)
    assert out.shape == (2, 7) and torch.allclose(out, alone, atol=1e-5)
    assert space.flops(arch) > 0


class Fixed1000(nn.Module):
    """A model that keeps ImageNet's 1,000 classes whatever the data."""

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(in_channels, 4, 3), LayerChoice([nn.ReLU(), nn.Tanh()], label="act"),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 1000))

    def forward(self, x):
        return self.body(x)


def test_a_model_that_ignores_the_number_of_classes_is_refused_naming_the_fix():
    with pytest.raises(SpaceDefinitionError, match="gives 1,000 outputs per image but the data has 10 classes; "
                                                   "take num_classes in its constructor"):
        model_space(Fixed1000)(num_classes=10, in_channels=1, input_size=28)
    model_space(Fixed1000)(num_classes=1000, in_channels=1, input_size=28)  # ImageNet's own: fine
    assert isinstance(SpaceDefinitionError("x"), UserError)


def test_a_grayscale_search_on_a_users_model_works_on_the_first_try(tmp_path):
    """The newcomer's path of the issue: a user's .npz of 28 x 28 grayscale digits, an example model
    with its default in_channels=3, no -S in_channels=1: search, export and reload."""
    digits = write_digits(tmp_path / "digits.npz")
    out = tmp_path / "run"
    code, report = run_main(["search", "--space", "examples.small_cnn:SmallCNN", "-S", "channels=4",
                             "--data", str(digits), "--strategy", "random", "--budget", "3", "--steps", "30",
                             "--batch-size", "32", "--random-baseline", "5", "--val-images", "30",
                             "--confirm-images", "20", "--calibration-images", "32", "--force", "--quiet",
                             "--out", out])
    assert code == 0, report
    config = json.loads((out / "supernet" / "config.json").read_text())
    assert config["space_config"]["in_channels"] == 1 and config["space_config"]["input_size"] == 28
    assert run_main(["export", "--run", out, "--out", tmp_path / "best.pt", "--calibration-images", "32"])[0] == 0
    from nas.workflows.export import load_exported

    model, _, _ = load_exported(tmp_path / "best.pt")
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    # retrain the exported architecture alone on the same digits: no flip for them, no workaround
    code, printed = run_main(["retrain", "--arch", tmp_path / "best.arch.json", "--data", str(digits), "--epochs", "1",
                              "--batch-size", "32", "--workers", "1", "--out", tmp_path / "retrained"])
    assert code == 0, printed
    trained = [json.loads(line) for line in (tmp_path / "retrained" / "retrain.jsonl").read_text().splitlines()]
    assert len(trained) == 1 and 0 <= trained[0]["metrics"]["val_acc"] <= 100
    assert json.loads((tmp_path / "retrained" / "config.json").read_text())["train"]["augment"] == "crop"


def test_the_api_searches_grayscale_digits_as_the_command_line_does(tmp_path):
    import nas.api as api
    from examples.small_cnn import SmallCNN

    digits = write_digits(tmp_path / "digits.npz", size=20)
    result = api.search(SmallCNN, "random", data=str(digits), budget=2, steps=10, batch_size=32, val_images=30,
                        confirm_images=20, calibration_images=32, random_baseline=5, force=True,
                        space_options={"channels": 4}, out=tmp_path / "api")
    assert result.best.readable.startswith("stage0.kernel=")
    # 240 training images, a tenth validation (24), no spare ones: confirmation takes at most half of them
    assert result.verdict["splits"]["confirmation"]["images"] == 12
    model = result.model()
    assert model(torch.rand(3, 1, 20, 20)).shape == (3, 10)


def test_augmentation_is_decided_by_the_data_and_a_crop_never_mirrors():
    from nas.data import DataConfig, DetectionDataConfig, default_augmentation
    from nas.data.batches import augment_batch, augmentation

    assert default_augmentation(DataConfig("cifar10")) == "flip-crop"  # the bundled photos
    assert default_augmentation(DataConfig("digits.npz")) == "crop"  # a user's: a mirrored 7 is no 7
    assert default_augmentation(DetectionDataConfig()) == "flip"  # boxes are mirrored with the image
    assert augmentation(True) == "flip-crop" and augmentation(False) == "none"  # configs saved before
    with pytest.raises(ValueError, match="augment must be one of flip-crop, crop, flip, none"):
        augmentation("rotate")
    x = torch.arange(1, 9, dtype=torch.float32).repeat(64, 1, 8, 1)  # every row reads 1..8 left to right

    def mirrored(batch: torch.Tensor) -> torch.Tensor:  # per image: does some row read right to left?
        rows = batch[:, 0]
        steps = [(b[b > 0][1:] - b[b > 0][:-1]) for row in rows for b in row]
        return torch.tensor([bool((s < 0).any()) for s in steps]).view(64, 8).any(1)

    crop = augment_batch(x, torch.Generator().manual_seed(0), crop=True, flip=False)
    both = augment_batch(x, torch.Generator().manual_seed(0), crop=True, flip=True)
    flip = augment_batch(x, torch.Generator().manual_seed(0), crop=False, flip=True)
    assert not mirrored(crop).any() and mirrored(both).any() and mirrored(flip).any()
    assert not torch.equal(crop, x) and ((flip == x).flatten(1).all(1) | (flip == x.flip(-1)).flatten(1).all(1)).all()


def test_the_plan_line_and_the_config_say_the_augmentation(tmp_path, capsys):
    from nas.cli.main import main

    digits = write_digits(tmp_path / "digits.npz")
    out = tmp_path / "run"
    assert main(["search", "--space", "examples.small_cnn:SmallCNN", "-S", "channels=4", "--data", str(digits),
                 "--strategy", "random", "--budget", "1", "--steps", "2", "--batch-size", "16", "--val-images", "20",
                 "--confirm-images", "10", "--calibration-images", "16", "--random-baseline", "5", "--force",
                 "--out", str(out)]) == 0
    assert "train the supernet (2 steps, augmentation crop)" in capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["train"]["augment"] == "crop"
    with pytest.raises(SystemExit):
        main(["search", "--space", "nb201", "--strategy", "random", "--augment", "rotate"])


# ---- readable architectures --------------------------------------------------------------------
def test_every_space_reads_an_architecture_and_takes_it_back_by_its_labels():
    from nas_common.registry import SPACES

    spaces = {"shufflenet": {"stage_repeats": [2, 2, 2, 2]}, "nb201": {}, "mbconv": {}, "darts": {}, "binary": {},
              "detnas": {}, "examples.small_cnn:SmallCNN": {"channels": 4}}
    for name, options in spaces.items():
        space = SPACES.get(name)(**options)
        arch = space.sample(np.random.default_rng(1))
        assert space.from_labels(dict(space.describe(arch))) == arch, name
        assert space.readable(arch) and "\n" not in space.readable(arch)
    nb201 = SPACES.get("nb201")()
    arch = nb201.sample(np.random.default_rng(0))
    assert nb201.readable(arch) == nb201.to_string(arch)  # the benchmark's own notation
    shufflenet = SPACES.get("shufflenet")(stage_repeats=[2, 2, 2, 2])
    assert shufflenet.readable(shufflenet.from_labels({f"block_{i}": "shuffle3x3" for i in range(8)})) \
        == "3x3 3x3 | 3x3 3x3 | 3x3 3x3 | 3x3 3x3"
    with pytest.raises(UserError, match="has no option 'shuffle9x9'; its options: shuffle3x3"):
        shufflenet.from_labels({**{f"block_{i}": "shuffle3x3" for i in range(8)}, "block_0": "shuffle9x9"})
    with pytest.raises(UserError, match="choose an option for 'block_7' too"):
        shufflenet.from_labels({f"block_{i}": "shuffle3x3" for i in range(7)})


def test_a_user_builds_their_model_for_one_architecture_before_searching():
    import nas.api as api

    space = api.space("examples.small_cnn:SmallCNN", channels=4, in_channels=1, input_size=28)
    labels = [d.label for d in space.decisions]
    assert labels[:3] == ["stage0.kernel", "stage0.width", "stage0.depth"]
    arch = space.from_labels({"stage0.kernel": 5, "stage0.width": 8, "stage0.depth": 2,
                              "stage1.kernel": 3, "stage1.width": 16, "stage1.depth": 1})
    model = space.build(arch)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    assert "Conv2d(1, 4" in str(model)  # the user's own module, one input channel
    with pytest.raises(SpaceDefinitionError, match=r"nas.api.space\(MyNet\).build\(arch\)"):
        from examples.small_cnn import SmallCNN

        SmallCNN()


def test_runs_show_the_search_table_and_the_api_read_architectures_by_name(tmp_path, capsys):
    import nas.api as api
    from nas.cli.main import main

    out = tmp_path / "nb"
    assert main(["search", "--space", "nb201", "--evaluator", "table", "--strategy", "random", "--budget", "5",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    result = api.load(out)
    best = result.best
    assert best.readable.startswith("|") and best.readable in printed  # the search's own table
    assert set(best.labels) == {"edge_1<-0", "edge_2<-0", "edge_2<-1", "edge_3<-0", "edge_3<-1", "edge_3<-2"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["best_readable"] == best.readable and summary["best_labels"] == best.labels
    assert main(["runs", "show", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "choices" in shown and best.readable in shown
