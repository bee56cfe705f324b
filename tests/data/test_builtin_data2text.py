"""The built-in data2text task: deterministic, sized as documented, splits that share nothing."""

from __future__ import annotations

import re

import pytest

from harness.data.builtin import DATA2TEXT, data2text, task
from harness.data.templates import render, template_fields
from harness.errors import HarnessError

FIELD = re.compile(r"^(\w+)\[([^\]]+)\]$")


def parse_input(text: str) -> dict[str, str]:
    fields = {}
    for part in text.split(" | "):
        match = FIELD.match(part)
        assert match, f"malformed field {part!r} in {text!r}"
        fields[match[1]] = match[2]
    return fields


def test_deterministic_and_fresh_copies():
    first = data2text.generate("train")
    second = data2text.generate("train")
    assert first == second
    first[0]["references"].append("changed")
    first[1]["input"] = "changed"
    assert data2text.generate("train") == second  # the cache is not the caller's list


def test_split_sizes():
    assert {s: len(data2text.generate(s)) for s in DATA2TEXT.splits} == {"train": 2000, "validation": 200, "test": 200}


def test_splits_disjoint_by_name_and_by_input():
    names, inputs = {}, {}
    for split in DATA2TEXT.splits:
        rows = data2text.generate(split)
        # Landmarks (near[...]) are names too: none may come from another split.
        names[split] = {v for r in rows for k, v in parse_input(r["input"]).items() if k in ("name", "near")}
        inputs[split] = {r["input"] for r in rows}
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not names[a] & names[b], (a, b)
        assert not inputs[a] & inputs[b], (a, b)
    assert len(names["train"]) >= 20 and len(names["test"]) >= 4


@pytest.mark.parametrize("split", ["train", "validation", "test"])
def test_every_example_has_3_to_7_fields_and_3_distinct_references(split):
    for row in data2text.generate(split):
        fields = parse_input(row["input"])
        assert 3 <= len(fields) <= 7
        assert list(fields) == [f for f in data2text.FIELDS if f in fields]  # E2E order
        assert "name" in fields
        refs = row["references"]
        assert len(refs) == 3 and len(set(refs)) == 3
        assert row["output"] == refs[0]
        for ref in refs:
            # Every reference mentions the venue and each named value it realises verbatim.
            assert fields["name"] in ref and ref.endswith(".")
            for key in ("near", "food", "eatType"):
                if key in fields:
                    assert fields[key] in ref, (key, ref)


def test_field_counts_and_patterns_vary():
    rows = data2text.generate("train")
    counts = {len(parse_input(r["input"])) for r in rows}
    assert counts == {3, 4, 5, 6, 7}
    # Each pattern's opening shows up as references[0], so `output` has no single style.
    openings = {"there is" in r["output"].lower() for r in rows}
    assert openings == {True, False}


def test_unknown_split():
    with pytest.raises(HarnessError, match="train, validation, test"):
        data2text.generate("dev")


def test_task_entry_and_default_template():
    assert task("data2text") is DATA2TEXT
    assert DATA2TEXT.references_field == "references"
    assert DATA2TEXT.version == data2text.GENERATOR_VERSION
    row = data2text.generate("test")[0]
    assert template_fields(DATA2TEXT.default_template) <= set(row)
    prompt, completion = render(DATA2TEXT.default_template, row, where="builtin:data2text row 1")
    assert row["input"] in prompt and prompt.endswith("\n")
    assert completion == row["output"]
