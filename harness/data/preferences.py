"""Preference data: rows holding a prompt and two answers to it, the preferred one (`chosen`)
and the other (`rejected`), read for a preference training stage (objective: dpo) or a
preference eval (kind: preference).

The prompt is the template's prompt part rendered with the row (default: a built-in task's
own prompt, else `{{prompt}}`); the answers are the row's `chosen` and `rejected` columns as
written (`columns:` maps other names onto them). Rows in trl's conversational format, as
trl-lib/ultrafeedback_binarized ships them (each answer a list of {role, content} messages),
keep their turns: the prompt is the messages before the answer, sent through the model's
chat template, and a row without a prompt column has it taken from the turns both answers
share (trl's maybe_extract_prompt). Anthropic/hh-rlhf's plain-text rows, whose answers both
open with the whole dialogue, are split the same way.

A row that cannot make a pair is an error naming it: no chosen or rejected column, an empty
answer, or the same answer twice (nothing to prefer). This module reads rows; encoding them
into token ids is harness/train/preference.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import sources
from harness.data.templates import PREFERENCE_TEMPLATE, Template, per_row, render
from harness.errors import HarnessError

ANSWERS = ("chosen", "rejected")


@dataclass(frozen=True)
class Pair:
    """One comparison: a prompt (text, or chat messages before the answer) and two answers."""

    prompt: str | tuple[dict[str, str], ...]
    chosen: str
    rejected: str

    @property
    def conversational(self) -> bool:
        return not isinstance(self.prompt, str)


def _messages(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _answer(value: Any, column: str, where: str) -> str:
    """An answer's text: a string, or the content of the one message left after the prompt."""
    if _messages(value):
        if len(value) != 1:
            raise HarnessError(f"{where}: {column} has {len(value)} turns after the prompt; a preference pair compares "
                               "one answer (a single assistant turn)")
        value = value[0].get("content")
    if not isinstance(value, str):
        raise HarnessError(f"{where}: {column} is {type(value).__name__}, not text; a preference row's answers are "
                           "strings or chat messages")
    if not value.strip():
        raise HarnessError(f"{where}: {column} is empty; a preference pair needs two answers")
    return value


def pair_of(row: dict[str, Any], template: Template, where: str) -> Pair:
    """The Pair of one row (columns already mapped), or a HarnessError naming the row."""
    missing = [c for c in ANSWERS if c not in row]
    if missing:
        raise HarnessError(f"{where}: no {' or '.join(missing)} column; a preference row has chosen and rejected "
                           f"answers (map yours with columns:). The row has: {', '.join(sorted(map(str, row)))}")
    implicit = "prompt" not in row and "prompt" in template.prompt
    if implicit or (_messages(row["chosen"]) and not _messages(row.get("prompt"))):
        from trl.data_utils import maybe_extract_prompt  # the prompt is the turns (or text) both answers share

        row = {**row, **maybe_extract_prompt({c: row[c] for c in ("prompt", *ANSWERS) if c in row})}
    if _messages(row.get("prompt")):
        prompt: str | tuple[dict[str, str], ...] = tuple(dict(m) for m in row["prompt"])
    else:
        prompt = render(template, row, where=where)[0]
    chosen, rejected = _answer(row["chosen"], "chosen", where), _answer(row["rejected"], "rejected", where)
    if chosen.strip() == rejected.strip():
        raise HarnessError(f"{where}: chosen and rejected are the same answer ({chosen.strip()[:60]!r}); a pair "
                           "compares two different answers: fix or drop the row")
    return Pair(prompt, chosen, rejected)


def preference_pairs(ref: str, split: str, base_dir: Path, limit: int | None,
                     template: Template | list[Template] | None, columns: dict[str, str] | None = None) -> list[Pair]:
    """The pairs of one split, in order; `template` renders the prompt (None: `{{prompt}}`;
    several: each row's prompt in one of them, as templates.per_row draws)."""
    rows = sources.map_columns(sources.load_split(ref, split, base_dir, limit=limit), columns or {}, ref)
    written = per_row(template if isinstance(template, list) else [template or PREFERENCE_TEMPLATE], len(rows))
    return [pair_of(row, written[i], f"{ref} ({split}) row {i + 1}") for i, row in enumerate(rows)]
