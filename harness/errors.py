"""Errors a user can cause. Each message names the place (file, row, YAML path) and the fix.

A HarnessError reaching the CLI becomes a one-line message and exit code 2; any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

from dataclasses import dataclass


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
