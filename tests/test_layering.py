"""Who knows whom (README "Architecture", ../shared/DESIGN.md), checked on the import statements of
every module, module-level and function-level alike: a forbidden import fails here, not in review."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("nas_common", "search_spaces", "predictors", "nas")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}


def _offenders(importers: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    def within(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return sorted(f"{mod} imports {name}" for mod, names in IMPORTS.items()
                  if within(mod, (importers,)) and not within(mod, allowed)
                  for name in names if within(name, forbidden))


@pytest.mark.parametrize("importers, forbidden, allowed", [
    # Ray lives in nas.distributed only: everything else runs (and is tested) without a cluster.
    ("nas", ("ray",), ("nas.distributed",)),
    ("search_spaces", ("ray",), ()),
    ("predictors", ("ray",), ()),
    # Spaces know torch and the protocol, nothing of the engine.
    ("search_spaces", ("nas", "predictors"), ()),
    # Predictors know spaces and the archive format; strategies use predictors, not the reverse.
    ("predictors", ("nas.strategies", "nas.distributed", "nas.cli", "nas.search", "nas.runner"), ()),
    # The neutral package imports none of the layers that use it.
    ("nas_common", ("nas", "search_spaces", "predictors"), ()),
    # Strategies know architectures and the space protocol: no supernet, data, evaluator or Ray.
    ("nas.strategies", ("nas.supernet", "nas.data", "nas.evaluate", "nas.distributed", "torch.utils.data"), ()),
    # Nothing imports the CLI.
    ("nas", ("nas.cli",), ("nas.cli", "nas.__main__")),
])
def test_forbidden_imports(importers, forbidden, allowed):
    assert _offenders(importers, forbidden, allowed) == []


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "nas" and len(parts) > 1 else parts[0]


def test_no_import_cycles_between_packages():
    """Subpackages (nas.supernet, nas.evaluate, nas.retrain, predictors, ...) form a DAG."""
    graph = nx.DiGraph()
    for mod, names in IMPORTS.items():
        for name in names:
            target = name
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and _package(target) != _package(mod) and not mod.startswith(target + "."):
                graph.add_edge(_package(mod), _package(target))
    assert sorted(nx.simple_cycles(graph)) == []


def test_the_check_sees_function_level_imports():
    """A lazy import counts: the rule is about who knows whom, not about import time."""
    assert "ray" in IMPORTS["nas.distributed.cluster"] or any(
        n == "ray" or n.startswith("ray.") for n in IMPORTS["nas.distributed.executor"])
