"""Prompt templates: both suite forms, the fields they read, strict rendering."""

from __future__ import annotations

import pytest

from harness.data.templates import (
    ALPACA_TEMPLATE,
    DEFAULT_TEMPLATE,
    Template,
    parse_template,
    render,
    template_fields,
)
from harness.errors import HarnessError


def test_string_form_drops_one_space_each_side_of_the_separator():
    t = parse_template("Q: {{question}}\nA: ||| {{answer}}")
    assert t == Template(prompt="Q: {{question}}\nA:", completion="{{answer}}")


def test_string_form_keeps_other_whitespace_exactly():
    # Two spaces before and after: one is the separator's padding, the other is content.
    t = parse_template("{{x}}\n  |||  {{y}}\n")
    assert t == Template(prompt="{{x}}\n ", completion=" {{y}}\n")
    assert parse_template("{{x}}|||{{y}}") == Template("{{x}}", "{{y}}")


def test_string_form_splits_on_the_first_separator_only():
    assert parse_template("a ||| b ||| c") == Template("a", "b ||| c")


def test_string_form_may_have_an_empty_completion():
    assert parse_template("{{question}}\n |||") == Template("{{question}}\n", "")


def test_mapping_form():
    assert parse_template({"prompt": "{{a}}\n", "completion": "{{b}}"}) == Template("{{a}}\n", "{{b}}")
    assert parse_template({"prompt": "{{a}}"}) == Template("{{a}}", "")
    t = Template("p", "c")
    assert parse_template(t) is t


@pytest.mark.parametrize(
    "value, words",
    [
        ("{{input}} no separator", "separator"),
        ({"completion": "{{b}}"}, "prompt"),
        ({"prompt": "a", "answer": "b"}, "answer"),
        ({"prompt": 3, "completion": "b"}, "prompt must be a string"),
        (["a", "b"], "list"),
        ("{{input ||| {{output}}", "not valid Jinja2"),
    ],
)
def test_bad_shapes_raise(value, words):
    with pytest.raises(HarnessError, match=words):
        parse_template(value)


def test_fields_of_both_parts():
    t = parse_template("{{instruction}}\n{% if context %}{{context}}{% endif %} ||| {{response}}")
    assert template_fields(t) == {"instruction", "context", "response"}
    assert template_fields(DEFAULT_TEMPLATE) == {"input", "output"}
    assert template_fields(ALPACA_TEMPLATE) == {"instruction", "input", "output"}
    # Loop variables and literals are not fields.
    assert template_fields(Template("{% for c in choices %}{{c}} {% endfor %}", "{{ 'x' }}")) == {"choices"}


def test_render_keeps_trailing_newlines_and_does_not_escape():
    prompt, completion = render(DEFAULT_TEMPLATE, {"input": "a < b & c", "output": "yes\n"}, where="t row 1")
    assert prompt == "a < b & c\n"
    assert completion == "yes\n"


def test_alpaca_template_with_and_without_input():
    with_input, out = render(ALPACA_TEMPLATE, {"instruction": "Add.", "input": "2 and 3", "output": "5"}, "r")
    assert "paired with an input" in with_input and "### Input:\n2 and 3\n\n### Response:\n" in with_input
    assert out == "5"
    without, _ = render(ALPACA_TEMPLATE, {"instruction": "Say hi.", "input": "", "output": "hi"}, "r")
    assert "### Input" not in without and "paired with" not in without
    assert without.endswith("### Instruction:\nSay hi.\n\n### Response:\n")


def test_missing_field_names_the_row_the_field_and_the_fields_there_are():
    with pytest.raises(HarnessError) as err:
        render(DEFAULT_TEMPLATE, {"input": "x", "label": "1"}, where="data.jsonl row 7")
    message = str(err.value)
    assert message.startswith("data.jsonl row 7:")
    assert "output" in message and "input, label" in message


def test_missing_nested_field_is_a_harness_error():
    t = Template("{{meta.title}}", "")
    with pytest.raises(HarnessError, match="row 3"):
        render(t, {"meta": {"author": "a"}}, where="f.json row 3")


def test_sandbox_refuses_python_internals():
    t = Template("{{ x.__class__.__mro__ }}", "")
    with pytest.raises(HarnessError, match="row 1"):
        render(t, {"x": "s"}, where="f.jsonl row 1")
