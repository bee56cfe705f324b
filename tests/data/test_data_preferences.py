"""Preference rows: prompt and answers read from plain, conversational (trl's format, as
trl-lib/ultrafeedback_binarized ships it) and implicit-prompt rows (Anthropic/hh-rlhf's
plain text, the dialogue repeated in both answers); bad rows are errors naming the row.
Rows are written to jsonl files in tmp_path, read as a suite would read them."""

from __future__ import annotations

import json

import pytest

from harness.data.preferences import Pair, preference_pairs
from harness.data.templates import Template
from harness.errors import HarnessError


def _file(tmp_path, rows) -> str:
    path = tmp_path / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def test_plain_rows_render_the_prompt_and_keep_the_answers(tmp_path):
    ref = _file(tmp_path, [{"prompt": "Q: 2+2?\n", "chosen": "4", "rejected": "5"}])
    assert preference_pairs(ref, "train", tmp_path, None, None) == [Pair("Q: 2+2?\n", "4", "5")]
    template = Template(prompt="Question: {{prompt}}A:", completion="")
    assert preference_pairs(ref, "train", tmp_path, None, template)[0].prompt == "Question: Q: 2+2?\nA:"


def test_columns_map_other_names(tmp_path):
    ref = _file(tmp_path, [{"question": "Sky?", "good": "blue", "bad": "green"}])
    pairs = preference_pairs(ref, "train", tmp_path, None, Template("{{question}}", ""),
                             {"chosen": "good", "rejected": "bad"})
    assert pairs == [Pair("Sky?", "blue", "green")]


def test_conversational_rows_keep_their_turns(tmp_path):
    user = {"role": "user", "content": "What color is the sky?"}
    ref = _file(tmp_path, [{"chosen": [user, {"role": "assistant", "content": "It is blue."}],
                            "rejected": [user, {"role": "assistant", "content": "It is green."}],
                            "score_chosen": 8.0, "score_rejected": 2.0}])
    (pair,) = preference_pairs(ref, "train", tmp_path, None, None)
    assert pair.conversational and pair.prompt == (user,)
    assert (pair.chosen, pair.rejected) == ("It is blue.", "It is green.")


def test_an_implicit_plain_text_prompt_is_the_shared_start(tmp_path):
    dialogue = "\n\nHuman: What color is the sky?\n\nAssistant:"
    ref = _file(tmp_path, [{"chosen": dialogue + " Blue.", "rejected": dialogue + " Green, I think."}])
    (pair,) = preference_pairs(ref, "train", tmp_path, None, None)
    assert pair.prompt == dialogue  # trl's extract_prompt: the text both answers open with
    assert (pair.chosen, pair.rejected) == (" Blue.", " Green, I think.")


@pytest.mark.parametrize(("row", "message"), [
    ({"prompt": "Q", "chosen": "a"}, "no rejected column"),
    ({"prompt": "Q", "chosen": "same ", "rejected": "same"}, "chosen and rejected are the same answer"),
    ({"prompt": "Q", "chosen": "a", "rejected": "  "}, "rejected is empty"),
    ({"prompt": "Q", "chosen": 3, "rejected": "b"}, "chosen is int, not text"),
])
def test_bad_rows_are_errors_naming_the_row(tmp_path, row, message):
    ref = _file(tmp_path, [{"prompt": "ok", "chosen": "x", "rejected": "y"}, row])
    with pytest.raises(HarnessError, match=message) as err:
        preference_pairs(ref, "train", tmp_path, None, None)
    assert "row 2" in str(err.value) and "prefs.jsonl" in str(err.value)
