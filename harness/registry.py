"""Named registries (methods, metrics, tasks, models) with lazy "module:attr" entries.

An entry names its implementation as a string, so listing or validating names never
imports torch; `load()` imports the target on first use. Unknown names answer with a
"did you mean" and the list of known names. Built-in entries are declared in
harness/catalog.py; to add one, add a line there (or call `register` from a plugin).
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute", imported only by load()
    help: str
    meta: dict[str, Any] = field(default_factory=dict)


class UnknownName(HarnessError):
    """A name no registry entry has; the message suggests the closest."""


class Registry:
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, target: str, help: str, **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = Entry(name, target, help, meta)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def closest(self, name: str) -> str | None:
        close = difflib.get_close_matches(str(name), self.names(), n=1, cutoff=0.6)
        return close[0] if close else None

    def unknown_message(self, name: str) -> str:
        msg = f"unknown {self.kind} {name!r}"
        if self.closest(name):
            msg += f"; did you mean {self.closest(name)!r}?"
        return msg + f" known: {', '.join(self.names())}"

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.unknown_message(name)) from None

    def load(self, name: str) -> Any:
        module_name, _, attr = self.get(name).target.partition(":")
        return getattr(importlib.import_module(module_name), attr)


METHODS = Registry("method")
METRICS = Registry("metric")
TASKS = Registry("task")
MODELS = Registry("model")

# The built-in entries; catalog.py imports this module, so it comes last.
from harness import catalog as _catalog  # noqa: E402,F401
