"""The built-in faithfulness task: deterministic preference pairs over data2text's records,
chosen written faithfully by a data2text pattern, rejected flawed in the one named attribute,
splits that share no restaurant, and the task listed and templated like the others."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.data.builtin import DATA2TEXT, FAITHFULNESS, data2text, faithfulness, task
from harness.data.templates import render, template_fields
from harness.errors import HarnessError

FIELD = re.compile(r"^(\w+)\[([^\]]+)\]$")

# How each value of a field is worded in a sentence: every phrase a pattern may use for it.
WORDING = {
    "priceRange": {v: data2text._PRICE_NP[v] + data2text._PRICE_VP[v] + data2text._PRICE_PP[v] for v in data2text.PRICES},
    "customerRating": {v: data2text._RATING_NP[v] + data2text._RATING_VP[v] for v in data2text.RATINGS},
    "familyFriendly": data2text._FAMILY_VP,
}


def parse_input(text: str) -> dict[str, str]:
    fields = {}
    for part in text.split(" | "):
        match = FIELD.match(part)
        assert match, f"malformed field {part!r} in {text!r}"
        fields[match[1]] = match[2]
    return fields


def worded(field: str, value: str, sentence: str) -> bool:
    """The sentence states field=value (in one of the wordings a pattern uses for it)."""
    return any(p in sentence for p in WORDING[field][value]) if field in WORDING else value in sentence


def test_deterministic_fresh_copies_and_split_sizes():
    first = faithfulness.generate("train")
    assert first == faithfulness.generate("train")
    first[0]["chosen"] = "changed"
    assert faithfulness.generate("train")[0]["chosen"] != "changed"  # the cache is not the caller's list
    assert {s: len(faithfulness.generate(s)) for s in FAITHFULNESS.splits} == {"train": 2000, "validation": 200, "test": 200}
    with pytest.raises(HarnessError, match="train, validation, test"):
        faithfulness.generate("dev")


def test_splits_share_no_restaurant():
    names = {}
    for split in FAITHFULNESS.splits:
        # Landmarks (near[...]) are names too, in the input and in a flawed sentence alike.
        names[split] = {v for r in faithfulness.generate(split) for k, v in parse_input(r["input"]).items() if k in ("name", "near")}
        mentioned = {n for r in faithfulness.generate(split) for n in data2text.NAMES if n in r["chosen"] + r["rejected"]}
        assert mentioned <= set(data2text._SPLIT_NAMES[split]), split
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not names[a] & names[b], (a, b)


@pytest.mark.parametrize("split", ["train", "test"])
def test_every_pair_differs_in_its_flawed_attribute(split):
    rows = faithfulness.generate(split)
    shares = Counter(r["flaw"] for r in rows)
    assert set(shares) == {"contradicted", "unsupported"}
    assert 0.55 <= shares["contradicted"] / len(rows) <= 0.78, shares
    assert len({r["attribute"] for r in rows}) == 7  # every field but the name gets flawed
    for row in rows:
        record, attribute = parse_input(row["input"]), row["attribute"]
        assert row["chosen"] != row["rejected"], row
        assert attribute in data2text.FIELDS[1:], row
        assert record["name"] in row["chosen"] and record["name"] in row["rejected"], row
        # chosen is faithful: it words every value of the record.
        assert all(worded(k, v, row["chosen"]) for k, v in record.items()), row
        if row["flaw"] == "contradicted":
            assert attribute in record, row
            assert not worded(attribute, record[attribute], row["rejected"]), row
        else:
            assert row["flaw"] == "unsupported" and attribute not in record, row


def test_chosen_and_rejected_are_what_one_data2text_pattern_writes():
    for pair in faithfulness._pairs("validation"):
        row, record, flawed = pair.row, pair.record, pair.flawed
        assert parse_input(row["input"]) == record  # the input is the record the sentences were written from
        assert pair.pattern in (data2text._describe, data2text._locate_first, data2text._appositive)
        assert row["chosen"] == pair.pattern(record, random.Random(pair.seed))
        assert row["rejected"] == pair.pattern(flawed, random.Random(pair.seed))
        # The flawed record differs in the named attribute alone, with a value data2text can draw.
        assert {k for k in record.keys() | flawed.keys() if record.get(k) != flawed.get(k)} == {row["attribute"]}
        assert flawed[row["attribute"]] in faithfulness._values(row["attribute"], record, data2text._SPLIT_NAMES["validation"])
        assert worded(row["attribute"], flawed[row["attribute"]], row["rejected"]), row  # and rejected says it
    patterns = Counter(p.pattern.__name__ for p in faithfulness._pairs("validation"))
    assert len(patterns) == 3 and min(patterns.values()) >= 40, patterns


def test_task_entry_prompt_and_listing():
    assert task("faithfulness") is FAITHFULNESS
    assert FAITHFULNESS.references_field is None and FAITHFULNESS.version == faithfulness.GENERATOR_VERSION
    row = faithfulness.generate("test")[0]
    assert set(row) == {"input", "prompt", "chosen", "rejected", "flaw", "attribute"}
    assert template_fields(FAITHFULNESS.default_template) <= set(row)
    for row in faithfulness.generate("validation"):
        d2t_prompt, _ = render(DATA2TEXT.default_template, {"input": row["input"], "output": ""}, where="data2text")
        prompt, completion = render(FAITHFULNESS.default_template, row, where="builtin:faithfulness")
        assert row["prompt"] == prompt == d2t_prompt
        assert completion == row["chosen"]  # supervised tuning on it learns the chosen answer
    result = CliRunner().invoke(main, ["ls", "tasks"], catch_exceptions=False)
    assert result.exit_code == 0 and "faithfulness" in result.output and "preference pairs" in result.output
