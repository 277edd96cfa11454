"""A small name -> object registry used for datasets, models, losses and metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ganforge.errors import GanforgeError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to entries; unknown names raise a GanforgeError listing the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T | None = None) -> Callable[[T], T] | T:
        """Register ``entry`` under ``name``; usable as a decorator when ``entry`` is omitted."""

        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._entries[name] = obj
            return obj

        return add if entry is None else add(entry)

    def get(self, name: str) -> T:
        try:
            return self._entries[self._aliases.get(name, name)]
        except KeyError:
            valid = ", ".join(self.names())
            raise GanforgeError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self.names())}; choose one of: {valid}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self):
        return self._entries.items()

    def alias(self, name: str, target: str) -> None:
        """Let ``name`` stand for the registered ``target`` in ``get`` and ``in``; ``names()`` lists only
        ``target``, so loops over the registry see each entry once."""
        if name in self._entries or name in self._aliases:
            raise ValueError(f"{self.kind} '{name}' is registered twice")
        if target not in self._entries:
            raise ValueError(f"{self.kind} alias '{name}' names '{target}', which is not registered")
        self._aliases[name] = target
