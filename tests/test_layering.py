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


def _imports_of(source: str, module: str, is_package: bool = False) -> set[str]:
    """Every name `source` (the module `module`) imports, at any depth (function-level imports
    included: the rules are about who knows whom, not import time), relative imports resolved."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # `from . import x`, `from ..pkg import y`: relative to this module's package
                parts = module.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            if base:
                names.add(base)
                names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _imports(path: Path) -> set[str]:
    parts = path.relative_to(ROOT).with_suffix("").parts
    module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    return _imports_of(path.read_text(), module, is_package=parts[-1] == "__init__")


IMPORTS = {name: _imports(path) for name, path in MODULES.items()}
BENCH = {f"bench.{path.stem}": _imports(path) for path in (ROOT / "bench").glob("*.py")}


def _offenders(importers: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (),
               imports: dict[str, set[str]] = IMPORTS) -> list[str]:
    def within(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return sorted(f"{mod} imports {name}" for mod, names in imports.items()
                  if within(mod, (importers,)) and not within(mod, allowed)
                  for name in names if within(name, forbidden))


RULES = [
    # Ray lives in nas.distributed only: everything else runs (and is tested) without a cluster.
    ("nas", ("ray",), ("nas.distributed",)),
    ("search_spaces", ("ray",), ()),
    ("predictors", ("ray",), ()),
    # Spaces know torch and the protocol, nothing of the engine.
    ("search_spaces", ("nas", "predictors"), ()),
    # Predictors know spaces and the archive format; strategies use predictors, not the reverse.
    ("predictors", ("nas.strategies", "nas.distributed", "nas.cli", "nas.workflows.search", "nas.workflows.runner"), ()),
    # The neutral package imports none of the layers that use it.
    ("nas_common", ("nas", "search_spaces", "predictors"), ()),
    # Strategies know architectures and the space protocol: no supernet, data, evaluator or Ray.
    ("nas.strategies", ("nas.supernet", "nas.data", "nas.evaluate", "nas.distributed", "torch.utils.data"), ()),
    # Nothing imports the CLI.
    ("nas", ("nas.cli",), ("nas.cli", "nas.__main__")),
    # Evaluators, training and DARTS's trainer know no strategy: DARTS's settings live in nas.darts.
    ("nas.evaluate", ("nas.strategies",), ()),
    ("nas.supernet", ("nas.strategies",), ()),
    ("nas.darts", ("nas.strategies",), ()),
    ("nas.data", ("nas.strategies", "nas.evaluate", "nas.supernet", "nas.workflows.search"), ()),
    # DARTS is reached through the training-method hook (nas.supernet.methods), never by name.
    ("nas", ("nas.darts",), ("nas.darts", "nas.strategies.darts")),
    # The Python API is a top layer beside the CLI: the CLI calls it, the engine never does.
    ("nas", ("nas.api",), ("nas.api", "nas.cli")),
    # Constraints know the space protocol; strategies, the baseline and the config read them.
    ("nas.constraints", ("nas.strategies", "nas.evaluate", "nas.supernet", "nas.workflows"), ()),
    # The dashboard reads runs (the archive, the judging's words); only the CLI starts it.
    ("nas", ("nas.ui",), ("nas.ui", "nas.cli")),
    ("nas.ui", ("nas.workflows", "nas.supernet", "nas.evaluate", "nas.distributed", "ray"), ()),
]


@pytest.mark.parametrize("importers, forbidden, allowed", RULES)
def test_forbidden_imports(importers, forbidden, allowed):
    assert _offenders(importers, forbidden, allowed) == []


@pytest.mark.parametrize("importers, forbidden, allowed", RULES)
def test_each_rule_fails_on_a_planted_violation(importers, forbidden, allowed):
    """A rule that cannot fail protects nothing: a made-up module inside `importers` (and outside
    what the rule allows) importing each forbidden name is reported."""
    planted = f"{importers}.planted_violation"
    for name in forbidden:
        imports = {**IMPORTS, planted: {f"{name}.anything"}}
        assert _offenders(importers, forbidden, allowed, imports) == [f"{planted} imports {name}.anything"]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "nas" and len(parts) > 1 else parts[0]


def _module_edges(imports: dict[str, set[str]] = IMPORTS):
    """(importer, imported module) for every import that names a module of the repository."""
    known = set(MODULES) | set(imports)
    for mod, names in imports.items():
        for name in names:
            target = name
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != mod and not mod.startswith(target + "."):
                yield mod, target


def _cycles(imports: dict[str, set[str]] = IMPORTS, *, within_packages: bool) -> list[list[str]]:
    edges = [(a, b) for a, b in _module_edges(imports) if (_package(a) == _package(b)) == within_packages]
    graph = nx.DiGraph(edges if within_packages else [(_package(a), _package(b)) for a, b in edges])
    return sorted(nx.simple_cycles(graph))


def _cli_imports_in_bench(bench: dict[str, set[str]] = BENCH) -> list[str]:
    return sorted(f"{mod} imports {name}" for mod, names in bench.items()
                  for name in names if name == "nas.cli" or name.startswith("nas.cli."))


def test_no_import_cycles_between_packages():
    """Subpackages (nas.supernet, nas.evaluate, nas.workflows, predictors, ...) form a DAG."""
    assert _cycles(within_packages=False) == []


def test_the_check_sees_function_level_imports():
    """A lazy import counts: the rule is about who knows whom, not about import time."""
    assert "ray" in IMPORTS["nas.distributed.cluster"] or any(
        n == "ray" or n.startswith("ray.") for n in IMPORTS["nas.distributed.executor"])


def test_benchmarks_run_the_cli_as_a_user_does_and_never_import_it():
    offenders = sorted(f"{mod} imports {name}" for mod, names in BENCH.items()
                       for name in names if name == "nas.cli" or name.startswith("nas.cli."))
    assert offenders == []


def test_no_import_cycles_between_modules_of_a_package():
    """Inside a package too, modules form a DAG (function-level imports count)."""
    assert _cycles(within_packages=True) == []


def test_the_import_reader_sees_function_level_and_relative_imports():
    """The reader itself, on a made-up module: a check that ignored lazy or relative imports would
    pass every rule above while missing exactly the imports that hide."""
    source = ("import os\n"
              "def lazy():\n    from nas.cli.main import main\n    import ray\n"
              "class K:\n    def m(self):\n        from . import sibling\n        from ..evaluate import table\n")
    names = _imports_of(source, "nas.strategies.example")
    assert {"os", "ray", "nas.cli.main", "nas.cli.main.main"} <= names
    assert {"nas.strategies", "nas.strategies.sibling", "nas.evaluate", "nas.evaluate.table"} <= names
    assert "nas.package.x" in _imports_of("from .x import y", "nas.package", is_package=True)

def _attribute_probes(root: Path) -> list[str]:
    """Every `hasattr(x, ...)` and `getattr(x, "name", ...)` outside the protocol module, except on
    argparse namespaces (each command defines its own flags), OS errors (`strerror`) and dunders."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.as_posix().endswith("search_spaces/protocol.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("hasattr", "getattr") and len(node.args) >= 2):
                continue
            target, name = node.args[0], node.args[1]
            if node.func.id == "getattr" and not isinstance(name, ast.Constant):
                continue  # a dataclass's own fields by name, not a probe
            literal = name.value if isinstance(name, ast.Constant) else ""
            if (isinstance(target, ast.Name) and target.id in ("args", "err")) or literal.startswith("__"):
                continue
            found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("package", ["nas", "search_spaces", "predictors", "nas_common"])
