"""Errors a user can cause. Each message names the place (file, row, YAML path) and the fix.

A HarnessError reaching the CLI becomes a one-line message and exit code 2; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class HarnessError(Exception):
    """A problem with the user's input: a suite, a data file, a model reference."""


@dataclass(frozen=True)
class Problem:
    """One validation problem: where it is (a YAML path such as methods[0].params.r) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SuiteError(HarnessError):
    """Every problem found in a suite, reported together."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def explain(error: Mapping[str, Any], known_keys: list[str]) -> str:
    """A pydantic error in a suite author's words; an unknown key gets a did-you-mean from known_keys."""
    kind, given = error["type"], error.get("input")
    if kind == "extra_forbidden":
        key = str(error["loc"][-1])
        close = difflib.get_close_matches(key, known_keys, n=1, cutoff=0.6)
        return "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind == "string_pattern_mismatch":
        return f"use letters, digits, '.', '_' and '-' only (it names files and folders), got {short_repr(given)}"
    message = error["msg"][0].lower() + error["msg"][1:]
    return message if isinstance(given, dict) or "input" not in error else f"{message}, got {short_repr(given)}"
