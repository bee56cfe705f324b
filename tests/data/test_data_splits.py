"""harness/data/splits.py against datasets' own ReadInstruction: the same rows, or both
refuse, for every spec of a grid (percent and absolute bounds, negatives, roundings,
'+' joins, malformed specs) on splits of several sizes."""

from __future__ import annotations

import itertools

import datasets
import pytest

from harness.data.splits import SplitPart, parse_split, resolve_split
from harness.errors import HarnessError

BOUNDS = ["", "0", "3", "-3", "7", "250", "-250", "0%", "10%", "33%", "-5%", "80%", "100%", "-100%", "150%"]
SPECS = (["train", "validation", "test.other", "train + test", "train[:80%]+test[80%:]",
          "train[:33%](pct1_dropremainder)", "train[10%:](closest)", "train[:50%](pct1_dropremainder)+test[:50%]",
          "train[:50%](pct1_dropremainder)+test[:50%](closest)", "train[5:](closest)", "train[:3%](nearest)",
          "train[1:2:3]", "train[]", "train[:]", "", "tra in", "train[a:b]", "train[1_0:]"]
         + [f"train[{a}:{b}]" for a, b in itertools.product(BOUNDS, BOUNDS) if a or b])


def reference(spec: str, sizes: dict[str, int]):
    try:
        return [(p.splitname, p.from_, p.to) for p in datasets.ReadInstruction.from_spec(spec).to_absolute(sizes)]
    except (ValueError, AssertionError):
        return "refused"


def ours(spec: str, sizes: dict[str, int]):
    try:
        return [(p.splitname, p.from_, p.to) for p in resolve_split(spec, "data", None, lambda name: sizes[name])]
    except HarnessError:
        return "refused"


@pytest.mark.parametrize("n", [0, 1, 7, 99, 100, 257, 1000])
def test_every_spec_reads_the_rows_datasets_reads(n):
    sizes = {"train": n, "validation": n + 1, "test": 2 * n + 3, "test.other": 5}
    differ = [(spec, ours(spec, sizes), reference(spec, sizes)) for spec in SPECS
              if ours(spec, sizes) != reference(spec, sizes)]
    assert not differ, differ[:5]
    # the grid exercises both outcomes, so the comparison above cannot pass vacuously
    outcomes = [reference(spec, sizes) for spec in SPECS]
    assert "refused" in outcomes and any(o != "refused" for o in outcomes)


def test_known_names_and_types_are_checked():
    with pytest.raises(HarnessError, match="has no split 'tset'; it has: train, test"):
        resolve_split("tset[:5]", "builtin:x", ("train", "test"), lambda name: 10)
    with pytest.raises(HarnessError, match="split must be a string"):
        resolve_split(3, "x.jsonl", None, lambda name: 10)
    assert resolve_split("train[:80%]", "x.jsonl", None, lambda name: 10) == [SplitPart("train", 0, 8)]
    assert [p.splitname for p in parse_split("a + b")] == ["a", "b"]