def test_capabilities_are_declared_not_probed(package):
    """Optional capabilities are runtime-checkable protocols (search_spaces.protocol) or declared
    class attributes, never `hasattr`/`getattr` sniffing: a newcomer sees what a space may offer."""
    assert _attribute_probes(ROOT / package) == []


def test_the_probe_check_finds_a_planted_probe(tmp_path):
    (tmp_path / "planted.py").write_text("def f(space, args):\n    getattr(args, 'x', None)\n"
                                         "    return hasattr(space, 'parts') or getattr(space, 'graph', None)\n")
    assert len(_attribute_probes(tmp_path)) == 2


def test_the_cycle_and_bench_checks_fail_on_planted_violations():
    between = {**IMPORTS, "predictors.planted": {"nas.evaluate.table"}, "nas.evaluate.planted": {"predictors.planted"}}
    assert _cycles(between, within_packages=False) != []
    inside = {**IMPORTS, "nas.archive.planted_a": {"nas.archive.planted_b"},
              "nas.archive.planted_b": {"nas.archive.planted_a.thing"}}
    assert [sorted(c) for c in _cycles(inside, within_packages=True)] == [["nas.archive.planted_a", "nas.archive.planted_b"]]
    assert _cli_imports_in_bench({"bench.planted": {"nas.cli.main"}}) == ["bench.planted imports nas.cli.main"]


