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
            return self._entries[name]
        except KeyError:
            valid = ", ".join(self.names())
            raise GanforgeError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self.names())}; choose one of: {valid}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def items(self):
        return self._entries.items()

    def unregister(self, name: str) -> T:
        """Remove ``name`` again (an entry registered for a while, as tests do); returns the entry."""
        entry = self.get(name)
        del self._entries[name]
        return entry
