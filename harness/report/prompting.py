"""How the variants were prompted: in-context baselines and the chat template, from the records.

* In-context baselines: a baseline named like "baseline-5shot" (params {"shots": 5}) puts k
  training examples before each prompt of the evals that take them; the record's
  `method_info["shots"]` says where they came from and, per eval, the fewest a prompt kept
  and how many prompts kept fewer (the examples did not fit the context). Those prompts are
  a note (`shot_notes`), since the baseline is then weaker than its name says.
* Chat: each eval in a record's resolved spec says whether its prompts went through the
  model's chat template (`chat`); `chat_sentence` states it per eval, grouping the evals that
  share a setting, so a page never claims a format the records do not show.

table.py calls `shot_notes` while it builds, so this module imports table.py for types alone.
Imports no torch.
"""

from __future__ import annotations

from typing import Any

from harness.report.rows import Row, Table

# Eval kinds scored in a reference format (lm-eval's plain prompts) rather than the task's template.
REFERENCE_FORMATS = ("multiple_choice", "lm_eval")


def shot_notes(label: str, method_info: dict[str, Any]) -> list[str]:
    """'baseline-5shot: 3 prompts of d2t got fewer than 5 examples (they did not fit the
    context; at least 2)', per eval where any prompt did."""
    info = method_info.get("shots")
    if not isinstance(info, dict) or not isinstance(info.get("evals"), dict):
        return []
    notes = []
    for ev, kept in info["evals"].items():
        fewer = kept.get("fewer") if isinstance(kept, dict) else None
        if isinstance(fewer, int) and fewer > 0:
            prompts = "1 prompt" if fewer == 1 else f"{fewer:,} prompts"
            notes.append(f"{label}: {prompts} of {ev} got fewer than {info.get('k')} examples "
                         f"(they did not fit the context; at least {kept.get('min')})")
    return notes


def method_label(row: Row, few_shot_shown: bool) -> str:
    """'baseline, 5-shot' for an in-context baseline; 'baseline, zero-shot' beside one."""
    if not row.is_baseline:
        return row.method
    if row.shots:
        return f"{row.method}, {row.shots}-shot"
    return f"{row.method}, zero-shot" if few_shot_shown else row.method


def shots_sentence(table: Table) -> str | None:
    """What each in-context baseline showed the model before a prompt."""
    name_of = {ev: name for name, group in table.templates.items() for ev in group["evals"]}  # d2t@1 -> d2t
    parts = []
    for row in (r for r in table.rows if r.is_baseline and r.shots):
        info = next((run.method_info.get("shots") for run in row.runs if isinstance(run.method_info.get("shots"), dict)), None)
        text = f"{row.name} puts {row.shots} training examples before each prompt"
        if info:
            evals = list(dict.fromkeys(name_of.get(ev, ev) for ev in info.get("evals") or {}))
            text += f" of {_join(evals)}" if evals else ""
            text += f" ({info.get('data')}, {info.get('split')} split, drawn once with seed {info.get('seed')})"
        parts.append(text)
    return f"In-context baselines: {'; '.join(parts)}." if parts else None


def chat_sentence(table: Table) -> str | None:
    """'Prompts: through the model's chat template for d2t (generation); in lm-eval's plain
    format for mmlu (multiple_choice).' An eval's templates (NAME@1...) count as NAME."""
    name_of = {ev: name for name, group in table.templates.items() for ev in group["evals"]}
    seen: dict[str, dict[str, Any]] = {}  # eval -> {"kind", "on": models, "off": models}
    for row in table.rows:
        for run in row.runs:
            for ev in run.spec.get("evals") or []:
                name = ev.get("name") if isinstance(ev, dict) else None
                if not isinstance(name, str) or not isinstance(ev.get("chat"), bool):
                    continue
                entry = seen.setdefault(name_of.get(name, name), {"kind": ev.get("kind", "generation"), "on": [], "off": []})
                models = entry["on" if ev["chat"] else "off"]
                if row.model not in models:
                    models.append(row.model)
    if not seen:
        return None
    through = [ev for ev, e in seen.items() if e["on"] and not e["off"]]
    reference = [ev for ev, e in seen.items() if e["off"] and not e["on"] and e["kind"] in REFERENCE_FORMATS]
    plain = [ev for ev, e in seen.items() if e["off"] and not e["on"] and e["kind"] not in REFERENCE_FORMATS]
    parts = []
    if through:
        parts.append(f"through the model's chat template for {_evals(through, seen)}")
    if reference:
        parts.append(f"in lm-eval's plain format for {_evals(reference, seen)}")
    if plain:
        parts.append(f"as plain text, without a chat template, for {_evals(plain, seen)}")
    for ev, e in seen.items():
        if e["on"] and e["off"]:
            parts.append(f"for {ev} through the chat template on {_join(e['on'])} but plain on {_join(e['off'])}")
    return "Prompts: " + "; ".join(parts) + "."


def _evals(names: list[str], seen: dict[str, dict[str, Any]]) -> str:
    """'d2t and qa (generation)', 'd2t (generation) and reviews (classification)'."""
    kinds = list(dict.fromkeys(seen[n]["kind"] for n in names))
    if len(kinds) == 1:
        return f"{_join(names)} ({kinds[0]})"
    return _join([f"{n} ({seen[n]['kind']})" for n in names])


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
