"""Split strings in the datasets syntax: "train", "train[:80%]", "validation[10:20]",
"test[-5%:]", "test[:33%](pct1_dropremainder)", "a+b".

Every data source (files, built-in tasks, MMLU folders) slices through `resolve_split`, so
"80%" of a local file rounds exactly as `datasets.load_dataset` would round it on the hub.
The grammar and arithmetic are those of datasets' ReadInstruction (arrow_reader.py), kept
here so that checking a suite (`harness validate`) does not import datasets (seconds, and
pyarrow) to read one string; tests/data/test_data_splits.py holds both to the same answers
on a grid of specs and sizes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import HarnessError

# datasets.arrow_reader._SUB_SPEC_RE with datasets.naming._split_re as the name.
_PART = re.compile(r"^(?P<split>\w+(\.\w+)*)"
                   r"(\[((?P<from>-?[\d_]+)(?P<from_pct>%)?)?:((?P<to>-?[\d_]+)(?P<to_pct>%)?)?\])?"
                   r"(\((?P<rounding>[^\)]*)\))?$")
_PLUS = re.compile(r"\s*\+\s*")
ROUNDINGS = ("closest", "pct1_dropremainder")


@dataclass(frozen=True)
class SplitPart:
    """One '+' part of a split, resolved: rows [from_, to) of split `splitname`."""

    splitname: str
    from_: int
    to: int


@dataclass(frozen=True)
class _Relative:
    splitname: str
    from_: int | None
    to: int | None
    unit: str  # "%" or "abs"
    rounding: str | None  # percent slices only: "closest" (default) or "pct1_dropremainder"


def _part(spec: str) -> _Relative:
    found = _PART.match(spec)
    if not found:
        raise ValueError(f"Unrecognized instruction format: {spec}")
    unit = "%" if found.group("from_pct") or found.group("to_pct") else "abs"
    bounds = [int(found.group(k)) if found.group(k) else None for k in ("from", "to")]
    rounding = found.group("rounding")
    if rounding is not None and rounding not in ROUNDINGS:
        raise ValueError("rounding must be either closest or pct1_dropremainder")
    if unit != "%" and rounding is not None:
        raise ValueError("It is forbidden to specify rounding if not using percent slicing.")
    if unit == "%" and any(b is not None and abs(b) > 100 for b in bounds):
        raise ValueError("Percent slice boundaries must be > -100 and < 100.")
    return _Relative(found.group("split"), bounds[0], bounds[1], unit, rounding or ("closest" if unit == "%" else None))


def parse_split(spec: str) -> list[_Relative]:
    """The parts of a split string, checked; ValueError (datasets' wording) when malformed."""
    parts = [_part(sub) for sub in _PLUS.split(str(spec))]
    first = parts[0]
    for other in parts[1:]:
        if first.unit != "abs" and other.unit != "abs" and first.rounding != other.rounding:
            raise ValueError("It is forbidden to sum ReadInstruction instances with different rounding values.")
    return parts


def _absolute(part: _Relative, n: int) -> SplitPart:
    def from_pct(boundary: int) -> int:
        if part.rounding == "closest":
            return int(round(boundary * n / 100.0))
        if n < 100:
            raise ValueError('Using "pct1_dropremainder" rounding on a split with less than 100 elements is '
                             "forbidden: it always results in an empty dataset.")
        return boundary * math.trunc(n / 100.0)

    if part.unit == "%":
        start = 0 if part.from_ is None else from_pct(part.from_)
        end = n if part.to is None else from_pct(part.to)
    else:
        start = 0 if part.from_ is None else part.from_
        end = n if part.to is None else part.to
    start = max(n + start, 0) if start < 0 else start
    end = max(n + end, 0) if end < 0 else end
    return SplitPart(part.splitname, min(start, n), min(end, n))


def resolve_split(split: str, ref: str, known: tuple[str, ...] | None, length: Callable[[str], int]) -> list[SplitPart]:
    """The rows a split string reads: one SplitPart per '+' part.

    `known` lists the split names a source has (None: any name, as for a local file);
    `length` gives a split's row count (called only for the names the string uses).
    """
    if not isinstance(split, str):
        raise HarnessError(f"{ref}: split must be a string such as 'train' or 'train[:80%]', got {split!r}")
    try:
        parts = parse_split(split)
    except ValueError as err:
        raise HarnessError(
            f"{ref}: split {split!r} is not valid ({err}); write e.g. 'train', 'train[:80%]', 'validation[10:20]'"
        ) from None
    for part in parts:
        if known is not None and part.splitname not in known:
            raise HarnessError(f"{ref} has no split {part.splitname!r}; it has: {', '.join(known)}")
    sizes = {part.splitname: length(part.splitname) for part in parts}
    try:
        return [_absolute(part, sizes[part.splitname]) for part in parts]
    except ValueError as err:
        raise HarnessError(f"{ref}: split {split!r} cannot be read ({err})") from None
