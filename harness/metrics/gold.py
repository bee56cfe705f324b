"""The gold answer of each example, read once for every metric that compares a prediction
with one gold value (classification's class, multiple choice's letter)."""

from __future__ import annotations

from collections.abc import Container

from harness.errors import HarnessError


def gold_values(predictions: list[str], references: list[list[str]], what: str = "gold labels",
                allowed: Container[str] | None = None, hint: str = "") -> list[str]:
    """references[i][0] for each example, after checking there is one per prediction (and,
    with `allowed`, that each is one of the allowed values)."""
    if len(predictions) != len(references) or not predictions:
        raise HarnessError(f"{len(predictions)} predictions for {len(references)} {what}: need the same, non-zero, number")
    if allowed is not None:
        for i, refs in enumerate(references, start=1):
            if not refs or str(refs[0]) not in allowed:
                raise HarnessError(f"example {i}: {hint or 'the gold value is not allowed'}, got {refs!r}")
    return [str(refs[0]) for refs in references]
