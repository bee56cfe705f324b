"""faithfulness: preference pairs over data2text's restaurant records, for DPO and preference evals.

Each row has `input`, a meaning representation exactly as data2text writes it
("name[Blue Heron] | eatType[pub] | food[Thai]"), `prompt`, the prompt data2text's default
template renders for it ("Describe this restaurant in one sentence.\\n" + input + "\\n"),
`chosen`, a faithful one-sentence description written by one of data2text's three
realisation patterns, and `rejected`, a flawed description written by the same pattern.
`flaw` says what is wrong with it and `attribute` which field:

- "contradicted" (about 2 rows in 3): an attribute the record has is given another value
  from the same value table, so the rejected sentence states a fact the record contradicts;
- "unsupported" (about 1 row in 3): an attribute the record lacks is added with a random
  value, so the rejected sentence makes a claim the record does not support.

Both sentences are written from a fresh random.Random with the same per-row seed, so they
share every wording choice and differ only where the flaw is, as far as the patterns allow
(an added attribute inserts a draw, which can change the wording of what follows it). The
restaurant's name is never flawed. A contradicted food keeps fast-food-ness ("fast food"
takes no wording draw, every other food does), so the draws stay aligned. Landmarks
(near[...]) come from the split's own names, and the splits use data2text's partition of
names, so train, validation and test share no restaurant. Everything is drawn from a
random.Random seeded by the split name, so the data is the same on every machine.

To change the data, bump GENERATOR_VERSION: it is part of the data fingerprint, so
results computed on the old data are not mistaken for results on the new.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Iterator
from typing import NamedTuple

from harness.data.builtin import data2text
from harness.errors import HarnessError

GENERATOR_VERSION = 1

SPLIT_SIZES = {"train": 2000, "validation": 200, "test": 200}

FLAWS = ("contradicted", "unsupported")
PROMPT = "Describe this restaurant in one sentence.\n"

# data2text's realisation patterns; each writes one sentence for a record from a Random.
PATTERNS: tuple[Callable[[dict[str, str], random.Random], str], ...] = (
    data2text._describe, data2text._locate_first, data2text._appositive)


class _Pair(NamedTuple):
    """How one row was made: the record, its flawed copy, and the pattern and seed that wrote both."""

    record: dict[str, str]
    flawed: dict[str, str]
    pattern: Callable[[dict[str, str], random.Random], str]
    seed: int
    flaw: str
    attribute: str
    row: dict[str, str]


def generate(split: str) -> list[dict]:
    """The rows of one split (train, validation, test); fresh copies on every call."""
    return [dict(row) for row in _generate(split)]


@functools.lru_cache(maxsize=None)
def _generate(split: str) -> tuple[dict, ...]:
    return tuple(pair.row for pair in _pairs(split))


def _pairs(split: str) -> Iterator[_Pair]:
    if split not in SPLIT_SIZES:
        raise HarnessError(f"faithfulness has no split {split!r}; it has: {', '.join(SPLIT_SIZES)}")
    rng = random.Random(f"faithfulness-v{GENERATOR_VERSION}-{split}")  # str seeds are stable across runs
    names = data2text._SPLIT_NAMES[split]
    for _ in range(SPLIT_SIZES[split]):
        while True:
            record = data2text._record(rng, names)
            pattern = rng.choice(PATTERNS)
            flaw = "contradicted" if rng.random() < 2 / 3 else "unsupported"
            attribute, value = _flaw(record, flaw, rng, names)
            flawed = {**record, attribute: value}
            seed = rng.getrandbits(64)
            chosen = pattern(record, random.Random(seed))
            rejected = pattern(flawed, random.Random(seed))
            if rejected != chosen:  # never so far, but a pair must differ
                break
        text = " | ".join(f"{key}[{record[key]}]" for key in data2text.FIELDS if key in record)
        row = {"input": text, "prompt": PROMPT + text + "\n", "chosen": chosen, "rejected": rejected,
               "flaw": flaw, "attribute": attribute}
        yield _Pair(record, flawed, pattern, seed, flaw, attribute, row)


def _values(attribute: str, record: dict[str, str], names: tuple[str, ...]) -> tuple[str, ...]:
    """Every value `attribute` can take in data2text for this record (its landmarks: the split's names)."""
    if attribute == "near":
        return tuple(n for n in names if n != record["name"])
    return {"eatType": data2text.EAT_TYPES, "food": data2text.FOODS, "priceRange": data2text.PRICES,
            "customerRating": data2text.RATINGS, "area": data2text.AREAS, "familyFriendly": ("yes", "no")}[attribute]


def _flaw(record: dict[str, str], flaw: str, rng: random.Random, names: tuple[str, ...]) -> tuple[str, str]:
    """The attribute to flaw and its wrong value."""
    if flaw == "unsupported":
        attribute = rng.choice([key for key in data2text.FIELDS[1:] if key not in record])  # _record leaves at least one
        return attribute, rng.choice(_values(attribute, record, names))
    # contradicted: another value from the same table; a food keeps fast-food-ness (see the docstring)
    options = {
        key: [v for v in _values(key, record, names)
              if v != record[key] and (key != "food" or (v == "fast food") == (record[key] == "fast food"))]
        for key in data2text.FIELDS[1:] if key in record
    }
    attribute = rng.choice([key for key, values in options.items() if values])  # _record gives at least two keys
    return attribute, rng.choice(options[attribute])
