"""One small registry type for spaces, strategies, evaluators and predictors.

A duplicate name is an error (a registry that silently overwrites hides bugs), and an unknown name
lists the valid ones. Registries import their provider packages lazily so `import nas` stays light.
"""

from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, TypeVar

from nas_common.errors import UserError

T = TypeVar("T")


class UnknownName(UserError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str, plural: str, providers: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.plural = plural
        self._providers = providers
        self._entries: dict[str, T] = {}
        self._loaded = False

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

    def get(self, name: str) -> T:
        self._load_providers()
        try:
            return self._entries[name]
        except KeyError:
            valid = ", ".join(sorted(self._entries)) or "(none)"
            shown = repr(name) if len(str(name)) <= 40 else repr(str(name)[:37] + "...")
            raise UnknownName(f"unknown {self.kind} {shown}; valid {self.plural}: {valid}") from None

    def names(self) -> list[str]:
        self._load_providers()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._load_providers()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


SPACES: Registry = Registry("space", "spaces", providers=("search_spaces",))
STRATEGIES: Registry = Registry("strategy", "strategies", providers=("nas.strategies",))
PREDICTORS: Registry = Registry("predictor", "predictors", providers=("predictors",))
EVALUATORS: Registry = Registry("evaluator", "evaluators", providers=("nas.evaluate",))
TASKS: Registry = Registry("task", "tasks", providers=("nas.tasks",))
PROXIES: Registry = Registry("zero-cost proxy", "proxies", providers=("nas.proxies",))
# Methods that train a supernet their own way before the search loop (DARTS), named by a strategy's
# `trains_supernet`: the search asks the method, never the method's name (`nas.supernet.methods`).
TRAINING_METHODS: Registry = Registry("supernet-training method", "methods", providers=("nas.darts.method",))
