"""Shared helpers for the core tests: small spaces, tiny inputs, the bundled CIFAR-10 subset and one
briefly trained supernet that several files reuse (training it is the slowest thing we do)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
import torch

from nas.data import data_root, load_data
from nas_common.registry import SPACES
from nas.supernet.loading import make_space
from nas.supernet.train import SupernetTrainer, TrainConfig
from search_spaces.protocol import SearchSpace

# A rank check run by a test must not become what the user's own searches quote (nas.evaluate.known).
os.environ["NAS_KNOWN_RANKINGS"] = str(Path(tempfile.mkdtemp(prefix="nas-known-")) / "known_rankings.json")

SUBSET = data_root() / "cifar10" / "cifar10_subset_5k_1k.npz"
needs_subset = pytest.mark.skipif(not SUBSET.is_file(), reason="shared cifar10 subset not available")

# Options tried in order: the first one a space accepts wins (spaces without a width keep defaults).
SMALL_OPTIONS: tuple[dict[str, Any], ...] = (
    {"layout": "cpu", "width": 0.25, "input_size": 64},  # detnas
    {"width": 0.25, "input_size": 16},
    {"width": 0.25},
    {"channels": 4, "layers": 3, "input_size": 16},  # darts, binary cells
    {"input_size": 16},
    {},
)


def small_space(name: str) -> SearchSpace:
    factory = SPACES.get(name)
    for options in SMALL_OPTIONS:
        try:
            return factory(**options)
        except (TypeError, ValueError):
            continue
    raise AssertionError(f"space {name!r} cannot be built even with default options")


def input_shape(space: SearchSpace, batch: int = 2) -> tuple[int, ...]:
    cfg = space.config()
    size = int(cfg.get("input_size", 32))
    return (batch, int(cfg.get("in_channels", 3)), size, size)


def tiny_input(space: SearchSpace, batch: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(input_shape(space, batch), generator=torch.Generator().manual_seed(seed))


def flat_outputs(out: Any) -> list[torch.Tensor]:
    """A network's output tensors: one for a classifier, the floating tensors of a tuple
    (a detector's class logits, box deltas and anchors)."""
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for t in out if isinstance(t, torch.Tensor) and t.is_floating_point()]


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Bitwise equality of two state dicts (same keys, same values)."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


# ---- the CIFAR-10 subset and a briefly trained supernet ----------------------------------------
TRAINED_STEPS = 60
# 320 images (10 batches an epoch) and lr 0.1: over 60 steps each candidate sees the same images
# several times, so the loss falls clearly; on 1500 images at lr 0.05 it stays within noise of ln 10.
TRAINED_CONFIG = TrainConfig(steps=TRAINED_STEPS, batch_size=32, lr=0.1, augment=False, seed=0)


@pytest.fixture(scope="session")
def subset_data():
    if not SUBSET.is_file():
        pytest.skip("shared cifar10 subset not available")
    return load_data("cifar10-subset", val_size=500, train_limit=1500)


@pytest.fixture(scope="session")
def trained(subset_data, tmp_path_factory):
    """(space, supernet, per-step losses) after TRAINED_STEPS real SPOS steps at width 0.25.

    Tests must not modify the returned supernet: use `trained_copy`.
    """
    data = load_data("cifar10-subset", val_size=500, train_limit=320)
    space = make_space("shufflenet", data, {"width": 0.25})
    supernet = space.supernet(torch.Generator().manual_seed(0))
    trainer = SupernetTrainer(space, supernet, data, TRAINED_CONFIG, tmp_path_factory.mktemp("trained"))
    losses = [trainer.train_step(step)["loss"] for step in range(TRAINED_STEPS)]
    return space, supernet.eval(), losses


@pytest.fixture
def trained_copy(trained):
    space, supernet, _ = trained
    return space, copy.deepcopy(supernet)



# ---- one CPU thread for model tests ---------------------------------------------------------------
@pytest.fixture(scope="module")
def one_thread():
    """Run torch on one thread: on a shared 2-core machine, intra-op threads oversubscribe the cores
    and make tiny convolutions several times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_main(argv: list) -> tuple[int, str]:
    """(exit status, stdout) of `nas ARGV` run in this process."""
    from nas.cli.main import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, out.getvalue()


def read_jsonl(path: Path) -> list[dict]:
    """Every line of a JSONL file (a run's evaluations.jsonl, retrain.jsonl)."""
    return [json.loads(line) for line in Path(path).read_text().splitlines()]
