"""Prompt templates: how one data record becomes a (prompt, completion) pair.

A template is two Jinja2 strings. The model is trained to produce the completion given
the prompt, and at evaluation it generates from the prompt alone. In a suite a template is
written either as a mapping {prompt, completion} or as one string "PROMPT ||| COMPLETION".

Rendering is strict (a field the record lacks is an error naming the row, never an empty
string), sandboxed (a suite file is data, so a template must not reach Python internals)
and exact about whitespace (trailing newlines are kept; no autoescaping), because a stray
space or newline between prompt and completion changes what the model learns.

To add a ready-made layout, define a Template constant here and refer to it from a
built-in task (harness/data/builtin) or from the docs.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from typing import Any

import jinja2
import jinja2.meta
import jinja2.sandbox

from harness.errors import HarnessError

SEPARATOR = "|||"


@dataclass(frozen=True)
class Template:
    """A prompt and a completion, each a Jinja2 template over the record's fields."""

    prompt: str
    completion: str


# The plainest layout: the input, a newline, then the output to learn.
DEFAULT_TEMPLATE = Template(prompt="{{input}}\n", completion="{{output}}")

# Preference pairs (harness/data/preferences.py): the prompt column alone; the answers are
# the chosen and rejected columns as written.
PREFERENCE_TEMPLATE = Template(prompt="{{prompt}}", completion="")

# The Alpaca layout (Stanford Alpaca's prompt, word for word). `input` must be a column,
# but it may be empty: rows without extra context drop the "### Input:" block.
ALPACA_TEMPLATE = Template(
    prompt=(
        "Below is an instruction that describes a task"
        "{% if input %}, paired with an input that provides further context{% endif %}. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\n{{instruction}}\n\n"
        "{% if input %}### Input:\n{{input}}\n\n{% endif %}"
        "### Response:\n"
    ),
    completion="{{output}}",
)


def _environment() -> jinja2.sandbox.SandboxedEnvironment:
    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,  # "{{input}}\n" must keep its newline
        autoescape=False,  # prompts are plain text, not HTML
    )


_ENV = _environment()


def parse_template(value: Any) -> Template:
    """A Template from a suite value: a Template, a {prompt, completion} mapping, or a string.

    The string form is "PROMPT ||| COMPLETION", split on the first "|||". Exactly one space
    on each side of the separator is dropped when present (it is there for readability);
    all other whitespace is kept as written, so "{{x}}\\n  ||| {{y}}" gives the prompt
    "{{x}}\\n " and the completion "{{y}}". "PROMPT |||" gives an empty completion (useful for
    evals scored against a references column). The mapping form may omit completion.
    """
    if isinstance(value, Template):
        template = value
    elif isinstance(value, str):
        if SEPARATOR not in value:
            raise HarnessError(
                f"template {_short(value)!r} has no {SEPARATOR!r} separator; write it as "
                f"'PROMPT {SEPARATOR} COMPLETION' (end with '{SEPARATOR}' for an empty completion) "
                "or as a mapping with prompt and completion keys"
            )
        prompt, _, completion = value.partition(SEPARATOR)
        template = Template(prompt=_drop_one(prompt, end=True), completion=_drop_one(completion, end=False))
    elif isinstance(value, dict):
        unknown = sorted(set(map(str, value)) - {"prompt", "completion"})
        if unknown or "prompt" not in value:
            raise HarnessError(
                f"template mapping has keys {sorted(map(str, value))}; it takes 'prompt' "
                "(required) and 'completion' (optional) only"
            )
        prompt, completion = value["prompt"], value.get("completion", "")
        for key, part in (("prompt", prompt), ("completion", completion)):
            if not isinstance(part, str):
                raise HarnessError(f"template {key} must be a string, got {type(part).__name__} {part!r}")
        template = Template(prompt=prompt, completion=completion)
    else:
        raise HarnessError(
            f"a template is a 'PROMPT {SEPARATOR} COMPLETION' string or a mapping with prompt and "
            f"completion keys, got {type(value).__name__} {value!r}"
        )
    # Compile now so a syntax error surfaces when the suite is validated, not mid-run.
    _compiled(template.prompt, "prompt")
    _compiled(template.completion, "completion")
    return template


TEMPLATE_SEED = 0  # fixed: every variant reads each example in the same wording


def per_row(templates: list[Template], rows: int) -> list[Template]:
    """The template each of `rows` rows is written with. With several (a task phrased
    several ways, FLAN-style) one is drawn per row with a fixed seed, so every variant (and
    every run) trains on the same wording of the same example."""
    if len(templates) == 1:
        return templates * rows
    rng = random.Random(TEMPLATE_SEED)
    return [templates[rng.randrange(len(templates))] for _ in range(rows)]


def template_fields(t: Template) -> set[str]:
    """Names both parts read from the record (Jinja2's undeclared variables).

    A field used only under `{% if x %}` still counts: StrictUndefined fails on testing a
    missing name, so the column has to exist even when its value may be empty.
    """
    return set(_fields(t))


def render(t: Template, record: dict[str, Any], where: str) -> tuple[str, str]:
    """The (prompt, completion) of one record; `where` names it in errors ("data.jsonl row 7")."""
    parts = []
    for part, source in (("prompt", t.prompt), ("completion", t.completion)):
        try:
            parts.append(_compiled(source, part).render(record))
        except jinja2.UndefinedError as err:
            missing = sorted(_fields(t) - set(record))
            # With no top-level field missing, a nested lookup ({{meta.title}}) failed.
            what = f"uses field(s) {', '.join(missing)} that this row lacks" if missing else f"failed: {err.message}"
            raise HarnessError(
                f"{where}: the template {part} {what}; the row has: "
                f"{', '.join(sorted(map(str, record))) or '(no fields)'}. "
                "Rename the template's field(s) or add the column(s) to the data"
            ) from None
        except jinja2.sandbox.SecurityError as err:
            raise HarnessError(f"{where}: template {part} is not allowed: {err}") from None
        except jinja2.TemplateError as err:
            raise HarnessError(f"{where}: template {part} failed: {err}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as err:
            # A filter or operation meeting a value of another type than the template expects
            # ({{ source | join(' ') }} on a row whose source is null): the row's fault or the template's.
            raise HarnessError(
                f"{where}: the template {part} cannot be applied to this row ({type(err).__name__}: {err}); "
                "check the types of its fields, or the template"
            ) from None
    return parts[0], parts[1]


@functools.lru_cache(maxsize=256)
def _fields(t: Template) -> frozenset[str]:
    # Cached so render() can name missing fields without re-parsing for every row.
    fields: set[str] = set()
    for part, source in (("prompt", t.prompt), ("completion", t.completion)):
        try:
            fields |= jinja2.meta.find_undeclared_variables(_ENV.parse(source))
        except jinja2.TemplateSyntaxError as err:
            raise HarnessError(_syntax_message(part, source, err)) from None
    return frozenset(fields)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, part: str) -> jinja2.Template:
    # Cached because render() runs once per row with the same two sources.
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as err:
        raise HarnessError(_syntax_message(part, source, err)) from None


def _syntax_message(part: str, source: str, err: jinja2.TemplateSyntaxError) -> str:
    return (
        f"template {part} {_short(source)!r} is not valid Jinja2 (line {err.lineno}: {err.message}); "
        "fields are written {{name}}"
    )


def _drop_one(text: str, end: bool) -> str:
    """Drop one space next to the separator: at the end of the prompt, the start of the completion."""
    if end:
        return text[:-1] if text.endswith(" ") else text
    return text[1:] if text.startswith(" ") else text


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