# ---- strategies: ask/tell, a narrow base, hooks as the only contract -------------------------------
MAX_BASE_MEMBERS = 12  # ask, tell, done, history, state and the few capabilities (issue 38)


def _classes(sources: dict[str, str]) -> dict[str, tuple[list[str], set[str], list[tuple[str, int, str]]]]:
    """class name -> (base names, the private names it defines, its private reads via self/super())."""
    out = {}
    for path, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.ClassDef):
                continue
            bases = [b.id if isinstance(b, ast.Name) else ast.unparse(b) for b in node.bases]
            defined, reads = set(), []
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    defined.add(item.name)
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    targets = item.targets if isinstance(item, ast.Assign) else [item.target]
                    defined |= {t.id for t in targets if isinstance(t, ast.Name)}
            for sub in ast.walk(node):
                if not isinstance(sub, ast.Attribute) or not sub.attr.startswith("_") or sub.attr.startswith("__"):
                    continue
                on_self = isinstance(sub.value, ast.Name) and sub.value.id == "self"
                on_super = (isinstance(sub.value, ast.Call) and isinstance(sub.value.func, ast.Name)
                            and sub.value.func.id == "super")
                if on_self and isinstance(sub.ctx, ast.Store):
                    defined.add(sub.attr)
                elif on_self or on_super:
                    reads.append((sub.attr, sub.lineno, "super()" if on_super else "self"))
            out[node.name] = (bases, defined, [(a, line, f"{path}:{line}") for a, line, _ in reads])
    return out


def _private_reads_from_bases(sources: dict[str, str]) -> list[str]:
    """Reads of a private name (`self._x`, `super()._x`) that an ancestor defines and the class itself
    does not: a subclass reaching into its base class instead of using its public members."""
    classes = _classes(sources)

    def ancestors(name: str) -> set[str]:
        found, todo = set(), list(classes[name][0])
        while todo:
            base = todo.pop()
            if base in classes and base not in found:
                found.add(base)
                todo += classes[base][0]
        return found

    offences = []
    for name, (_, defined, reads) in classes.items():
        inherited = set().union(*(classes[a][1] for a in ancestors(name)))
        offences += [f"{where}: {name} reads {attr}" for attr, _, where in reads
                     if attr in inherited and attr not in defined]
    return sorted(offences)


def _strategy_sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "nas" / "strategies").glob("*.py"))}


def test_strategies_read_their_base_only_through_public_members():
    assert _private_reads_from_bases(_strategy_sources()) == []


def test_the_private_read_check_finds_planted_reads():
    planted = ("class Base:\n    def __init__(self):\n        self._told = []\n    def _ask(self):\n        pass\n"
               "class Mine(Base):\n    def _ask(self):\n        return self._told\n"
               "class Deeper(Mine):\n    def go(self):\n        return super()._ask()\n")
    assert [o.split(": ", 1)[1] for o in _private_reads_from_bases({"planted.py": planted})] == [
        "Deeper reads _ask", "Mine reads _told"]


def test_the_strategy_base_class_stays_narrow():
    """Public methods and properties of `Strategy`: everything a runner, a report or a subclass may
    call. Options, the space and the composed helpers are attributes, not counted."""
    from nas.strategies.base import Strategy

    public = sorted(n for n, v in vars(Strategy).items()
                    if not n.startswith("_") and (callable(v) or isinstance(v, property)))
    assert len(public) <= MAX_BASE_MEMBERS, public
