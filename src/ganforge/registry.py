"""A small name -> entry registry for datasets, models, losses, metrics, presets and loggers.

A registry may name an entry-point group (``ganforge.models``, ...): installed packages that declare
entry points in that group add entries the first time the registry is read, so a plugin's model shows
up in ``--help``, in ``ganforge data list`` and in name checks without any edit to ganforge. An entry
point's name is the registered name and its object is the entry itself::

    [project.entry-points."ganforge.models"]
    tiny = "my_package.models:TINY_FAMILY"
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, ItemsView, Iterator, ValuesView
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from ganforge.errors import GanforgeError, did_you_mean

T = TypeVar("T")

PLUGIN_PREFIX = "ganforge."  # entry-point groups are ganforge.<kind>s, e.g. ganforge.models


class Registry(Generic[T]):
    """Maps names to entries; unknown names raise a GanforgeError listing the valid ones."""

    def __init__(self, kind: str, plugin_group: str | None = None) -> None:
        self.kind = kind
        self.plugin_group = plugin_group
        self._entries: dict[str, T] = {}
        self._plugins_loaded = plugin_group is None
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T] | T:
        """Register ``entry`` under ``name``; usable as a decorator when ``entry`` is omitted."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return add if entry is None else add(entry)

    def unregister(self, name: str) -> T:
        """Remove and return an entry registered at runtime (a plugin or a test undoing its registration)."""
        entry = self.get(name)
        del self._entries[name]
        return entry

    def _load_plugins(self) -> None:
        """Register the entries installed packages declare; a broken plugin is a warning, not a crash."""
        if self._plugins_loaded or self.plugin_group is None:  # no group: no plugins to look for
            return
        self._plugins_loaded = True
        for point in entry_points(group=self.plugin_group):
            if point.name in self._entries:
                warnings.warn(f"plugin {self.kind} '{point.name}' from {point.value} is ignored: ganforge "
                              f"already has a {self.kind} of that name", stacklevel=2)
                continue
            try:
                self._entries[point.name] = point.load()
            except Exception as exc:  # any error inside a third-party module must not stop ganforge
                warnings.warn(f"plugin {self.kind} '{point.name}' ({point.value}) failed to load: "
                              f"{type(exc).__name__}: {exc}; reinstall or remove that package", stacklevel=2)

    def get(self, name: str) -> T:
        self._load_plugins()
        try:
            return self._entries[self._aliases.get(name, name)]
        except KeyError:
            valid = ", ".join(self.names())
            raise GanforgeError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self.names())}; choose one of: {valid}"
            ) from None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def names(self) -> list[str]:
        self._load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        self._load_plugins()
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def items(self) -> ItemsView[str, T]:
        self._load_plugins()
        return self._entries.items()

    def values(self) -> ValuesView[T]:
        self._load_plugins()
        return self._entries.values()

    def alias(self, name: str, target: str) -> None:
        """Let ``name`` stand for the registered ``target`` in ``get`` and ``in``; ``names()`` lists only
        ``target``, so loops over the registry see each entry once."""
        if name in self._entries or name in self._aliases:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        if target not in self._entries:
            raise ValueError(f"{self.kind} alias '{name}' names '{target}', which is not registered")
        self._aliases[name] = target
