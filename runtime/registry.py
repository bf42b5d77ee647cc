"""One registration style for everything selected by name in a config: methods (``method=tcgl``), backbones
(``backbone=r3d``) and protocols (``protocols=[linear,svm]``).

A :class:`Registry` maps names to classes or factories. Entries register themselves with the decorator
``@REGISTRY.register("name")`` in their own module; the registry imports every module of its package on first use,
so a new entry is one module (plus its config file) and nothing else is edited.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Name -> entry, discovered from the modules of ``package`` (``skip``: module names not to import)."""

    def __init__(
        self,
        kind: str,
        package: str,
        check: Callable[[str, T], None] | None = None,
        skip: Iterable[str] = (),
        set_name: bool = False,
    ):
        """``check(name, entry)`` may refuse an entry (raise); ``set_name``: a registered class gets ``name``."""
        self.kind, self.package, self._check, self._skip, self._set_name = kind, package, check, set(skip), set_name
        self._entries: dict[str, T] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated class or factory under ``name``."""

        def deco(entry: T) -> T:
            if self._check is not None:
                self._check(name, entry)
            other = self._entries.get(name)
            if other is not None and getattr(other, "__qualname__", None) != getattr(entry, "__qualname__", None):
                raise ValueError(
                    f"{self.kind} name {name!r} already registered by {other.__module__}.{other.__qualname__}"
                )
            if self._set_name:
                entry.name = name
            self._entries[name] = entry
            return entry

        return deco

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_") and mod.name not in self._skip:
                importlib.import_module(f"{self.package}.{mod.name}")

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a test's temporary entry); a name not registered is ignored."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        self._discover()
        try:
            return self._entries[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; valid names: {', '.join(self.names())}") from None

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._entries
