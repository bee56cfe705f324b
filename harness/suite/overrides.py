"""Command-line overrides of a suite: `--set key.path=value`, applied to the YAML as read,
before anything is validated, so a bad value is reported at its path as if the file said it.

A path is keys joined by dots, with [i] for a list's i-th item (`train.steps`,
`methods[0].params.r`, `evals[1].limit`); a missing key is created (a mapping on the way
included), a list item must exist. The value is read as a YAML scalar or flow collection
(`5`, `1.0e-3`, `true`, `null`, `[4, 8]`, `{r: 16}`), so it has the type the file would
give it. The planner never sees the overrides themselves: the variants carry the settings
they produce, and their ids change exactly as an edit of the file would change them.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from harness.errors import HarnessError

_TOKEN = re.compile(r"[^.\[\]]+|\[\d+\]")


def parse_path(path: str, where: str) -> list[str | int]:
    """`methods[0].params.r` -> ["methods", 0, "params", "r"]."""
    tokens = _TOKEN.findall(path)
    steps: list[str | int] = [int(t[1:-1]) if t.startswith("[") else t for t in tokens]
    rebuilt = "".join(f"[{s}]" if isinstance(s, int) else ("." if i else "") + s for i, s in enumerate(steps))
    if not steps or not isinstance(steps[0], str) or rebuilt != path:
        raise HarnessError(f"{where}: {path!r} is not a key path such as train.steps or methods[0].params.r")
    return steps


def parse_override(text: str) -> tuple[list[str | int], Any]:
    """`key.path=value` -> (its path, the value as YAML reads it)."""
    where = f"--set {text}"
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise HarnessError(f"{where}: write --set key.path=value, e.g. --set train.steps=5")
    try:
        parsed = yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError as err:
        raise HarnessError(f"{where}: the value is not YAML ({str(err).splitlines()[0]})") from None
    return parse_path(key.strip(), where), parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """A copy of `raw` with each override set, in order (a later one wins)."""
    out = copy.deepcopy(raw)
    for text in overrides:
        steps, value = parse_override(text)
        node: Any = out
        for i, (step, following) in enumerate(zip(steps, steps[1:] + [None])):
            done = ".".join(str(s) for s in steps[:i]) or "the suite"
            if isinstance(step, int):
                if not isinstance(node, list) or step >= len(node):
                    have = f"a list of {len(node)}" if isinstance(node, list) else f"{type(node).__name__} {node!r}"
                    raise HarnessError(f"--set {text}: {done} holds {have}; there is no item [{step}]")
            elif not isinstance(node, dict):
                raise HarnessError(f"--set {text}: {done} holds {type(node).__name__} {node!r}, not a mapping with key {step!r}")
            if following is None:
                node[step] = value
            else:
                if isinstance(node, dict) and node.get(step) is None:
                    if isinstance(following, int):
                        raise HarnessError(f"--set {text}: {step!r} is not in the suite; a list item [{following}] "
                                           "must exist to be set")
                    node[step] = {}
                node = node[step]
    return out
