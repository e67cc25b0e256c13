"""One small registry type for spaces, strategies, evaluators and predictors.

A duplicate name is an error (a registry that silently overwrites hides bugs), and an unknown name
lists the valid ones. Registries import their provider packages lazily so `import nas` stays light.
Components come from three places: the built-in providers, installed packages that declare a
Python entry point in the registry's group (`nas.spaces`, `nas.strategies`, ...; loaded when first
named), and resolvers a provider adds (the spaces resolve `package.module:Class` references).
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import Any, Callable, Generic, Iterator, TypeVar

from nas_common.errors import UserError

T = TypeVar("T")


class UnknownName(UserError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, plural: str, providers: tuple[str, ...] = (), group: str | None = None) -> None:
        self.kind = kind
        self.plural = plural
        self._providers = providers
        self._group = group  # the entry-point group third-party packages register in
        self._entries: dict[str, T] = {}
        self._plugins: dict[str, importlib.metadata.EntryPoint] = {}
        self._resolvers: list[Callable[[str], T | None]] = []
        self._adapt: Callable[[str, Any], T] = lambda name, obj: obj
        self._loaded = False

    def add_resolver(self, resolve: Callable[[str], T | None]) -> None:
        """`resolve(name)` -> the component, or None when `name` is not its kind of name; asked
        for names nobody registered (a space's `package.module:Class` reference)."""
        self._resolvers.append(resolve)

    def set_adapter(self, adapt: Callable[[str, Any], T]) -> None:
        """How an entry point's object becomes a component (a model class becomes a space)."""
        self._adapt = adapt

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = obj
            return obj

        return add

    def remove(self, name: str) -> T:
        """Unregister `name` (a notebook redefining a component, a test cleaning up after itself)."""
        self._load_providers()
        if name not in self._entries:
            raise UnknownName(f"unknown {self.kind} {name!r}; nothing to remove")
        return self._entries.pop(name)

    def _load_providers(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._providers:
                importlib.import_module(module)
            if self._group:
                for point in importlib.metadata.entry_points(group=self._group):
                    if point.name not in self._entries:  # a built-in name wins over a plug-in's
                        self._plugins.setdefault(point.name, point)

    def _load_plugin(self, name: str) -> T:
        point = self._plugins.pop(name)
        try:
            obj = point.load()
        except Exception as err:  # a third-party package may fail in any way while importing
            raise UserError(f"the {self.kind} {name!r} of entry point {point.value!r} ({self._group}) does not "
                            f"load: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}") from None
        self._entries[name] = self._adapt(name, obj)
        return self._entries[name]

    def get(self, name: str) -> T:
        self._load_providers()
        if name in self._entries:
            return self._entries[name]
        if name in self._plugins:
            return self._load_plugin(name)
        for resolve in self._resolvers:
            found = resolve(name) if isinstance(name, str) else None
            if found is not None:
                return found
        valid = ", ".join(sorted([*self._entries, *self._plugins])) or "(none)"
        shown = repr(name) if len(str(name)) <= 40 else repr(str(name)[:37] + "...")
        hint = ""
        if self._resolvers and isinstance(name, str) and "." in name and ":" not in name:
            module, _, attribute = name.rpartition(".")
            hint = f" (for a class of your own, write package.module:Class: {module}:{attribute})"
        raise UnknownName(f"unknown {self.kind} {shown}{hint}; valid {self.plural}: {valid}")

    def names(self) -> list[str]:
        """Registered and plug-in names (references a resolver understands are not listed)."""
        self._load_providers()
        return sorted([*self._entries, *self._plugins])

    def __contains__(self, name: str) -> bool:
        self._load_providers()
        return name in self._entries or name in self._plugins

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


SPACES: Registry = Registry("space", "spaces", providers=("search_spaces",), group="nas.spaces")
STRATEGIES: Registry = Registry("strategy", "strategies", providers=("nas.strategies",), group="nas.strategies")
PREDICTORS: Registry = Registry("predictor", "predictors", providers=("predictors",), group="nas.predictors")
EVALUATORS: Registry = Registry("evaluator", "evaluators", providers=("nas.evaluate",), group="nas.evaluators")
TASKS: Registry = Registry("task", "tasks", providers=("nas.tasks",))
PROXIES: Registry = Registry("zero-cost proxy", "proxies", providers=("nas.proxies",))
# Methods that train a supernet their own way before the search loop (DARTS), named by a strategy's
# `trains_supernet`: the search asks the method, never the method's name (`nas.supernet.methods`).
TRAINING_METHODS: Registry = Registry("supernet-training method", "methods", providers=("nas.darts.method",))
