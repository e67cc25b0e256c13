"""docs/extending.md, executed: its code blocks add a space, a strategy and an evaluator, and run a
search with the three. If the page goes stale, these tests fail."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from nas_common.registry import EVALUATORS, SPACES, STRATEGIES
from search_spaces.protocol import Supernet

PAGE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


@pytest.fixture(scope="module")
def page():
    """The page's namespace after running its code blocks in order; its components are unregistered
    afterwards, so no other test sees them."""
    blocks = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    assert len(blocks) == 4, "the page has one block per section"
    module = types.ModuleType("docs_extending")  # a real module: dataclasses look their module up
    sys.modules[module.__name__] = module
    try:
        for block in blocks:
            exec(compile(block, str(PAGE), "exec"), module.__dict__)
        yield module.__dict__
    finally:
        del sys.modules[module.__name__]
        for registry, name in ((SPACES, "tiny"), (STRATEGIES, "hillclimb"), (EVALUATORS, "param_count")):
            if name in registry:
                registry.remove(name)


def test_the_page_search_finds_the_largest_network(page):
    """Six trials of the hill climber on 8 architectures, scored by parameter count: the best is
    the all-5x5 network, the space's largest."""
    space, outcome = page["TinySpace"](layers=3), page["outcome"]
    best = outcome.summary["best"]
    assert tuple(best["arch"]["choices"]) == (1, 1, 1)
    largest = max((space.params(a), a) for a in (space.sample(np.random.default_rng(s)) for s in range(64)))
    assert best["metrics"]["params_k"] == pytest.approx(largest[0] / 1000)
    assert len(outcome.records) == 6 and len({r["arch_hash"] for r in outcome.records}) == 6


def test_the_page_space_keeps_the_supernet_contract(page):
    space = page["TinySpace"](layers=3)
    supernet = space.supernet(torch.Generator().manual_seed(0))
    assert isinstance(supernet, Supernet)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    supernet.eval()
    for seed in range(4):
        arch = space.sample(np.random.default_rng(seed))
        assert supernet.path_state(arch).keys() == space.build(arch).state_dict().keys()
        net = supernet.extract(arch).eval()
        torch.testing.assert_close(net(x), supernet(x, arch))
        assert all(a.data_ptr() != b.data_ptr() for a, b in zip(net.state_dict().values(),
                                                                  supernet.path_state(arch).values()))


def test_the_page_components_are_found_by_name_and_resume(page, tmp_path):
    from nas.archive import RunDir
    from nas.strategies import make_strategy
    from nas.workflows.search import execute

    space = SPACES.get("tiny")(layers=3)
    a = make_strategy("hillclimb", space, budget=5, seed=3, options={"start": 1})
    b = make_strategy("hillclimb", space, budget=5, seed=3, options={"start": 1})
    assert [t.arch for t in a.ask(1)] == [t.arch for t in b.ask(1)]  # the seed fixes the draws
    run = RunDir.open(page["out"])
    again = execute(run, quiet=True)  # the finished run: nothing evaluated twice
    assert [r["arch_hash"] for r in again.records] == [r["arch_hash"] for r in page["outcome"].records]


def test_registry_remove_refuses_an_unknown_name():
    from nas_common.errors import UserError

    with pytest.raises(UserError, match="nothing to remove"):
        SPACES.remove("no-such-space")
