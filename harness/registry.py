"""Named registries (methods, metrics, eval kinds, tasks, models) with lazy "module:attr" entries.

An entry names its implementation as a string, so listing or validating names never
imports torch; `load()` imports the target on first use. Unknown names answer with a
"did you mean" and the list of known names. Each entry carries `meta`, the facts the rest
of the code asks about it without loading it (a metric's direction, scale, eval kind and
pairing; an eval kind's families and fields; a model's family).

Where entries come from, read on a registry's first use in any process (the CLI, the
worker, a notebook):
1. the built-ins, declared in harness/catalog.py;
2. plugins: installed packages that declare entry points in the group of the registry's
   kind (`harness.methods`, `harness.metrics`, `harness.eval_kinds`, `harness.tasks`,
   `harness.models`). The entry point's name is the registered name and its object a
   `Declaration` (target, help, meta), which keeps listing a plugin as cheap as a built-in:

       # pyproject.toml of a plugin
       [project.entry-points."harness.metrics"]
       word_overlap = "my_plugin.declare:WORD_OVERLAP"

       # my_plugin/declare.py
       from harness.registry import Declaration
       WORD_OVERLAP = Declaration("my_plugin.metric:word_overlap", "share of reference words", higher_is_better=True,
                                  scale="0-1", kind="generation", pairing="mean")

CONTRIBUTING.md walks through adding a metric and a method.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    name: str
    target: str  # "package.module:attribute", imported only by load()
    help: str
    meta: dict[str, Any] = field(default_factory=dict)
    origin: str = "harness"  # the distribution that declared it: "harness" or a plugin's name


@dataclass(frozen=True)
class Declaration:
    """What a plugin's entry point names: the target, one line of help, and the meta its kind asks for."""

    target: str
    help: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __init__(self, target: str, help: str, **meta: Any):
        object.__setattr__(self, "target", target)
        object.__setattr__(self, "help", help)
        object.__setattr__(self, "meta", meta)


class UnknownName(HarnessError):
    """A name no registry entry has; the message suggests the closest."""


class PluginError(HarnessError):
    """An installed plugin declares an entry that cannot be registered."""


class Registry:
    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group  # the entry-point group plugins declare entries in (None: no plugins)
        self._entries: dict[str, Entry] = {}
        self._loaded = False

    def register(self, name: str, target: str, help: str, origin: str = "harness", **meta: Any) -> None:
        if name in self._entries:
            raise PluginError(f"{self.kind} {name!r} is registered twice ({self._entries[name].origin} and {origin}); "
                              "uninstall one of the two plugins or rename the entry")
        if not isinstance(target, str) or ":" not in target:
            raise PluginError(f"{self.kind} {name!r} from {origin}: target {target!r} is not 'package.module:attribute'")
        self._entries[name] = Entry(name, target, help, meta, origin)

    def _ensure(self) -> None:
        """The built-ins, then every installed plugin's entries, once per process."""
        if self._loaded:
            return
        self._loaded = True
        from harness import catalog

        catalog.declare(self)
        for point in entry_points(group=self.group) if self.group else ():
            origin = point.dist.name if point.dist is not None else point.value
            try:
                declared = point.load()
            except Exception as err:  # a broken plugin must not take the harness down with it
                raise PluginError(f"plugin {origin}: entry point {point.name!r} in {self.group} ({point.value}) "
                                  f"cannot be loaded: {type(err).__name__}: {err}") from None
            if not isinstance(declared, Declaration):
                raise PluginError(f"plugin {origin}: entry point {point.name!r} in {self.group} names "
                                  f"{type(declared).__name__}, not a harness.registry.Declaration")
            self.register(point.name, declared.target, declared.help, origin=origin, **declared.meta)
            log.debug("registered %s %r from plugin %s", self.kind, point.name, origin)

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        return [self._entries[n] for n in self.names()]

    def __contains__(self, name: object) -> bool:
        self._ensure()
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
        self._ensure()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownName(self.unknown_message(name)) from None

    def meta(self, name: str, key: str, default: Any = None) -> Any:
        """One fact of a registered entry, or `default` for a name not registered."""
        return self.get(name).meta.get(key, default) if name in self else default

    def load(self, name: str) -> Any:
        return load_target(self.get(name).target)


def load_target(target: str) -> Any:
    """The object a "package.module:attribute" string names."""
    module_name, _, attr = target.partition(":")
    return getattr(importlib.import_module(module_name), attr)


METHODS = Registry("method", "harness.methods")
METRICS = Registry("metric", "harness.metrics")
EVAL_KINDS = Registry("eval kind", "harness.eval_kinds")
TASKS = Registry("task", "harness.tasks")
MODELS = Registry("model", "harness.models")
